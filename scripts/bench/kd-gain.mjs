// `npm run bench -- kd-gain [--size 64] [--teacher-epochs 15] [--epochs 30] [--seeds 5] [--kd 0.25:1,0.9:4]
//   [--data DIR] [--device cpu]`: what distillation buys over the student trained alone, given a teacher.
// One teacher (`recommended`, seed 0, trained once), then for each seed the student alone and the student
// distilled with each alpha:temperature, paired: one seed gives one train/validation split and one
// initial student, so a seed's runs differ only in the loss. Prints every test accuracy, then each
// variant's mean ± sd and its paired difference from the student alone ± its standard error, and
// appends them to docs/results.md. kdtorch only: `compare` shows kdtorch and PyTorch train alike.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, openDataset, resolveConfig, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../libtorch.mjs';
import { describeMachine } from './compare.mjs';

const root = findPackageRoot();

function meanSd(values) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(values.length - 1, 1));
  return { mean, sd };
}

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

  const teacher = await trainTeacher(base(0, 'teacher'));
  const accuracy = (result) => result.test.accuracy * 100;
  console.log(`teacher: test accuracy ${accuracy(teacher).toFixed(2)}% (best epoch ${teacher.bestEpoch})`);
  const rows = [];
  for (let seed = 0; seed < seeds; seed++) {
    const input = base(seed, `seed-${seed}`);
    const dataset = await openDataset(resolveConfig(input).data, seed);
    const alone = accuracy(await trainStudent(input, { dataset }));
    const distilled = [];
    for (const [i, { alpha, temperature }] of variants.entries()) {
      // A run folder holds one config: each variant gets its own.
      const kdInput = {
        ...base(seed, `seed-${seed}-kd-${i}`),
        distill: { epochs, alpha, temperature, teacher: teacher.bestCheckpoint },
      };
      distilled.push(accuracy(await distill(kdInput, { dataset })));
    }
    rows.push({ seed, alone, distilled });
    console.log(
      `seed ${seed}: alone ${alone.toFixed(2)}%, ${variants.map((v, i) => `${v.name} ${distilled[i].toFixed(2)}%`).join(', ')}`,
    );
  }

  const lines = [
    `Teacher test accuracy ${accuracy(teacher).toFixed(2)}%. Test accuracy per seed:`,
    '',
    `| seed | student alone | ${variants.map((v) => `distilled, ${v.name}`).join(' | ')} |`,
    `|---:|---:|${'---:|'.repeat(variants.length)}`,
    ...rows.map(
      (r) => `| ${r.seed} | ${r.alone.toFixed(2)}% | ${r.distilled.map((d) => `${d.toFixed(2)}%`).join(' | ')} |`,
    ),
    '',
    '| student | test accuracy, mean ± sd | paired difference from alone ± SE |',
    '|---|---:|---:|',
  ];
  const alone = meanSd(rows.map((r) => r.alone));
  lines.push(`| alone | ${alone.mean.toFixed(2)} ± ${alone.sd.toFixed(2)} | |`);
  variants.forEach((v, i) => {
    const kd = meanSd(rows.map((r) => r.distilled[i]));
    const diff = meanSd(rows.map((r) => r.distilled[i] - r.alone));
    lines.push(
      `| distilled, ${v.name} | ${kd.mean.toFixed(2)} ± ${kd.sd.toFixed(2)} | ${diff.mean >= 0 ? '+' : '−'}${Math.abs(diff.mean).toFixed(2)} ± ${(diff.sd / Math.sqrt(rows.length)).toFixed(2)} |`,
    );
  });
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  const file = path.join(root, 'docs', 'results.md');
  fs.appendFileSync(
    file,
    `\n## ${new Date().toISOString().slice(0, 10)} — what distillation buys: kd-gain on ${setting}\n\n\`${command}\`\n\n${table}\n`,
  );
  console.log(`appended to ${file}`);
}
