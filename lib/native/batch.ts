// The ways images reach the native core: normalised float32 NCHW built by the caller, or uint8 NHWC
// pixels normalised and flipped natively on the model's device — handed over in a buffer (from the
// decode cache), or as rows of a PixelStore that already holds them on that device.
import type { NativeImages, NativePixelOptions, NativePixelStore, TensorData } from './wire.js';

export type { TensorData } from './wire.js';

/** uint8 pixels laid out [N, H, W, C], with the per-channel normalisation to apply. */
export interface PixelData {
  /** The pixels; empty when the images are rows of `store`. */
  pixels: Uint8Array;
  shape: number[];
  mean: number[];
  std: number[];
  /** One flag per image: non-zero flips it horizontally. Default: none flipped. */
  flip?: Uint8Array;
  /** A PixelStore already holding the images on the model's device, and which of its rows they are. */
  store?: NativePixelStore;
  rows?: Int32Array;
  /** The augmentation to run on the pixels, with each image's view seed (lib/data/augment.ts). */
  augment?: NativePixelOptions['augment'];
}

/** A training or evaluation batch: normalised images and their class indices. */
export interface Batch {
  images: Float32Array;
  shape: number[];
  labels: Int32Array;
}

/** A batch of uint8 pixels, as the DataLoader serves them. */
export interface PixelBatch extends PixelData {
  labels: Int32Array;
  /** Where each image sits in the loader's sample list: what per-image caches are keyed by. */
  indices?: Uint32Array;
  /** With augmentation: which of its views each image is (what the teacher-output cache is keyed by). */
  views?: Uint32Array;
}

/** The (images, shape, pixel options) arguments the native calls take. */
export function nativeImages(input: TensorData | PixelData | Batch | PixelBatch): NativeImages {
  if ('pixels' in input) {
    const flip = input.flip ?? new Uint8Array(input.shape[0] ?? 0);
    const options = { flip, mean: input.mean, std: input.std, ...(input.augment ? { augment: input.augment } : {}) };
    return input.store && input.rows
      ? [input.store, input.shape, { ...options, rows: input.rows }]
      : [input.pixels, input.shape, options];
  }
  return ['images' in input ? input.images : input.data, input.shape, undefined];
}
