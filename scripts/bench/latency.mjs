// `npm run bench -- latency [--sizes 224,64] [--batches 1,32] [--repeats 20] [--rounds 5]`: ms per image of one forward
// pass (float NCHW in, logits out) for the student and ResNet-18, side by side in one run: kdtorch's
// forward (libtorch), kdtorch's ONNX export through onnxruntime-node, PyTorch eager and onnxruntime in
// Python, all on the same threads, each in a process of its own (latency_side.mjs, latency_reference.py),
// with ratios against PyTorch eager and the student's speed-up over the teacher; every side timed by
// lib/metrics/latency.ts's rule. Writes the table to docs/results/ (results-file.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportOnnx, info, resnet18, studentNet } from '../../dist/lib/index.js';
import { sessionOptions } from '../../dist/lib/onnx/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { benchDescription } from './description.mjs';
import { referencePython } from './reference/run-article.mjs';
import { writeBenchResults } from './results-file.mjs';
import { median } from './stats.mjs';

const root = findPackageRoot();
export async function benchLatency(args) {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string', default: '224,64' },
      batches: { type: 'string', default: '1,32' },
      repeats: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const batches = values.batches.split(',').map(Number);
  const repeats = Number(values.repeats);
  const rounds = Number(values.rounds);
  const { threads } = await info();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-latency-'));
  const rows = [];
  for (const size of sizes) {
    for (const architecture of ['studentNet', 'resnet18']) {
      const key = `${architecture}@${size}`;
      const model = architecture === 'resnet18' ? await resnet18() : await studentNet({ inputSize: size });
      const weights = path.join(dir, `${key}.safetensors`);
      const onnx = path.join(dir, `${key}.onnx`);
      await model.saveWeights(weights);
      await model.eval();
      await exportOnnx({ model, description: benchDescription(architecture, size) }, onnx, { dynamicBatch: true });
      await model.dispose();
      const { graphOptimizationLevel } = sessionOptions({ architecture });
      rows.push({
        key,
        weights,
        onnx,
        graphOptimizationLevel,
        spec: { arch: architecture, numClasses: 2, inputSize: size, width: 4 },
      });
    }
  }
  // Each side in a process of its own, one after another (latency_side.mjs says why).
  const job = JSON.stringify({ rows, batches, repeats, threads });
  const side = (command, argv, name) => {
    const run = spawnSync(command, [...argv, job], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
    if (run.status !== 0) throw new Error(`the ${name} side of the latency bench failed:\n${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').at(-1));
  };
  const sideScript = path.join(root, 'scripts', 'bench', 'latency_side.mjs');
  const pythonScript = path.join(root, 'scripts', 'bench', 'latency_reference.py');
  const sides = [
    ['kdtorch', () => side(process.execPath, [sideScript, 'kdtorch'], 'kdtorch')],
    ['onnxNode', () => side(process.execPath, [sideScript, 'onnx'], 'onnxruntime-node')],
    ['eager', () => side(referencePython(), [pythonScript, 'eager'], 'PyTorch eager')],
    ['onnxPython', () => side(referencePython(), [pythonScript, 'onnxruntime'], 'onnxruntime (Python)')],
  ];
  // Rounds of all four sides, in turn forwards and backwards, so the machine's drift (±20% between runs
  // of one side on this 2-core VM) hits every side alike; each row reports the median over rounds.
  const measured = Object.fromEntries(sides.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of round % 2 === 0 ? sides : [...sides].reverse()) measured[name].push(run());
    process.stderr.write(`  round ${round + 1}/${rounds} done\n`);
  }
  fs.rmSync(dir, { recursive: true, force: true });

  const lines = [
    `Medians over ${rounds} rounds; ratios: the median of the rounds' ratios (their range).`,
    '',
    '| model | size | batch | kdtorch (libtorch) ms/img | kdtorch ONNX (onnxruntime-node) ms/img | PyTorch eager ms/img | onnxruntime (Python) ms/img | eager / kdtorch | eager / ONNX-node |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const table = [];
  for (const size of sizes) {
    for (const architecture of ['studentNet', 'resnet18']) {
      for (const batch of batches) {
        const id = `${architecture}@${size}/${batch}`;
        const r = { model: architecture, size, batch, rounds: {} };
        for (const [name, perRound] of Object.entries(measured)) {
          r.rounds[name] = perRound.map((times) => times[id]);
          r[name] = median(r.rounds[name]);
        }
        // A ratio's median and range over the rounds, each round's sides measured next to each other.
        const ratio = (over) => {
          const each = r.rounds.eager.map((eager, i) => eager / r.rounds[over][i]);
          const [low, high] = [Math.min(...each), Math.max(...each)];
          return `${median(each).toFixed(2)}× (${low.toFixed(2)}–${high.toFixed(2)})`;
        };
        table.push(r);
        const per = (ms) => (ms / batch).toFixed(3);
        lines.push(
          `| ${architecture} | ${size} | ${batch} | ${per(r.kdtorch)} | ${per(r.onnxNode)} | ${per(r.eager)} | ${per(r.onnxPython)} | ${ratio('kdtorch')} | ${ratio('onnxNode')} |`,
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
    json: { threads, repeats, rounds, table },
  });
  console.log(`\nwritten to ${path.relative(root, file)}`);
}
