// `npm run bench -- compare [--preset article,recommended] [--size 64] [--epochs 5] [--batch 32] [--seed 0]
//   [--data DIR] [--device cpu|cuda] [--side both|kdtorch|pytorch] [--out FILE] [--combine A.json,B.json] [--tuned]
//   [--set field=value]…`:
// the article's whole experiment (teacher, student alone, distilled student) in kdtorch and in the
// article's PyTorch code (scripts/bench/reference/article.py), same data, same settings, one run.
// Prints one table per preset with kdtorch/PyTorch ratios and writes the tables and the JSON, dated and
// with the command, to docs/results/ (results-file.mjs). On a GPU machine, where one call may not hold both
// sides, `--side` runs one and writes its JSON (`--out`); `--combine` makes the tables from such files.
// `--set` changes kdtorch's side only (e.g. data.deviceCache=true, teacher.channelsLast=true): the
// setting line says so, so a table never passes such a run off as the same recipe. `--tuned` sets both
// sides up as their users would for a GPU (TUNED_SETTINGS; article.py --tuned). The reference
// trains and validates on kdtorch's split lists (`--splits`), so both sides see the same images.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { applyOverride } from '../../dist/lib/config/resolve.js';
import { distill, info, openDataset, resolveConfig, trainStudent, trainTeacher } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { runArticle } from './reference/run-article.mjs';
import { writeBenchResults } from './results-file.mjs';

const root = findPackageRoot();
// `--tuned`: each side as its user would tune it for a GPU. kdtorch: these settings (`--set` adds to them);
// PyTorch: article.py --tuned (bf16 autocast, channels_last, cudnn.benchmark, fused Adam, pinned batches)
// with DataLoader workers.
const TUNED_SETTINGS = [
  'teacher.autocast=bf16',
  'teacher.channelsLast=true',
  'student.autocast=bf16',
  'student.channelsLast=true',
  'data.deviceCache=true',
  'cudaGraphs=true',
];
const TUNED_WORKERS = Math.min(8, os.availableParallelism());
const PHASES = [
  ['teacher', 'Teacher (ResNet-18)'],
  ['student', 'Student alone'],
  ['distill', 'Distilled student'],
];

async function timed(work) {
  const start = performance.now();
  const result = await work();
  return { seconds: (performance.now() - start) / 1000, result };
}

/** A preset's kdtorch settings for this run: the bench's size, epochs, batch, seed and device, then `--set`. */
function kdtorchInput(preset, data, { size, epochs, batch, seed, device }, out, overrides) {
  // fp32 as the reference computes unless --tuned or --set say otherwise: precision 'auto' would pick bf16
  // for the teacher on a CPU with native bf16, and the table would hold it against fp32 PyTorch.
  const phase = { epochs, batchSize: batch };
  const fp32 = { ...phase, autocast: 'none', channelsLast: false };
  const base = {
    preset,
    device,
    seed,
    output: path.join(out, `kdtorch-${preset}`),
    data: { root: data, imageSize: size },
    teacher: fp32,
    student: fp32,
    distill: phase,
  };
  return overrides.reduce(applyOverride, base);
}

async function kdtorchRun(input, dataset) {
  return {
    teacher: await timed(() => trainTeacher(input, { dataset })),
    student: await timed(() => trainStudent(input, { dataset })),
    distill: await timed(() => distill(input, { dataset })),
  };
}

/**
 * kdtorch's training and validation lists of `dataset`, relative to the data folder, written for the
 * reference: otherwise each side carves its own validation set, with its own generator, and the two
 * train and select on different images for the same seed.
 */
export function writeSplits({ splits, val, data }, file) {
  const list = (samples) => samples.map((s) => [path.relative(data.root, s.path), s.label]);
  fs.writeFileSync(file, JSON.stringify({ classes: splits.classes, train: list(splits.train), val: list(val) }));
  return file;
}

