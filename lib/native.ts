// The only file that touches the addon: it loads it once and gives it a typed face.
// Native rejections carry a `code`; here they become KdtorchErrors.
import { KdtorchError, type KdtorchErrorCode } from './errors.js';
import { type LoadedAddon, loadAddon } from './loader.js';

export interface NativeDevice {
  index: number;
  name: string;
  totalMemoryBytes: number;
  capability: string;
}

export interface NativeInfo {
  torchBuilt: string;
  cudaAvailable: boolean;
  devices: NativeDevice[];
  cudnnVersion: number | null;
  threads: number;
  cudnnBenchmark: boolean;
  /** Why training steps cannot run as CUDA graphs here (native/core/step_graph.h); null when they can. */
  cudaGraphsUnavailable: string | null;
}

export interface DeviceCheck {
  device: string;
  checksum: number;
  milliseconds: number;
}

import type { NativeImages, NativePixelOptions, TensorData } from './batch.js';

export type { TensorData } from './batch.js';

export interface NativeModelSpec {
  architecture: 'resnet18' | 'studentNet';
  numClasses?: number;
  inputSize?: number;
  inChannels?: number;
  width?: number;
  device?: string;
  autocast?: 'none' | 'bf16';
  channelsLast?: boolean;
  seed?: number;
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

/** A dataset's decoded pixels on a model's device (native/core/image_batch.h PixelStore). */
export interface NativePixelStore {
  /** Copies whole H×W×C images into rows first, first + 1, …; queued behind the models' calls. */
  put(first: number, pixels: Uint8Array): Promise<void>;
  /** Drops this object's hold on the pixels; native jobs already running keep theirs until they end. */
  release(): void;
  readonly byteLength: number;
}

/** One native network. At most one call at a time: a second concurrent call rejects with E_BUSY. */
export interface NativeModel {
  forward(images: NativeImages[0], shape: number[], pixels?: NativePixelOptions): Promise<TensorData>;
  setTraining(on: boolean): Promise<void>;
  to(device: string): Promise<void>;
  loadWeights(path: string, options: { strict?: boolean; skip?: string[] }): Promise<LoadReport>;
  saveWeights(path: string, descriptionJson?: string): Promise<void>;
  parameterCount(): number;
  readonly device: string;
  readonly training: boolean;
}

export interface NativeOptimizerSpec {
  name: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export interface NativeLossSpec {
  mode: 'hinton' | 'seed';
  alpha: number;
  temperature: number;
  labelSmoothing?: number;
  classWeights?: number[];
}

export interface NativeTrainerSpec {
  optimizer: NativeOptimizerSpec;
  loss: NativeLossSpec;
  freeze: 'none' | 'backbone';
  /** 'cuda': steps replayed from CUDA graphs (model on a CUDA device); 'replayed': the CPU stand-in, for tests. */
  stepGraphs?: 'none' | 'cuda' | 'replayed';
}

/** Per-sample sums since the last takeMetrics(). */
export interface StepMetrics {
  lossSum: number;
  ceSum: number;
  kdSum: number;
  correct: number;
  count: number;
}

type NativeStep = (
  images: NativeImages[0],
  shape: number[],
  labels: Int32Array,
  lr: number,
  pixels?: NativePixelOptions,
  teacherLogits?: Float32Array,
) => Promise<void>;

export interface NativeTrainer {
  teacherStep: NativeStep;
  studentStep: NativeStep;
  distillStep: NativeStep;
  takeMetrics(): Promise<StepMetrics>;
  saveCheckpoint(path: string, metadataJson: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
}

export interface EvaluationSums {
  lossSum: number;
  correct: number;
  count: number;
  /** rows: true class, columns: predicted class */
  confusion: number[][];
  probabilities: TensorData;
}

export interface NativeEvaluator {
  add(images: NativeImages[0], shape: number[], labels: Int32Array, pixels?: NativePixelOptions): Promise<void>;
  read(): Promise<EvaluationSums>;
}

export interface LossWithGradient {
  total: number;
  ce: number;
  kd: number;
  /** d total / d student logits, row-major [N, C] */
  grad: Float64Array;
}

interface Addon {
  info(): Promise<NativeInfo>;
  checkDevice(device: string, size: number, seed: number): Promise<DeviceCheck>;
  setCudnnBenchmark(on: boolean): void;
  createModel(spec: NativeModelSpec): Promise<NativeModel>;
  NativeTrainer: new (model: NativeModel, teacher: NativeModel | null, spec: NativeTrainerSpec) => NativeTrainer;
  NativeEvaluator: new (model: NativeModel) => NativeEvaluator;
  distillationLoss(
    student: Float64Array,
    teacher: Float64Array,
    shape: [number, number],
    labels: Int32Array,
    loss: NativeLossSpec,
  ): Promise<LossWithGradient>;
  createPixelStore(
    model: NativeModel,
    spec: { count: number; height: number; width: number; channels: number },
  ): Promise<NativePixelStore>;
  decodeJpeg(
    bytes: Uint8Array,
    height: number,
    width: number,
    channels: number,
    shrinkOnLoad: boolean,
  ): Promise<Buffer | null>;
}

let loaded: LoadedAddon | undefined;

/** Loads libtorch and the addon on first use, so importing kdtorch never fails by itself. */
export function native(): LoadedAddon & { addon: Addon } {
  loaded ??= loadAddon();
  return loaded as LoadedAddon & { addon: Addon };
}

const KNOWN_CODES = new Set<string>([
  'E_BUSY',
  'E_TORCH',
  'E_NATIVE',
  'E_INVALID_ARGUMENT',
  'E_SHAPE_MISMATCH',
  'E_BAD_WEIGHTS_FILE',
  'E_WEIGHTS_MISMATCH',
  'E_RELEASED',
]);

/** Turns an error thrown or rejected by the addon into a KdtorchError, keeping its message. */
export function toKdtorchError(error: unknown): unknown {
  if (error instanceof KdtorchError || !(error instanceof Error)) return error;
  const code = (error as Error & { code?: string }).code;
  if (code === undefined || !KNOWN_CODES.has(code)) return error;
  return new KdtorchError(code as KdtorchErrorCode, error.message, { cause: error });
}

/** Calls into the addon, turning synchronous throws and rejections alike into KdtorchErrors. */
export async function call<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toKdtorchError(error);
  }
}

export function nativeInfo(): Promise<NativeInfo> {
  return call(() => native().addon.info());
}

export function nativeCheckDevice(device: string, size: number, seed: number): Promise<DeviceCheck> {
  return call(() => native().addon.checkDevice(device, size, seed));
}

/** torch.backends.cudnn.benchmark for the whole process (native/core/runtime.h). */
export function setCudnnBenchmark(on: boolean): void {
  native().addon.setCudnnBenchmark(on);
}

export function createNativeModel(spec: NativeModelSpec): Promise<NativeModel> {
  return call(() => native().addon.createModel(spec));
}

export function createNativeTrainer(
  model: NativeModel,
  teacher: NativeModel | null,
  spec: NativeTrainerSpec,
): Promise<NativeTrainer> {
  return call(async () => new (native().addon.NativeTrainer)(model, teacher, spec));
}

export function nativeDistillationLoss(
  student: Float64Array,
  teacher: Float64Array,
  shape: [number, number],
  labels: Int32Array,
  loss: NativeLossSpec,
): Promise<LossWithGradient> {
  return call(() => native().addon.distillationLoss(student, teacher, shape, labels, loss));
}

export function createNativeEvaluator(model: NativeModel): Promise<NativeEvaluator> {
  return call(async () => new (native().addon.NativeEvaluator)(model));
}

/**
 * Decodes a JPEG natively to height×width×channels uint8 (what PIL + transforms.Resize give), or
 * resolves null when the file is one the native decoder leaves to sharp (see native/core/jpeg_image.h).
 */
export function nativeDecodeJpeg(
  bytes: Uint8Array,
  size: { height: number; width: number; channels: 1 | 3 },
  shrinkOnLoad: boolean,
): Promise<Buffer | null> {
  return call(() => native().addon.decodeJpeg(bytes, size.height, size.width, size.channels, shrinkOnLoad));
}

/** An empty store of `count` H×W×C images on `model`'s device. */
export function createNativePixelStore(
  model: NativeModel,
  spec: { count: number; height: number; width: number; channels: number },
): Promise<NativePixelStore> {
  return call(() => native().addon.createPixelStore(model, spec));
}
