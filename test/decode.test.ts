import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../lib/data/decode.js';
import { KdtorchError } from '../lib/index.js';
import { gradient, writeImage } from './helpers/images.js';
import { tempDir } from './helpers/run.js';

const dir = tempDir('decode');
const size = { height: 6, width: 8 };

describe('decodeImage', () => {
  it('resizes to the exact (H, W) asked, whatever the aspect ratio', async () => {
    const file = path.join(dir, 'wide.png');
    await writeImage(file, 64, 16);
    const pixels = await decodeImage(file, { height: 24, width: 20, channels: 3 });
    expect(pixels.length).toBe(24 * 20 * 3);
  });

  it('returns an unscaled PNG’s pixels exactly, as uint8 HWC', async () => {
    const file = path.join(dir, 'exact.png');
    await writeImage(file, size.width, size.height);
    const pixels = await decodeImage(file, { ...size, channels: 3 });
    expect(Buffer.from(pixels)).toEqual(gradient(size.width, size.height));
  });

  it('expands grey to three equal channels, or keeps one with channels: 1', async () => {
    const file = path.join(dir, 'grey.png');
    await sharp(Buffer.from(Array.from({ length: 48 }, (_, i) => i * 5)), { raw: { width: 8, height: 6, channels: 1 } })
      .png()
      .toFile(file);
    const rgb = await decodeImage(file, { ...size, channels: 3 });
    const grey = await decodeImage(file, { ...size, channels: 1 });
    expect(Array.from(grey)).toEqual(Array.from({ length: 48 }, (_, i) => i * 5));
    for (let i = 0; i < 48; i++)
      expect([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]]).toEqual([grey[i], grey[i], grey[i]]);
  });

  it('drops alpha, converts 16-bit and CMYK to 8-bit sRGB', async () => {
    const rgba = path.join(dir, 'rgba.png');
    const withAlpha = Buffer.alloc(48 * 4, 200);
    await sharp(withAlpha, { raw: { width: 8, height: 6, channels: 4 } })
      .png()
      .toFile(rgba);
    expect(Array.from(await decodeImage(rgba, { ...size, channels: 3 })).every((v) => v === 200)).toBe(true);

    const deep = path.join(dir, 'deep.png');
    await sharp(gradient(8, 6), { raw: { width: 8, height: 6, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toFile(deep);
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    const fromDeep = await decodeImage(deep, { ...size, channels: 3 });
    expect(
      Math.max(...Array.from(fromDeep, (v, i) => Math.abs(v - (gradient(8, 6)[i] as number)))),
    ).toBeLessThanOrEqual(1);

    const cmyk = path.join(dir, 'cmyk.jpg');
    await sharp(Buffer.alloc(48 * 3, 128), { raw: { width: 8, height: 6, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 100 })
      .toFile(cmyk);
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const fromCmyk = await decodeImage(cmyk, { ...size, channels: 3 });
    expect(fromCmyk.length).toBe(48 * 3);
    // CMYK → sRGB goes through ICC profiles and is not an exact inverse: a neutral grey stays a uniform grey.
    expect(Math.max(...fromCmyk) - Math.min(...fromCmyk)).toBeLessThanOrEqual(4);
    expect(Math.abs((fromCmyk[0] as number) - 128)).toBeLessThanOrEqual(20);
  });

  it('applies the EXIF orientation', async () => {
    const file = path.join(dir, 'rotated.jpg');
    // Stored 6 wide × 8 high with orientation 6 (rotate 90° clockwise to view): it shows 8 wide × 6 high.
    await sharp(gradient(6, 8), { raw: { width: 6, height: 8, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toFile(file);
    const upright = await sharp(gradient(6, 8), { raw: { width: 6, height: 8, channels: 3 } })
      .rotate(90)
      .raw()
      .toBuffer();
    const decoded = await decodeImage(file, { height: 6, width: 8, channels: 3 });
    const error = Array.from(decoded, (v, i) => Math.abs(v - (upright[i] as number)));
    expect(error.reduce((a, b) => a + b, 0) / error.length).toBeLessThan(4); // JPEG's loss only
  });

  it('names the file and the reason for corrupt, truncated, empty, foreign and unreadable files', async () => {
    const good = path.join(dir, 'good.jpg');
    await writeImage(good, 64, 64);
    const cases: [string, () => void][] = [
      [
        'truncated.jpg',
        () => fs.writeFileSync(path.join(dir, 'truncated.jpg'), fs.readFileSync(good).subarray(0, 600)),
      ],
      ['empty.jpg', () => fs.writeFileSync(path.join(dir, 'empty.jpg'), '')],
      ['text.jpg', () => fs.writeFileSync(path.join(dir, 'text.jpg'), 'this is not a JPEG\n')],
      ['dangling.jpg', () => fs.symlinkSync(path.join(dir, 'gone.jpg'), path.join(dir, 'dangling.jpg'))],
    ];
    for (const [name, make] of cases) {
      make();
      const file = path.join(dir, name);
      const error = await decodeImage(file, { ...size, channels: 3 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(KdtorchError);
      expect((error as KdtorchError).code, name).toBe('E_BAD_IMAGE');
      expect((error as KdtorchError).file, name).toBe(file);
      expect((error as Error).message, name).toMatch(
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot (decode as an image|read) \\(.+\\)`),
      );
    }
  });
});
