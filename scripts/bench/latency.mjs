// `npm run bench -- latency [--sizes 224,64] [--batches 1,32] [--repeats 20]`: ms per image of one forward
// pass (float NCHW in, logits out) for the student and ResNet-18, side by side in one run: kdtorch's
// forward (libtorch), kdtorch's ONNX export through onnxruntime-node, PyTorch eager and onnxruntime in
// Python (scripts/bench/latency_reference.py), all on the same threads, with ratios against PyTorch eager
// and the student's speed-up over the teacher; every side timed by lib/metrics/latency.ts's rule. Writes the table to docs/results/ (results-file.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { exportOnnx, info, resnet18, studentNet } from '../../dist/lib/index.js';
import { percentile, timedPasses } from '../../dist/lib/metrics/latency.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { benchDescription } from './description.mjs';
import { referencePython } from './reference/run-article.mjs';
import { writeBenchResults } from './results-file.mjs';

const root = findPackageRoot();
const medianMs = async (run, repeats) => percentile(await timedPasses(run, repeats), 0.5);

const input = (batch, channels, size) =>
  new Float32Array(batch * channels * size * size).map((_, i) => Math.sin(i * 0.37));

export async function benchLatency(args) {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string', default: '224,64' },
      batches: { type: 'string', default: '1,32' },
      repeats: { type: 'string', default: '20' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const batches = values.batches.split(',').map(Number);
  const repeats = Number(values.repeats);
  const { threads } = await info();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-latency-'));
  const rows = [];
  const node = {};
  for (const size of sizes) {
    for (const architecture of ['studentNet', 'resnet18']) {
      const key = `${architecture}@${size}`;
      const model = architecture === 'resnet18' ? await resnet18() : await studentNet({ inputSize: size });
      await model.eval();
      const weights = path.join(dir, `${key}.safetensors`);
      const onnx = path.join(dir, `${key}.onnx`);
      await model.saveWeights(weights);
      await exportOnnx({ model, description: benchDescription(architecture, size) }, onnx, { dynamicBatch: true });
      const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: threads, interOpNumThreads: 1 });
      for (const batch of batches) {
        const x = input(batch, 3, size);
        const tensor = new ort.Tensor('float32', x, [batch, 3, size, size]);
        node[`${key}/${batch}`] = {
          kdtorch: await medianMs(() => model.forward({ data: x, shape: [batch, 3, size, size] }), repeats),
          onnxNode: await medianMs(() => session.run({ input: tensor }), repeats),
        };
      }
      await session.release();
      await model.dispose();
      rows.push({ key, weights, onnx, spec: { arch: architecture, numClasses: 2, inputSize: size, width: 4 } });
    }
  }
  const python = spawnSync(
    referencePython(),
    [path.join(root, 'scripts', 'bench', 'latency_reference.py'), JSON.stringify({ rows, batches, repeats, threads })],
    { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 },
  );
  if (python.status !== 0) throw new Error(`latency_reference.py failed:\n${python.stderr}`);
  const reference = JSON.parse(python.stdout.trim().split('\n').at(-1));
  fs.rmSync(dir, { recursive: true, force: true });

  const lines = [
    '| model | size | batch | kdtorch (libtorch) ms/img | kdtorch ONNX (onnxruntime-node) ms/img | PyTorch eager ms/img | onnxruntime (Python) ms/img | eager / kdtorch | eager / ONNX-node |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const table = [];
  for (const size of sizes) {
    for (const architecture of ['studentNet', 'resnet18']) {
      for (const batch of batches) {
        const id = `${architecture}@${size}/${batch}`;
        const r = {
          model: architecture,
          size,
          batch,
          ...node[id],
          eager: reference[id].eager,
          onnxPython: reference[id].onnxruntime,
        };
        table.push(r);
        const per = (ms) => (ms / batch).toFixed(3);
        lines.push(
          `| ${architecture} | ${size} | ${batch} | ${per(r.kdtorch)} | ${per(r.onnxNode)} | ${per(r.eager)} | ${per(r.onnxPython)} | ${(r.eager / r.kdtorch).toFixed(2)}× | ${(r.eager / r.onnxNode).toFixed(2)}× |`,
        );
      }
    }
  }
  const speedups = [
    '',
    '| student / teacher speed-up, batch 1 | kdtorch | ONNX-node | PyTorch eager |',
    '|---|---:|---:|---:|',
  ];
  for (const size of sizes) {
    const s = table.find((r) => r.model === 'studentNet' && r.size === size && r.batch === batches[0]);
    const t = table.find((r) => r.model === 'resnet18' && r.size === size && r.batch === batches[0]);
    speedups.push(
      `| ${size}² | ${(t.kdtorch / s.kdtorch).toFixed(1)}× | ${(t.onnxNode / s.onnxNode).toFixed(1)}× | ${(t.eager / s.eager).toFixed(1)}× |`,
    );
  }
  const markdown = [...lines, ...speedups].join('\n');
  console.log(markdown);
  const file = writeBenchResults('latency', {
    setting: `${os.cpus()[0]?.model ?? 'CPU'}, ${threads} thread(s) on every side`,
    command: `npm run bench -- latency ${args.join(' ')}`.trim(),
    markdown,
    json: { threads, repeats, table },
  });
  console.log(`\nwritten to ${path.relative(root, file)}`);
}
