import { describe, expect, it } from 'vitest';
import { learningRateAt, type Schedule } from '../lib/index.js';
import { scaledOptimizer, scheduleInSteps } from '../lib/run/schedule.js';
import { reference } from './helpers/reference.js';

describe('learning-rate schedules', () => {
  const schedules: [string, Schedule][] = [
    ['StepLR', { name: 'step', stepSize: 3, gamma: 0.5 }],
    ['CosineAnnealingLR', { name: 'cosine', totalSteps: 12, lrMin: 1e-4 }],
    [
      'LinearLR warm-up then cosine (SequentialLR)',
      { name: 'warmup', warmupSteps: 4, startFactor: 0.1, after: { name: 'cosine', totalSteps: 10 } },
    ],
  ];
  it.each(schedules)('gives %s’s learning rates step by step', (_, schedule) => {
    const steps = 15;
    const { lrs } = reference<{ lrs: number[] }>('schedule', { lr: 0.1, schedule, steps });
    const ours = Array.from({ length: steps }, (_, step) => learningRateAt(schedule, 0.1, step));
    ours.forEach((lr, step) => {
      expect(lr, `step ${step}`).toBeCloseTo(lrs[step] as number, 12);
    });
  });
});

describe('a phase’s schedule in steps (scheduleInSteps)', () => {
  it('rounds a fractional warm-up to whole batches and then follows PyTorch’s LinearLR + CosineAnnealingLR', () => {
    // 3 epochs of 7 batches, warm-up 0.5 epoch = round(3.5) = 4 steps; the cosine runs over the other 17.
    const schedule = scheduleInSteps({ name: 'cosine', lrMin: 1e-4, warmupEpochs: 0.5 }, 3, 7);
    expect(schedule).toEqual({
      name: 'warmup',
      warmupSteps: 4,
      startFactor: 1 / 3,
      after: { name: 'cosine', totalSteps: 17, lrMin: 1e-4 },
    });
    const { lrs } = reference<{ lrs: number[] }>('schedule', { lr: 0.1, schedule, steps: 21 });
    lrs.forEach((lr, step) => {
      expect(learningRateAt(schedule, 0.1, step), `step ${step}`).toBeCloseTo(lr, 12);
    });
  });

  it('counts a step schedule in batches, and adds no warm-up when none is asked for', () => {
    const schedule = scheduleInSteps({ name: 'step', everyEpochs: 2, gamma: 0.5 }, 6, 5);
    expect(schedule).toEqual({ name: 'step', stepSize: 10, gamma: 0.5 });
    const { lrs } = reference<{ lrs: number[] }>('schedule', { lr: 0.1, schedule, steps: 30 });
    lrs.forEach((lr, step) => {
      expect(learningRateAt(schedule, 0.1, step), `step ${step}`).toBeCloseTo(lr, 12);
    });
  });
});

describe('large-batch learning rates (scaledOptimizer)', () => {
  const optimizer = { name: 'adamw' as const, lr: 1e-3, weightDecay: 1e-4 };
  it('scales optimizer.lr by batch / reference (linear) or its square root (sqrt), keeping the rest', () => {
    expect(
      scaledOptimizer({ optimizer, batchSize: 256, lrScaling: { rule: 'linear', referenceBatchSize: 32 } }),
    ).toEqual({
      ...optimizer,
      lr: 8e-3,
    });
    const sqrt = scaledOptimizer({ optimizer, batchSize: 128, lrScaling: { rule: 'sqrt', referenceBatchSize: 32 } });
    expect(sqrt.lr).toBeCloseTo(2e-3, 15);
    expect(scaledOptimizer({ optimizer, batchSize: 256, lrScaling: false })).toBe(optimizer);
  });
});
