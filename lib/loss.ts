// The fused distillation loss on its own, in float64 on the CPU: for inspecting a loss setting
// and for checking the fused gradient against autograd.
import { type LossWithGradient, nativeDistillationLoss } from './native.js';
import type { LossOptions } from './trainer.js';

export type { LossWithGradient } from './native.js';

/** Loss parts and d(total)/d(student logits) for logits laid out [N, C]. */
export function distillationLoss(
  student: Float64Array,
  teacher: Float64Array,
  shape: [number, number],
  labels: Int32Array,
  loss: LossOptions,
): Promise<LossWithGradient> {
  return nativeDistillationLoss(student, teacher, shape, labels, loss);
}
