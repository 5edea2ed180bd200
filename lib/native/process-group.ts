// The processes that train one model together, DistributedDataParallel-style, on c10d's Gloo backend
// (native/core/process_group.h). Where the ranks meet comes from the caller or, as torchrun, Slurm and
// Kubernetes' PyTorchJob give it, from the environment (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT).
import { KdtorchError } from '../errors.js';
import { joinNativeProcessGroup } from './addon.js';
import type { Communication, NativeProcessGroup } from './wire.js';

export type { Communication } from './wire.js';

export interface ProcessGroupOptions {
  /** Rank 0's host, where the rendezvous store listens. Default $MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Default $MASTER_PORT. */
  masterPort?: number;
  /** Default $RANK. */
  rank?: number;
  /** Default $WORLD_SIZE. */
  worldSize?: number;
  /** How long joining and each collective wait for the other ranks before E_DISTRIBUTED (default 60 s). */
  timeoutMs?: number;
}

export class ProcessGroup {
  /** @param native made by joinProcessGroup() */
  constructor(readonly native: NativeProcessGroup) {}

  get rank(): number {
    return this.native.rank;
  }

  get worldSize(): number {
    return this.native.worldSize;
  }

  /** Seconds this rank spent in collectives (waiting for the others included) and the bytes they moved, so far. */
  communication(): Communication {
    return this.native.communication();
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Joins the ranks; resolves once all `worldSize` of them have joined, or rejects with E_DISTRIBUTED after
 * `timeoutMs`. Pass the group to Trainer.create(model, { processGroup }).
 */
export async function joinProcessGroup(
  options: ProcessGroupOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcessGroup> {
  // Each field from the option, else from the variable torchrun sets.
  const integer = (field: 'masterPort' | 'rank' | 'worldSize', variable: string): number => {
    const value = options[field] ?? (env[variable] === undefined ? undefined : Number(env[variable]));
    if (value === undefined || !Number.isInteger(value) || value < 0) {
      throw new KdtorchError(
        'E_INVALID_ARGUMENT',
        `joinProcessGroup: ${field} must be a non-negative integer (the option, or $${variable} as torchrun sets it), got ${value}`,
        { field },
      );
    }
    return value;
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new KdtorchError('E_INVALID_ARGUMENT', 'joinProcessGroup: timeoutMs must be a positive integer', {
      field: 'timeoutMs',
    });
  }
  const spec = {
    masterAddr: options.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: integer('masterPort', 'MASTER_PORT'),
    rank: integer('rank', 'RANK'),
    worldSize: integer('worldSize', 'WORLD_SIZE'),
    timeoutMs,
  };
  return new ProcessGroup(await joinNativeProcessGroup(spec));
}