function referenceRun(preset, data, { size, epochs, batch, seed, device }, out, splits, tuned) {
  const common = ['--data', data, '--size', String(size), '--epochs', String(epochs), '--batch', String(batch)];
  common.push('--seed', String(seed), '--device', device, '--splits', splits);
  if (tuned) common.push('--tuned', '--workers', String(TUNED_WORKERS));
  // `recommended` corrects the article; its optimizer, schedule and class weights go along.
  if (preset === 'recommended') {
    common.push('--variant', 'corrected', '--optimizer', 'adamw', '--weight-decay', '1e-4', '--cosine', '--balanced');
  }
  const teacherFile = path.join(out, `pytorch-${preset}-teacher.safetensors`);
  return {
    teacher: runArticle('teacher', [...common, '--out', teacherFile]),
    student: runArticle('student', common),
    distill: runArticle('distill', [...common, '--teacher', teacherFile]),
  };
}

const pct = (v) => `${(100 * v).toFixed(2)}%`;
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

function row(name, side, { seconds, result }) {
  const t = result.test;
  const latency = (b) => result.latency.find((l) => l.batchSize === b)?.msPerImage;
  const figures = {
    parameters: result.parameters,
    imagesPerSecond: mean(result.history.map((h) => h.imagesPerSecond)),
    epochSeconds: mean(result.history.map((h) => h.seconds)),
    seconds,
    msPerImage1: latency(1),
    msPerImage32: latency(32),
  };
  const line = `| ${name} | ${side} | ${figures.parameters.toLocaleString('en-US')} | ${figures.imagesPerSecond.toFixed(0)} | ${figures.epochSeconds.toFixed(1)} | ${seconds.toFixed(1)} | ${pct(t.accuracy)} | ${pct(t.recall)} | ${pct(t.specificity)} | ${t.f1.toFixed(3)} | ${t.rocAuc.toFixed(3)} | ${figures.msPerImage1.toFixed(3)} | ${figures.msPerImage32.toFixed(3)} |`;
  return { figures, line };
}

/** Where the run happens, in words: the CPU's threads and model, or the GPU's name. */
export async function describeMachine(device) {
  if (device === 'cpu') return `CPU (${os.availableParallelism()} threads: ${os.cpus()[0]?.model ?? '?'})`;
  const { devices } = await info();
  return `${device} (${devices.map((d) => d.name).join(', ') || 'no GPU seen'}), ${os.availableParallelism()} CPU threads`;
}

function tablesFor(results) {
  const tables = [];
  for (const [preset, { kdtorch: kd, pytorch: ref }] of Object.entries(results)) {
    const lines = [
      `**preset \`${preset}\`**`,
      '',
      '| model | side | parameters | train images/s | s/epoch | phase wall s | test accuracy | sensitivity | specificity | F1 | ROC AUC | ms/image batch 1 | ms/image batch 32 |',
      `|---|---|${'---:|'.repeat(11)}`,
    ];
    for (const [phase, name] of PHASES) {
      const a = row(name, 'kdtorch', kd[phase]);
      const b = row(name, 'PyTorch', ref[phase]);
      const r = (x, y) => `${(x / y).toFixed(2)}×`;
      lines.push(
        a.line,
        b.line,
        `| ${name} | kdtorch/PyTorch | | ${r(a.figures.imagesPerSecond, b.figures.imagesPerSecond)} | ${r(b.figures.epochSeconds, a.figures.epochSeconds)} faster | ${r(b.figures.seconds, a.figures.seconds)} faster | ${((kd[phase].result.test.accuracy - ref[phase].result.test.accuracy) * 100).toFixed(2)} pts | | | | | ${r(b.figures.msPerImage1, a.figures.msPerImage1)} faster | ${r(b.figures.msPerImage32, a.figures.msPerImage32)} faster |`,
      );
    }
    const total = (side) => PHASES.reduce((sum, [phase]) => sum + side[phase].seconds, 0);
    lines.push(
      '',
      `Total wall time: kdtorch ${total(kd).toFixed(0)} s, PyTorch ${total(ref).toFixed(0)} s (${(total(ref) / total(kd)).toFixed(2)}× faster).`,
    );
    tables.push(lines.join('\n'));
  }
  return tables;
}

