#!/usr/bin/env node
// Where a teacher phase's first epoch goes on the GPU machine. The 224² compares there (docs/results.md)
// spend 4–10 s more in epoch 1 than in later epochs, in kdtorch only; this times each part of the phase
// on the bundled demo data, with its images decoded beforehand (so decoding is timed apart), for the
// settings the compares used: plain, cudnnBenchmark, bf16 + channels-last, then CUDA graphs on top; and
// the same first steps in PyTorch, before and after kdtorch's.
//   run  carry [".device/runtime", "dist", "prebuilds"]   command: source scripts/device/runtime.sh; node scripts/device/epoch-one.mjs
// DEVICE=cpu SIZE=32 rehearses it here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataset, resolveConfig, trainTeacher, warmCache } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { referencePython } from '../bench/reference/run-article.mjs';

const device = process.env.DEVICE ?? 'cuda';
const size = Number(process.env.SIZE ?? 224);
const root = path.join(findPackageRoot(), 'demo', 'chest_xray');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-epoch-one-'));
const TUNED = { autocast: 'bf16', channelsLast: true };
const RUNS = [
  ['plain', 32, { cudnnBenchmark: false }],
  ['cudnnBenchmark', 32, {}],
  ['cudnnBenchmark, bf16 + channels-last', 32, { teacher: TUNED }],
  ['cudnnBenchmark, bf16 + channels-last, cudaGraphs', 32, { teacher: TUNED, cudaGraphs: true }],
  ['plain', 128, { cudnnBenchmark: false }],
  ['cudnnBenchmark, bf16 + channels-last, cudaGraphs', 128, { teacher: TUNED, cudaGraphs: true }],
];

function config(name, batchSize, more) {
  return {
    preset: 'article',
    device,
    cudaGraphs: false,
    output: path.join(work, name.replace(/[^a-z0-9]+/gi, '-') + batchSize),
    ...more,
    data: { root, imageSize: size, deviceCache: false },
    teacher: { epochs: 2, batchSize, ...more.teacher },
    latency: { batchSizes: [1], repeats: 3 },
  };
}

/**
 * The same first steps in PyTorch (epoch_one_reference.py), in the same order: cuDNN's own first-use and
 * benchmark costs. Run before and after kdtorch's: the first process to touch cuDNN's kernels on a fresh
 * machine may pay for what the second finds ready (libraries read from disk into the page cache).
 */
function pytorchFirstSteps(when) {
  const last = dataset.splits.train.length % 32 || 32;
  const script = path.join(findPackageRoot(), 'scripts', 'device', 'epoch_one_reference.py');
  const ran = spawnSync(referencePython(), [script, JSON.stringify({ device, size, batch: 32, last })], {
    encoding: 'utf8',
  });
  if (ran.status !== 0) throw new Error(`epoch_one_reference.py failed:\n${ran.stderr}`);
  const reference = JSON.parse(ran.stdout.trim().split('\n').at(-1));
  console.log(
    `\n| PyTorch ${when} kdtorch's runs: ResNet-18 training steps (ms) | batch 32, 1st | batch 32, 2nd | batch ${last}, 1st | batch ${last}, 2nd |`,
  );
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, row] of Object.entries(reference)) console.log(`| ${name} | ${Object.values(row).join(' | ')} |`);
  console.log();
}

const ms = (seconds) => (seconds * 1000).toFixed(0);
const first = config('decode', 32, {});
const dataset = await openDataset(resolveConfig(first).data, 0);
const decodeStart = performance.now();
const all = [...dataset.splits.train, ...dataset.val];
await warmCache(all, dataset.cache);
const decodeSeconds = (performance.now() - decodeStart) / 1000;
console.log(
  `${device}, ${size}², demo data (${dataset.splits.train.length} train, ${dataset.val.length} val), ${os.availableParallelism()} CPUs, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 'unset (4)'}`,
);
console.log(
  `decoding all ${all.length} images beforehand: ${ms(decodeSeconds)} ms (${(all.length / decodeSeconds).toFixed(0)} img/s)\n`,
);
pytorchFirstSteps('before');
console.log(
  '| kdtorch teacher phase | batch | call → start ms | batch 1 ms | batches 2–4 ms each | batches 5 to last but one ms each | last batch ms | epoch 1 validation ms | epoch 2 batch ms each | epoch 2 validation ms | after the epochs ms |',
);
console.log(`|---|---:|${'---:|'.repeat(9)}`);
for (const [name, batchSize, more] of RUNS) {
  const marks = { batches: [[], []], epochEnd: [] };
  const called = performance.now();
  await trainTeacher(config(name, batchSize, more), {
    dataset,
    onProgress: (event) => {
      const now = performance.now();
      if (event.type === 'phase' && event.state === 'start') marks.start = now;
      if (event.type === 'batch') marks.batches[event.epoch - 1].push(now);
      if (event.type === 'epoch') marks.epochEnd.push(now);
    },
  });
  const done = performance.now();
  const [one, two] = marks.batches;
  const each = (times, from, to) => {
    const span = times.slice(from - 1, to);
    return span.length < 2 ? '–' : ((span.at(-1) - span[0]) / (span.length - 1)).toFixed(1);
  };
  console.log(
    `| ${name} | ${batchSize} | ${(marks.start - called).toFixed(0)} | ${(one[0] - marks.start).toFixed(0)} | ${each(one, 1, 4)} | ${each(one, 4, one.length - 1)} | ${(one.at(-1) - one.at(-2)).toFixed(0)} | ${(marks.epochEnd[0] - one.at(-1)).toFixed(0)} | ${((two.at(-1) - marks.epochEnd[0]) / two.length).toFixed(1)} | ${(marks.epochEnd[1] - two.at(-1)).toFixed(0)} | ${(done - marks.epochEnd[1]).toFixed(0)} |`,
  );
}
fs.rmSync(work, { recursive: true, force: true });
pytorchFirstSteps('after');
