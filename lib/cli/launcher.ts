// `kdtorch teacher|student|distill … --nproc-per-node N`: this machine's ranks of a data-parallel run,
// started as torchrun starts them (one process per rank with RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and OMP_NUM_THREADS), so a worker cannot tell the two
// launchers apart: `torchrun --no-python kdtorch teacher …` and Slurm's srun start the same workers.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { UsageError } from './model-commands.js';

export const LAUNCH_FLAGS = {
  'nproc-per-node': { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  'master-addr': { type: 'string' },
  'master-port': { type: 'string' },
} as const;

export const LAUNCH_HELP = `  --nproc-per-node N  train data-parallel on N processes of this machine (Gloo on CPU); the phase's
                      batchSize is the global batch, split between all ranks
  --nnodes M --node-rank R --master-addr HOST --master-port P
                      this machine's part of an M-machine run (rank 0's machine is node 0)`;

export interface Launch {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** null: a free port of this machine, for a one-machine run. */
  masterPort: number | null;
}

type LaunchValues = { [K in keyof typeof LAUNCH_FLAGS]?: string | undefined };

/** The launch the flags ask for, or null when they ask for none (a worker, or a one-process run). */
export function launchFromFlags(values: LaunchValues): Launch | null {
  const given = Object.keys(LAUNCH_FLAGS).filter((flag) => values[flag as keyof LaunchValues] !== undefined);
  if (given.length === 0) return null;
  const integer = (flag: keyof LaunchValues, fallback: number, min: number): number => {
    const text = values[flag];
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < min) throw new UsageError(`--${flag} must be an integer >= ${min}`);
    return value;
  };
  const nnodes = integer('nnodes', 1, 1);
  const launch: Launch = {
    nprocPerNode: integer('nproc-per-node', 1, 1),
    nnodes,
    nodeRank: integer('node-rank', 0, 0),
    masterAddr: values['master-addr'] ?? '127.0.0.1',
    masterPort: values['master-port'] === undefined ? null : integer('master-port', 0, 1),
  };
  if (launch.nodeRank >= nnodes) throw new UsageError(`--node-rank must be below --nnodes (${nnodes})`);
  if (nnodes > 1 && (values['master-addr'] === undefined || launch.masterPort === null)) {
    throw new UsageError('a run on several machines (--nnodes > 1) needs --master-addr and --master-port');
  }
  return launch;
}

/** A port nothing listens on now (the OS's choice), for a one-machine run's rendezvous. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * What torchrun gives local rank `localRank` of `launch`, with OMP_NUM_THREADS from `threadsPerRank`
 * (config distributed.threadsPerRank; 'auto': the cores shared out) unless the environment sets it.
 */
export function rankEnv(
  launch: Launch & { masterPort: number },
  localRank: number,
  threadsPerRank: number | 'auto',
  env = process.env,
) {
  const threads =
    threadsPerRank === 'auto'
      ? Math.max(1, Math.floor(os.availableParallelism() / launch.nprocPerNode))
      : threadsPerRank;
  return {
    RANK: String(launch.nodeRank * launch.nprocPerNode + localRank),
    WORLD_SIZE: String(launch.nnodes * launch.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(launch.nprocPerNode),
    MASTER_ADDR: launch.masterAddr,
    MASTER_PORT: String(launch.masterPort),
    OMP_NUM_THREADS: env.OMP_NUM_THREADS ?? String(threads),
  };
}

/**
 * Runs `argv` (this CLI's arguments without the launch flags) once per local rank and resolves with the
 * exit code: 0 when every rank succeeded, 130 when Ctrl-C stopped them, else the first failing rank's.
 * Ctrl-C (SIGINT) reaches each rank once, from here: the ranks run in process groups of their own, so a
 * terminal's Ctrl-C does not reach them twice (a second one quits a rank without its checkpoint). When a
 * rank fails, the others are stopped, as torchrun does.
 */
export async function launchRanks(launch: Launch, argv: string[], threadsPerRank: number | 'auto'): Promise<number> {
  const masterPort = launch.masterPort ?? (await freePort());
  const children: ChildProcess[] = [];
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    for (const child of children) child.kill('SIGINT');
  };
  const onExit = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.on('SIGINT', onSigint);
  process.on('exit', onExit);
  try {
    const codes = await Promise.all(
      Array.from({ length: launch.nprocPerNode }, (_, localRank) => {
        const child = spawn(process.execPath, [process.argv[1] as string, ...argv], {
          env: { ...process.env, ...rankEnv({ ...launch, masterPort }, localRank, threadsPerRank) },
          stdio: 'inherit',
          detached: true,
        });
        children.push(child);
        return new Promise<number>((resolve) => {
          child.on('error', () => resolve(1));
          child.on('exit', (code, signal) => {
            const status = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
            if (status !== 0 && !interrupted) {
              for (const other of children) if (other !== child && other.exitCode === null) other.kill('SIGTERM');
            }
            resolve(status);
          });
        });
      }),
    );
    if (codes.every((code) => code === 0)) return 0;
    if (interrupted && codes.every((code) => code === 0 || code === 130)) return 130;
    return codes.find((code) => code !== 0 && code !== 130 && code !== 143) ?? codes.find((code) => code !== 0) ?? 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('exit', onExit);
  }
}
