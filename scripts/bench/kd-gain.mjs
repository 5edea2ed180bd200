// `npm run bench -- kd-gain [--size 64] [--teacher-epochs 15] [--epochs 30] [--seeds 5] [--kd 0.25:1,0.9:4]
//   [--data DIR] [--device cpu]`: what distillation buys over the student trained alone, given a teacher.
// One teacher (`recommended`, seed 0, trained once), then for each seed the student alone and the student
// distilled with each alpha:temperature, paired: every run uses the teacher's train/validation split
// (one opened dataset), so the teacher never saw a student's validation images, and one seed gives one
// initial student, so a seed's runs differ only in the loss. Prints test accuracy and the best epoch's
// validation accuracy and loss per run, then each variant's mean and its paired difference from the
// student alone ± its standard error, and writes them to docs/results/. kdtorch only: `compare`
// shows kdtorch and PyTorch train alike.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, openDataset, resolveConfig, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { describeMachine } from './compare.mjs';
import { writeBenchResults } from './results-file.mjs';
import { meanSd, pairedDifference } from './stats.mjs';

const root = findPackageRoot();

export async function benchKdGain(args) {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: '64' },
      'teacher-epochs': { type: 'string', default: '15' },
      epochs: { type: 'string', default: '30' },
      seeds: { type: 'string', default: '5' },
      kd: { type: 'string', default: '0.25:1,0.9:4' },
      data: { type: 'string', default: path.resolve(root, '..', 'shared', 'datasets', 'chest_xray') },
      device: { type: 'string', default: 'cpu' },
    },
  });
  const [size, teacherEpochs, epochs, seeds] = ['size', 'teacher-epochs', 'epochs', 'seeds'].map((k) =>
    Number(values[k]),
  );
  const variants = values.kd.split(',').map((pair) => {
    const [alpha, temperature] = pair.split(':').map(Number);
    return { name: `α ${alpha}, T ${temperature}`, alpha, temperature };
  });
  const work = path.join(root, '.tmp', 'bench-kd-gain', new Date().toISOString().replace(/[:.]/g, '-'));
  const base = (seed, output) => ({
    preset: 'recommended',
    device: values.device,
    seed,
    output: path.join(work, output),
    data: { root: values.data, imageSize: size, cacheDir: path.join(work, 'decoded') },
    teacher: { epochs: teacherEpochs },
    student: { epochs },
    distill: { epochs },
  });
  const command = `npm run bench -- kd-gain --size ${size} --teacher-epochs ${teacherEpochs} --epochs ${epochs} --seeds ${seeds} --kd ${values.kd} --device ${values.device}`;
  const setting = `${path.basename(values.data)}, ${size}², \`recommended\` preset, teacher ${teacherEpochs} epochs (seed 0), students ${epochs} epochs, batch 32, ${await describeMachine(values.device)}`;
  console.log(`kd-gain: ${setting}`);

  const dataset = await openDataset(resolveConfig(base(0, 'teacher')).data, 0);
  const teacher = await trainTeacher(base(0, 'teacher'), { dataset });
  const figures = (result) => {
    const best = result.history.find((epoch) => epoch.epoch === result.bestEpoch);
    return { test: result.test.accuracy * 100, val: best.valAccuracy * 100, valLoss: best.valLoss };
  };
  const show = (f) => `test ${f.test.toFixed(2)}%, val ${f.val.toFixed(2)}% / ${f.valLoss.toFixed(4)}`;
  console.log(`teacher: ${show(figures(teacher))} (best epoch ${teacher.bestEpoch})`);
  const rows = [];
  for (let seed = 0; seed < seeds; seed++) {
    const input = base(seed, `seed-${seed}`);
    const alone = figures(await trainStudent(input, { dataset }));
    const distilled = [];
    for (const [i, { alpha, temperature }] of variants.entries()) {
      // A run folder holds one config: each variant gets its own.
      const kdInput = {
        ...base(seed, `seed-${seed}-kd-${i}`),
        distill: { epochs, alpha, temperature, teacher: teacher.bestCheckpoint },
      };
      distilled.push(figures(await distill(kdInput, { dataset })));
    }
    rows.push({ seed, alone, distilled });
    console.log(
      `seed ${seed}: alone ${show(alone)}; ${variants.map((v, i) => `${v.name} ${show(distilled[i])}`).join('; ')}`,
    );
  }

  const cell = (f) => `${f.test.toFixed(2)}% | ${f.val.toFixed(2)}% | ${f.valLoss.toFixed(4)}`;
  const lines = [
    `Teacher: ${show(figures(teacher))}. Per seed, test accuracy | validation accuracy | validation loss (best epoch):`,
    '',
    `| seed | student alone | | | ${variants.map((v) => `distilled, ${v.name} | |`).join(' | ')} |`,
    `|---:|${'---:|'.repeat(3 * (variants.length + 1))}`,
    ...rows.map((r) => `| ${r.seed} | ${cell(r.alone)} | ${r.distilled.map(cell).join(' | ')} |`),
    '',
    '| student | test accuracy | paired Δ ± SE | val accuracy | paired Δ ± SE | val loss | paired Δ ± SE |',
    `|---|${'---:|'.repeat(6)}`,
  ];
  const signed = (v, digits) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
  const summary = (name, pick) => {
    const cells = ['test', 'val', 'valLoss'].map((key) => {
      const digits = key === 'valLoss' ? 4 : 2;
      const own = meanSd(rows.map((r) => pick(r)[key])).mean.toFixed(digits);
      if (pick === aloneOf) return `${own} | `;
      const diff = pairedDifference(
        rows.map((r) => r.alone[key]),
        rows.map((r) => pick(r)[key]),
      );
      return `${own} | ${signed(diff.mean, digits)} ± ${diff.se.toFixed(digits)}`;
    });
    return `| ${name} | ${cells.join(' | ')} |`;
  };
  const aloneOf = (r) => r.alone;
  lines.push(summary('alone', aloneOf));
  variants.forEach((v, i) => {
    lines.push(summary(`distilled, ${v.name}`, (r) => r.distilled[i]));
  });
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  const file = writeBenchResults('kd-gain', { setting, command, markdown: table, json: { rows } });
  console.log(`written to ${file}`);
}
