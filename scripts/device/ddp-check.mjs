#!/usr/bin/env node
// Data-parallel training on NCCL, on the GPU machine (gpu-check.sh runs it; issue 21). One GPU holds one
// NCCL rank, so the world is of one; an NCCL world of one still runs every collective (broadcasts,
// gradient buckets from backward's hooks, metric sums), so the whole NCCL path runs:
// 1. Steps: ResNet-18 teacher steps and student distillation steps on cuda:0, alone and as the NCCL rank,
//    from the same weights on the same batches; every parameter and buffer must agree with the lone run's
//    as closely as a second lone run does (cuDNN's backward is not bitwise reproducible), and the rank's
//    gradient buckets must all have started during backward.
// 2. A phase: `kdtorch teacher --nproc-per-node 1` on the demo data on the GPU, which must train and
//    finish (distributed.backend 'auto' picks NCCL for a CUDA device; Gloo ranks would refuse it).
// Prints one JSON line per check and exits non-zero when one fails. DEVICE=cpu BACKEND=gloo rehearses it
// on a CPU.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../dist/lib/cli/launcher.js';
import { joinProcessGroup, resnet18, studentNet, Trainer } from '../../dist/lib/index.js';
import { randomBatch } from './random-batch.mjs';

const device = process.env.DEVICE ?? 'cuda';
const backend = process.env.BACKEND ?? 'nccl';
const STEPS = 6;
const SIZE = 64;

const batchOf = (n, seed) => randomBatch(n, seed, SIZE);

const CASES = {
  'teacher steps (ResNet-18)': {
    make: () => resnet18({ device, seed: 1 }),
    options: {
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    },
    step: (trainer, i) => trainer.teacherStep(batchOf(16, i)),
  },
  'distillation steps (student, ResNet-18 teacher)': {
    make: () => studentNet({ inputSize: SIZE, device, seed: 2 }),
    teacher: () => resnet18({ device, seed: 1 }),
    options: {
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
      loss: { mode: 'hinton', alpha: 0.5, temperature: 2 },
    },
    step: (trainer, i) => trainer.distillStep(batchOf(16, 100 + i)),
  },
};

async function train(which, group) {
  const spec = CASES[which];
  const model = await spec.make();
  const teacher = spec.teacher ? await spec.teacher() : undefined;
  const trainer = await Trainer.create(model, { ...spec.options, teacher, ...(group ? { processGroup: group } : {}) });
  for (let i = 0; i < STEPS; i++) await spec.step(trainer, i);
  await trainer.takeMetrics();
  return await model.stateDict();
}

function largestDifference(a, b) {
  let largest = 0;
  for (const [key, { data }] of Object.entries(a)) {
    const other = b[key].data;
    for (let i = 0; i < data.length; i++) largest = Math.max(largest, Math.abs(data[i] - other[i]));
  }
  return largest;
}

let failed = false;
const report = (line) => {
  failed ||= !line.passed;
  console.log(JSON.stringify(line));
};

const group = await joinProcessGroup({
  masterPort: await freePort(),
  rank: 0,
  worldSize: 1,
  backend,
  timeoutMs: 60_000,
});
for (const which of Object.keys(CASES)) {
  const alone = await train(which);
  const again = await train(which);
  const before = group.communication().overlappedBuckets;
  const ranked = await train(which, group);
  const overlapped = group.communication().overlappedBuckets - before;
  const spread = largestDifference(alone, again);
  const difference = largestDifference(alone, ranked);
  report({
    check: which,
    backend,
    device,
    difference,
    spreadOfTwoLoneRuns: spread,
    bucketsStartedDuringBackward: overlapped,
    // Gloo's world of one (the CPU rehearsal) runs no collective at all.
    passed: difference <= Math.max(10 * spread, 1e-6) && (backend === 'gloo' || overlapped > 0),
  });
}

const output = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-ddp-check-'));
const started = performance.now();
const phase = spawnSync(
  process.execPath,
  [
    'dist/lib/cli.js',
    'teacher',
    '--data',
    'demo/chest_xray',
    '--preset',
    'quick',
    '--image-size',
    '64',
    '--output',
    path.join(output, 'run'),
    '--epochs',
    '1',
    '--device',
    device,
    '--nproc-per-node',
    '1',
    '--json',
  ],
  { encoding: 'utf8' },
);
report({
  check: 'kdtorch teacher --nproc-per-node 1',
  status: phase.status,
  seconds: (performance.now() - started) / 1000,
  result: phase.stdout.trim().split('\n').at(-1)?.slice(0, 300),
  stderr: phase.status === 0 ? undefined : phase.stderr.slice(-2000),
  passed: phase.status === 0,
});
process.exit(failed ? 1 : 0);
