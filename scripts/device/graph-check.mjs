#!/usr/bin/env node
// CUDA-graph steps against eager steps on the GPU machine (gpu-check.sh runs it), in two parts:
// 1. Same training: two students from one seed take the same 20 batches (two shapes, so warm-up,
//    capture, replay and the eager last batch all happen), eagerly and with graphs: 'cuda'; their
//    logits on a probe batch must agree as closely as two eager runs agree with each other (cuDNN's
//    backward kernels are not bitwise reproducible, so that run-to-run spread is the yardstick).
// 2. Speed: studentStep and distillStep with cached teacher outputs, eager vs graphs, batch 32 and
//    256 at SIZE² (224), as images/s.
// DEVICE=cpu rehearses it here with the CPU stand-in ('replayed'); its timings mean nothing.
import { setCudnnBenchmark, studentNet, Trainer } from '../../dist/lib/index.js';

const device = process.env.DEVICE ?? 'cuda';
const graphs = device === 'cpu' ? 'replayed' : 'cuda';
const size = Number(process.env.SIZE ?? 224);
const options = { optimizer: { name: 'adam', lr: 1e-3 }, loss: { mode: 'hinton', alpha: 0.5, temperature: 2 } };

function random(seed) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function batchOf(n, seed) {
  const next = random(seed);
  return {
    images: Float32Array.from({ length: n * 3 * size * size }, () => next() * 4 - 2),
    shape: [n, 3, size, size],
    labels: Int32Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1)),
  };
}

const logitsOf = (n, seed) => Float32Array.from({ length: n * 2 }, random(seed + 7));

async function train(mode) {
  const student = await studentNet({ inputSize: size, device, seed: 1 });
  const trainer = await Trainer.create(student, { ...options, graphs: mode });
  for (let i = 0; i < 20; i++) {
    const n = i % 5 === 4 ? 12 : 32;
    await trainer.studentStep(batchOf(n, i));
    await trainer.distillStep(batchOf(n, 100 + i), logitsOf(n, i));
  }
  const metrics = await trainer.takeMetrics();
  await student.eval();
  const probe = batchOf(16, 999);
  const { data } = await student.forward({ data: probe.images, shape: probe.shape });
  return { data, lossSum: metrics.lossSum };
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

setCudnnBenchmark(false);
const [eager, eagerAgain, graphed] = [await train('none'), await train('none'), await train(graphs)];
const spread = maxDiff(eager.data, eagerAgain.data);
const graphDiff = maxDiff(eager.data, graphed.data);
const bound = Math.max(10 * spread, 1e-5);
console.log(
  `graph vs eager: probe logits max |diff| ${graphDiff.toExponential(2)} (eager vs eager ${spread.toExponential(2)}, bound ${bound.toExponential(2)}); loss sums ${eager.lossSum.toFixed(6)} / ${graphed.lossSum.toFixed(6)}`,
);
const same = graphDiff <= bound && Math.abs(eager.lossSum - graphed.lossSum) <= 1e-3 * Math.abs(eager.lossSum);

setCudnnBenchmark(true);
console.log(`\n| step (${device}, ${size}²) | batch | eager img/s | graphs img/s | graphs / eager |`);
console.log('|---|---:|---:|---:|---:|');
for (const batch of [32, 256]) {
  const data = batchOf(batch, 5);
  const logits = logitsOf(batch, 5);
  for (const [row, call] of [
    ['studentStep', (t) => t.studentStep(data)],
    ['distillStep (cached teacher)', (t) => t.distillStep(data, logits)],
  ]) {
    const rate = {};
    for (const mode of ['none', graphs]) {
      const trainer = await Trainer.create(await studentNet({ inputSize: size, device }), { ...options, graphs: mode });
      for (let i = 0; i < 6; i++) await call(trainer); // warm-up and capture
      await trainer.takeMetrics();
      const repeats = device === 'cpu' ? 2 : 50;
      const start = process.hrtime.bigint();
      for (let i = 0; i < repeats; i++) await call(trainer);
      await trainer.takeMetrics(); // waits for the device
      rate[mode] = (batch * repeats) / (Number(process.hrtime.bigint() - start) / 1e9);
    }
    console.log(
      `| ${row} | ${batch} | ${rate.none.toFixed(0)} | ${rate[graphs].toFixed(0)} | ${(rate[graphs] / rate.none).toFixed(2)}× |`,
    );
  }
}
if (!same) {
  console.error('graph-replayed steps did not train as eager ones do');
  process.exit(1);
}
console.log('graph check passed');
