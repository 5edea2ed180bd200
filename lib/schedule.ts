// Learning-rate schedules with PyTorch's semantics, as closed forms of the number of scheduler steps
// taken. Being pure functions of that count, a checkpoint only needs the count to resume exactly.

export type Schedule =
  | { name: 'constant' }
  /** torch.optim.lr_scheduler.StepLR(step_size, gamma) */
  | { name: 'step'; stepSize: number; gamma: number }
  /** torch.optim.lr_scheduler.CosineAnnealingLR(T_max, eta_min) */
  | { name: 'cosine'; totalSteps: number; lrMin?: number }
  /** LinearLR(start_factor, 1.0, total_iters) for `warmupSteps`, then `after` (SequentialLR) */
  | { name: 'warmup'; warmupSteps: number; startFactor: number; after?: Schedule };

/** The learning rate after `step` scheduler steps, for a base (initial) learning rate. */
export function learningRateAt(schedule: Schedule, baseLr: number, step: number): number {
  switch (schedule.name) {
    case 'constant':
      return baseLr;
    case 'step':
      return baseLr * schedule.gamma ** Math.floor(step / schedule.stepSize);
    case 'cosine': {
      const lrMin = schedule.lrMin ?? 0;
      return lrMin + ((baseLr - lrMin) * (1 + Math.cos((Math.PI * step) / schedule.totalSteps))) / 2;
    }
    case 'warmup': {
      if (step < schedule.warmupSteps) {
        const factor = schedule.startFactor + ((1 - schedule.startFactor) * step) / schedule.warmupSteps;
        return baseLr * factor;
      }
      return learningRateAt(schedule.after ?? { name: 'constant' }, baseLr, step - schedule.warmupSteps);
    }
  }
}

/** A schedule counted in epochs, as the config gives it; `warmupEpochs` ramps up linearly first. */
export type EpochSchedule =
  | { name: 'constant'; warmupEpochs?: number }
  | { name: 'cosine'; lrMin?: number; warmupEpochs?: number }
  | { name: 'step'; everyEpochs: number; gamma: number; warmupEpochs?: number };

/**
 * The per-batch schedule for `epochs` epochs of `batchesPerEpoch` batches. Warm-up starts at a third
 * of the rate, LinearLR's default start_factor.
 */
export function scheduleInSteps(epochSchedule: EpochSchedule, epochs: number, batchesPerEpoch: number): Schedule {
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
export function scaledOptimizer<O extends { lr: number }>(phase: {
  optimizer: O;
  batchSize: number;
  lrScaling: false | { rule: 'linear' | 'sqrt'; referenceBatchSize: number };
}): O {
  if (!phase.lrScaling) return phase.optimizer;
  const ratio = phase.batchSize / phase.lrScaling.referenceBatchSize;
  return {
    ...phase.optimizer,
    lr: phase.optimizer.lr * (phase.lrScaling.rule === 'linear' ? ratio : Math.sqrt(ratio)),
  };
}
