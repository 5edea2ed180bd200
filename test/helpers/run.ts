// Runs the built CLI, npm or the venv's Python as child processes, for tests that need a fresh process.
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
