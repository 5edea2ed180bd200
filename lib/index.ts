// kdtorch's public API.
export { type EvaluateInput, type EvaluateResult, evaluate } from './api/evaluate.js';
export { type Prediction, predict } from './api/predict.js';
export { Predictor, type PredictorOptions } from './api/predictor.js';
export { type DistillOptions, distill, type RunOptions, trainStudent, trainTeacher } from './api/train.js';
export { PRESETS } from './config/presets.js';
export { readConfigFile, resolveConfig } from './config/resolve.js';
export type { Config, ConfigInput, PhaseConfig, PresetName } from './config/schema.js';
export {
  DataLoader,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type LoaderOptions,
  type SkippedImage,
  warmCache,
} from './data/data-loader.js';
export { type Dataset, openDataset } from './data/dataset.js';
export { DECODE_SETTINGS, type DecodeOptions, decodeImage } from './data/decode.js';
export { DecodeCache } from './data/decode-cache.js';
export { IMAGE_EXTENSIONS, type ImageFolder, type Sample, scanImageFolder } from './data/image-folder.js';
export { PixelStore } from './data/pixel-store.js';
export { type DatasetSplits, loadSplits, type SplitOptions, type SplitRecord } from './data/splits.js';
export { KdtorchError, type KdtorchErrorCode } from './errors.js';
export { type ClassificationMetrics, classificationMetrics, rocAuc } from './metrics/classification.js';
export type { LatencyRow } from './metrics/latency.js';
export type { TestReport } from './metrics/score.js';
export { type DescribedModel, loadModel, type ModelDescription } from './model-file.js';
export {
  augmentPixels,
  cpuBlockCache,
  distillationLoss,
  releaseCpuBlockCache,
  setCudnnBenchmark,
} from './native/addon.js';
export type { Batch, PixelBatch, PixelData, TensorData } from './native/batch.js';
export { Evaluation, type EvaluationSums } from './native/evaluation.js';
export { type CheckDeviceOptions, checkDevice, type Info, info } from './native/info.js';
export {
  type LoadReport,
  type LoadWeightsOptions,
  Model,
  type Precision,
  parameterCount,
  type ResNet18Options,
  type ResolvedPrecision,
  resnet18,
  type StudentNetOptions,
  studentNet,
} from './native/model.js';
export {
  type Communication,
  joinProcessGroup,
  ProcessGroup,
  type ProcessGroupOptions,
} from './native/process-group.js';
export { learningRateAt, type Schedule } from './native/schedule.js';
export {
  type CheckpointInfo,
  type LossOptions,
  type OptimizerOptions,
  type StepMetrics,
  Trainer,
  type TrainerOptions,
} from './native/trainer.js';
export type {
  CpuBlockCacheStats,
  DeviceCheck,
  LossWithGradient,
  NativeAugmentSpec,
  NativeCpuInfo,
  NativeViewParams,
} from './native/wire.js';
export { type ExportOnnxOptions, exportOnnx, type OnnxExport } from './onnx/export.js';
export type { PhaseResult } from './run/phase.js';
export { type BatchProgress, consoleProgress, type EpochRecord, type ProgressEvent } from './run/progress.js';
export type { Phase } from './run/run-folder.js';
