// Starting the ranks of a data-parallel run on this machine as torchrun would, for test/distributed.test.ts
// and `npm run bench -- ddp`: a free loopback port for the rendezvous, torchrun's variables for each rank,
// and one scripts/bench/ddp_worker.mjs process per rank.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../dist/lib/cli/launcher.js';

export { freePort };

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ddp_worker.mjs');

/** What torchrun gives rank `rank` of `worldSize` on this machine. */
export function torchrunEnv(port, worldSize, rank) {
  return { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
}

/**
 * One ddp_worker.mjs process running `job` with `env` added; resolves with its exit status and output when it
 * ends. `onOutput` sees its stdout so far as it comes, with the child.
 */
export function runRank(job, env, onOutput = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(job)], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onOutput(stdout, child);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
