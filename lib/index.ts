// kdtorch's public API.
export { KdtorchError, type KdtorchErrorCode } from './errors.js';
export { Evaluation, type EvaluationSums } from './evaluation.js';
export { type CheckDeviceOptions, checkDevice, type Info, info } from './info.js';
export { distillationLoss, type LossWithGradient } from './loss.js';
export {
  type LoadReport,
  type LoadWeightsOptions,
  Model,
  type ResNet18Options,
  resnet18,
  type StudentNetOptions,
  studentNet,
  type TensorData,
} from './model.js';
export type { DeviceCheck } from './native.js';
export { learningRateAt, type Schedule } from './schedule.js';
export {
  type Batch,
  type CheckpointInfo,
  type LossOptions,
  type OptimizerOptions,
  type StepMetrics,
  Trainer,
  type TrainerOptions,
} from './trainer.js';
