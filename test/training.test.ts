// End to end through the public API on real chest X-rays (a few, at 32²): runs, their files, their
// numbers checked against evaluation and against PyTorch, reproducibility, stop and resume.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeImage,
  distill,
  type EpochRecord,
  evaluate,
  info,
  loadModel,
  type PhaseResult,
  type ProgressEvent,
  predict,
  trainStudent,
  trainTeacher,
} from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { maxAbsDiff, reference } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';
import { tinyChestXray, tinyConfig } from './helpers/tiny-dataset.js';

/** A history without its timings, which differ between runs. */
const untimed = (history: EpochRecord[]) => history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);

let data: string;
beforeAll(() => {
  data = tinyChestXray();
});

describe('teacher → student → distill in one run folder', () => {
  let output: string;
  const results: PhaseResult[] = [];
  const events: ProgressEvent[] = [];

  beforeAll(async () => {
    output = path.join(tempDir('run'), 'run');
    const config = tinyConfig(data, output);
    const onProgress = (e: ProgressEvent) => events.push(e);
    results.push(await trainTeacher(config, { onProgress }));
    results.push(await trainStudent(config, { onProgress }));
    results.push(await distill(config, { onProgress }));
  }, 120_000);

  it('writes the config, per-epoch metrics, checkpoints, results and the reports', () => {
    const saved = JSON.parse(fs.readFileSync(path.join(output, 'config.json'), 'utf8'));
    expect(saved.output).toBe(output);
    expect(saved.data.root).toBe(data);
    const lines = fs
      .readFileSync(path.join(output, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.phase}:${l.epoch}`)).toEqual([
      'teacher:1',
      'teacher:2',
      'student:1',
      'student:2',
      'distill:1',
      'distill:2',
    ]);
    for (const phase of ['teacher', 'student', 'distill']) {
      for (const file of ['best.safetensors', 'last.safetensors', 'result.json']) {
        expect(fs.existsSync(path.join(output, phase, file)), `${phase}/${file}`).toBe(true);
      }
    }
    const markdown = fs.readFileSync(path.join(output, 'report.md'), 'utf8');
    for (const row of ['Teacher (ResNet-18)', 'Student alone', 'Distilled student']) expect(markdown).toContain(row);
    const html = fs.readFileSync(path.join(output, 'report.html'), 'utf8');
    expect(html).toMatch(/<svg[\s\S]*polyline[\s\S]*<\/svg>/);
    // The three models at a glance: a bar per model for accuracy, latency and size, each bar labelled with its value.
    const overview = html.slice(html.indexOf('The models compared'));
    for (const r of results) {
      expect(overview).toContain(`>${(100 * (r.test?.accuracy ?? 0)).toFixed(1)}</text>`);
      expect(overview).toContain(`>${(r.weightsBytes / 1e6).toFixed(r.weightsBytes < 1e6 ? 3 : 1)}</text>`);
    }
    expect(fs.readFileSync(path.join(output, 'report.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(fs.readdirSync(output).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('returns a history, the kept epoch and full test metrics for each phase', () => {
    for (const r of results) {
      expect(r.history.map((h) => h.epoch)).toEqual([1, 2]);
      expect(r.bestEpoch).toBe(2); // the quick preset keeps the last epoch (select 'last')
      expect(r.validation).toBe('carved from train');
      const test = r.test as NonNullable<PhaseResult['test']>;
      expect(test.count).toBe(12);
      expect(test.confusion.flat().reduce((a, b) => a + b)).toBe(12);
      expect(test.positiveClass).toBe('PNEUMONIA');
      for (const key of ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'rocAuc'] as const) {
        expect(test[key]).toBeGreaterThanOrEqual(0);
        expect(test[key]).toBeLessThanOrEqual(1);
      }
      expect(r.weightsBytes).toBe(fs.statSync(r.bestCheckpoint).size);
      expect(r.latency.map((l) => l.batchSize)).toEqual([1, 4]);
    }
    const [teacher, student, distilled] = results as [PhaseResult, PhaseResult, PhaseResult];
    expect(teacher.parameters).toBe(11_177_538);
    expect(student.parameters).toBe(4 * 3 * 9 + 4 + 8 + 4 * 16 * 16 * 2 + 2);
    expect(distilled.parameters).toBe(student.parameters);
  });

  it("with select 'best', keeps the epoch with the best validation accuracy (ties: the lower loss)", async () => {
    const r = await trainStudent(tinyConfig(data, tempDir('best'), { student: { epochs: 4, select: 'best' } }));
    const best = r.history.reduce((a, h) =>
      h.valAccuracy > a.valAccuracy || (h.valAccuracy === a.valAccuracy && h.valLoss < a.valLoss) ? h : a,
    );
    expect(r.bestEpoch).toBe(best.epoch);
    // The kept file is that epoch's weights: they score its validation accuracy again.
    const kept = await evaluate({
      model: r.bestCheckpoint,
      config: tinyConfig(data, tempDir('best-eval')),
      split: 'val',
    });
    expect(kept.metrics.accuracy).toBe(best.valAccuracy);
  }, 60_000);

  it('reports progress per batch and per epoch', () => {
    const batches = events.filter((e) => e.type === 'batch' && e.phase === 'teacher');
    expect(batches.length).toBe(2 * (batches[0] as { batches: number }).batches);
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs).toHaveLength(6);
    expect(events.filter((e) => e.type === 'phase' && e.state === 'done')).toHaveLength(3);
  });

  it('evaluate() of the best weights gives the test metrics the run reported', async () => {
    for (const r of results) {
      const { metrics } = await evaluate({ model: r.bestCheckpoint, config: tinyConfig(data, output) });
      expect(metrics.confusion).toEqual(r.test?.confusion);
      expect(metrics.accuracy).toBe(r.test?.accuracy);
      expect(metrics.rocAuc).toBeCloseTo(r.test?.rocAuc as number, 12);
    }
  });

  it('predict() of a saved model matches PyTorch on the same pixels to 1e-5', async () => {
    const files = ['NORMAL', 'PNEUMONIA'].map((c) =>
      path.join(data, 'test', c, fs.readdirSync(path.join(data, 'test', c))[0] as string),
    );
    const dir = tempDir('classify');
    for (const r of results) {
      const { description } = await loadModel(r.bestCheckpoint);
      const size = { height: description.imageSize, width: description.imageSize, channels: description.channels };
      const pixels = Buffer.concat(await Promise.all(files.map((f) => decodeImage(f, size))));
      fs.writeFileSync(path.join(dir, 'pixels.bin'), pixels);
      const expected = reference<{ probabilities: number[] }>('classify', {
        arch: description.architecture,
        inputSize: description.imageSize,
        width: description.width,
        weights: r.bestCheckpoint,
        pixels: path.join(dir, 'pixels.bin'),
        shape: [files.length, size.height, size.width, size.channels],
        mean: description.mean,
        std: description.std,
      });
      const fromPaths = await predict(r.bestCheckpoint, files);
      const fromBytes = await predict(
        r.bestCheckpoint,
        files.map((f) => fs.readFileSync(f)),
      );
      const probabilities = fromPaths.flatMap((p) => description.classes.map((c) => p.probabilities[c] as number));
      expect(maxAbsDiff(probabilities, expected.probabilities)).toBeLessThan(1e-5);
      expect(fromBytes).toEqual(fromPaths);
      for (const p of fromPaths) expect(p.class).toBe(description.classes[p.index]);
    }
  });
});

describe('the article preset', () => {
  it('validates on the test split, as the article did', async () => {
    const r = await trainStudent(tinyConfig(data, tempDir('seed'), { preset: 'article', student: { epochs: 1 } }));
    expect(r.validation).toMatch(/test split/);
    expect(r.history[0]?.valAccuracy).toBe(r.test?.accuracy);
    expect(r.history[0]?.valLoss).toBeCloseTo(r.test?.loss as number, 12);
  });
});

describe('cudnnBenchmark', () => {
  it('sets torch.backends.cudnn.benchmark for the process when a phase starts, as info() reads it back', async () => {
    for (const cudnnBenchmark of [false, true, false]) {
      await trainStudent(tinyConfig(data, tempDir('cudnn'), { cudnnBenchmark, student: { epochs: 1 } }));
      expect((await info()).cudnnBenchmark).toBe(cudnnBenchmark);
    }
  });
});

describe('student.autocast and student.channelsLast', () => {
  it('reach the student of both phases: bf16 moves the losses a little, channels-last trains', async () => {
    const teacher = await trainTeacher(tinyConfig(data, tempDir('precision-teacher'), { teacher: { epochs: 1 } }));
    const phases = { epochs: 1 };
    const runs = await Promise.all(
      [{}, { autocast: 'bf16' as const }, { channelsLast: true }].map(async (student) => {
        const config = tinyConfig(data, tempDir('precision'), {
          student: { ...phases, ...student },
          distill: { ...phases, teacher: teacher.bestCheckpoint },
        });
        return [await trainStudent(config), await distill(config)];
      }),
    );
    // First-epoch train loss of [student alone, distilled] per setting.
    const losses = runs.map((phasesRun) => phasesRun.map((r) => r.history[0]?.trainLoss as number));
    for (const phase of [0, 1]) {
      const [fp32, bf16, channelsLast] = losses.map((l) => l[phase] as number) as [number, number, number];
      expect(bf16).not.toBe(fp32);
      expect(Math.abs(bf16 - fp32) / fp32).toBeLessThan(0.1);
      expect(Number.isFinite(channelsLast)).toBe(true);
    }
  }, 120_000);
});

describe('early stopping', () => {
  it('stops once validation accuracy has not gained minDelta for `patience` epochs', async () => {
    // A gain of more than 1 (100 points) is impossible: every epoch after the first counts as none.
    const r = await trainStudent(
      tinyConfig(data, tempDir('early'), { student: { epochs: 4, earlyStopping: { patience: 2, minDelta: 1 } } }),
    );
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(r.stoppedEarly).toBe(true);
  });
});

describe('large-batch learning-rate scaling', () => {
  it('trains at optimizer.lr × batchSize / referenceBatchSize (linear) or its square root (sqrt)', async () => {
    type Scaling = false | { rule: 'linear' | 'sqrt'; referenceBatchSize: number };
    const runs: [number, Scaling][] = [
      [0.01, false],
      [0.01, { rule: 'linear', referenceBatchSize: 4 }],
      [0.01, { rule: 'sqrt', referenceBatchSize: 4 }],
      [0.04, false],
    ];
    const [plain, linear, sqrt, unscaled] = await Promise.all(
      runs.map(([lr, lrScaling]) =>
        trainStudent(
          tinyConfig(data, tempDir('lr-scaling'), {
            student: {
              epochs: 1,
              batchSize: 16,
              optimizer: { name: 'sgd', lr },
              schedule: { name: 'constant' },
              lrScaling,
            },
          }),
        ),
      ),
    );
    expect(plain?.history[0]?.lr).toBeCloseTo(0.01, 12);
    expect(linear?.history[0]?.lr).toBeCloseTo(0.04, 12);
    expect(sqrt?.history[0]?.lr).toBeCloseTo(0.02, 12);
    // The rate reaches the optimizer, not only the record: the scaled run is the run at 0.04, step for step.
    expect(linear?.history[0]?.trainLoss).toBe(unscaled?.history[0]?.trainLoss);
    expect(linear?.history[0]?.valLoss).toBe(unscaled?.history[0]?.valLoss);
    expect(plain?.history[0]?.valLoss).not.toBe(unscaled?.history[0]?.valLoss);
  }, 60_000);
});

describe('reproducibility', () => {
  it('two CPU runs with the same seed give identical histories and weights; another seed does not', async () => {
    const dirs = [tempDir('repro'), tempDir('repro'), tempDir('repro')];
    const [a, b, c] = (await Promise.all(
      dirs.map((dir, i) => trainStudent(tinyConfig(data, dir, { seed: i === 2 ? 1 : 0 }))),
    )) as [PhaseResult, PhaseResult, PhaseResult];
    expect(untimed(b.history)).toEqual(untimed(a.history));
    expect(fs.readFileSync(b.bestCheckpoint).equals(fs.readFileSync(a.bestCheckpoint))).toBe(true);
    expect(untimed(c.history)).not.toEqual(untimed(a.history));
  }, 60_000);
});

describe('stop and resume', () => {
  it('an AbortSignal stops after the current batch with a checkpoint; --resume ends where an unstopped run ends', async () => {
    const config = (dir: string) => tinyConfig(data, dir, { distill: { epochs: 3 }, student: { epochs: 3 } });
    const whole = await trainStudent(config(tempDir('whole')));

    const dir = tempDir('stopped');
    const controller = new AbortController();
    const onProgress = (e: ProgressEvent) => {
      // Stop in the middle of the second epoch.
      if (e.type === 'batch' && e.epoch === 2 && e.batch === 1) controller.abort();
    };
    const error = await rejection(trainStudent(config(dir), { signal: controller.signal, onProgress }));
    expect(error.code).toBe('E_ABORTED');
    expect(error.message).toContain(`--resume ${dir}`);
    expect(fs.existsSync(path.join(dir, 'student', 'last.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'student', 'result.json'))).toBe(false);
    // What a kill -9 leaves: a metrics line written after the checkpoint, temporary files, a lock, of a dead pid.
    const dead = spawnSync('true').pid as number;
    const metrics = path.join(dir, 'metrics.jsonl');
    const lines = fs.readFileSync(metrics, 'utf8').trim().split('\n');
    fs.appendFileSync(metrics, `${lines.at(-1)}\n`);
    const temporaries = [`student/last.safetensors.tmp-${dead}`, `metrics.jsonl.${dead}.tmp`];
    for (const name of temporaries) fs.writeFileSync(path.join(dir, name), 'half a file');
    fs.writeFileSync(path.join(dir, '.lock'), `${dead}\n`);

    const resumedEvents: ProgressEvent[] = [];
    const resumed = await trainStudent({}, { resume: dir, onProgress: (e) => resumedEvents.push(e) });
    expect(resumedEvents.find((e) => e.type === 'batch')).toMatchObject({ epoch: 2, batch: 2 });
    expect(untimed(resumed.history)).toEqual(untimed(whole.history));
    expect(fs.readFileSync(resumed.bestCheckpoint).equals(fs.readFileSync(whole.bestCheckpoint))).toBe(true);
    const epochs = fs
      .readFileSync(metrics, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).epoch);
    expect(epochs).toEqual([1, 2, 3]);
    for (const name of temporaries) expect(fs.existsSync(path.join(dir, name)), name).toBe(false);
    // A finished phase resumes to its saved result.
    expect(await trainStudent({}, { resume: dir })).toEqual(resumed);
  }, 60_000);
});

describe('damaged checkpoints', () => {
  it('resume checks the sha256: a damaged checkpoint falls back to the previous one and ends where an unstopped run ends', async () => {
    const config = (dir: string) => tinyConfig(data, dir, { student: { epochs: 3 } });
    const whole = await trainStudent(config(tempDir('whole')));
    const dir = tempDir('damaged');
    const controller = new AbortController();
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'batch' && e.epoch === 3 && e.batch === 1) controller.abort();
    };
    await rejection(trainStudent(config(dir), { signal: controller.signal, onProgress }));
    const last = path.join(dir, 'student', 'last.safetensors');
    const previous = path.join(dir, 'student', 'last.previous.safetensors');
    expect(fs.existsSync(`${last}.sha256`) && fs.existsSync(`${previous}.sha256`)).toBe(true);
    const flip = (file: string) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x10; // a bit of the last tensor's data
      fs.writeFileSync(file, bytes);
    };
    flip(last);
    const messages: string[] = [];
    const resumed = await trainStudent(
      {},
      { resume: dir, onProgress: (e) => e.type === 'phase' && messages.push(e.message) },
    );
    expect(messages.some((m) => m.includes('does not match its sha256'))).toBe(true);
    expect(untimed(resumed.history)).toEqual(untimed(whole.history));

    const again = tempDir('damaged-twice');
    await rejection(trainStudent(config(again), { signal: AbortSignal.abort() }));
    const lastAgain = path.join(again, 'student', 'last.safetensors');
    flip(lastAgain);
    const error = await rejection(trainStudent({}, { resume: again }));
    expect(error).toMatchObject({ code: 'E_BAD_WEIGHTS_FILE', file: lastAgain });
  }, 60_000);
});

describe('bad input', () => {
  it('a missing dataset folder names it', async () => {
    const missing = path.join(tempDir('none'), 'nowhere');
    const error = await rejection(trainStudent(tinyConfig(missing, tempDir('out'))));
    expect(error.code).toBe('E_DATASET_NOT_FOUND');
    expect(error.message).toContain(missing);
  });

  it('class weights and the positive class must fit the dataset', async () => {
    const weights = await rejection(
      trainStudent(tinyConfig(data, tempDir('out'), { student: { classWeights: [1, 2, 3] } })),
    );
    expect(weights).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'student.classWeights' });
    const positive = await rejection(trainStudent(tinyConfig(data, tempDir('out'), { positiveClass: 'COVID' })));
    expect(positive).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'positiveClass' });
    expect(positive.message).toContain('NORMAL, PNEUMONIA');
  });

  it('distill without a teacher says how to get one', async () => {
    const error = await rejection(distill(tinyConfig(data, tempDir('out'))));
    expect(error).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'distill.teacher' });
    expect(error.message).toMatch(/kdtorch teacher/);
  });

  it('a run folder keeps its config: another config there is refused', async () => {
    const dir = tempDir('out');
    await trainStudent(tinyConfig(data, dir, { student: { epochs: 1 } }));
    const error = await rejection(trainStudent(tinyConfig(data, dir, { student: { epochs: 2 } })));
    expect(error).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'output' });
    expect((await rejection(trainStudent({}, { resume: tempDir('empty') }))).code).toBe('E_RUN_NOT_FOUND');
  });

  it('a run folder has one writer, and damaged run files are named', async () => {
    const dir = tempDir('out');
    const exitHooks = process.listenerCount('exit');
    await trainStudent(tinyConfig(data, dir, { student: { epochs: 1 } }));
    // Released when the call returns: a service training many runs holds no locks or exit hooks for them.
    expect(fs.existsSync(path.join(dir, '.lock'))).toBe(false);
    expect(process.listenerCount('exit')).toBe(exitHooks);
    const other = spawn('sleep', ['30']);
    try {
      fs.writeFileSync(path.join(dir, '.lock'), `${other.pid}\n`);
      const locked = await rejection(trainStudent({}, { resume: dir }));
      expect(locked).toMatchObject({ code: 'E_RUN_LOCKED', file: path.join(dir, '.lock') });
      expect(locked.message).toContain(`pid ${other.pid}`);
    } finally {
      other.kill();
    }
    fs.writeFileSync(path.join(dir, 'config.json'), '{"data": ');
    const damaged = await rejection(trainStudent({}, { resume: dir }));
    expect(damaged).toMatchObject({ code: 'E_BAD_RUN_FILE', file: path.join(dir, 'config.json') });
  });

  it('a network too large to train on this machine is refused before it is built, naming the field', async () => {
    const error = await rejection(
      trainStudent(tinyConfig(data, tempDir('out'), { student: { epochs: 1, width: 10_000_000 } })),
    );
    expect(error).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'data.imageSize' });
    expect(error.message).toContain('student.width 10000000');
  });

  it.skipIf(fs.existsSync('/dev/nvidia0'))('CUDA asked for on a machine without it', async () => {
    const error = await rejection(trainStudent(tinyConfig(data, tempDir('out'), { device: 'cuda' })));
    expect(error.code).toBe('E_INVALID_ARGUMENT');
    expect(error.message).toMatch(/cuda/);
  });

  it('a model file without a kdtorch description is refused by loadModel', async () => {
    const file = path.join(tempDir('weights'), 'x.safetensors');
    fs.writeFileSync(file, 'not a safetensors file');
    expect((await rejection(loadModel(file))).code).toBe('E_BAD_WEIGHTS_FILE');
  });
});
