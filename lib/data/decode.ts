// Decoding one image file into the pixels the networks take: sharp (libvips) reads it, applies the
// EXIF orientation, resizes to an exact (H, W) like transforms.Resize((H, W)), and returns uint8
// HWC with 3 channels (grey expanded, CMYK and 16-bit converted, alpha dropped) or 1 (grey).
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { KdtorchError } from '../errors.js';

export interface DecodeOptions {
  height: number;
  width: number;
  channels: 1 | 3;
}

export interface DecodeSettings {
  kernel: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
  /** Let libjpeg shrink by 2/4/8 while decoding (much faster on full-size JPEGs). */
  fastShrinkOnLoad: boolean;
  /** Ignore embedded ICC profiles, as PIL's convert('RGB') does. */
  ignoreIcc: boolean;
}

// The settings that came closest to PIL + torchvision's Resize on the chest X-ray data; the
// figures are in docs/data-parity.md (npm run bench -- parity) and test/decode-parity.test.ts
// holds us to them.
export const DECODE_SETTINGS: DecodeSettings = { kernel: 'linear', fastShrinkOnLoad: true, ignoreIcc: true };

/** Decodes `file` to H×W×channels uint8. Throws E_BAD_IMAGE naming the file and libvips's reason. */
export async function decodeImage(
  file: string,
  options: DecodeOptions,
  settings: DecodeSettings = DECODE_SETTINGS,
): Promise<Uint8Array> {
  // Bytes read on libuv's pool, then decoded from memory: 10% faster on the 224-px copies than
  // letting libvips open the file itself (npm run bench -- data).
  const bytes = await readFile(file).catch((error: Error) => {
    throw new KdtorchError('E_BAD_IMAGE', `${file}: cannot read (${error.message})`, { file, cause: error });
  });
  return decodeBytes(bytes, options, file, settings);
}

/** decodeImage for an encoded image already in memory; `name` is what errors call it. */
export async function decodeBytes(
  bytes: Uint8Array,
  options: DecodeOptions,
  name: string,
  settings: DecodeSettings = DECODE_SETTINGS,
): Promise<Uint8Array> {
  const { height, width, channels } = options;
  const { kernel, fastShrinkOnLoad, ignoreIcc } = settings;
  try {
    const { data, info } = await sharp(bytes, { ignoreIcc })
      .rotate()
      .resize(width, height, { fit: 'fill', kernel, fastShrinkOnLoad })
      .removeAlpha()
      .toColourspace(channels === 3 ? 'srgb' : 'b-w')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== width || info.height !== height) {
      throw new Error(
        `decoded to ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×${channels}`,
      );
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new KdtorchError('E_BAD_IMAGE', `${name}: cannot decode as an image (${(error as Error).message.trim()})`, {
      file: name,
      cause: error,
    });
  }
}
