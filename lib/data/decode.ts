// Decoding one image file into the pixels the networks take, resized to an exact (H, W) like
// transforms.Resize((H, W)), as uint8 HWC with 3 channels (grey expanded, CMYK and 16-bit converted,
// alpha dropped) or 1 (grey). JPEGs go to the addon's libjpeg-turbo decoder, which gives PIL's
// pixels exactly and is several times faster than a libvips pipeline per image; every other format,
// and any JPEG it declines (CMYK, EXIF rotation, corrupt data), goes to sharp (libvips), which also
// applies EXIF orientations and words the errors.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { KdtorchError } from '../errors.js';
import { nativeDecodeJpeg } from '../native/addon.js';

export interface DecodeOptions {
  height: number;
  width: number;
  channels: 1 | 3;
  /** The most pixels an image may declare (default DEFAULT_MAX_PIXELS); larger ones throw E_IMAGE_TOO_LARGE. */
  maxPixels?: number;
}

/** PIL's Image.MAX_IMAGE_PIXELS, past which it warns of a decompression bomb (~ a 9459 × 9459 image). */
export const DEFAULT_MAX_PIXELS = 89_478_485;

export interface DecodeSettings {
  /** Decode JPEGs with the addon's libjpeg-turbo decoder (sharp takes what it declines). */
  nativeJpeg: boolean;
  /** sharp's resize kernel (the native decoder always resizes as PIL's bilinear). */
  kernel: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
  /** Let libjpeg shrink by 2/4/8 while decoding (faster on full-size JPEGs, no longer PIL's exact pixels). */
  fastShrinkOnLoad: boolean;
  /** Ignore embedded ICC profiles, as PIL's convert('RGB') does. */
  ignoreIcc: boolean;
}

// The native decoder without shrink-on-load gives PIL + torchvision's Resize bytes exactly on the
// chest X-ray data; sharp's settings are the closest it came for what sharp still decodes. Figures
// in docs/data-parity.md (npm run bench -- parity); test/build/decode-parity.test.ts holds us to them.
// Shrink-on-load stays off: exactness costs ~25% on full-size JPEGs, which still decode several
// times faster than PIL does.
export const DECODE_SETTINGS: DecodeSettings = {
  nativeJpeg: true,
  kernel: 'linear',
  fastShrinkOnLoad: false,
  ignoreIcc: true,
};

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
  const { height, width, channels, maxPixels = DEFAULT_MAX_PIXELS } = options;
  const { kernel, fastShrinkOnLoad, ignoreIcc } = settings;
  const tooLarge = (why: string, cause: unknown) =>
    new KdtorchError('E_IMAGE_TOO_LARGE', `${name}: ${why}`, { file: name, field: 'data.maxPixels', cause });
  if (settings.nativeJpeg && isJpeg(bytes)) {
    const pixels = await nativeDecodeJpeg(bytes, { height, width, channels, maxPixels }, fastShrinkOnLoad).catch(
      (error: KdtorchError) => {
        throw error.code === 'E_IMAGE_TOO_LARGE' ? tooLarge(error.message, error) : error;
      },
    );
    if (pixels) return new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  }
  try {
    const { data, info } = await sharp(bytes, { ignoreIcc, limitInputPixels: maxPixels })
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
    const message = (error as Error).message;
    if (message.includes('exceeds pixel limit')) {
      throw tooLarge(
        `it declares more pixels than the limit of ${maxPixels} (data.maxPixels; raise it if the image is genuine)`,
        error,
      );
    }
    throw new KdtorchError('E_BAD_IMAGE', `${name}: cannot decode as an image (${(error as Error).message.trim()})`, {
      file: name,
      cause: error,
    });
  }
}

/** JPEG's start-of-image marker followed by a marker's first byte. */
function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}
