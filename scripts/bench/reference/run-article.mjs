// Runs scripts/bench/reference/article.py (the article's code in PyTorch, in the project venv, or the
// Python KDTORCH_PYTHON names, as on the GPU machine) for one phase and returns its JSON and the wall
// time of the whole process, as the benches compare them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { findPackageRoot } from '../../../lib/native/libtorch.mjs';

const root = findPackageRoot();

/** The Python of the PyTorch references: KDTORCH_PYTHON (the GPU machine's), else the project venv's. */
export function referencePython() {
  return process.env.KDTORCH_PYTHON ?? path.join(root, '.venv', 'bin', 'python');
}

export function runArticle(phase, args) {
  const python = referencePython();
  const script = path.join(root, 'scripts', 'bench', 'reference', 'article.py');
  const start = performance.now();
  const ran = spawnSync(python, [script, phase, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (ran.status !== 0) throw new Error(`article.py ${phase} failed:\n${ran.stderr}`);
  return { seconds: (performance.now() - start) / 1000, result: JSON.parse(ran.stdout.trim().split('\n').at(-1)) };
}
