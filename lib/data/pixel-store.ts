// The decode cache copied once into one uint8 tensor on a model's device (for a GPU run, its
// memory: the whole Kaggle train split at 224² is 0.8 GB). Batches drawn from it carry only row
// numbers and flip flags; gathering, flipping and normalising happen on the device.
import { KdtorchError } from '../errors.js';
import { call, createNativePixelStore, nativeInfo } from '../native/addon.js';
import type { Model } from '../native/model.js';
import type { NativePixelStore } from '../native/wire.js';
import type { DecodeCache } from './decode-cache.js';
import type { Sample } from './image-folder.js';

/** Images copied per call: big enough to amortise a call, small enough not to hold much memory twice. */
const CHUNK_IMAGES = 64;

/** The share of a GPU's memory that data.deviceCache 'auto' gives the training images; the rest is training's. */
export const DEVICE_CACHE_SHARE = 0.25;

/**
 * Whether a phase on `device` keeps its `pixelBytes` of training images there (data.deviceCache): as set,
 * or for 'auto' on a CUDA device of `deviceMemoryBytes` when they fit in DEVICE_CACHE_SHARE of it.
 */
export function usesDeviceCache(
  setting: boolean | 'auto',
  device: string,
  pixelBytes: number,
  deviceMemoryBytes: number,
): boolean {
  if (setting !== 'auto') return setting;
  return device.startsWith('cuda') && pixelBytes <= DEVICE_CACHE_SHARE * deviceMemoryBytes;
}

export class PixelStore {
  private constructor(
    readonly native: NativePixelStore,
    /** Row i holds samples[i] (zeros where the image could not be decoded; loaders skip or stop there). */
    readonly samples: readonly Sample[],
  ) {}

  /**
   * A store of `samples` on `model`'s device when data.deviceCache (`setting`) says so (usesDeviceCache).
   * When the device has no room: 'auto' trains from host pixels (other processes may hold the memory the
   * rule counted on); `true` is an E_INVALID_CONFIG naming the field.
   */
  static async forPhase(
    setting: boolean | 'auto',
    model: Model,
    samples: readonly Sample[],
    cache: DecodeCache,
  ): Promise<PixelStore | undefined> {
    const { height, width, channels } = cache.options;
    const bytes = samples.length * height * width * channels;
    const memory = setting === 'auto' ? await deviceMemory(model.device) : 0;
    if (!usesDeviceCache(setting, model.device, bytes, memory)) return undefined;
    try {
      return await PixelStore.fill(model, samples, cache);
    } catch (error) {
      if (!(error instanceof KdtorchError && error.code === 'E_OUT_OF_MEMORY')) throw error;
      if (setting === 'auto') return undefined;
      throw new KdtorchError(
        'E_INVALID_CONFIG',
        `data.deviceCache: the ${samples.length} training images (${(bytes / 2 ** 30).toFixed(1)} GiB) do not fit in ${model.device}'s memory; set data.deviceCache to 'auto' (held there only when they fit) or false`,
        { field: 'data.deviceCache', cause: error },
      );
    }
  }

  /** Decodes (or takes from `cache`) every sample and copies them, in order, to `model`'s device. */
  static async fill(model: Model, samples: readonly Sample[], cache: DecodeCache): Promise<PixelStore> {
    const { height, width, channels } = cache.options;
    const imageBytes = height * width * channels;
    const native = await model.run((handle) =>
      createNativePixelStore(handle, { count: samples.length, height, width, channels }),
    );
    const store = new PixelStore(native, samples);
    for (let first = 0; first < samples.length; first += CHUNK_IMAGES) {
      const chunk = samples.slice(first, first + CHUNK_IMAGES);
      const decoded = await Promise.all(chunk.map((s) => cache.get(s.path).catch(() => undefined)));
      const pixels = new Uint8Array(chunk.length * imageBytes);
      for (const [i, image] of decoded.entries()) if (image) pixels.set(image, i * imageBytes);
      await store.put(first, pixels);
    }
    return store;
  }

  /** Copies whole H×W×C images into rows first, first + 1, … (E_SHAPE_MISMATCH for a partial image). */
  put(first: number, pixels: Uint8Array): Promise<void> {
    return call(() => this.native.put(first, pixels));
  }

  /** Frees the pixels (await the calls that read them first); any later use is E_RELEASED. */
  release(): void {
    this.native.release();
  }

  get byteLength(): number {
    return this.native.byteLength;
  }
}

/** The total memory of a CUDA device ('cuda:N'); 0 for a CPU. */
async function deviceMemory(device: string): Promise<number> {
  if (!device.startsWith('cuda')) return 0;
  const { devices } = await nativeInfo();
  return devices[Number(device.split(':')[1] ?? 0)]?.totalMemoryBytes ?? 0;
}
