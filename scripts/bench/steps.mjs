// `npm run bench -- steps [--batch 32] [--size 224] [--repeats 3] [--rounds 4]`: per-call time of the
// training steps and inference, kdtorch against PyTorch eager (same torch, same threads, same batch),
// rounds alternating between the two so machine drift hits both. Prints a table of medians and ratios.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { info, resnet18, studentNet, Trainer } from '../../dist/lib/index.js';
import { findPackageRoot } from '../libtorch.mjs';

const ROWS = ['teacherStep', 'studentStep', 'distillStep', 'teacher inference', 'student inference'];
const root = findPackageRoot();

export async function benchSteps(args) {
  const { values } = parseArgs({
    args,
    options: {
      batch: { type: 'string', default: '32' },
      size: { type: 'string', default: '224' },
      repeats: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '4' },
    },
  });
  const [batch, size, repeats, warmup, rounds] = ['batch', 'size', 'repeats', 'warmup', 'rounds'].map((k) =>
    Number(values[k]),
  );
  const { threads, torch } = await info();
  console.log(
    `steps: batch ${batch}, ${size}², ${threads} threads, libtorch ${torch.runtime}, ${repeats} timed calls per row and round, ${rounds} rounds`,
  );

  const samples = Object.fromEntries(ROWS.map((row) => [row, { kdtorch: [], pytorch: [] }]));
  for (let round = 0; round < rounds; round++) {
    const reference = runReference({ batch, size, repeats, warmup, threads, rows: ROWS });
    if (reference.threads !== threads)
      throw new Error(`thread counts differ: PyTorch ${reference.threads}, kdtorch ${threads}`);
    const ours = await runKdtorch({ batch, size, repeats, warmup });
    for (const row of ROWS) {
      samples[row].pytorch.push(...reference.seconds[row]);
      samples[row].kdtorch.push(...ours[row]);
    }
    process.stderr.write(`  round ${round + 1}/${rounds} done\n`);
  }

  const table = ROWS.map((row) => {
    const k = median(samples[row].kdtorch);
    const p = median(samples[row].pytorch);
    return { row, kdtorchMs: k * 1e3, pytorchMs: p * 1e3, speedup: p / k };
  });
  console.log('\n| step | kdtorch ms | PyTorch ms | PyTorch / kdtorch |');
  console.log('|---|---:|---:|---:|');
  for (const r of table) {
    console.log(`| ${r.row} | ${r.kdtorchMs.toFixed(1)} | ${r.pytorchMs.toFixed(1)} | ${r.speedup.toFixed(2)}× |`);
  }
  return table;
}

function runReference(args) {
  const python = path.join(root, '.venv', 'bin', 'python');
  const result = spawnSync(python, [path.join(root, 'scripts', 'bench', 'steps_reference.py'), JSON.stringify(args)], {
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
  });
  if (result.status !== 0) throw new Error(`steps_reference.py failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

async function runKdtorch({ batch, size, repeats, warmup }) {
  const images = new Float32Array(batch * 3 * size * size).map(() => Math.random() * 2 - 1);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const data = { images, shape: [batch, 3, size, size], labels };
  const teacher = await resnet18();
  const student = await studentNet({ inputSize: size });
  const loss = { mode: 'seed', alpha: 0.25, temperature: 1 };
  const teacherTrainer = await Trainer.create(teacher, { optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 }, loss });
  const studentTrainer = await Trainer.create(student, { optimizer: { name: 'adam', lr: 1e-3 }, loss });
  const distiller = await Trainer.create(student, { optimizer: { name: 'adam', lr: 1e-3 }, loss, teacher });
  const input = { data: images, shape: data.shape };
  const calls = {
    teacherStep: () => teacherTrainer.teacherStep(data),
    studentStep: () => studentTrainer.studentStep(data),
    distillStep: () => distiller.distillStep(data),
    'teacher inference': async () => {
      await teacher.eval();
      await teacher.forward(input);
    },
    'student inference': async () => {
      await student.eval();
      await student.forward(input);
    },
  };
  const out = {};
  for (const row of ROWS) {
    for (let i = 0; i < warmup; i++) await calls[row]();
    out[row] = [];
    for (let i = 0; i < repeats; i++) {
      const start = process.hrtime.bigint();
      await calls[row]();
      out[row].push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }
  return out;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