/** Prints the tables and writes them, with the setting, the command and the raw results, to docs/results/. */
function report({ setting, command, results }) {
  const tables = tablesFor(results);
  console.log(`${tables.join('\n\n')}\n`);
  const file = writeBenchResults('compare', { setting, command, markdown: tables.join('\n\n'), json: { results } });
  console.log(`tables written to ${file}`);
}

/** One run's JSON per side (from `--side` runs) merged into one: same setting, both sides per preset. */
function combine(files) {
  const parts = files.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')));
  const merged = { setting: parts[0].setting, command: parts.map((p) => p.command).join(' + '), results: {} };
  for (const part of parts) {
    if (part.setting !== merged.setting) throw new Error(`--combine: ${part.setting} is not ${merged.setting}`);
    for (const [preset, sides] of Object.entries(part.results)) {
      merged.results[preset] = { ...merged.results[preset], ...sides };
    }
  }
  for (const [preset, sides] of Object.entries(merged.results)) {
    if (!sides.kdtorch || !sides.pytorch) throw new Error(`--combine: preset ${preset} lacks a side`);
  }
  return merged;
}

export async function benchCompare(args) {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'article,recommended' },
      size: { type: 'string', default: '64' },
      epochs: { type: 'string', default: '5' },
      batch: { type: 'string', default: '32' },
      seed: { type: 'string', default: '0' },
      data: { type: 'string', default: path.resolve(root, '..', 'shared', 'datasets', 'chest_xray') },
      device: { type: 'string', default: 'cpu' },
      side: { type: 'string', default: 'both' },
      out: { type: 'string' },
      combine: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      tuned: { type: 'boolean', default: false },
    },
  });
  if (values.combine) return report(combine(values.combine.split(',')));
  if (!['both', 'kdtorch', 'pytorch'].includes(values.side)) throw new Error('--side takes both, kdtorch or pytorch');
  const [size, epochs, batch, seed] = ['size', 'epochs', 'batch', 'seed'].map((k) => Number(values[k]));
  const { device, side } = values;
  const run = { size, epochs, batch, seed, device };
  const work = path.join(root, '.tmp', 'bench-compare', new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(work, { recursive: true });
  const { tuned } = values;
  const overrides = [...(tuned ? TUNED_SETTINGS : []), ...values.set];
  const sets = values.set.map((assignment) => ` --set ${assignment}`).join('');
  const command = `npm run bench -- compare --preset ${values.preset} --size ${size} --epochs ${epochs}${batch === 32 ? '' : ` --batch ${batch}`} --seed ${seed} --device ${device}${side === 'both' ? '' : ` --side ${side}`}${tuned ? ' --tuned' : ''}${sets}`;
  // The data folder is named, not its path: the two sides of a split run may see it at other places.
  const gpuOnly = device === 'cpu' ? '' : ', cudnn.benchmark, fused Adam, pinned batches';
  const reference = tuned ? `; PyTorch tuned (bf16 autocast, channels_last${gpuOnly}, ${TUNED_WORKERS} workers)` : '';
  const changed = `${overrides.length ? `; kdtorch with ${overrides.join(', ')}` : ''}${reference}`;
  const setting = `${path.basename(values.data)}, ${size}², ${epochs} epochs per phase, batch ${batch}, ${await describeMachine(device)}${changed}`;
  console.log(`compare: ${setting}\n`);
  const results = {};
  for (const preset of values.preset.split(',')) {
    results[preset] = {};
    const input = kdtorchInput(preset, values.data, run, work, overrides);
    const config = resolveConfig(input);
    const dataset = await openDataset(config.data, config.seed);
    if (side !== 'pytorch') results[preset].kdtorch = await kdtorchRun(input, dataset);
    if (side !== 'kdtorch') {
      const splits = writeSplits(dataset, path.join(work, `splits-${preset}.json`));
      results[preset].pytorch = referenceRun(preset, values.data, run, work, splits, tuned);
    }
  }
  const json = values.out ?? path.join(work, 'result.json');
  fs.writeFileSync(json, JSON.stringify({ setting, command, results }, null, 2));
  console.log(`JSON: ${json}`);
  if (side === 'both') report({ setting, command, results });
}
