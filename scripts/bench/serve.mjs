// `npm run bench -- serve [--requests 1000] [--size 224] [--max-batch 32] [--max-wait 2]`: what a Node
// service answering many simultaneous single-image requests gets from a Predictor (requests coalesced
// into batches) against answering them one by one with predict(): total time, images/s, and each
// request's latency (p50, p99), on the bundled test images (cycled), for the article's student
// (`--requests` of them) and ResNet-18 (a fifth as many).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Predictor, predict, resnet18, studentNet } from '../../dist/lib/index.js';
import { percentile } from '../../dist/lib/metrics/latency.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { benchDescription } from './description.mjs';
import { writeBenchResults } from './results-file.mjs';

const root = findPackageRoot();

function percentiles(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

export async function benchServe(args) {
  const { values } = parseArgs({
    args,
    options: {
      requests: { type: 'string', default: '1000' },
      size: { type: 'string', default: '224' },
      'max-batch': { type: 'string', default: '32' },
      'max-wait': { type: 'string', default: '2' },
    },
  });
  const [requests, size, maxBatch, maxWaitMs] = ['requests', 'size', 'max-batch', 'max-wait'].map((k) =>
    Number(values[k]),
  );
  const folders = ['NORMAL', 'PNEUMONIA'].map((name) => path.join(root, 'demo', 'chest_xray', 'test', name));
  const files = folders.flatMap((folder) => fs.readdirSync(folder).map((f) => fs.readFileSync(path.join(folder, f))));
  const images = Array.from({ length: requests }, (_, i) => files[i % files.length]);
  const rows = [];
  for (const architecture of ['studentNet', 'resnet18']) {
    const count = architecture === 'resnet18' ? Math.ceil(requests / 5) : requests;
    rows.push(...(await serveBoth(architecture, size, images.slice(0, count), maxBatch, maxWaitMs)));
  }
  const markdown = [
    `Simultaneous single-image requests at ${size}², each image decoded as its request arrives`,
    '',
    '| model | requests | serving | total ms | images/s | p50 latency ms | p99 latency ms | model calls | throughput vs one by one |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.requests} | ${r.way} | ${r.ms.toFixed(0)} | ${((1000 * r.requests) / r.ms).toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.calls} | ${r.gain.toFixed(2)}× |`,
    ),
  ].join('\n');
  console.log(markdown);
  const file = writeBenchResults('serve', {
    setting: `${os.cpus()[0]?.model ?? 'CPU'}, ${os.availableParallelism()} cores`,
    command: `npm run bench -- serve ${args.join(' ')}`.trim(),
    markdown,
    json: { requests, size, maxBatch, maxWaitMs, rows },
  });
  console.log(`\nwritten to ${path.relative(root, file)}`);
}

/** The same requests answered one by one with predict(), then all at once through a Predictor. */
async function serveBoth(architecture, size, images, maxBatch, maxWaitMs) {
  const model = {
    model: architecture === 'resnet18' ? await resnet18() : await studentNet({ inputSize: size }),
    description: benchDescription(architecture, size),
  };
  await predict(model, images.slice(0, 8)); // warm
  // One by one: each request waits for the ones before it, as a service without batching serves them.
  let start = performance.now();
  const sequentialLatencies = [];
  for (const image of images) {
    await predict(model, [image]);
    sequentialLatencies.push(performance.now() - start);
  }
  const sequential = performance.now() - start;
  const predictor = await Predictor.create(model, { maxBatch, maxWaitMs });
  start = performance.now();
  const batchedLatencies = await Promise.all(
    images.map((image) => predictor.predict(image).then(() => performance.now() - start)),
  );
  const batched = performance.now() - start;
  await model.model.dispose();
  const common = { model: architecture, requests: images.length };
  return [
    {
      ...common,
      way: 'one by one (predict per request)',
      ms: sequential,
      ...percentiles(sequentialLatencies),
      calls: images.length,
      gain: 1,
    },
    {
      ...common,
      way: `Predictor (maxBatch ${maxBatch}, maxWaitMs ${maxWaitMs})`,
      ms: batched,
      ...percentiles(batchedLatencies),
      calls: predictor.stats.batches,
      gain: sequential / batched,
    },
  ];
}
