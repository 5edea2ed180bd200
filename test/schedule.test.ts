import { describe, expect, it } from 'vitest';
import { learningRateAt, type Schedule } from '../lib/index.js';
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
