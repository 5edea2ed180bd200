import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Batch, type Model, resnet18, studentNet, Trainer, type TrainerOptions } from '../lib/index.js';
import { reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

// Issue 3's bound for one full step from identical weights and batch, fp32 on the CPU.
const PARAMETER_TOLERANCE = 1e-5;

const dir = tempDir('steps');
const teacherSpec = { arch: 'resnet18', numClasses: 2 };
const studentSpec = { arch: 'studentNet', numClasses: 2, inputSize: 64, width: 4 };
const teacherWeights = path.join(dir, 'teacher.safetensors');
const studentWeights = path.join(dir, 'student.safetensors');
let batch: Batch & { files: object };

beforeAll(() => {
  reference('make-weights', { ...teacherSpec, safetensors: teacherWeights, seed: 10 });
  reference('make-weights', { ...studentSpec, safetensors: studentWeights, seed: 11 });
  batch = referenceBatch(dir, [8, 3, 64, 64], 12);
});

async function loaded(make: () => Promise<Model>, weights: string): Promise<Model> {
  const model = await make();
  await model.loadWeights(weights);
  return model;
}

/** Runs `steps` steps in kdtorch and in PyTorch from the same weights and batch; returns the largest parameter difference. */
async function compareSteps(
  kind: 'teacherStep' | 'studentStep' | 'distillStep',
  model: Model,
  modelSpec: object,
  weights: string,
  options: TrainerOptions,
  steps = 1,
): Promise<{ maxAbsDiff: number; perKey: Record<string, number> }> {
  const trainer = await Trainer.create(model, options);
  for (let i = 0; i < steps; i++) await trainer[kind](batch);
  const ours = path.join(dir, `${kind}-ours.safetensors`);
  await model.saveWeights(ours);
  const theirs = path.join(dir, `${kind}-theirs.safetensors`);
  reference('step', {
    model: { ...modelSpec, weights },
    teacher: kind === 'distillStep' ? { ...teacherSpec, weights: teacherWeights } : undefined,
    ...batch.files,
    shape: batch.shape,
    optimizer: options.optimizer,
    loss: options.loss,
    freeze: options.freeze,
    steps,
    out: theirs,
  });
  return reference('compare', { a: ours, b: theirs });
}

/** distillStep from the shared student and teacher weights, in kdtorch and in PyTorch. */
async function compareDistill(options: Omit<TrainerOptions, 'teacher'>, steps = 1) {
  const student = await loaded(() => studentNet({ inputSize: 64 }), studentWeights);
  const teacher = await loaded(() => resnet18(), teacherWeights);
  return compareSteps('distillStep', student, studentSpec, studentWeights, { ...options, teacher }, steps);
}

/**
 * The student's conv bias sits right before BatchNorm, which subtracts each channel's mean, so its
 * true gradient is exactly 0 and both libraries compute only float rounding noise (~1e-9) for it.
 * Adam divides by sqrt(v) + eps and turns that noise into steps of up to ±lr, in unrelated directions.
 * Such entries are checked against Adam's bound instead (|change| ≤ lr per step), and so is the
 * BatchNorm running mean that a later step's forward pass computes from them (momentum 0.1).
 */
function splitAdamNoise(perKey: Record<string, number>, steps: number) {
  const { 'layer1.0.bias': bias = 0, 'layer1.1.running_mean': runningMean = 0, ...rest } = perKey;
  return { rest: Math.max(...Object.values(rest)), bias, runningMean: steps > 1 ? runningMean : 0 };
}

describe('training steps equal PyTorch’s', () => {
  it('distillStep (seed mode, Adam): every student parameter within 1e-5 (the zero-gradient conv bias within Adam’s bound)', async () => {
    const result = await compareDistill({
      optimizer: { name: 'adam', lr: 1e-3 },
      loss: { mode: 'article', alpha: 0.25, temperature: 1 },
    });
    const { rest, bias } = splitAdamNoise(result.perKey, 1);
    expect(rest).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
    expect(bias).toBeLessThanOrEqual(2 * 1e-3);
  });

  it('distillStep (hinton, T=4, AdamW, two steps): within 1e-5 (the zero-gradient conv bias within Adam’s bound)', async () => {
    const result = await compareDistill(
      {
        optimizer: { name: 'adamw', lr: 1e-3, weightDecay: 0.01 },
        loss: { mode: 'hinton', alpha: 0.7, temperature: 4 },
      },
      2,
    );
    const { rest, bias, runningMean } = splitAdamNoise(result.perKey, 2);
    expect(rest).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
    expect(bias).toBeLessThanOrEqual(2 * 2 * 1e-3);
    expect(runningMean).toBeLessThanOrEqual(0.1 * 2 * 2 * 1e-3);
  });

  it('distillStep (hinton, T=2, SGD with momentum, two steps): every parameter, the conv bias included, within 1e-5', async () => {
    const result = await compareDistill(
      { optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 }, loss: { mode: 'hinton', alpha: 0.5, temperature: 2 } },
      2,
    );
    expect(result.maxAbsDiff).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
  });

  it('teacherStep (SGD with momentum and weight decay, two steps): every parameter and buffer within 1e-5', async () => {
    const teacher = await loaded(() => resnet18(), teacherWeights);
    const result = await compareSteps(
      'teacherStep',
      teacher,
      teacherSpec,
      teacherWeights,
      {
        optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 },
        loss: { mode: 'hinton', alpha: 0, temperature: 1 },
      },
      2,
    );
    expect(result.maxAbsDiff).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
  });

  it("teacherStep with freeze: 'backbone' changes fc only, as PyTorch with requires_grad=False does", async () => {
    const teacher = await loaded(() => resnet18(), teacherWeights);
    const result = await compareSteps('teacherStep', teacher, teacherSpec, teacherWeights, {
      optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
      freeze: 'backbone',
    });
    expect(result.maxAbsDiff).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
    const moved = reference<{ perKey: Record<string, number> }>('compare', {
      a: path.join(dir, 'teacherStep-ours.safetensors'),
      b: teacherWeights,
    }).perKey;
    expect(moved['fc.weight']).toBeGreaterThan(0);
    expect(moved['layer4.1.conv2.weight']).toBe(0);
    expect(moved['conv1.weight']).toBe(0);
  });

  it('studentStep (cross-entropy with class weights and label smoothing, SGD): within 1e-5', async () => {
    const student = await loaded(() => studentNet({ inputSize: 64 }), studentWeights);
    const result = await compareSteps('studentStep', student, studentSpec, studentWeights, {
      optimizer: { name: 'sgd', lr: 0.05 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1, classWeights: [2.9, 1], labelSmoothing: 0.1 },
    });
    expect(result.maxAbsDiff).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
  });
});

