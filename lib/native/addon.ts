// The only file that touches the addon: it loads it once and wraps each export so that native
// rejections, which carry a `code`, become KdtorchErrors. The wire types are in wire.ts.
import { KdtorchError, NATIVE_ERROR_CODES } from '../errors.js';
import { type LoadedAddon, loadAddon } from './load-addon.js';
import type {
  Addon,
  CpuBlockCacheStats,
  DeviceCheck,
  LossWithGradient,
  NativeEvaluator,
  NativeInfo,
  NativeLossSpec,
  NativeModel,
  NativeModelSpec,
  NativePixelOptions,
  NativePixelStore,
  NativeProcessGroup,
  NativeProcessGroupSpec,
  NativeTrainer,
  NativeTrainerSpec,
  NativeViewParams,
} from './wire.js';

let loaded: LoadedAddon | undefined;

/** Loads libtorch and the addon on first use, so importing kdtorch never fails by itself. */
export function native(): LoadedAddon & { addon: Addon } {
  loaded ??= loadAddon();
  return loaded as LoadedAddon & { addon: Addon };
}

const NATIVE_CODES = new Set<string>(NATIVE_ERROR_CODES);

/** Turns an error thrown or rejected by the addon into a KdtorchError, keeping its message. */
export function toKdtorchError(error: unknown): unknown {
  if (error instanceof KdtorchError || !(error instanceof Error)) return error;
  const code = (error as Error & { code?: string }).code;
  if (code === undefined || !NATIVE_CODES.has(code)) return error;
  return new KdtorchError(code as (typeof NATIVE_ERROR_CODES)[number], error.message, { cause: error });
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

/** The counters of libtorch's CPU allocator in kdtorch (native/core/cpu_block_cache.h). */
export function cpuBlockCache(): CpuBlockCacheStats {
  return native().addon.cpuBlockCache();
}

/**
 * Unmaps the CPU blocks kept for reuse (live tensors keep theirs): a phase ends with it, so a process that
 * stops training does not go on holding a training step's peak memory.
 */
export function releaseCpuBlockCache(): void {
  native().addon.releaseCpuBlockCache();
}

export function createNativeModel(spec: NativeModelSpec): Promise<NativeModel> {
  return call(() => native().addon.createModel(spec));
}

export function joinNativeProcessGroup(spec: NativeProcessGroupSpec): Promise<NativeProcessGroup> {
  return call(() => native().addon.joinProcessGroup(spec));
}

export function createNativeTrainer(
  model: NativeModel,
  teacher: NativeModel | null,
  spec: NativeTrainerSpec,
): Promise<NativeTrainer> {
  return call(async () => new (native().addon.NativeTrainer)(model, teacher, spec));
}

/**
 * The fused distillation loss on its own, in float64 on the CPU: loss parts and d(total)/d(student logits)
 * for logits laid out [N, C]. For inspecting a loss setting and checking the fused gradient against autograd.
 */
export function distillationLoss(
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
  size: { height: number; width: number; channels: 1 | 3; maxPixels?: number },
  shrinkOnLoad: boolean,
): Promise<Buffer | null> {
  return call(() =>
    native().addon.decodeJpeg(bytes, size.height, size.width, size.channels, shrinkOnLoad, size.maxPixels ?? 0),
  );
}

/** An empty store of `count` H×W×C images on `model`'s device. */
export function createNativePixelStore(
  model: NativeModel,
  spec: { count: number; height: number; width: number; channels: number },
): Promise<NativePixelStore> {
  return call(() => native().addon.createPixelStore(model, spec));
}

/**
 * The augmented views of uint8 NHWC pixels, float N×C×H×W in pixel units (before normalising), with the
 * parameters each image drew (native/core/augment.h). On the CPU, on the calling thread: for looking at views.
 */
export function augmentPixels(
  pixels: Uint8Array,
  shape: number[],
  options: NativePixelOptions & { augment: NonNullable<NativePixelOptions['augment']> },
): { images: Float32Array; views: NativeViewParams[] } {
  try {
    return native().addon.augmentPixels(pixels, shape, options);
  } catch (error) {
    throw toKdtorchError(error);
  }
}

/** A safetensors file's `__metadata__`, read and checked by the native weights reader (native/core/safetensors.h). */
export function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  return call(() => native().addon.readSafetensorsMetadata(path));
}
