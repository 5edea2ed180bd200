// What crosses the N-API boundary: the addon's functions and objects and the plain values they take
// and give (native/binding/*.cc). Nothing here imports from kdtorch, so every file may import it.

/** Normalised images laid out [N, C, H, W], or a model's outputs laid out [N, classes]. */
export interface TensorData {
  data: Float32Array;
  shape: number[];
}

export interface NativeDevice {
  index: number;
  name: string;
  totalMemoryBytes: number;
  capability: string;
}

/** What the CPU offers for bf16, as ATen reads it (native/core/runtime.h CpuInfo). */
export interface NativeCpuInfo {
  name: string;
  physicalCores: number;
  avx512Bf16: boolean;
  amxBf16: boolean;
  /** libtorch was built with oneDNN, which runs bf16 convolutions and matmuls on those instructions. */
  onednn: boolean;
  /** bf16 computes natively here: what precision 'auto' reads. */
  nativeBf16: boolean;
}

export interface NativeInfo {
  torchBuilt: string;
  cudaAvailable: boolean;
  devices: NativeDevice[];
  cudnnVersion: number | null;
  threads: number;
  cpu: NativeCpuInfo;
  cudnnBenchmark: boolean;
  /** Why training steps cannot run as CUDA graphs here (native/core/step_graph.h); null when they can. */
  cudaGraphsUnavailable: string | null;
}

export interface DeviceCheck {
  device: string;
  checksum: number;
  milliseconds: number;
}

export type Architecture = 'resnet18' | 'studentNet';

/**
 * How a network computes: bf16 autocast and channels-last (NHWC) memory, as torch.autocast and channels_last.
 * 'auto': both where they pay, by measurement (native/core/model.cc autoPrecision): the teacher on a CPU with
 * native bf16; neither for the student, nor on CUDA.
 */
export interface Precision {
  autocast?: 'none' | 'bf16' | 'auto';
  channelsLast?: boolean | 'auto';
}

/** A model's precision with 'auto' resolved: what it computes in. */
export interface ResolvedPrecision {
  autocast: 'none' | 'bf16';
  channelsLast: boolean;
}

/** libtorch's CPU allocator in kdtorch (native/core/cpu_block_cache.h): large blocks reused, not mapped anew. */
export interface CpuBlockCacheStats {
  cachedBytes: number;
  liveBytes: number;
  limitBytes: number;
  hits: number;
  misses: number;
}

