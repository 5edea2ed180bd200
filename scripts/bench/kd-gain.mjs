// `npm run bench -- kd-gain [--size 64] [--teacher-epochs 5] [--epochs 15] [--seeds 5] [--alpha 0.9]
//   [--temperature 4] [--select last,best] [--side both|kdtorch|pytorch] [--data DIR]
//   [--device cpu] [--resume DIR]`: does distillation pay, in kdtorch and in PyTorch?
// Per seed, on that seed's train/validation split of the real data (kdtorch's lists, handed to the
// reference too): a from-scratch teacher (`recommended`: trained on data.augment's views), the student
// trained alone and the student distilled from that teacher (both on the images and their flips, as
// `recommended` trains students; the teacher's logits cached per view) — once per selection rule
// (`--select`: the last epoch, the best on validation). The same runs in PyTorch
// (scripts/bench/reference/article.py, --augment for the teacher; the reference keeps the last epoch).
// Prints, per model and side, test accuracy,
// sensitivity, specificity and ROC AUC as mean ± sd over the seeds; the paired gain of distillation
// over the student alone in standard errors; and kdtorch − PyTorch per model, paired. Each finished run
// is appended to the work folder's runs.jsonl, so `--resume DIR` goes on where a stopped bench ended.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, openDataset, PRESETS, resolveConfig, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { describeMachine, writeSplits } from './compare.mjs';
import { runArticle } from './reference/run-article.mjs';
import { writeBenchResults } from './results-file.mjs';
import { meanSd, pairedDifference } from './stats.mjs';

const root = findPackageRoot();
const METRICS = [
  ['accuracy', 'test accuracy'],
  ['recall', 'sensitivity'],
  ['specificity', 'specificity'],
  ['rocAuc', 'ROC AUC'],
];

