// `npm run bench -- ddp [--size 112] [--batch 16] [--steps 5] [--warmup 2]`: ResNet-18 teacher steps
// (SGD with momentum, cross-entropy) on one global batch, in one process with this machine's threads
// and on 2 ranks of one thread each over Gloo on loopback (each rank half the batch, as torchrun would
// run them with OMP_NUM_THREADS=1), kdtorch (scripts/bench/ddp_worker.mjs) against PyTorch
// (DistributedDataParallel, scripts/bench/ddp_reference.py), one after another. Prints median step
// time, images/s and the communication per step. Both overlap the gradient all-reduce with backward:
// kdtorch's column is what its steps still wait for (ProcessGroup.communication(): gradient buckets
// after backward, BatchNorm buffers before the forward), PyTorch's the same gradient bytes in DDP's
// 25 MB buckets all-reduced by themselves, with nothing to hide behind (DDP's own share cannot be read
// off its steps). A last row: kdtorch's 2 ranks with syncBatchNorm, whose communication column adds the
// BatchNorm statistics' all-reduces.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { info } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { freePort, runRank, torchrunEnv } from './ddp_ranks.mjs';
import { referencePython } from './reference/run-article.mjs';
import { writeBenchResults } from './results-file.mjs';
import { median } from './stats.mjs';

const root = findPackageRoot();
const REFERENCE = path.join(root, 'scripts', 'bench', 'ddp_reference.py');
const WORLD = 2;

async function worker(job, env) {
  const { status, stdout, stderr } = await runRank(job, env);
  if (status !== 0) throw new Error(`ddp_worker.mjs failed (${status}):\n${stderr}`);
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

function python(mode, args) {
  const run = spawnSync(referencePython(), [REFERENCE, mode, JSON.stringify(args)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ddp_reference.py ${mode} failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1));
}

export async function benchDdp(args) {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: '112' },
      batch: { type: 'string', default: '16' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const [size, batch, steps, warmUp] = ['size', 'batch', 'steps', 'warmup'].map((k) => Number(values[k]));
  const { threads } = await info();
  const job = {
    model: { arch: 'resnet18' },
    options: {
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    },
    kind: 'teacherStep',
    shape: [batch, 3, size, size],
    steps,
    warmUp,
    timeoutMs: 600_000,
  };
  const kdtorchAlone = await worker({ ...job, alone: true }, {});
  const port = await freePort();
  const rankEnv = (rank) => ({ ...torchrunEnv(port, WORLD, rank), OMP_NUM_THREADS: '1' });
  const ranks = (rankJob) => Promise.all(Array.from({ length: WORLD }, (_, rank) => worker(rankJob, rankEnv(rank))));
  const kdtorchRanks = await ranks(job);
  const kdtorchSynced = await ranks({ ...job, options: { ...job.options, syncBatchNorm: true } });
  const reference = { size, batch, steps, warmUp, threads, worldSize: WORLD };
  const pytorchAlone = python('alone', reference);
  const pytorchRanks = python('ddp', { ...reference, port: await freePort() });

  const gradientBytes = 11_177_538 * 4;
  const rows = [
    { setup: `kdtorch, 1 process × ${threads} threads`, stepMs: kdtorchAlone.stepMs, allReduceMs: [] },
    {
      setup: `kdtorch, ${WORLD} ranks × 1 thread (Gloo)`,
      stepMs: kdtorchRanks[0].stepMs,
      allReduceMs: kdtorchRanks[0].communicationMs,
    },
    { setup: `PyTorch, 1 process × ${threads} threads`, ...pytorchAlone },
    { setup: `PyTorch DDP, ${WORLD} ranks × 1 thread (Gloo)`, ...pytorchRanks },
    {
      setup: `kdtorch, ${WORLD} ranks × 1 thread (Gloo), syncBatchNorm`,
      stepMs: kdtorchSynced[0].stepMs,
      allReduceMs: kdtorchSynced[0].communicationMs,
    },
  ];
  const lines = [
    `ResNet-18 teacher steps, ${size}², global batch ${batch}, median of ${steps} steps after ${warmUp}; ${(gradientBytes / 2 ** 20).toFixed(1)} MiB of gradients per step`,
    '',
    '| setup | step ms | images/s | communication ms/step (kdtorch: waited for; PyTorch: all-reduce alone) | share of step |',
    '|---|---:|---:|---:|---:|',
  ];
  const table = rows.map(({ setup, stepMs, allReduceMs }) => {
    const step = median(stepMs);
    const allReduce = allReduceMs.length ? median(allReduceMs) : null;
    const cell = allReduce === null ? '—' : allReduce.toFixed(1);
    const share = allReduce === null ? '—' : `${((100 * allReduce) / step).toFixed(0)}%`;
    lines.push(`| ${setup} | ${step.toFixed(1)} | ${((1000 * batch) / step).toFixed(1)} | ${cell} | ${share} |`);
    return { setup, stepMs: step, imagesPerSecond: (1000 * batch) / step, allReduceMs: allReduce };
  });
  const [kdAlone, kdRanks, ptAlone, ptRanks, kdSynced] = table;
  const overlapped = kdtorchRanks[0].communication.overlappedBuckets / (warmUp + steps);
  lines.push(
    '',
    `kdtorch: ${overlapped} gradient bucket(s) per step started during backward.`,
    `kdtorch ${WORLD} ranks / 1 process: ${(kdAlone.stepMs / kdRanks.stepMs).toFixed(2)}× the images/s; PyTorch: ${(ptAlone.stepMs / ptRanks.stepMs).toFixed(2)}×; kdtorch / PyTorch at ${WORLD} ranks: ${(ptRanks.stepMs / kdRanks.stepMs).toFixed(2)}×, alone: ${(ptAlone.stepMs / kdAlone.stepMs).toFixed(2)}×`,
    `kdtorch syncBatchNorm / each rank's own BatchNorm: ${(kdSynced.stepMs / kdRanks.stepMs).toFixed(2)}× the step time (PyTorch's SyncBatchNorm runs on GPUs only)`,
  );
  const markdown = lines.join('\n');
  console.log(markdown);
  const file = writeBenchResults('ddp', {
    setting: `${os.cpus()[0]?.model ?? 'CPU'}, ${threads} cores, loopback`,
    command: `npm run bench -- ddp ${args.join(' ')}`.trim(),
    markdown,
    json: { size, batch, steps, warmUp, threads, gradientBytes, table },
  });
  console.log(`\nwritten to ${path.relative(root, file)}`);
}
