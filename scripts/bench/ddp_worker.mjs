// One rank of a data-parallel run, a process of its own as torchrun's workers are, for test/distributed.test.ts
// and `npm run bench -- ddp`: joins the group from the environment (RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT; with `alone`, no group), takes its rows of the global batch, runs the steps, and prints one
// JSON line: the summed metrics, each step's wall time and collective time after `warmUp` steps.
// Usage: node ddp_worker.mjs JSON.
import fs from 'node:fs';
import { joinProcessGroup, resnet18, studentNet, Trainer } from '../../dist/lib/index.js';

const job = JSON.parse(process.argv[2]);
const group = job.alone ? undefined : await joinProcessGroup({ timeoutMs: job.timeoutMs });
const [rank, worldSize] = group ? [group.rank, group.worldSize] : [0, 1];
const make = async (spec, weights) => {
  const model =
    spec.arch === 'resnet18' ? await resnet18() : await studentNet({ inputSize: spec.inputSize, width: spec.width });
  if (weights) await model.loadWeights(weights);
  return model;
};
const model = await make(job.model, job.model.weights);
const teacher = job.teacher ? await make(job.teacher, job.teacher.weights) : undefined;
const trainer = await Trainer.create(model, { ...job.options, teacher, ...(group ? { processGroup: group } : {}) });

const [n, ...image] = job.shape;
const perRank = n / worldSize;
const pixels = image.reduce((a, b) => a * b, 1);
const read = (file, Type) => {
  const bytes = fs.readFileSync(file);
  return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / Type.BYTES_PER_ELEMENT);
};
const images = job.images ? read(job.images, Float32Array) : new Float32Array(n * pixels).map(Math.random);
const labels = job.labels ? read(job.labels, Int32Array) : new Int32Array(n).map((_, i) => i % 2);
const batch = {
  images: images.slice(rank * perRank * pixels, (rank + 1) * perRank * pixels),
  labels: labels.slice(rank * perRank, (rank + 1) * perRank),
  shape: [perRank, ...image],
};
const warmUp = job.warmUp ?? 0;
const stepMs = [];
const communicationMs = [];
for (let i = 0; i < warmUp + job.steps; i++) {
  const started = performance.now();
  const before = group?.communication().seconds ?? 0;
  await trainer[job.kind](batch);
  if (i >= warmUp) {
    stepMs.push(performance.now() - started);
    communicationMs.push(((group?.communication().seconds ?? 0) - before) * 1000);
  }
  if (job.progress) console.log(JSON.stringify({ step: i + 1 }));
}
const metrics = await trainer.takeMetrics();
if (job.out) await model.saveWeights(job.out.replace('RANK', String(rank)));
console.log(
  JSON.stringify({ rank, worldSize, metrics, stepMs, communicationMs, communication: group?.communication() }),
);
