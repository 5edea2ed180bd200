// Runs the built CLI, npm or the venv's Python as child processes, for tests that need a fresh process.
import { type SpawnSyncOptions, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VENV_PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
export const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: SpawnSyncOptions = {}): Ran {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...options });
  if (result.error) throw result.error;
  return { status: result.status, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `kdtorch ...` from dist/, with extra environment variables. */
export function kdtorch(args: string[], env: NodeJS.ProcessEnv = {}): Ran {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
}

/** Runs a Python script in the project venv (our PyTorch reference) and parses its last stdout line as JSON. */
export function python<T>(script: string): T {
  const result = run(VENV_PYTHON, ['-c', script]);
  if (result.status !== 0) throw new Error(`python failed (${result.status}):\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null') as T;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kdtorch-${prefix}-`));
}

/** `kdtorch ...args` (with --json) sent SIGINT at its first batch of epoch `epoch`, as Ctrl-C would be. */
export function interruptAtEpoch(args: string[], epoch: number): Promise<Ran> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  const batchOfEpoch = new RegExp(`"type":"batch"[^\\n]*"epoch":${epoch}\\b`);
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    if (!interrupted && batchOfEpoch.test(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/**
 * `stopped` (a `--json` teacher run into `output`, interrupted in its second epoch) exited 130 with its
 * checkpoint and no result, and `kdtorch teacher --resume` in one process finishes it from epoch 2.
 */
export function expectResumable(stopped: Ran, output: string): void {
  expect(stopped.status, stopped.stderr).toBe(130);
  expect(fs.existsSync(path.join(output, 'teacher', 'last.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(output, 'teacher', 'result.json'))).toBe(false);
  const resumed = kdtorch(['teacher', '--resume', output, '--json']);
  expect(resumed.status, resumed.stderr).toBe(0);
  const lines = resumed.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(lines.find((line) => line.type === 'batch')?.epoch).toBe(2);
  expect(lines.at(-1).results[0].history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);
}
