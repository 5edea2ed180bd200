// What kdtorch runs on: its version, the libtorch it was built for and found, and the devices.
import { native, nativeCheckDevice, nativeInfo } from './addon.js';
import { packageVersion } from './load-addon.js';
import type { DeviceCheck, NativeDevice } from './wire.js';

export interface Info {
  kdtorchVersion: string;
  torch: {
    /** The libtorch version the binary was compiled against. */
    built: string;
    /** The libtorch version found and loaded. */
    runtime: string;
    /** The CUDA version libtorch was built with, or null for a CPU-only libtorch. */
    cuda: string | null;
    cxx11abi: number;
    /** Where libtorch was found, and by which rule (LIBTORCH, KDTORCH_PYTHON, project venv, python3). */
    root: string;
    source: string;
  };
  binary: string;
  cudaAvailable: boolean;
  devices: NativeDevice[];
  cudnnVersion: number | null;
  threads: number;
  /** Whether cuDNN picks convolution algorithms by timing them (config `cudnnBenchmark`; process-wide). */
  cudnnBenchmark: boolean;
  /** Why config `cudaGraphs` cannot work here (no CUDA device, no kdtorch_cuda.so); null when it can. */
  cudaGraphsUnavailable: string | null;
}

export async function info(): Promise<Info> {
  const { libtorch, binary } = native();
  const runtime = await nativeInfo();
  return {
    kdtorchVersion: packageVersion(),
    torch: {
      built: runtime.torchBuilt,
      runtime: libtorch.version,
      cuda: libtorch.cuda,
      cxx11abi: libtorch.cxx11abi,
      root: libtorch.root,
      source: libtorch.source,
    },
    binary,
    cudaAvailable: runtime.cudaAvailable,
    devices: runtime.devices,
    cudnnVersion: runtime.cudnnVersion,
    threads: runtime.threads,
    cudnnBenchmark: runtime.cudnnBenchmark,
    cudaGraphsUnavailable: runtime.cudaGraphsUnavailable,
  };
}

export interface CheckDeviceOptions {
  device?: string;
  /** Side of the square matrices multiplied. Default 1024. */
  size?: number;
  seed?: number;
}

/**
 * Multiplies two seeded random matrices on `device` and returns the sum of the product: a real
 * computation that proves the device works, comparable with PyTorch's for the same seed.
 */
export function checkDevice({ device = 'auto', size = 1024, seed = 0 }: CheckDeviceOptions = {}): Promise<DeviceCheck> {
  return nativeCheckDevice(device, size, seed);
}
