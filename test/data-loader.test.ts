import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeAugmentSpec, type ViewCount, viewFlip, viewSeed } from '../lib/data/augment.js';
import { DataLoader, IMAGENET_MEAN, IMAGENET_STD } from '../lib/data/data-loader.js';
import { DecodeCache } from '../lib/data/decode-cache.js';
import { type Sample, scanImageFolder } from '../lib/data/image-folder.js';
import {
  augmentPixels,
  KdtorchError,
  type NativeAugmentSpec,
  type PixelBatch,
  PRESETS,
  studentNet,
} from '../lib/index.js';
import { writeImage } from './helpers/images.js';
import { python, tempDir } from './helpers/run.js';

const options = { height: 8, width: 8, channels: 3 } as const;
const root = tempDir('loader');
let samples: Sample[];

beforeAll(async () => {
  for (let i = 0; i < 10; i++) await writeImage(path.join(root, i < 4 ? 'cat' : 'dog', `${i}.png`), 8, 8, i * 20);
  samples = (await scanImageFolder(root)).samples;
});

async function collect(batches: AsyncIterable<PixelBatch>): Promise<PixelBatch[]> {
  const out: PixelBatch[] = [];
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

describe('DataLoader', () => {
  it('serves uint8 NHWC batches with labels, seeded shuffles and flip flags, and drops the last on request', async () => {
    const cache = new DecodeCache(options);
    const loader = new DataLoader(samples, cache, { batchSize: 4, seed: 1, hflip: 0.5 });
    const epoch0 = await collect(loader.epoch(0));
    expect(epoch0.map((b) => b.shape)).toEqual([
      [4, 8, 8, 3],
      [4, 8, 8, 3],
      [2, 8, 8, 3],
    ]);
    const decoded = await Promise.all(samples.map((s) => cache.get(s.path)));
    const seen: number[] = [];
    let flipped = 0;
    for (const batch of epoch0) {
      expect(batch.mean).toEqual(IMAGENET_MEAN);
      expect(batch.std).toEqual(IMAGENET_STD);
      for (let n = 0; n < batch.labels.length; n++) {
        const image = batch.pixels.subarray(n * 192, (n + 1) * 192);
        const match = decoded.findIndex((p) => Buffer.from(p).equals(Buffer.from(image)));
        expect(match).toBeGreaterThanOrEqual(0);
        seen.push(match);
        expect(batch.labels[n]).toBe(samples[match]?.label);
        flipped += batch.flip?.[n] ?? 0;
      }
    }
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // every image exactly once
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(10);

    const again = await collect(loader.epoch(0));
    expect(again.map((b) => [Array.from(b.pixels), Array.from(b.flip ?? [])])).toEqual(
      epoch0.map((b) => [Array.from(b.pixels), Array.from(b.flip ?? [])]),
    );
    const epoch1 = await collect(loader.epoch(1));
    expect(epoch1.map((b) => Array.from(b.labels))).not.toEqual(epoch0.map((b) => Array.from(b.labels)));

    const dropping = new DataLoader(samples, cache, { batchSize: 4, dropLast: true });
    expect((await collect(dropping.epoch(0))).length).toBe(2);
    expect(dropping.batchCount).toBe(2);
  });

  it('flips and normalises pixels natively exactly as torchvision’s RandomHorizontalFlip + Normalize would', async () => {
    const loader = new DataLoader(samples, new DecodeCache(options), { batchSize: 10, seed: 2, hflip: 0.5 });
    const [batch] = await collect(loader.epoch(0));
    const b = batch as PixelBatch;
    const data = new Float32Array(10 * 3 * 64);
    for (let n = 0; n < 10; n++)
      data.set(expected(b.pixels.subarray(n * 192, (n + 1) * 192), (b.flip?.[n] ?? 0) !== 0), n * 192);
    const model = await studentNet({ inputSize: 8 });
    await model.eval();
    const fromPixels = await model.forward(b);
    const fromFloats = await model.forward({ data, shape: [10, 3, 8, 8] });
    expect(Array.from(fromPixels.data).every((v, i) => Math.abs(v - (fromFloats.data[i] as number)) < 1e-5)).toBe(true);
  });

  it('reuses the pixel buffers of recycled batches, serving the same batches as without', async () => {
    const cache = new DecodeCache(options);
    const plain = new DataLoader(samples, cache, { batchSize: 1, seed: 4, hflip: 0.5 });
    const expectedBatches = (await collect(plain.epoch(0))).map((b) => Array.from(b.pixels));
    const recycling = new DataLoader(samples, cache, { batchSize: 1, seed: 4, hflip: 0.5, prefetch: 1 });
    const served: number[][] = [];
    const buffers = new Set<Uint8Array>();
    for await (const batch of recycling.epoch(0)) {
      served.push(Array.from(batch.pixels));
      buffers.add(batch.pixels);
      recycling.recycle(batch);
    }
    expect(served).toEqual(expectedBatches);
    // Ten batches; with one prefetched at most three are alive at once (the one served and the
    // next two), so they share three buffers.
    expect(buffers.size).toBe(3);

    // A batch handed back twice must not end up under two batches that are alive together.
    const careless = new DataLoader(samples, cache, { batchSize: 1, seed: 4, prefetch: 0 });
    const alive: Uint8Array[] = [];
    for await (const batch of careless.epoch(0)) {
      alive.push(batch.pixels);
      if (alive.length > 1) continue;
      careless.recycle(batch);
      careless.recycle(batch);
    }
    for (let i = 1; i < alive.length; i++) expect(alive[i], `batches ${i - 1} and ${i}`).not.toBe(alive[i - 1]);
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
    expect(batches.map((b) => Array.from(b.pixels))).toEqual(direct.map((b) => Array.from(b.pixels)));
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

  it("shards each epoch across ranks as PyTorch's DistributedSampler does: padded, strided, equal batch counts", async () => {
    const cache = new DecodeCache(options);
    const index = (batch: PixelBatch, decoded: Uint8Array[]) =>
      Array.from({ length: batch.labels.length }, (_, n) =>
        decoded.findIndex((p) => Buffer.from(p).equals(Buffer.from(batch.pixels.subarray(n * 192, (n + 1) * 192)))),
      );
    const decoded = await Promise.all(samples.map((s) => cache.get(s.path)));
    const theirs = python<number[][]>(
      'import json; from torch.utils.data import DistributedSampler as S; ' +
        'print(json.dumps([list(S(range(10), num_replicas=3, rank=r, shuffle=False)) for r in range(3)]))',
    );
    const ranks = [0, 1, 2].map(
      (rank) => new DataLoader(samples, cache, { batchSize: 2, shuffle: false, shard: { rank, count: 3 } }),
    );
    const ours = await Promise.all(
      ranks.map(async (l) => (await collect(l.epoch(0))).flatMap((b) => index(b, decoded))),
    );
    expect(ours).toEqual(theirs);
    for (const loader of ranks) expect(loader.batchCount).toBe(2);

    // Shuffled: every rank draws the same order, so together they serve each image, the first two twice.
    const shuffledRanks = [0, 1, 2].map(
      (rank) => new DataLoader(samples, cache, { batchSize: 4, seed: 5, hflip: 0.5, shard: { rank, count: 3 } }),
    );
    const served = await Promise.all(
      shuffledRanks.map(async (l) => (await collect(l.epoch(1))).flatMap((b) => index(b, decoded))),
    );
    expect(served.map((r) => r.length)).toEqual([4, 4, 4]);
    const counts = new Map<number, number>();
    for (const i of served.flat()) counts.set(i, (counts.get(i) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...counts.values()].filter((c) => c === 2)).toHaveLength(2);
    expect(() => new DataLoader(samples, cache, { batchSize: 2, shard: { rank: 3, count: 3 } })).toThrow(/shard/);
  });

  it('checks its options, naming the field', () => {
    const cache = new DecodeCache(options);
    expect(() => new DataLoader(samples, cache, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => new DataLoader(samples, cache, { batchSize: 2, mean: [0.5] })).toThrow(/mean needs 3 values/);
  });
});

describe('DataLoader views (data.augment)', () => {
  const spec = nativeAugmentSpec(PRESETS.recommended.data.augment) as NativeAugmentSpec;
  /** Each image's (view, seed, flip) in an epoch, by its position in the sample list. */
  const viewsOf = (batches: PixelBatch[]) =>
    new Map(
      batches.flatMap((b) =>
        [...(b.indices as Uint32Array)].map((p, n) => [
          p,
          { view: b.views?.[n], seed: b.augment?.seeds[n], flip: b.flip?.[n] },
        ]),
      ),
    );

  /** A loader of the samples with flips at 0.5 and the recommended augmentation. */
  const augmenting = (batchSize: number, seed: number, views: ViewCount) =>
    new DataLoader(samples, new DecodeCache(options), { batchSize, seed, hflip: 0.5, augment: { spec, views } });

  it("'live': a fresh view each epoch, each a function of (seed, image, epoch) alone, so epochs replay", async () => {
    const loader = augmenting(4, 3, 'live');
    const first = viewsOf(await collect(loader.epoch(0)));
    expect(viewsOf(await collect(loader.epoch(0)))).toEqual(first);
    const second = viewsOf(await collect(loader.epoch(1)));
    for (let p = 0; p < samples.length; p++) {
      expect(first.get(p)).toEqual({ view: 0, seed: viewSeed(3, p, 0), flip: viewFlip(3, p, 0, 0.5) ? 1 : 0 });
      expect(second.get(p)?.view).toBe(1);
      expect(second.get(p)?.seed).not.toBe(first.get(p)?.seed);
    }
  });

  it('K views: each epoch draws one of K per image; epoch(e, 0, k) serves view k, as training shows it', async () => {
    const loader = augmenting(3, 5, 3);
    const drawn = new Map<number, Set<number>>();
    for (let epoch = 0; epoch < 8; epoch++) {
      for (const [p, v] of viewsOf(await collect(loader.epoch(epoch)))) {
        expect(v.view).toBeLessThan(3);
        expect(v.seed).toBe(viewSeed(5, p, v.view as number));
        drawn.set(p, (drawn.get(p) ?? new Set()).add(v.view as number));
      }
    }
    // Over 8 epochs every image showed more than one of its views.
    expect([...drawn.values()].every((views) => views.size > 1)).toBe(true);
    const fixed = viewsOf(await collect(loader.epoch(0, 0, 2)));
    for (let p = 0; p < samples.length; p++) {
      expect(fixed.get(p)).toEqual({ view: 2, seed: viewSeed(5, p, 2), flip: viewFlip(5, p, 2, 0.5) ? 1 : 0 });
    }
  });

  it('the network sees the augmented views: a forward pass equals one on augmentPixels normalised', async () => {
    const loader = augmenting(10, 2, 'live');
    const [batch] = await collect(loader.epoch(0));
    const b = batch as PixelBatch;
    const { images } = augmentPixels(b.pixels, b.shape, b as Parameters<typeof augmentPixels>[2]);
    const data = images.map((v, i) => {
      const c = Math.floor(i / 64) % 3;
      return (v / 255 - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
    });
    const model = await studentNet({ inputSize: 8 });
    await model.eval();
    const augmented = await model.forward(b);
    const fromViews = await model.forward({ data, shape: [10, 3, 8, 8] });
    const plain = await model.forward({ ...b, augment: undefined });
    const close = (x: Float32Array, y: Float32Array) => x.every((v, i) => Math.abs(v - (y[i] as number)) < 1e-5);
    expect(close(augmented.data, fromViews.data)).toBe(true);
    expect(close(augmented.data, plain.data)).toBe(false);
  });
});
