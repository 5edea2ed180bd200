// The hostile-input corpus (test/hostile/make_corpus.py: crafted and damaged .pth, safetensors, model
// descriptions and images) through the public API in a child process under an address-space cap:
// every case ends in its KdtorchError code (or loads), never a signal, a hang or an untyped error,
// and no file of at most 1 MB makes the process grow by more than 64 MB.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reference } from './helpers/reference.js';
import { ROOT, run, tempDir, VENV_PYTHON } from './helpers/run.js';

interface Case {
  file: string;
  api: string;
  expect: string[];
  pattern: string | null;
}
interface Outcome {
  index: number;
  code: string;
  message: string;
  peakKb: number;
  baseKb: number;
}

const CAP_KB = 6 * 2 ** 20; // ulimit -v: libtorch and V8 reserve ~3 GB of address space unused

/** Runs the corpus from `first` on; a case that kills the process is recorded and the rest run on. */
function runCorpus(manifest: string, count: number): { outcomes: Outcome[]; crashes: string[] } {
  const outcomes: Outcome[] = [];
  const crashes: string[] = [];
  let first = 0;
  while (first < count) {
    const result = spawnSync(
      'bash',
      [
        '-c',
        `ulimit -v ${CAP_KB}; exec "${process.execPath}" test/hostile/run-corpus.mjs "$0" "$1"`,
        manifest,
        `${first}`,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 2 ** 20 },
    );
    const lines = result.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    outcomes.push(...lines.filter((line) => line.index !== undefined));
    const started = lines.filter((line) => line.start !== undefined).at(-1)?.start ?? first;
    if (result.status === 0) break;
    crashes.push(`case ${started}: status ${result.status} signal ${result.signal}\n${result.stderr.slice(-2000)}`);
    first = started + 1;
  }
  return { outcomes, crashes };
}

describe('hostile input', () => {
  it('ends every case of the corpus in its typed error, with bounded memory', () => {
    const dir = tempDir('hostile');
    const student = path.join(dir, 'student.safetensors');
    reference('make-weights', { arch: 'studentNet', inputSize: 32, safetensors: student, seed: 0 });
    const made = run(VENV_PYTHON, ['test/hostile/make_corpus.py', path.join(dir, 'corpus'), student]);
    expect(made.status, made.stderr).toBe(0);
    const manifest = path.join(dir, 'corpus', 'manifest.json');
    const cases = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Case[];
    expect(cases.length).toBeGreaterThanOrEqual(150);

    const { outcomes, crashes } = runCorpus(manifest, cases.length);
    expect(crashes).toEqual([]);
    expect(outcomes.map((o) => o.index)).toEqual(cases.map((_, i) => i));
    const wrong = outcomes.flatMap((o) => {
      const c = cases[o.index] as Case;
      const name = path.basename(c.file);
      if (!c.expect.includes(o.code)) return [`${name}: ${o.code} (${o.message.slice(0, 300)}), expected ${c.expect}`];
      if (o.code !== 'ok' && !o.message.includes(c.file)) return [`${name}: the message does not name the file`];
      if (o.code !== 'ok' && c.pattern && !new RegExp(c.pattern).test(o.message)) {
        return [`${name}: ${o.message.slice(0, 300)} does not match /${c.pattern}/`];
      }
      return [];
    });
    expect(wrong).toEqual([]);
    const growth = outcomes
      .filter((o) => {
        const stat = fs.statSync((cases[o.index] as Case).file);
        return stat.isFile() && stat.size <= 2 ** 20;
      })
      .map((o) => o.peakKb - o.baseKb);
    expect(Math.max(...growth)).toBeLessThan(64 * 1024);
  }, 600_000);
});