describe('step metrics', () => {
  it('accumulates PyTorch’s loss and accuracy sums on the device until read (two steps, to 1e-5)', async () => {
    const student = await loaded(() => studentNet({ inputSize: 64 }), studentWeights);
    const options: TrainerOptions = {
      optimizer: { name: 'sgd', lr: 0.5 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    };
    const trainer = await Trainer.create(student, options);
    await trainer.studentStep(batch);
    await trainer.studentStep(batch);
    const metrics = await trainer.takeMetrics();
    // The same two steps in PyTorch: per-sample sums of each step's training forward, before its update.
    const theirs = reference<{ lossSum: number; correct: number; count: number }>('step', {
      model: { ...studentSpec, weights: studentWeights },
      ...batch.files,
      shape: batch.shape,
      optimizer: options.optimizer,
      loss: options.loss,
      steps: 2,
      out: path.join(dir, 'metrics-theirs.safetensors'),
    });
    expect(metrics.count).toBe(theirs.count);
    expect(metrics.correct).toBe(theirs.correct);
    expect(Math.abs(metrics.lossSum - theirs.lossSum) / theirs.lossSum).toBeLessThanOrEqual(1e-5);
    expect(metrics.lossSum).toBeCloseTo(metrics.ceSum, 10);
    expect(await trainer.takeMetrics()).toMatchObject({ count: 0, lossSum: 0 });
  });

  it('refuses distillStep without a teacher and labels out of range, naming them', async () => {
    const student = await studentNet({ inputSize: 64 });
    const trainer = await Trainer.create(student, {
      optimizer: { name: 'sgd', lr: 0.01 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    });
    await expect(trainer.distillStep(batch)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', field: 'teacher' });
    const bad = { ...batch, labels: Int32Array.from(batch.labels, () => 2) };
    await expect(trainer.studentStep(bad)).rejects.toThrow('labels must lie in [0, 1]');
    await expect(
      Trainer.create(student, {
        optimizer: { name: 'sgd', lr: 0.01 },
        loss: { mode: 'hinton', alpha: 0, temperature: 1 },
        freeze: 'backbone',
      }),
    ).rejects.toMatchObject({ field: 'freeze' });
    // biome-ignore lint/suspicious/noExplicitAny: an unknown optimizer on purpose
    const lion = { name: 'lion' as any, lr: 0.01 };
    await expect(
      Trainer.create(student, { optimizer: lion, loss: { mode: 'hinton', alpha: 0, temperature: 1 } }),
    ).rejects.toThrow("optimizer 'lion' is not one of 'sgd', 'adam', 'adamw'");
  });
});
