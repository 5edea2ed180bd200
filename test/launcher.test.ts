// `kdtorch teacher|distill … --nproc-per-node N` and `--nnodes`: whole phases on 2 Gloo ranks over
// loopback, as users launch them. The per-step arithmetic against PyTorch DDP is distributed.test.ts's;
// here, what the epoch loop adds: sharded batches, validation and test summed over the ranks (equal to a
// single-process evaluation of the kept weights), one run folder written by rank 0, Ctrl-C, resuming on
// another world size, and the launcher's exit codes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, rankEnv } from '../lib/cli/launcher.js';
import { maxAbsDiff, reference } from './helpers/reference.js';
import { CLI, expectResumable, interruptAtEpoch, kdtorch, ROOT, run, tempDir } from './helpers/run.js';
import { FAST_LATENCY, TINY_FLAGS, tinyChestXray } from './helpers/tiny-dataset.js';

// 36 training images in global batches of 8 (4 per rank), 12 validation, 16 test.
const TINY = [...TINY_FLAGS, ...FAST_LATENCY];

let data: string;
beforeAll(() => {
  data = tinyChestXray({ train: 24, test: 8 });
});

interface Scored {
  accuracy: number;
  loss: number;
  count: number;
  confusion: number[][];
  rocAuc: number;
}

/** `kdtorch eval` of `model` on `split`, in one process. */
function evaluateAlone(model: string, split: 'val' | 'test'): Scored {
  const ran = kdtorch(['eval', '--model', model, '--data', data, '--split', split, '--json']);
  expect(ran.status, ran.stderr).toBe(0);
  return JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '{}').metrics;
}

/** `kdtorch teacher` on the tiny set for `epochs` epochs into `output`. */
function teacherArgs(output: string, epochs: number): string[] {
  return ['teacher', '--data', data, '--output', output, '--epochs', String(epochs), ...TINY];
}

function floats(bytes: Buffer): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