export async function benchKdGain(args) {
  const { distill: recipe } = PRESETS.recommended;
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: '64' },
      'teacher-epochs': { type: 'string', default: '5' },
      epochs: { type: 'string', default: '15' },
      seeds: { type: 'string', default: '5' },
      alpha: { type: 'string', default: String(recipe.alpha) },
      temperature: { type: 'string', default: String(recipe.temperature) },
      select: { type: 'string', default: 'last,best' },
      side: { type: 'string', default: 'both' },
      data: { type: 'string', default: path.resolve(root, '..', 'shared', 'datasets', 'chest_xray') },
      device: { type: 'string', default: 'cpu' },
      resume: { type: 'string' },
    },
  });
  const [size, teacherEpochs, epochs, seeds, alpha, temperature] = [
    'size',
    'teacher-epochs',
    'epochs',
    'seeds',
    'alpha',
    'temperature',
  ].map((k) => Number(values[k]));
  const selects = values.select.split(',');
  const sides = values.side === 'both' ? ['kdtorch', 'pytorch'] : [values.side];
  const work =
    values.resume ?? path.join(root, '.tmp', 'bench-kd-gain', new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(work, { recursive: true });
  const log = path.join(work, 'runs.jsonl');
  const runs = fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
    : [];
  const key = (r) => `${r.side}/${r.seed}/${r.model}/${r.select}`;
  const done = new Map(runs.map((r) => [key(r), r]));
  const record = (r) => {
    fs.appendFileSync(log, `${JSON.stringify(r)}\n`);
    done.set(key(r), r);
    const t = r.test;
    console.log(
      `${r.side} seed ${r.seed} ${r.model} (${r.select}): test ${pct(t.accuracy)}%, sensitivity ${pct(t.recall)}%, specificity ${pct(t.specificity)}%, AUC ${t.rocAuc.toFixed(3)}; ${r.seconds.toFixed(0)} s`,
    );
  };

  const command = `npm run bench -- kd-gain --size ${size} --teacher-epochs ${teacherEpochs} --epochs ${epochs} --seeds ${seeds} --alpha ${alpha} --temperature ${temperature} --select ${values.select} --side ${values.side} --device ${values.device}`;
  const setting = `${path.basename(values.data)}, ${size}², \`recommended\` preset (teacher on augmented views, students on the images and their flips), teacher ${teacherEpochs} epochs from scratch, students ${epochs} epochs, distillation α ${alpha}, T ${temperature}, batch 32, ${await describeMachine(values.device)}`;
  console.log(`kd-gain: ${setting}\nwork folder ${work} (--resume it to go on)`);

  for (let seed = 0; seed < seeds; seed++) {
    const input = (output, phases = {}) => ({
      preset: 'recommended',
      device: values.device,
      seed,
      output: path.join(work, `seed-${seed}`, output),
      data: { root: values.data, imageSize: size, cacheDir: path.join(work, 'decoded') },
      teacher: { epochs: teacherEpochs, select: 'last', ...phases.teacher },
      student: { epochs, ...phases.student },
      distill: { epochs, alpha, temperature, ...phases.distill },
    });
    const dataset = await openDataset(resolveConfig(input('teacher')).data, seed);
    const splits = writeSplits(dataset, path.join(work, `splits-${seed}.json`));
    if (sides.includes('kdtorch')) {
      const teacherFile = path.join(work, `seed-${seed}`, 'teacher', 'teacher', 'best.safetensors');
      const kdtorch = async (model, select, train) => {
        if (done.has(key({ side: 'kdtorch', seed, model, select }))) return;
        const started = performance.now();
        const result = await train();
        record({
          side: 'kdtorch',
          seed,
          model,
          select,
          test: result.test,
          bestEpoch: result.bestEpoch,
          seconds: (performance.now() - started) / 1000,
          ...(result.teacherOutputs ? { teacherOutputs: result.teacherOutputs } : {}),
        });
      };
      await kdtorch('teacher', 'last', () => trainTeacher(input('teacher'), { dataset }));
      for (const select of selects) {
        await kdtorch('alone', select, () =>
          trainStudent(input(`alone-${select}`, { student: { select } }), { dataset }),
        );
        await kdtorch('distilled', select, () =>
          distill(input(`distilled-${select}`, { distill: { select, teacher: teacherFile } }), { dataset }),
        );
      }
    }
    if (sides.includes('pytorch')) {
      const teacherFile = path.join(work, `seed-${seed}`, 'pytorch-teacher.safetensors');
      const common = ['--data', values.data, '--size', String(size), '--batch', '32', '--seed', String(seed)];
      common.push('--device', values.device, '--splits', splits, '--latency-repeats', '2');
      common.push('--variant', 'corrected', '--optimizer', 'adamw', '--weight-decay', '1e-4', '--cosine', '--balanced');
      const pytorch = (model, select, phase, more) => {
        if (done.has(key({ side: 'pytorch', seed, model, select }))) return;
        const { seconds, result } = runArticle(phase, [...common, '--select', select, ...more]);
        record({ side: 'pytorch', seed, model, select, test: result.test, bestEpoch: result.bestEpoch, seconds });
      };
      pytorch('teacher', 'last', 'teacher', ['--epochs', String(teacherEpochs), '--out', teacherFile, '--augment']);
      // The students train on the images and their flips; the teacher then runs live on each batch, which
      // gives the logits kdtorch caches for those two views.
      pytorch('alone', 'last', 'student', ['--epochs', String(epochs)]);
      pytorch('distilled', 'last', 'distill', [
        ...['--epochs', String(epochs), '--teacher', teacherFile],
        ...['--alpha', String(alpha), '--temperature', String(temperature)],
      ]);
    }
  }

  const table = tables([...done.values()], { seeds, sides, selects });
  console.log(`\n${table}\n`);
  const file = writeBenchResults('kd-gain', { setting, command, markdown: table, json: { runs: [...done.values()] } });
  console.log(`written to ${file}`);
}

