// The fused distillation loss on its own, in float64 on the CPU: for inspecting a loss setting
// and for checking the fused gradient against autograd.
import { nativeDistillationLoss } from './addon.js';
import type { LossWithGradient, NativeLossSpec } from './wire.js';

export type { LossWithGradient } from './wire.js';

/** Loss parts and d(total)/d(student logits) for logits laid out [N, C]. */
export function distillationLoss(
  student: Float64Array,
  teacher: Float64Array,
  shape: [number, number],
  labels: Int32Array,
  loss: NativeLossSpec,
): Promise<LossWithGradient> {
  return nativeDistillationLoss(student, teacher, shape, labels, loss);
}