describe('kdtorch … --nproc-per-node 2', () => {
  it('trains teacher and distilled student on 2 ranks: one run folder, metrics over both shards', () => {
    const output = path.join(tempDir('launch'), 'run');
    const teacher = kdtorch([...teacherArgs(output, 2), '--nproc-per-node', '2']);
    expect(teacher.status, teacher.stderr).toBe(0);
    // Rank 0 alone prints the table and writes the folder: one line per epoch, one result.
    expect(teacher.stdout.match(/\| Teacher \(ResNet-18\)/g)).toHaveLength(1);
    const history = fs.readFileSync(path.join(output, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(history.map((line) => JSON.parse(line).epoch)).toEqual([1, 2]);

    // Validation and test were each rank's half, summed: the same as one process scoring the kept weights.
    const result = readJson<{ bestEpoch: number; history: { valAccuracy: number; valLoss: number }[]; test: Scored }>(
      path.join(output, 'teacher', 'result.json'),
    );
    const best = path.join(output, 'teacher', 'best.safetensors');
    const val = evaluateAlone(best, 'val');
    const kept = result.history[result.bestEpoch - 1];
    expect(val.count).toBe(12);
    expect(kept?.valAccuracy).toBe(val.accuracy);
    expect(kept?.valLoss).toBeCloseTo(val.loss, 5);
    const test = evaluateAlone(best, 'test');
    expect(result.test.count).toBe(16);
    expect(result.test.confusion).toEqual(test.confusion);
    expect(result.test.rocAuc).toBeCloseTo(test.rocAuc, 6);
    expect(result.test.loss).toBeCloseTo(test.loss, 5);

    const distilled = kdtorch(['distill', '--resume', output, '--nproc-per-node', '2']);
    expect(distilled.status, distilled.stderr).toBe(0);
    // The teacher-output cache the two ranks computed in halves is the one a single process computes.
    const cacheDir = path.join(output, 'teacher', 'teacher-outputs');
    const [cacheFile = ''] = fs.readdirSync(cacheDir);
    const shared = floats(fs.readFileSync(path.join(cacheDir, cacheFile)));
    fs.rmSync(cacheDir, { recursive: true });
    const alone = kdtorch([
      'distill',
      '--data',
      data,
      '--teacher',
      best,
      '--output',
      `${output}-alone`,
      '--epochs',
      '1',
      ...TINY,
    ]);
    expect(alone.status, alone.stderr).toBe(0);
    const computed = floats(fs.readFileSync(path.join(cacheDir, cacheFile)));
    expect(shared.length).toBe(36 * 2 * 2); // images × views (the image and its flip) × classes
    expect(shared.every((value) => value !== 0)).toBe(true);
    expect(maxAbsDiff(shared, computed)).toBeLessThanOrEqual(1e-4);
    const student = readJson<{ test: Scored }>(path.join(output, 'distill', 'result.json'));
    expect(student.test.confusion).toEqual(
      evaluateAlone(path.join(output, 'distill', 'best.safetensors'), 'test').confusion,
    );
  }, 300_000);

  it('with distributed.syncBatchNorm, 2 ranks train a teacher epoch to the weights 1 process trains', () => {
    // Global batches of 32 and then 4 (16 + 16 and 2 + 2 of 36 images): the same shuffle, flips and views
    // on both sides. fp32 and SGD: bf16 convolutions round differently at another batch size, and Adam's
    // first steps (about lr × the gradient's sign) turn a gradient's rounding near zero into a full step.
    const args = (output: string, sync: boolean) => [
      ...teacherArgs(output, 1),
      ...['--batch-size', '32', '--set', 'teacher.autocast=none'],
      ...['--set', 'teacher.optimizer={"name":"sgd","lr":0.01,"momentum":0.9}'],
      ...['--set', `distributed.syncBatchNorm=${sync}`],
    ];
    const root = tempDir('launch');
    const best = (run: string) => path.join(root, run, 'teacher', 'best.safetensors');
    const largest = (a: string, b: string) =>
      Math.max(...Object.values(reference<{ perKey: Record<string, number> }>('compare', { a, b }).perKey));
    for (const [run, sync, ranks] of [
      ['alone', true, 1],
      ['synced', true, 2],
      ['own', false, 2],
    ] as const) {
      const ran = kdtorch([...args(path.join(root, run), sync), ...(ranks > 1 ? ['--nproc-per-node', '2'] : [])]);
      expect(ran.status, ran.stderr).toBe(0);
    }
    // The statistics over the global batch, as in the one process: the same two steps up to float
    // rounding (1.1e-5 measured), which a ResNet-18's last BatchNorms at 32² (1 value per channel and
    // image) amplify. Each rank's own statistics over its 2 images of the last batch: nothing like it.
    expect(largest(best('synced'), best('alone'))).toBeLessThanOrEqual(1e-4);
    expect(largest(best('own'), best('alone'))).toBeGreaterThan(1e-2);
  }, 300_000);

  it('Ctrl-C to the launcher stops both ranks after the same batch, one checkpoint, exit 130; one process resumes', async () => {
    const output = path.join(tempDir('launch'), 'run');
    const stopped = await interruptAtEpoch([...teacherArgs(output, 2), '--json', '--nproc-per-node', '2'], 2);
    // The checkpoint counts global batches, so any world size continues it: here one process.
    expectResumable(stopped, output);
  }, 300_000);

  it('runs as two machines on loopback (--nnodes 2, one rank each) and under torchrun: one folder, the same run', async () => {
    const output = path.join(tempDir('launch'), 'run');
    const port = String(await freePort());
    const node = (rank: number) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const args = teacherArgs(output, 1);
        const launch = [
          '--nnodes',
          '2',
          '--node-rank',
          String(rank),
          '--master-addr',
          '127.0.0.1',
          '--master-port',
          port,
        ];
        // One thread per rank, as torchrun gives below: the same kernels, the same sums.
        const child = spawn(process.execPath, [CLI, ...args, ...launch, '--nproc-per-node', '1'], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, OMP_NUM_THREADS: '1' },
        });
        let stderr = '';
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const [first, second] = await Promise.all([node(0), node(1)]);
    expect(first?.code, first?.stderr).toBe(0);
    expect(second?.code, second?.stderr).toBe(0);
    expect(fs.readdirSync(path.dirname(output))).toEqual(['run']);

    // torchrun's workers are kdtorch's unchanged (its agent serves the store: c10d joins it), and train
    // the same shards: the same run.
    const torchrun = path.join(tempDir('launch'), 'run');
    const ran = run(path.join(ROOT, '.venv', 'bin', 'torchrun'), [
      '--nproc-per-node',
      '2',
      '--master-port',
      String(await freePort()),
      '--no-python',
      process.execPath,
      CLI,
      ...teacherArgs(torchrun, 1),
    ]);
    expect(ran.status, ran.stderr).toBe(0);
    const [machines, torchrunResult] = [output, torchrun].map((dir) =>
      readJson<{ history: { trainLoss: number; valLoss: number }[]; test: Scored }>(
        path.join(dir, 'teacher', 'result.json'),
      ),
    );
    expect(torchrunResult?.test.confusion).toEqual(machines?.test.confusion);
    expect(torchrunResult?.history[0]?.trainLoss).toBeCloseTo(machines?.history[0]?.trainLoss ?? Number.NaN, 6);
    expect(torchrunResult?.history[0]?.valLoss).toBeCloseTo(machines?.history[0]?.valLoss ?? Number.NaN, 6);
  }, 300_000);

  it('a rank killed mid-run (kill -9) stops the other and the launcher exits non-zero, without hanging', async () => {
    const output = path.join(tempDir('launch'), 'run');
    const launcher = spawn(process.execPath, [CLI, ...teacherArgs(output, 2), '--json', '--nproc-per-node', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let killed = false;
    launcher.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (killed || !stdout.includes('"type":"batch"')) return;
      killed = true;
      // The launcher's children are the ranks; the last one started is rank 1.
      const ranks = run('pgrep', ['-P', String(launcher.pid)])
        .stdout.trim()
        .split('\n')
        .map(Number);
      process.kill(Math.max(...ranks), 'SIGKILL');
    });
    const started = performance.now();
    const code = await new Promise<number | null>((resolve) => launcher.on('close', resolve));
    expect(killed).toBe(true);
    expect(code).not.toBe(0);
    expect(code).not.toBe(130);
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(fs.existsSync(path.join(output, 'teacher', 'result.json'))).toBe(false);
  }, 120_000);

  it('leaves out on every rank a batch whose images were all skipped on one (onBadImage skip)', () => {
    const root = tinyChestXray({ train: 24, test: 8 });
    const corrupt = ['zz-corrupt-1.jpeg', 'zz-corrupt-2.jpeg', 'zz-corrupt-3.jpeg', 'zz-corrupt-4.jpeg'];
    for (const name of corrupt) fs.writeFileSync(path.join(root, 'train', 'NORMAL', name), Buffer.alloc(3000, 7));
    const output = path.join(tempDir('launch'), 'run');
    // One image per rank and batch: a corrupt file's batch is empty on its rank. The student trains
    // BatchNorm on one 32² image; ResNet-18's last stage could not.
    const ran = kdtorch([
      'student',
      '--data',
      root,
      '--output',
      output,
      '--epochs',
      '1',
      ...TINY,
      '--batch-size',
      '2',
      '--set',
      'data.onBadImage=skip',
      '--nproc-per-node',
      '2',
    ]);
    expect(ran.status, ran.stderr).toBe(0);
    const result = readJson<{ skippedImages: { file: string }[] }>(path.join(output, 'student', 'result.json'));
    // The ones the seeded carve-out left in train (the others are validation's), each listed once.
    const skipped = result.skippedImages.map((s) => path.basename(s.file));
    expect(skipped.length).toBeGreaterThan(0);
    expect(new Set(skipped).size).toBe(skipped.length);
    for (const name of skipped) expect(corrupt).toContain(name);
  }, 120_000);

  it('gives each rank torchrun’s variables and distributed.threadsPerRank threads, unless OMP_NUM_THREADS is set', () => {
    const launch = { nprocPerNode: 2, nnodes: 3, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29500 };
    expect(rankEnv(launch, 1, 3, {})).toEqual({
      RANK: '3',
      WORLD_SIZE: '6',
      LOCAL_RANK: '1',
      LOCAL_WORLD_SIZE: '2',
      MASTER_ADDR: '10.0.0.1',
      MASTER_PORT: '29500',
      OMP_NUM_THREADS: '3',
    });
    expect(rankEnv(launch, 0, 'auto', {}).OMP_NUM_THREADS).toBe(
      String(Math.max(1, Math.floor(os.availableParallelism() / 2))),
    );
    expect(rankEnv(launch, 0, 3, { OMP_NUM_THREADS: '5' }).OMP_NUM_THREADS).toBe('5');
  });

  it('a machine whose peers never come fails with E_DISTRIBUTED after distributed.timeoutMs, exit 1', async () => {
    const output = path.join(tempDir('launch'), 'run');
    const started = performance.now();
    const alone = kdtorch([
      ...teacherArgs(output, 1),
      '--set',
      'distributed.timeoutMs=2000',
      '--nnodes',
      '2',
      '--node-rank',
      '0',
      '--master-addr',
      '127.0.0.1',
      '--master-port',
      String(await freePort()),
    ]);
    expect(alone.status).toBe(1);
    expect(alone.stderr).toContain('[E_DISTRIBUTED]');
    expect(performance.now() - started).toBeLessThan(20_000); // not the default 60 s
  }, 60_000);

  it('exits 2 for a global batch the ranks cannot share, and for machines without a master', () => {
    const output = path.join(tempDir('launch'), 'run');
    const odd = kdtorch([...teacherArgs(output, 1), '--batch-size', '7', '--nproc-per-node', '2']);
    expect(odd.status).toBe(2);
    expect(odd.stderr).toContain('teacher.batchSize 7 is the global batch, shared by 2 ranks: make it a multiple of 2');
    const lost = kdtorch(['teacher', '--data', data, '--nnodes', '2', '--node-rank', '1']);
    expect(lost.status).toBe(2);
    expect(lost.stderr).toContain('needs --master-addr and --master-port');
    expect(kdtorch(['demo', '--nproc-per-node', '2']).status).toBe(2);
  });
});
