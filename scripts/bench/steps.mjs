// `npm run bench -- steps [--batch 32] [--size 224] [--repeats 3] [--rounds 4] [--device cpu|cuda] [--bf16] [--tuned] [--graphs]`:
// per-call time of the training steps and inference, kdtorch against PyTorch eager (same torch, same
// threads, same batch), rounds alternating between the two so machine drift hits both. Prints a table
// of medians and ratios. Each row times `repeats` calls as one block ended by a device sync, so on a
// GPU it measures throughput, launches overlapping kernels as in training. Both sides copy the host
// batch to the device in every call, as a training loop does. `--tuned` gives the teacher on both
// sides what a PyTorch user tunes on a GPU: channels-last, bf16 autocast, cudnn.benchmark, and (PyTorch)
// fused optimizers (kdtorch's are always fused). `--bf16` runs both networks on both sides in bf16 autocast
// and channels-last (torch.autocast(device, bfloat16) + channels_last; kdtorch's autocast 'bf16' and
// channelsLast true), as a CPU with native bf16 trains fastest. `--graphs` replays kdtorch's training steps from CUDA
// graphs (TrainerOptions.graphs; at least 4 warm-up calls, so the timed ones are replays; on a CPU the
// stand-in, which only rehearses the bench).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { info, resnet18, setCudnnBenchmark, studentNet, Trainer } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { referencePython } from './reference/run-article.mjs';
import { median } from './stats.mjs';

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
      device: { type: 'string', default: 'cpu' },
      tuned: { type: 'boolean', default: false },
      bf16: { type: 'boolean', default: false },
      graphs: { type: 'boolean', default: false },
    },
  });
  const { device, tuned, bf16 } = values;
  const [batch, size, repeats, rounds] = ['batch', 'size', 'repeats', 'rounds'].map((k) => Number(values[k]));
  const graphs = !values.graphs ? 'none' : device === 'cpu' ? 'replayed' : 'cuda';
  // Three eager warm-up steps, then the capture: only calls after those are replays.
  const warmup = graphs === 'none' ? Number(values.warmup) : Math.max(Number(values.warmup), 4);
  const { threads, torch } = await info();
  console.log(
    `steps: ${device}${bf16 ? ', both networks bf16 autocast + channels-last' : ''}${tuned ? ' (teacher tuned: channels-last, bf16 autocast, cudnn.benchmark)' : ''}${graphs === 'none' ? '' : `, kdtorch steps from graphs (${graphs})`}, batch ${batch}, ${size}², ${threads} threads, libtorch ${torch.runtime}, ${repeats} timed calls per row and round, ${rounds} rounds`,
  );

  const samples = Object.fromEntries(ROWS.map((row) => [row, { kdtorch: [], pytorch: [] }]));
  for (let round = 0; round < rounds; round++) {
    const reference = runReference({ batch, size, repeats, warmup, threads, rows: ROWS, device, tuned, bf16 });
    if (reference.threads !== threads)
      throw new Error(`thread counts differ: PyTorch ${reference.threads}, kdtorch ${threads}`);
    const ours = await runKdtorch({ batch, size, repeats, warmup, device, tuned, bf16, graphs });
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
  const python = referencePython();
  const result = spawnSync(python, [path.join(root, 'scripts', 'bench', 'steps_reference.py'), JSON.stringify(args)], {
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
  });
  if (result.status !== 0) throw new Error(`steps_reference.py failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

async function runKdtorch({ batch, size, repeats, warmup, device, tuned, bf16, graphs }) {
  setCudnnBenchmark(tuned);
  const images = new Float32Array(batch * 3 * size * size).map(() => Math.random() * 2 - 1);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const data = { images, shape: [batch, 3, size, size], labels };
  const lowPrecision = { channelsLast: true, autocast: 'bf16' };
  const teacher = await resnet18({ device, ...(tuned || bf16 ? lowPrecision : {}) });
  const student = await studentNet({ inputSize: size, device, ...(bf16 ? lowPrecision : {}) });
  const loss = { mode: 'article', alpha: 0.25, temperature: 1 };
  const teacherTrainer = await Trainer.create(teacher, {
    optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
    loss,
    graphs,
  });
  const studentTrainer = await Trainer.create(student, { optimizer: { name: 'adam', lr: 1e-3 }, loss, graphs });
  const distiller = await Trainer.create(student, { optimizer: { name: 'adam', lr: 1e-3 }, loss, teacher, graphs });
  const input = { data: images, shape: data.shape };
  // A step resolves once queued on the device; reading its metrics waits for it.
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
  const trainers = { teacherStep: teacherTrainer, studentStep: studentTrainer, distillStep: distiller };
  const sync = (row) => trainers[row]?.takeMetrics(); // inference returns host outputs: already waited for
  const out = {};
  for (const row of ROWS) {
    for (let i = 0; i < warmup; i++) await calls[row]();
    await sync(row);
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeats; i++) await calls[row]();
    await sync(row);
    out[row] = [Number(process.hrtime.bigint() - start) / 1e9 / repeats];
  }
  return out;
}
