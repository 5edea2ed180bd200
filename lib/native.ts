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
}

export interface DeviceCheck {
  device: string;
  checksum: number;
  milliseconds: number;
}

export interface TensorData {
  data: Float32Array;
  shape: number[];
}

export interface NativeModelSpec {
  architecture: 'studentNet';
  numClasses?: number;
  inputSize?: number;
  inChannels?: number;
  width?: number;
  device?: string;
}

/** One native network. At most one call at a time: a second concurrent call rejects with E_BUSY. */
export interface NativeModel {
  forward(data: Float32Array, shape: number[]): Promise<TensorData>;
  parameterCount(): number;
  readonly device: string;
}

interface Addon {
  info(): Promise<NativeInfo>;
  checkDevice(device: string, size: number, seed: number): Promise<DeviceCheck>;
  createModel(spec: NativeModelSpec): Promise<NativeModel>;
}

let loaded: LoadedAddon | undefined;

/** Loads libtorch and the addon on first use, so importing kdtorch never fails by itself. */
export function native(): LoadedAddon & { addon: Addon } {
  loaded ??= loadAddon();
  return loaded as LoadedAddon & { addon: Addon };
}

const KNOWN_CODES = new Set<string>(['E_BUSY', 'E_TORCH', 'E_NATIVE', 'E_INVALID_ARGUMENT', 'E_SHAPE_MISMATCH']);

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

export function createNativeModel(spec: NativeModelSpec): Promise<NativeModel> {
  return call(() => native().addon.createModel(spec));
}