/** Every field the network uses is given: native/core/model.h has no defaults of its own. */
export interface NativeModelSpec extends Precision {
  architecture: Architecture;
  numClasses: number;
  inChannels: number;
  /** studentNet only. */
  inputSize?: number;
  width?: number;
  device?: string;
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

/** The augmentation native/core/augment.h runs; a transform left out is off (lib/data/augment.ts builds it). */
export interface NativeAugmentSpec {
  resizedCrop?: { scale: [number, number]; ratio: [number, number] };
  affine?: {
    degrees: number;
    translate: [number, number];
    scale: [number, number];
    shearX: [number, number];
    shearY: [number, number];
  };
  rotation?: { degrees: number };
  colorJitter?: { brightness: number; contrast: number; saturation: number };
  erasing?: { p: number; scale: [number, number]; ratio: [number, number] };
  interpolation: 'bilinear' | 'nearest';
}

/** One image's sampled view, with torchvision.transforms.v2.functional's parameters. */
export interface NativeViewParams {
  /** top, left, height, width of the resized crop */
  crop: [number, number, number, number];
  /** F.affine: degrees clockwise, pixels, factor, degrees */
  angle: number;
  translate: [number, number];
  scale: number;
  shear: [number, number];
  /** F.rotate: degrees counter-clockwise */
  rotation: number;
  brightness: number;
  contrast: number;
  saturation: number;
  /** The order of the colour adjustments: 0 brightness, 1 contrast, 2 saturation. */
  colorOrder: [number, number, number];
  /** top, left, height, width; height 0: nothing erased */
  erase: [number, number, number, number];
}

/** How uint8 NHWC pixels become the network's input on its device: flip, augment, then (x/255 - mean) / std. */
export interface NativePixelOptions {
  flip: Uint8Array;
  mean: number[];
  std: number[];
  /** With a NativePixelStore as the images: which of its rows the batch is. */
  rows?: Int32Array;
  /** Each image's view: its parameters are drawn from its seed. */
  augment?: { spec: NativeAugmentSpec; seeds: Uint32Array };
}

/** The (images, shape, pixel options) arguments every native call on images takes. */
export type NativeImages = [Float32Array | Uint8Array | NativePixelStore, number[], NativePixelOptions | undefined];

/** One native network. At most one call at a time: a second concurrent call rejects with E_BUSY. */
export interface NativeModel {
  forward(images: NativeImages[0], shape: number[], pixels?: NativePixelOptions): Promise<TensorData>;
  setTraining(on: boolean): Promise<void>;
  to(device: string): Promise<void>;
  loadWeights(path: string, options: { strict?: boolean; skip?: string[] }): Promise<LoadReport>;
  saveWeights(path: string, descriptionJson?: string): Promise<void>;
  /** Drops this object's hold on the network (E_RELEASED after); queued native jobs keep theirs until they end. */
  dispose(): void;
  parameterCount(): number;
  /** fp32 CPU copies of the state_dict's tensors, in its order. */
  stateDict(): Promise<Record<string, TensorData>>;
  readonly device: string;
  readonly precision: ResolvedPrecision;
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

/** The loss of every step (native/core/distill_loss.h): (1 - alpha) · CE + alpha · KD. Teacher and student-alone steps use the CE part. */
export interface NativeLossSpec {
  /** 'hinton': KL × T² averaged per sample; 'article': the article's nn.KLDivLoss() ('mean', no T²). */
  mode: 'hinton' | 'article';
  /** Weight of the distillation term; CE gets 1 - alpha. */
  alpha: number;
  temperature: number;
  labelSmoothing?: number;
  /** One weight per class for the cross-entropy term, as torch's CrossEntropyLoss(weight=...). */
  classWeights?: number[];
}

export interface NativeTrainerSpec {
  optimizer: NativeOptimizerSpec;
  loss: NativeLossSpec;
  freeze: 'none' | 'backbone';
  /** 'cuda': steps replayed from CUDA graphs (model on a CUDA device); 'replayed': the CPU stand-in, for tests. */
  stepGraphs?: 'none' | 'cuda' | 'replayed';
  /** The ranks to train with, DistributedDataParallel-style (native/core/process_group.h). */
  processGroup?: NativeProcessGroup;
  /** With processGroup: BatchNorm over the global batch in training forwards (native/core/sync_batch_norm.h). */
  syncBatchNorm?: boolean;
}

export interface NativeProcessGroupSpec {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  backend: 'gloo' | 'nccl';
}

export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  communication(): Communication;
  sum(values: Float64Array): Promise<Float64Array>;
}

/** Time in collectives and the bytes they moved since the group was made. */
export interface Communication {
  seconds: number;
  bytes: number;
  collectives: number;
  /** Gradient buckets whose all-reduce started during backward, overlapping it (the rest start after it). */
  overlappedBuckets: number;
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
  syncFromRankZero(): Promise<void>;
  saveCheckpoint(path: string, metadataJson: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
  /** Drops the optimizer state (E_RELEASED after); the models stay. */
  dispose(): void;
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
  /** Drops the sums and probabilities (E_RELEASED after). */
  dispose(): void;
}

export interface LossWithGradient {
  total: number;
  ce: number;
  kd: number;
  /** d total / d student logits, row-major [N, C] */
  grad: Float64Array;
}

/** The addon's exports (native/binding/addon.cc). */
export interface Addon {
  info(): Promise<NativeInfo>;
  checkDevice(device: string, size: number, seed: number): Promise<DeviceCheck>;
  setCudnnBenchmark(on: boolean): void;
  cpuBlockCache(): CpuBlockCacheStats;
  releaseCpuBlockCache(): void;
  createModel(spec: NativeModelSpec): Promise<NativeModel>;
  joinProcessGroup(spec: NativeProcessGroupSpec): Promise<NativeProcessGroup>;
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
    /** Refuses (E_IMAGE_TOO_LARGE) a header declaring more pixels; 0: no limit. */
    maxPixels: number,
  ): Promise<Buffer | null>;
  /** The `__metadata__` object of a safetensors file's header, checked as loadWeights checks it. */
  readSafetensorsMetadata(path: string): Promise<Record<string, string>>;
  augmentPixels(
    pixels: Uint8Array,
    shape: number[],
    options: NativePixelOptions,
  ): { images: Float32Array; views: NativeViewParams[] };
}
