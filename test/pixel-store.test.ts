// data.deviceCache / PixelStore: the decoded training images copied once to the model's device,
// batches sent as row numbers. On a CPU the store lives in host memory, which runs the same code.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_CACHE_SHARE, usesDeviceCache } from '../lib/data/pixel-store.js';
import {
  DataLoader,
  DecodeCache,
  distill,
  type EpochRecord,
  type PixelBatch,
  PixelStore,
  type ProgressEvent,
  type Sample,
  scanImageFolder,
  studentNet,
  trainStudent,
  trainTeacher,
} from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { tempDir } from './helpers/run.js';
import { tinyChestXray, tinyConfig } from './helpers/tiny-dataset.js';

const untimed = (history: EpochRecord[]) => history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);

let data: string;
let samples: Sample[];
beforeAll(async () => {
  data = tinyChestXray();
  samples = (await scanImageFolder(path.join(data, 'train'))).samples;
});

describe('PixelStore', () => {
  it('serves batches whose logits equal those of the same pixels sent from the decode cache, flips included', async () => {
    const options = { height: 32, width: 32, channels: 3 } as const;
    const model = await studentNet({ inputSize: 32 });
    await model.eval();
    const cache = new DecodeCache(options);
    const store = await PixelStore.fill(model, samples, cache);
    expect(store.byteLength).toBe(samples.length * 32 * 32 * 3);
    const plain = new DataLoader(samples, cache, { batchSize: 5, seed: 3, hflip: 0.5 });
    const stored = new DataLoader(samples, cache, { batchSize: 5, seed: 3, hflip: 0.5, store });
    const fromPixels: PixelBatch[] = [];
    for await (const batch of plain.epoch(0)) fromPixels.push(batch);
    let n = 0;
    for await (const batch of stored.epoch(0)) {
      const twin = fromPixels[n++] as PixelBatch;
      expect(batch.store).toBe(store.native);
      expect(batch.pixels).toHaveLength(0); // nothing copied per batch
      expect(Array.from(batch.labels)).toEqual(Array.from(twin.labels));
      expect(Array.from(batch.flip ?? [])).toEqual(Array.from(twin.flip ?? []));
      const [a, b] = [await model.forward(batch), await model.forward(twin)];
      expect(Array.from(a.data)).toEqual(Array.from(b.data));
    }
    expect(n).toBe(fromPixels.length);
  });

  it('trains every phase with data.deviceCache exactly as without: same history, byte-identical weights', async () => {
    const starts: Record<string, string[]> = { false: [], true: [] };
    const runs = await Promise.all(
      [false, true].map(async (deviceCache) => {
        const config = tinyConfig(data, tempDir('device-cache'), { data: { root: data, deviceCache } });
        const onProgress = (event: ProgressEvent) => {
          // Each phase's opening line (distillation also announces its teacher outputs).
          if (event.type === 'phase' && event.state === 'start' && event.message.includes('epochs on')) {
            starts[String(deviceCache)]?.push(event.message);
          }
        };
        const options = { onProgress };
        return [
          await trainTeacher(config, options),
          await trainStudent(config, options),
          await distill(config, options),
        ];
      }),
    );
    // The phase's first line says where the images are.
    expect(starts.true?.map((m) => m.includes('training images held there'))).toEqual([true, true, true]);
    expect(starts.false?.map((m) => m.includes('held there'))).toEqual([false, false, false]);
    const [without, withStore] = runs as [Awaited<ReturnType<typeof trainTeacher>>[], (typeof runs)[0]];
    for (const phase of [0, 1, 2]) {
      const [a, b] = [without[phase], withStore[phase]];
      expect(untimed(b?.history ?? [])).toEqual(untimed(a?.history ?? []));
      expect(fs.readFileSync(b?.bestCheckpoint as string).equals(fs.readFileSync(a?.bestCheckpoint as string))).toBe(
        true,
      );
    }
  }, 120_000);

  it("'auto' holds the images on a CUDA device when they fit in a quarter of its memory, never on a CPU", () => {
    const gib = 2 ** 30;
    const trainSplit = 5216 * 224 * 224 * 3; // the Kaggle train split at 224²: 0.73 GiB
    expect(usesDeviceCache('auto', 'cuda:0', trainSplit, 141 * gib)).toBe(true); // an H200
    expect(usesDeviceCache('auto', 'cuda:1', trainSplit, 2 * gib)).toBe(false); // a small GPU
    expect(usesDeviceCache('auto', 'cuda', DEVICE_CACHE_SHARE * 8 * gib, 8 * gib)).toBe(true); // exactly the share
    expect(usesDeviceCache('auto', 'cpu', 1, 141 * gib)).toBe(false);
    expect(usesDeviceCache(true, 'cpu', trainSplit, 0)).toBe(true);
    expect(usesDeviceCache(false, 'cuda:0', 1, 141 * gib)).toBe(false);
  });

  it('names data.deviceCache when the images do not fit in the device memory', async () => {
    const model = await studentNet({ inputSize: 32 });
    // 4,000 images of 30,000² × 3 bytes: 10 TiB, more than any test machine holds.
    const huge = new DecodeCache({ height: 30_000, width: 30_000, channels: 3 });
    const many = Array.from({ length: 4000 }, (_, i) => ({ path: `/nowhere/${i}.jpeg`, label: 0 }));
    const error = await rejection(PixelStore.forPhase(true, model, many, huge));
    expect(error).toMatchObject({ code: 'E_INVALID_CONFIG', field: 'data.deviceCache' });
    expect(error.message).toMatch(/4000 training images \(10058\.3 GiB\) do not fit in cpu's memory.*'auto'.*false/);
  });

  it('refuses rows outside the store, shapes that do not fit it, partial images and another sample list', async () => {
    const model = await studentNet({ inputSize: 32 });
    const cache = new DecodeCache({ height: 32, width: 32, channels: 3 });
    const store = await PixelStore.fill(model, samples.slice(0, 4), cache);
    const batch = (rows: number[], shape = [rows.length, 32, 32, 3]) => ({
      pixels: new Uint8Array(0),
      store: store.native,
      rows: Int32Array.from(rows),
      shape,
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    expect((await rejection(model.forward(batch([0, 4])))).message).toMatch(/row index out of range 0\.\.3/);
    expect((await rejection(model.forward(batch([0], [1, 16, 16, 3])))).code).toBe('E_SHAPE_MISMATCH');
    expect((await rejection(model.forward(batch([0, 1], [3, 32, 32, 3])))).message).toMatch(/one store row per image/);
    expect((await rejection(store.put(0, new Uint8Array(100)))).code).toBe('E_SHAPE_MISMATCH');
    expect(() => new DataLoader(samples, cache, { batchSize: 2, store })).toThrow(/filled from the samples/);

    // Once released (a phase's end), the store refuses every use with E_RELEASED.
    expect((await model.forward(batch([2, 3]))).shape).toEqual([2, 2]);
    store.release();
    expect((await rejection(model.forward(batch([2, 3])))).code).toBe('E_RELEASED');
    expect((await rejection(store.put(0, new Uint8Array(32 * 32 * 3)))).message).toMatch(/released.*PixelStore\.fill/);
    expect(() => store.byteLength).toThrow(/released/);
  });
});
