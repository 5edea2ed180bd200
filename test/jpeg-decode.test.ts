import fs from 'node:fs';
import path from 'node:path';
import sharp, { type JpegOptions } from 'sharp';
import { describe, expect, it } from 'vitest';
import { DECODE_SETTINGS, decodeImage } from '../lib/data/decode.js';
import { nativeDecodeJpeg } from '../lib/native/addon.js';
import { dataReference, gradient } from './helpers/images.js';
import { tempDir } from './helpers/run.js';

const dir = tempDir('jpeg-decode');

/** PIL's Image.open(f).convert("RGB") + transforms.Resize((height, width)) of each file, concatenated. */
function pilPixels(files: string[], height: number, width: number): Buffer {
  const out = path.join(dir, `pil-${height}x${width}.u8`);
  dataReference('pixels', { files, height, width, out });
  return fs.readFileSync(out);
}

async function jpeg(name: string, width: number, height: number, options: JpegOptions, grey = false) {
  const file = path.join(dir, name);
  const image = sharp(gradient(width, height, 11), { raw: { width, height, channels: 3 } });
  await (grey ? image.toColourspace('b-w') : image).jpeg(options).toFile(file);
  return file;
}

describe('native JPEG decoding (libjpeg-turbo in the addon)', () => {
  it('gives the bytes of PIL + transforms.Resize for grey, 4:2:0, 4:4:4 and progressive JPEGs, shrinking and enlarging', {
    timeout: 60_000,
  }, async () => {
    const files = [
      await jpeg('grey.jpg', 97, 61, { quality: 90 }, true),
      await jpeg('colour-420.jpg', 97, 61, { quality: 90, chromaSubsampling: '4:2:0' }),
      await jpeg('colour-444.jpg', 50, 40, { quality: 90, chromaSubsampling: '4:4:4' }),
      await jpeg('progressive.jpg', 301, 203, { quality: 80, progressive: true }),
    ];
    for (const [height, width] of [
      [48, 64], // smaller in both directions
      [130, 80], // taller, narrower: one direction enlarged
      [61, 97], // some files at their own size: no resampling at all
    ] as const) {
      const reference = pilPixels(files, height, width);
      const imageBytes = height * width * 3;
      for (const [i, file] of files.entries()) {
        const ours = await decodeImage(file, { height, width, channels: 3 });
        expect(
          Buffer.from(ours).equals(reference.subarray(i * imageBytes, (i + 1) * imageBytes)),
          `${file} at ${height}×${width}`,
        ).toBe(true);
      }
    }
  });

  it('decodes a grey JPEG to one channel equal to each channel of its RGB decode', async () => {
    const file = await jpeg('grey-one.jpg', 40, 30, { quality: 85 }, true);
    const grey = await decodeImage(file, { height: 20, width: 25, channels: 1 });
    const rgb = await decodeImage(file, { height: 20, width: 25, channels: 3 });
    expect(grey.length).toBe(20 * 25);
    expect(Array.from(rgb.filter((_, i) => i % 3 === 1))).toEqual(Array.from(grey));
  });

  it('declines (resolves null, for sharp to decode) what it does not handle exactly', async () => {
    const plain = await jpeg('plain.jpg', 32, 24, { quality: 90 });
    const size = { height: 16, width: 16, channels: 3 } as const;
    expect(await nativeDecodeJpeg(fs.readFileSync(plain), size, false)).toBeInstanceOf(Buffer);

    const rotated = path.join(dir, 'rotated.jpg');
    await sharp(fs.readFileSync(plain)).withMetadata({ orientation: 6 }).toFile(rotated);
    const cmyk = path.join(dir, 'cmyk.jpg');
    await sharp(gradient(16, 16), { raw: { width: 16, height: 16, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toFile(cmyk);
    const bytes = fs.readFileSync(plain);
    const truncated = bytes.subarray(0, bytes.length / 2);
    expect(await nativeDecodeJpeg(fs.readFileSync(rotated), size, false), 'EXIF orientation 6').toBeNull();
    expect(await nativeDecodeJpeg(fs.readFileSync(cmyk), size, false), 'CMYK').toBeNull();
    expect(await nativeDecodeJpeg(truncated, size, false), 'truncated').toBeNull();
    expect(await nativeDecodeJpeg(Buffer.from('not a JPEG'), size, false), 'not a JPEG').toBeNull();
    expect(
      await nativeDecodeJpeg(fs.readFileSync(plain), { ...size, channels: 1 }, false),
      'colour as 1 channel',
    ).toBeNull();
  });

  it('shrinks on load only when asked, and then stays close to the exact pixels', { timeout: 60_000 }, async () => {
    const file = await jpeg('large.jpg', 1200, 900, { quality: 90 });
    const size = { height: 64, width: 80, channels: 3 } as const;
    const reference = pilPixels([file], size.height, size.width);
    const exact = await decodeImage(file, size, { ...DECODE_SETTINGS, fastShrinkOnLoad: false });
    const shrunk = await decodeImage(file, size, { ...DECODE_SETTINGS, fastShrinkOnLoad: true });
    expect(Buffer.from(exact).equals(reference)).toBe(true);
    // libjpeg's 1/4 scaling (1200×900 → 300×225, still ≥ 2× the target) is a different filter, so
    // a few levels apart on a smooth gradient; any larger gap would mean a wrong scale or offset.
    const diffs = Array.from(shrunk, (v, i) => Math.abs(v - (reference[i] as number)));
    expect(Math.max(...diffs)).toBeGreaterThan(0);
    expect(diffs.reduce((a, b) => a + b, 0) / diffs.length).toBeLessThan(2);
  });
});
