// Drives test/reference/kd_reference.py (PyTorch, in the project venv) and the files it shares with kdtorch.
import fs from 'node:fs';
import path from 'node:path';
import type { Batch } from '../../lib/index.js';
import { ROOT, run, VENV_PYTHON } from './run.js';

const SCRIPT = path.join(ROOT, 'test', 'reference', 'kd_reference.py');

export function reference<T>(command: string, args: object): T {
  const result = run(VENV_PYTHON, [SCRIPT, command, JSON.stringify(args)]);
  if (result.status !== 0) throw new Error(`kd_reference.py ${command} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null') as T;
}

/** A seeded batch drawn by PyTorch, written to `dir` and read back as a kdtorch Batch. */
export function referenceBatch(dir: string, shape: number[], seed: number, numClasses = 2): Batch & { files: object } {
  const files = { images: path.join(dir, `x-${seed}.bin`), labels: path.join(dir, `y-${seed}.bin`) };
  reference('make-batch', { ...files, shape, seed, numClasses });
  const images = fs.readFileSync(files.images);
  const labels = fs.readFileSync(files.labels);
  return {
    images: new Float32Array(images.buffer, images.byteOffset, images.byteLength / 4),
    labels: new Int32Array(labels.buffer, labels.byteOffset, labels.byteLength / 4),
    shape,
    files,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}
