// One rank of a data-parallel test run (test/distributed.test.ts), a process of its own as torchrun's
// workers are: joins the group from the environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), takes
// its rows of the global batch, runs the steps and saves its weights. Usage: node ddp-worker.mjs JSON.
import fs from 'node:fs';
import { joinProcessGroup, resnet18, studentNet, Trainer } from '../../dist/lib/index.js';

const job = JSON.parse(process.argv[2]);
const group = await joinProcessGroup({ timeoutMs: job.timeoutMs });
const make = async (spec, weights) => {
  const model =
    spec.arch === 'resnet18' ? await resnet18() : await studentNet({ inputSize: spec.inputSize, width: spec.width });
  await model.loadWeights(weights);
  return model;
};
const model = await make(job.model, job.model.weights);
const teacher = job.teacher ? await make(job.teacher, job.teacher.weights) : undefined;
const trainer = await Trainer.create(model, { ...job.options, teacher, processGroup: group });

const [n, ...image] = job.shape;
const perRank = n / group.worldSize;
const pixels = image.reduce((a, b) => a * b, 1);
const read = (file, Type) => {
  const bytes = fs.readFileSync(file);
  return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / Type.BYTES_PER_ELEMENT);
};
const images = read(job.images, Float32Array);
const labels = read(job.labels, Int32Array);
const batch = {
  images: images.slice(group.rank * perRank * pixels, (group.rank + 1) * perRank * pixels),
  labels: labels.slice(group.rank * perRank, (group.rank + 1) * perRank),
  shape: [perRank, ...image],
};
for (let i = 0; i < job.steps; i++) await trainer[job.kind](batch);
const metrics = await trainer.takeMetrics();
await model.saveWeights(job.out.replace('RANK', String(group.rank)));
console.log(JSON.stringify({ rank: group.rank, worldSize: group.worldSize, metrics }));
