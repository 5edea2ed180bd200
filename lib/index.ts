// kdtorch's public API.
export {
  type DistillOptions,
  distill,
  type EvaluateInput,
  type EvaluateResult,
  evaluate,
  type Prediction,
  predict,
  type RunOptions,
  trainStudent,
  trainTeacher,
} from './api.js';
export type { Batch, PixelBatch, PixelData, TensorData } from './batch.js';
export { PRESETS } from './config/presets.js';
export { readConfigFile, resolveConfig } from './config/resolve.js';
export type { Config, ConfigInput, PhaseConfig, PresetName } from './config/schema.js';
export { DECODE_SETTINGS, type DecodeOptions, decodeImage } from './data/decode.js';
export { DecodeCache } from './data/decode-cache.js';
export { IMAGE_EXTENSIONS, type ImageFolder, type Sample, scanImageFolder } from './data/image-folder.js';
export {
  DataLoader,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type LoaderOptions,
  type SkippedImage,
  warmCache,
} from './data/loader.js';
export { PixelStore } from './data/pixel-store.js';
export { type DatasetSplits, loadSplits, type SplitOptions } from './data/splits.js';
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
} from './model.js';
export { type DescribedModel, loadModel, type ModelDescription } from './model-file.js';
export { type DeviceCheck, setCudnnBenchmark } from './native.js';
export type { TestReport } from './run/assess.js';
export { type Dataset, openDataset } from './run/dataset.js';
export type { LatencyRow } from './run/latency.js';
export { type ClassificationMetrics, classificationMetrics, rocAuc } from './run/metrics.js';
export type { PhaseResult } from './run/phase.js';
export { type BatchProgress, consoleProgress, type EpochRecord, type ProgressEvent } from './run/progress.js';
export type { Phase } from './run/run-folder.js';
export { learningRateAt, type Schedule } from './schedule.js';
export {
  type CheckpointInfo,
  type LossOptions,
  type OptimizerOptions,
  type StepMetrics,
  Trainer,
  type TrainerOptions,
} from './trainer.js';
