// The processes that train one model together, DistributedDataParallel-style, on c10d's Gloo backend,
// or NCCL for CUDA tensors (native/core/process_group.h). Where the ranks meet comes from the caller or, as torchrun, Slurm and
// Kubernetes' PyTorchJob give it, from the environment (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT).
import { KdtorchError } from '../errors.js';
import { joinNativeProcessGroup, nativeInfo } from './addon.js';
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
  /**
   * 'gloo' (default): every collective on Gloo; the ranks train on CPUs. 'nccl': the models' tensors on
   * NCCL, each rank on CUDA device `localRank`; the host's values (votes, metrics, gathers) still on Gloo.
   */
  backend?: 'gloo' | 'nccl';
  /** This rank's index among the ranks of its machine: its CUDA device under NCCL. Default $LOCAL_RANK, else 0. */
  localRank?: number;
}

export class ProcessGroup {
  /** @param native made by joinProcessGroup() */
  constructor(
    readonly native: NativeProcessGroup,
    readonly backend: 'gloo' | 'nccl',
    readonly localRank: number,
  ) {}

  /** Under NCCL, the CUDA device this rank's models go on (cuda:LOCAL_RANK, as torchrun users place them). */
  get device(): string | undefined {
    return this.backend === 'nccl' ? `cuda:${this.localRank}` : undefined;
  }

  get rank(): number {
    return this.native.rank;
  }

  get worldSize(): number {
    return this.native.worldSize;
  }

  /** The element-wise sum of every rank's `values` (each rank passes as many), on every rank. */
  sum(values: ArrayLike<number>): Promise<Float64Array> {
    return this.native.sum(Float64Array.from(values));
  }

  /** Resolves once every rank has called it: what one rank wrote before it, the others can read after. */
  async barrier(): Promise<void> {
    await this.sum([0]);
  }

  /** Every rank's `values`, one after another in rank order, on every rank (their lengths may differ). */
  async gather(values: ArrayLike<number>): Promise<Float64Array> {
    const lengths = new Float64Array(this.worldSize);
    lengths[this.rank] = values.length;
    const counts = await this.sum(lengths);
    const offset = counts.subarray(0, this.rank).reduce((a, b) => a + b, 0);
    const all = new Float64Array(counts.reduce((a, b) => a + b, 0));
    all.set(values, offset);
    return await this.sum(all);
  }

  /** Every rank's `items` (JSON values), one rank's after another in rank order, on every rank. */
  async gatherJson<T>(items: T[]): Promise<T[]> {
    // JSON.stringify escapes newlines, so one line per rank.
    const bytes = await this.gather(Buffer.from(`${JSON.stringify(items)}\n`, 'utf8'));
    const lines = Buffer.from(bytes).toString('utf8').trimEnd().split('\n');
    return lines.flatMap((line) => JSON.parse(line) as T[]);
  }

  /** Rank 0's `text` on every rank (the others pass anything): its UTF-8 bytes gathered, the others none. */
  async fromRankZero(text: string): Promise<string> {
    const mine = this.rank === 0 ? Buffer.from(text, 'utf8') : Buffer.alloc(0);
    return Buffer.from(await this.gather(mine)).toString('utf8');
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
  const integer = (field: 'masterPort' | 'rank' | 'worldSize' | 'localRank', variable: string, fallback?: number) => {
    const value = options[field] ?? (env[variable] === undefined ? fallback : Number(env[variable]));
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
  const localRank = integer('localRank', 'LOCAL_RANK', 0);
  const spec = {
    masterAddr: options.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: integer('masterPort', 'MASTER_PORT'),
    rank: integer('rank', 'RANK'),
    worldSize: integer('worldSize', 'WORLD_SIZE'),
    timeoutMs,
    backend: options.backend ?? 'gloo',
  };
  if (spec.backend !== 'gloo' && spec.backend !== 'nccl') {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      `joinProcessGroup: backend must be 'gloo' or 'nccl', got ${spec.backend}`,
      {
        field: 'backend',
      },
    );
  }
  return new ProcessGroup(await joinNativeProcessGroup(spec), spec.backend, localRank);
}

/**
 * config distributed.backend for a run on `device` (config device): 'auto' is NCCL on CUDA devices ('cuda',
 * 'cuda:N', or 'auto' where a GPU is present), as torch.distributed's default backend for CUDA tensors, and
 * Gloo on CPUs.
 */
export async function backendFor(choice: 'auto' | 'gloo' | 'nccl', device: string): Promise<'gloo' | 'nccl'> {
  if (choice !== 'auto') return choice;
  const cuda = device.startsWith('cuda') || (device === 'auto' && (await nativeInfo()).cudaAvailable);
  return cuda ? 'nccl' : 'gloo';
}
