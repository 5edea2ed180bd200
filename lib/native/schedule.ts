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
