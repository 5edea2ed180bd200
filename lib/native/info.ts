// What kdtorch runs on: its version, the libtorch it was built for and found, and the devices.
import { native, nativeCheckDevice, nativeInfo } from './addon.js';
import { packageVersion } from './load-addon.js';
import type { DeviceCheck, NativeInfo } from './wire.js';

/** The runtime's own facts (wire.ts NativeInfo), with the versions and files found to load it. */
export interface Info extends Omit<NativeInfo, 'torchBuilt'> {
  kdtorchVersion: string;
  torch: {
    /** The libtorch version the binary was compiled against. */
    built: string;
    /** The libtorch version found and loaded. */
    runtime: string;
    /** The CUDA version libtorch was built with, or null for a CPU-only libtorch. */
    cuda: string | null;
    cxx11abi: number;
    /** Where libtorch was found, and by which rule (libtorch.mjs findLibtorch). */
    root: string;
    source: string;
  };
  binary: string;
}

export async function info(): Promise<Info> {
  const { libtorch, binary } = native();
  const { torchBuilt, ...facts } = await nativeInfo();
  return {
    kdtorchVersion: packageVersion(),
    torch: {
      built: torchBuilt,
      runtime: libtorch.version,
      cuda: libtorch.cuda,
      cxx11abi: libtorch.cxx11abi,
      root: libtorch.root,
      source: libtorch.source,
    },
    binary,
    ...facts,
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
