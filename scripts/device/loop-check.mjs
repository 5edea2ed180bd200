#!/usr/bin/env node
// The whole training loop on the GPU machine (gpu-check.sh runs it after graph-check.mjs, which checks
// single steps): the bundled demo data through trainStudent() and distill() with each GPU setting against
// the plain loop (eager steps, fp32): cudaGraphs (the presets' 'auto' since this check passed), the
// student's bf16 + channels-last, data.deviceCache. Graphs must train as eager steps do: each epoch's
// train loss within 10× the spread of two plain runs (cuDNN's backward is not bitwise reproducible).
// bf16 changes the numbers by design; its rows are there for their images/s and accuracy.
// DEVICE=cpu SIZE=32 rehearses it here (cudaGraphs has no effect on a CPU, so every row trains alike).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { distill, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';

const device = process.env.DEVICE ?? 'cuda';
const size = Number(process.env.SIZE ?? 224);
const root = path.join(findPackageRoot(), 'demo', 'chest_xray');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-loop-check-'));
const TUNED = { autocast: 'bf16', channelsLast: true };
let teacherFile = null; // the distillations' teacher, trained first

/**
 * The quick preset at `size` with 3 epochs per phase; cudnnBenchmark off, so the plain runs can agree, and
 * the presets' 'auto' GPU settings off (eager steps, pixels from the host) unless a run asks for them.
 */
function config(name, more = {}) {
  return {
    preset: 'quick',
    device,
    output: path.join(work, name),
    cudnnBenchmark: false,
    cudaGraphs: false,
    ...more,
    data: { root, imageSize: size, deviceCache: false, ...more.data },
    teacher: { epochs: 1 },
    student: { epochs: 3, ...more.student },
    distill: { epochs: 3, teacher: teacherFile },
  };
}

teacherFile = (await trainTeacher(config('teacher'))).bestCheckpoint;
const RUNS = {
  plain: {},
  'plain again': {},
  cudaGraphs: { cudaGraphs: true },
  'cudaGraphs, student bf16 + channels-last': { cudaGraphs: true, student: TUNED },
  'cudaGraphs, student bf16 + channels-last, deviceCache': {
    cudaGraphs: true,
    student: TUNED,
    data: { deviceCache: true },
  },
};
const histories = {};
console.log(
  `\n| run (${device}, ${size}², demo data) | phase | train loss per epoch | last val accuracy | last epoch img/s |`,
);
console.log('|---|---|---|---:|---:|');
for (const [name, more] of Object.entries(RUNS)) {
  const c = config(name.replace(/[^a-z0-9]+/gi, '-'), more);
  histories[name] = { student: (await trainStudent(c)).history, distill: (await distill(c)).history };
  for (const [phase, history] of Object.entries(histories[name])) {
    const last = history.at(-1);
    console.log(
      `| ${name} | ${phase} | ${history.map((h) => h.trainLoss.toFixed(5)).join(', ')} | ${(100 * last.valAccuracy).toFixed(2)}% | ${last.imagesPerSecond.toFixed(0)} |`,
    );
  }
}

const lossDiff = (a, b) => Math.max(...a.map((h, i) => Math.abs(h.trainLoss - b[i].trainLoss)));
let ok = true;
for (const phase of ['student', 'distill']) {
  const spread = lossDiff(histories.plain[phase], histories['plain again'][phase]);
  const diff = lossDiff(histories.plain[phase], histories.cudaGraphs[phase]);
  const bound = Math.max(10 * spread, 1e-4 * histories.plain[phase][0].trainLoss);
  const same = diff <= bound;
  ok &&= same;
  console.log(
    `${same ? 'same' : 'DIFFERENT'}: ${phase}, cudaGraphs vs plain train loss max |diff| ${diff.toExponential(2)} (plain vs plain ${spread.toExponential(2)}, bound ${bound.toExponential(2)})`,
  );
}
fs.rmSync(work, { recursive: true, force: true });
if (!ok) {
  console.error('training with cudaGraphs did not follow the plain loop');
  process.exit(1);
}
console.log('loop check passed');
