// A phase's optimizer settings and learning-rate schedule, from its config (counted in epochs, for a
// batch size) to what the Trainer takes (counted in steps, lib/native/schedule.ts).
import type { PhaseConfig } from '../config/schema.js';
import type { Schedule } from '../native/schedule.js';

/**
 * The per-batch schedule for `epochs` epochs of `batchesPerEpoch` batches. Warm-up starts at a third
 * of the rate, LinearLR's default start_factor.
 */
export function scheduleInSteps(
  epochSchedule: PhaseConfig['schedule'],
  epochs: number,
  batchesPerEpoch: number,
): Schedule {
  const warmupSteps = Math.round((epochSchedule.warmupEpochs ?? 0) * batchesPerEpoch);
  const total = epochs * batchesPerEpoch - warmupSteps;
  const main: Schedule =
    epochSchedule.name === 'cosine'
      ? { name: 'cosine', totalSteps: Math.max(1, total), lrMin: epochSchedule.lrMin ?? 0 }
      : epochSchedule.name === 'step'
        ? { name: 'step', stepSize: epochSchedule.everyEpochs * batchesPerEpoch, gamma: epochSchedule.gamma }
        : { name: 'constant' };
  return warmupSteps > 0 ? { name: 'warmup', warmupSteps, startFactor: 1 / 3, after: main } : main;
}

/** The optimizer settings a phase trains with: optimizer.lr scaled for its batch size when lrScaling asks. */
export function scaledOptimizer(
  phase: Pick<PhaseConfig, 'optimizer' | 'batchSize' | 'lrScaling'>,
): PhaseConfig['optimizer'] {
  if (!phase.lrScaling) return phase.optimizer;
  const ratio = phase.batchSize / phase.lrScaling.referenceBatchSize;
  return {
    ...phase.optimizer,
    lr: phase.optimizer.lr * (phase.lrScaling.rule === 'linear' ? ratio : Math.sqrt(ratio)),
  };
}
