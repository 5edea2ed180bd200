// `npm run bench -- precision [--size 64] [--epochs 5] [--seeds 5] [--phase teacher|student] [--data DIR]`:
// what bf16 autocast + channels-last costs in accuracy and buys in speed on this CPU, against fp32, over
// paired seeds: each seed trains the phase's network twice from the same initial weights on the same split
// (one opened dataset, `recommended` preset), once in fp32 and once in bf16 + channels-last, so a seed's two
// runs differ only in precision. Prints test and best-epoch validation accuracy and training images/s per
// run, each precision's mean ± sd, and the paired difference ± its standard error; writes them to
// docs/results/. The evidence for what precision 'auto' picks (native/core/model.cc autoPrecision).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { info, openDataset, resolveConfig, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { describeMachine } from './compare.mjs';
import { writeBenchResults } from './results-file.mjs';
import { meanSd, pairedDifference } from './stats.mjs';

const root = findPackageRoot();
const PRECISIONS = {
  fp32: { autocast: 'none', channelsLast: false },
  'bf16 + channels-last': { autocast: 'bf16', channelsLast: true },
};
const TRAIN = { teacher: trainTeacher, student: trainStudent };

export async function benchPrecision(args) {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: '64' },
      epochs: { type: 'string', default: '5' },
      seeds: { type: 'string', default: '5' },
      phase: { type: 'string', default: 'teacher' },
      data: { type: 'string', default: path.resolve(root, '..', 'shared', 'datasets', 'chest_xray') },
    },
  });
  const [size, epochs, seeds] = ['size', 'epochs', 'seeds'].map((k) => Number(values[k]));
  const { phase } = values;
  if (!TRAIN[phase]) throw new Error(`--phase must be teacher or student, got ${phase}`);
  const { cpu } = await info();
  const work = path.join(root, '.tmp', 'bench-precision', new Date().toISOString().replace(/[:.]/g, '-'));
  const base = (seed, output, precision) => ({
    preset: 'recommended',
    device: 'cpu',
    seed,
    output: path.join(work, output),
    data: { root: values.data, imageSize: size, cacheDir: path.join(work, 'decoded') },
    [phase]: { epochs, ...precision },
  });
  const command = `npm run bench -- precision --size ${size} --epochs ${epochs} --seeds ${seeds} --phase ${phase}`;
  const setting = `${path.basename(values.data)}, ${size}², ${phase} (\`recommended\`), ${epochs} epochs, batch 32, ${await describeMachine('cpu')}, native bf16 ${cpu.nativeBf16 ? 'yes' : 'no'} (AVX512-BF16 ${cpu.avx512Bf16 ? 'yes' : 'no'}, AMX-BF16 ${cpu.amxBf16 ? 'yes' : 'no'})`;
  console.log(`precision: ${setting}`);

  const dataset = await openDataset(resolveConfig(base(0, 'split', {})).data, 0);
  const rows = [];
  for (let seed = 0; seed < seeds; seed++) {
    const row = { seed };
    for (const [name, precision] of Object.entries(PRECISIONS)) {
      const result = await TRAIN[phase](base(seed, `seed-${seed}-${precision.autocast}`, precision), { dataset });
      const best = result.history.find((epoch) => epoch.epoch === result.bestEpoch);
      const speeds = result.history.map((epoch) => epoch.imagesPerSecond);
      row[name] = {
        test: result.test.accuracy * 100,
        val: best.valAccuracy * 100,
        imagesPerSecond: speeds.reduce((a, b) => a + b, 0) / speeds.length,
        precision: result.precision,
      };
    }
    rows.push(row);
    const show = (f) => `test ${f.test.toFixed(2)}%, val ${f.val.toFixed(2)}%, ${f.imagesPerSecond.toFixed(0)} img/s`;
    console.log(
      `seed ${seed}: ${Object.keys(PRECISIONS)
        .map((name) => `${name} ${show(row[name])}`)
        .join('; ')}`,
    );
  }

  const [fp32, bf16] = Object.keys(PRECISIONS);
  const lines = [
    '| seed | fp32 test | fp32 val | fp32 img/s | bf16 test | bf16 val | bf16 img/s |',
    `|---:|${'---:|'.repeat(6)}`,
    ...rows.map((r) => {
      const cells = (f) => `${f.test.toFixed(2)}% | ${f.val.toFixed(2)}% | ${f.imagesPerSecond.toFixed(0)}`;
      return `| ${r.seed} | ${cells(r[fp32])} | ${cells(r[bf16])} |`;
    }),
    '',
    '| measure | fp32 mean ± sd | bf16 + channels-last mean ± sd | paired Δ ± SE | Δ in SE |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const [key, label, digits] of [
    ['test', 'test accuracy %', 2],
    ['val', 'val accuracy %', 2],
    ['imagesPerSecond', 'train images/s', 0],
  ]) {
    const a = rows.map((r) => r[fp32][key]);
    const b = rows.map((r) => r[bf16][key]);
    const [ma, mb] = [meanSd(a), meanSd(b)];
    const d = pairedDifference(a, b);
    const sign = d.mean >= 0 ? '+' : '−';
    lines.push(
      `| ${label} | ${ma.mean.toFixed(digits)} ± ${ma.sd.toFixed(digits)} | ${mb.mean.toFixed(digits)} ± ${mb.sd.toFixed(digits)} | ${sign}${Math.abs(d.mean).toFixed(digits)} ± ${d.se.toFixed(digits)} | ${d.inSe.toFixed(2)} |`,
    );
  }
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  const file = writeBenchResults('precision', { setting, command, markdown: table, json: { rows } });
  console.log(`written to ${file}`);
}
