// `npm run bench -- distill [--epochs 30] [--size 112] [--teacher-epochs 3] [--data DIR]`: the
// distillation phase end to end on the real train split, three ways in one run: kdtorch with the
// teacher-output cache, kdtorch running the teacher every step, and the article's PyTorch code
// (scripts/bench/reference/article.py). All three distil the same teacher (trained first by
// kdtorch, not timed) with the `article` preset's settings (the article's: Adam 1e-3, α 0.25, T 1,
// its KL reduction, flip 0.5, batch 32, model selection on the test split), so they do the same
// work and their test accuracies are comparable.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { runArticle } from './reference/run-article.mjs';

const root = findPackageRoot();

function pct(v) {
  return `${(100 * v).toFixed(2)}%`;
}

async function kdtorchDistill(config, teacherCache) {
  const start = performance.now();
  const result = await distill({ ...config, distill: { ...config.distill, teacherCache } });
  return { seconds: (performance.now() - start) / 1000, result };
}

export async function benchDistill(args) {
  const { values } = parseArgs({
    args,
    options: {
      epochs: { type: 'string', default: '30' },
      size: { type: 'string', default: '112' },
      'teacher-epochs': { type: 'string', default: '3' },
      /** A teacher's best.safetensors from an earlier run of this bench (same data and size): skips training one. */
      teacher: { type: 'string' },
      data: { type: 'string', default: path.resolve(root, '..', 'shared', 'datasets', 'chest_xray') },
    },
  });
  const epochs = Number(values.epochs);
  const size = Number(values.size);
  const out = path.join(root, '.tmp', 'bench-distill', new Date().toISOString().replace(/[:.]/g, '-'));
  const base = {
    preset: 'article',
    device: 'cpu',
    data: { root: values.data, imageSize: size },
    latency: { batchSizes: [1, 32], repeats: 20 },
  };
  console.log(
    `distill: ${values.data}, ${size}², ${epochs} epochs, batch 32, article preset (the article's settings), CPU`,
  );
  const teacherStart = performance.now();
  const teacher = values.teacher
    ? JSON.parse(fs.readFileSync(path.join(path.dirname(values.teacher), 'result.json'), 'utf8'))
    : await trainTeacher({
        ...base,
        output: path.join(out, 'teacher'),
        teacher: { epochs: Number(values['teacher-epochs']) },
      });
  console.log(
    `teacher: ${teacher.history.length} epochs in ${((performance.now() - teacherStart) / 1000).toFixed(0)} s (not timed below; ${teacher.bestCheckpoint}), test accuracy ${pct(teacher.test.accuracy)}\n`,
  );
  const config = (name) => ({
    ...base,
    output: path.join(out, name),
    distill: { epochs, teacher: teacher.bestCheckpoint },
  });
  fs.rmSync(path.join(path.dirname(teacher.bestCheckpoint), 'teacher-outputs'), { recursive: true, force: true });
  const runs = [
    ['kdtorch, teacher-output cache', await kdtorchDistill(config('cached'), true)],
    ['kdtorch, teacher every step', await kdtorchDistill(config('live'), false)],
    [
      "PyTorch (the article's code)",
      runArticle('distill', [
        '--data',
        values.data,
        '--size',
        String(size),
        '--epochs',
        String(epochs),
        '--teacher',
        teacher.bestCheckpoint,
      ]),
    ],
  ];
  const reference = runs[2][1].seconds;
  console.log(
    '| distillation | wall s | s/epoch | train images/s | test accuracy | sensitivity | specificity | F1 | ROC AUC | speed-up vs PyTorch |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, { seconds, result }] of runs) {
    const rate = result.history.reduce((sum, h) => sum + h.imagesPerSecond, 0) / result.history.length;
    const t = result.test;
    console.log(
      `| ${name} | ${seconds.toFixed(1)} | ${(seconds / epochs).toFixed(2)} | ${rate.toFixed(0)} | ${pct(t.accuracy)} | ${pct(t.recall)} | ${pct(t.specificity)} | ${t.f1.toFixed(3)} | ${t.rocAuc.toFixed(3)} | ${(reference / seconds).toFixed(2)}× |`,
    );
  }
  const cached = runs[0][1].result.teacherOutputs;
  console.log(
    `\nteacher outputs: ${cached.images} images × ${cached.views} views in ${cached.seconds.toFixed(1)} s (included above)`,
  );
  fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify({ epochs, size, runs }, null, 2));
  console.log(`JSON: ${path.join(out, 'result.json')}`);
}