const pct = (v) => (100 * v).toFixed(2);
const signed = (v, digits) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
// Accuracies in points, AUC as is.
const scale = (metric) => (metric === 'rocAuc' ? 1 : 100);
const digits = (metric) => (metric === 'rocAuc' ? 3 : 2);

function tables(runs, { seeds, sides, selects }) {
  const series = (side, model, select, metric) =>
    Array.from({ length: seeds }, (_, seed) => {
      const run = runs.find((r) => r.side === side && r.seed === seed && r.model === model && r.select === select);
      return run ? run.test[metric] * scale(metric) : Number.NaN;
    });
  const models = [
    ['teacher', 'last'],
    ...selects.flatMap((s) => [
      ['alone', s],
      ['distilled', s],
    ]),
  ];
  const name = ([model, select]) =>
    model === 'teacher'
      ? 'teacher (ResNet-18)'
      : `student ${model === 'alone' ? 'alone' : 'distilled'}, ${select} epoch`;
  const lines = [
    `Test split, mean ± sd over ${seeds} seeds (accuracy, sensitivity and specificity in %):`,
    '',
    `| model | side | ${METRICS.map(([, label]) => label).join(' | ')} | s per run |`,
    `|---|---|${'---:|'.repeat(METRICS.length + 1)}`,
  ];
  for (const m of models) {
    for (const side of sides) {
      const cells = METRICS.map(([metric]) => {
        const { mean, sd } = meanSd(series(side, ...m, metric));
        return `${mean.toFixed(digits(metric))} ± ${sd.toFixed(digits(metric))}`;
      });
      const seconds = runs
        .filter((r) => r.side === side && r.model === m[0] && r.select === m[1])
        .map((r) => r.seconds);
      lines.push(`| ${name(m)} | ${side} | ${cells.join(' | ')} | ${meanSd(seconds).mean.toFixed(0)} |`);
    }
  }
  const paired = (a, b, metric) => {
    const d = pairedDifference(a, b);
    return `${signed(d.mean, digits(metric))} ± ${d.se.toFixed(digits(metric))} (${signed(d.inSe, 1)} SE)`;
  };
  lines.push(
    '',
    'Distilled − alone, paired by seed: mean ± standard error (in standard errors):',
    '',
    `| side | selection | ${METRICS.map(([, label]) => label).join(' | ')} |`,
    `|---|---|${'---:|'.repeat(METRICS.length)}`,
  );
  for (const side of sides) {
    for (const select of selects) {
      const cells = METRICS.map(([metric]) =>
        paired(series(side, 'alone', select, metric), series(side, 'distilled', select, metric), metric),
      );
      lines.push(`| ${side} | ${select} epoch | ${cells.join(' | ')} |`);
    }
  }
  if (sides.length === 2) {
    lines.push(
      '',
      'kdtorch − PyTorch, paired by seed (same split, same recipe):',
      '',
      `| model | ${METRICS.map(([, label]) => label).join(' | ')} |`,
      `|---|${'---:|'.repeat(METRICS.length)}`,
    );
    for (const m of models) {
      const cells = METRICS.map(([metric]) =>
        paired(series('pytorch', ...m, metric), series('kdtorch', ...m, metric), metric),
      );
      lines.push(`| ${name(m)} | ${cells.join(' | ')} |`);
    }
  }
  const cache = runs.filter((r) => r.teacherOutputs?.source === 'computed');
  if (cache.length > 0) {
    const { mean } = meanSd(cache.map((r) => r.teacherOutputs.seconds));
    const { bytes, views, images } = cache[0].teacherOutputs;
    lines.push(
      '',
      `kdtorch's teacher-output cache: ${images} images × ${views} views, ${(bytes / 1e6).toFixed(2)} MB, computed in ${mean.toFixed(1)} s (mean of ${cache.length} runs).`,
    );
  }
  return lines.join('\n');
}
