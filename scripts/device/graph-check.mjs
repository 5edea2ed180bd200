#!/usr/bin/env node
// CUDA-graph steps against eager steps on the GPU machine (gpu-check.sh runs it), in two parts:
// 1. Same training: a model trained from one seed on the same 20 batches (two shapes, so warm-up,
//    capture, replay and the eager last batch all happen), eagerly and with graphs: 'cuda'; its logits
//    on a probe batch must agree as closely as two eager runs agree with each other (cuDNN's backward
//    kernels are not bitwise reproducible, so that run-to-run spread is the yardstick). For the
//    student (plain, and bf16 autocast + channels-last) and for the ResNet-18 teacher.
// 2. Speed: studentStep and distillStep with cached teacher outputs, eager vs graphs, plain and
//    bf16 + channels-last, batch 32 and 256 at SIZE² (224), as images/s.
// DEVICE=cpu rehearses it here with the CPU stand-in ('replayed'); its timings mean nothing.
import { resnet18, setCudnnBenchmark, studentNet, Trainer } from '../../dist/lib/index.js';
import { random, randomBatch } from './random-batch.mjs';

const device = process.env.DEVICE ?? 'cuda';
const graphs = device === 'cpu' ? 'replayed' : 'cuda';
const size = Number(process.env.SIZE ?? 224);
const options = { optimizer: { name: 'adam', lr: 1e-3 }, loss: { mode: 'hinton', alpha: 0.5, temperature: 2 } };
const TUNED = { autocast: 'bf16', channelsLast: true };

const batchOf = (n, seed, side = size) => randomBatch(n, seed, side);

const logitsOf = (n, seed) => Float32Array.from({ length: n * 2 }, random(seed + 7));

const CASES = {
  student: {
    side: size,
    make: () => studentNet({ inputSize: size, device, seed: 1 }),
    steps: async (trainer, n, i) => {
      await trainer.studentStep(batchOf(n, i));
      await trainer.distillStep(batchOf(n, 100 + i), logitsOf(n, i));
    },
  },
  'student, bf16 + channels-last': {
    side: size,
    make: () => studentNet({ inputSize: size, device, seed: 1, ...TUNED }),
    steps: (trainer, n, i) => CASES.student.steps(trainer, n, i),
  },
  'teacher (ResNet-18 at 64², bf16 + channels-last)': {
    side: 64,
    make: () => resnet18({ device, seed: 1, ...TUNED }),
    steps: (trainer, n, i) => trainer.teacherStep(batchOf(n, i, 64)),
  },
};

async function train(which, mode) {
  const model = await CASES[which].make();
  const trainer = await Trainer.create(model, { ...options, graphs: mode });
  for (let i = 0; i < 20; i++) await CASES[which].steps(trainer, i % 5 === 4 ? 12 : 32, i);
  const metrics = await trainer.takeMetrics();
  await model.eval();
  const probe = batchOf(16, 999, CASES[which].side);
  const { data } = await model.forward({ data: probe.images, shape: probe.shape });
  return { data, lossSum: metrics.lossSum };
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

setCudnnBenchmark(false);
let same = true;
for (const which of Object.keys(CASES)) {
  const [eager, eagerAgain, graphed] = [
    await train(which, 'none'),
    await train(which, 'none'),
    await train(which, graphs),
  ];
  const spread = maxDiff(eager.data, eagerAgain.data);
  const graphDiff = maxDiff(eager.data, graphed.data);
  const bound = Math.max(10 * spread, 1e-5);
  const ok = graphDiff <= bound && Math.abs(eager.lossSum - graphed.lossSum) <= 1e-3 * Math.abs(eager.lossSum);
  same &&= ok;
  console.log(
    `${ok ? 'same' : 'DIFFERENT'}: ${which}, graph vs eager probe logits max |diff| ${graphDiff.toExponential(2)} (eager vs eager ${spread.toExponential(2)}, bound ${bound.toExponential(2)}); loss sums ${eager.lossSum.toFixed(6)} / ${graphed.lossSum.toFixed(6)}`,
  );
}

setCudnnBenchmark(true);
console.log(`\n| step (${device}, ${size}²) | student | batch | eager img/s | graphs img/s | graphs / eager |`);
console.log('|---|---|---:|---:|---:|---:|');
for (const batch of [32, 256]) {
  const data = batchOf(batch, 5);
  const logits = logitsOf(batch, 5);
  for (const [row, call] of [
    ['studentStep', (t) => t.studentStep(data)],
    ['distillStep (cached teacher)', (t) => t.distillStep(data, logits)],
  ]) {
    for (const [variant, tuning] of [
      ['fp32', {}],
      ['bf16 + channels-last', TUNED],
    ]) {
      const rate = {};
      for (const mode of ['none', graphs]) {
        const student = await studentNet({ inputSize: size, device, ...tuning });
        const trainer = await Trainer.create(student, { ...options, graphs: mode });
        for (let i = 0; i < 6; i++) await call(trainer); // warm-up and capture
        await trainer.takeMetrics();
        const repeats = device === 'cpu' ? 2 : 50;
        const start = process.hrtime.bigint();
        for (let i = 0; i < repeats; i++) await call(trainer);
        await trainer.takeMetrics(); // waits for the device
        rate[mode] = (batch * repeats) / (Number(process.hrtime.bigint() - start) / 1e9);
      }
      console.log(
        `| ${row} | ${variant} | ${batch} | ${rate.none.toFixed(0)} | ${rate[graphs].toFixed(0)} | ${(rate[graphs] / rate.none).toFixed(2)}× |`,
      );
    }
  }
}
if (!same) {
  console.error('graph-replayed steps did not train as eager ones do');
  process.exit(1);
}
console.log('graph check passed');
