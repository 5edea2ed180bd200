import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeCache } from '../lib/data/decode-cache.js';
import { type Sample, scanImageFolder } from '../lib/data/image-folder.js';
import { DataLoader, IMAGENET_MEAN, IMAGENET_STD } from '../lib/data/loader.js';
import { type Batch, KdtorchError } from '../lib/index.js';
import { writeImage } from './helpers/images.js';
import { tempDir } from './helpers/run.js';

const options = { height: 8, width: 8, channels: 3 } as const;
const root = tempDir('loader');
let samples: Sample[];

beforeAll(async () => {
  for (let i = 0; i < 10; i++) await writeImage(path.join(root, i < 4 ? 'cat' : 'dog', `${i}.png`), 8, 8, i * 20);
  samples = (await scanImageFolder(root)).samples;
});

async function collect(batches: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

/** The normalised CHW image of `pixels`, mirrored or not. */
function expected(pixels: Uint8Array, mirrored: boolean): Float32Array {
  const out = new Float32Array(3 * 64);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const sx = mirrored ? 7 - x : x;
        out[c * 64 + y * 8 + x] =
          ((pixels[(y * 8 + sx) * 3 + c] as number) / 255 - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
      }
    }
  }
  return out;
}

const close = (a: Float32Array, b: Float32Array) => a.every((v, i) => Math.abs(v - (b[i] as number)) < 1e-5);

describe('DataLoader', () => {
  it('serves normalised NCHW batches with labels, seeded shuffles and flips, and drops the last on request', async () => {
    const cache = new DecodeCache(options);
    const loader = new DataLoader(samples, cache, { batchSize: 4, seed: 1, hflip: 0.5 });
    const epoch0 = await collect(loader.epoch(0));
    expect(epoch0.map((b) => b.shape)).toEqual([
      [4, 3, 8, 8],
      [4, 3, 8, 8],
      [2, 3, 8, 8],
    ]);
    const pixels = await Promise.all(samples.map((s) => cache.get(s.path)));
    let flipped = 0;
    const seen: number[] = [];
    for (const batch of epoch0) {
      for (let n = 0; n < batch.labels.length; n++) {
        const image = batch.images.subarray(n * 192, (n + 1) * 192);
        const match = pixels.findIndex((p) => close(image, expected(p, false)) || close(image, expected(p, true)));
        expect(match).toBeGreaterThanOrEqual(0);
        seen.push(match);
        expect(batch.labels[n]).toBe(samples[match]?.label);
        if (!close(image, expected(pixels[match] as Uint8Array, false))) flipped++;
      }
    }
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // every image exactly once
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(10);

    const again = await collect(loader.epoch(0));
    expect(again.map((b) => Array.from(b.images))).toEqual(epoch0.map((b) => Array.from(b.images)));
    const epoch1 = await collect(loader.epoch(1));
    expect(epoch1.map((b) => Array.from(b.labels))).not.toEqual(epoch0.map((b) => Array.from(b.labels)));

    const dropping = new DataLoader(samples, cache, { batchSize: 4, dropLast: true });
    expect((await collect(dropping.epoch(0))).length).toBe(2);
    expect(dropping.batchCount).toBe(2);
  });

  it('decodes each image once: later epochs and later runs (file cache) decode nothing', async () => {
    const cacheDir = tempDir('decode-cache');
    const first = new DecodeCache(options, cacheDir);
    const loader = new DataLoader(samples, first, { batchSize: 3 });
    await collect(loader.epoch(0));
    await collect(loader.epoch(1));
    expect(first.decoded).toBe(10);
    const second = new DecodeCache(options, cacheDir);
    const batches = await collect(new DataLoader(samples, second, { batchSize: 3, shuffle: false }).epoch(0));
    expect(second).toMatchObject({ decoded: 0, fromFiles: 10 });
    const direct = await collect(
      new DataLoader(samples, new DecodeCache(options), { batchSize: 3, shuffle: false }).epoch(0),
    );
    expect(batches.map((b) => Array.from(b.images))).toEqual(direct.map((b) => Array.from(b.images)));
    // A changed file is a new key: its pixels are decoded again.
    await writeImage(samples[0]?.path as string, 8, 8, 99);
    const third = new DecodeCache(options, cacheDir);
    await collect(new DataLoader(samples, third, { batchSize: 3 }).epoch(0));
    expect(third).toMatchObject({ decoded: 1, fromFiles: 9 });
  });

  it("stops at a bad image by default, naming it; with onBadImage: 'skip' leaves it out and reports it once", async () => {
    const bad = path.join(root, 'dog', 'broken.jpg');
    fs.writeFileSync(bad, 'not a jpeg');
    const withBad = (await scanImageFolder(root)).samples;
    const strict = new DataLoader(withBad, new DecodeCache(options), { batchSize: 4 });
    const error = await collect(strict.epoch(0)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KdtorchError);
    expect(error).toMatchObject({ code: 'E_BAD_IMAGE', file: bad });

    const reported: string[] = [];
    const lenient = new DataLoader(withBad, new DecodeCache(options), {
      batchSize: 4,
      onBadImage: 'skip',
      onSkip: (file) => reported.push(file),
    });
    for (const epoch of [0, 1]) {
      const batches = await collect(lenient.epoch(epoch));
      expect(batches.reduce((n, b) => n + b.labels.length, 0)).toBe(10);
    }
    expect(reported).toEqual([bad]);
    expect(lenient.skipped).toEqual([
      { file: bad, reason: expect.stringContaining(`${bad}: cannot decode as an image`) },
    ]);
    fs.rmSync(bad);
  });

  it('checks its options, naming the field', () => {
    const cache = new DecodeCache(options);
    expect(() => new DataLoader(samples, cache, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => new DataLoader(samples, cache, { batchSize: 2, mean: [0.5] })).toThrow(/mean needs 3 values/);
  });
});
