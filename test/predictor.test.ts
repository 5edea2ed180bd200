// Predictor: concurrent single-image requests answered in batches, each as predict() answers it alone.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DescribedModel, KdtorchError, type Prediction, Predictor, predict, studentNet } from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { maxAbsDiff, reference } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';
import { chestStudent, DEMO_DATA } from './helpers/tiny-dataset.js';

async function described(): Promise<DescribedModel> {
  const weights = path.join(tempDir('predictor'), 'w.safetensors');
  reference('make-weights', { arch: 'studentNet', inputSize: 64, safetensors: weights, seed: 13 });
  const model = await studentNet({ inputSize: 64 });
  await model.loadWeights(weights);
  return { model, description: chestStudent(64) };
}

const images = ['NORMAL', 'PNEUMONIA'].flatMap((name) => {
  const folder = path.join(DEMO_DATA, 'test', name);
  return fs
    .readdirSync(folder)
    .sort()
    .slice(0, 20)
    .map((f) => fs.readFileSync(path.join(folder, f)));
});

describe('Predictor', () => {
  it('answers 40 concurrent requests in batches of at most maxBatch, each as predict() alone', async () => {
    const m = await described();
    const alone: Prediction[] = [];
    for (const image of images) alone.push(...(await predict(m, [image])));
    const predictor = await Predictor.create(m, { maxBatch: 16, maxWaitMs: 5 });
    const batched = await Promise.all(images.map((image) => predictor.predict(image)));
    expect(predictor.stats.images).toBe(40);
    // 40 requests at once: at least ⌈40 / 16⌉ calls, and far fewer than one per request.
    expect(predictor.stats.batches).toBeGreaterThanOrEqual(3);
    expect(predictor.stats.batches).toBeLessThanOrEqual(8);
    expect(batched.map((p) => p.class)).toEqual(alone.map((p) => p.class));
    const probabilities = (ps: Prediction[]) => ps.flatMap((p) => Object.values(p.probabilities));
    expect(maxAbsDiff(probabilities(batched), probabilities(alone))).toBeLessThanOrEqual(1e-6);
  });

  it('rejects only the bad image of a batch, and refuses requests once closed', async () => {
    const predictor = await Predictor.create(await described(), { maxBatch: 8 });
    const requests = images.slice(0, 6).map((image) => predictor.predict(image));
    const bad = predictor.predict(new Uint8Array([1, 2, 3]));
    const results = await Promise.allSettled([...requests, bad]);
    expect(results.slice(0, 6).every((r) => r.status === 'fulfilled')).toBe(true);
    const error = await rejection(bad);
    expect(error).toBeInstanceOf(KdtorchError);
    expect(error.code).toBe('E_BAD_IMAGE');
    await predictor.close();
    expect((await rejection(predictor.predict(images[0] as Uint8Array))).code).toBe('E_RELEASED');
    expect((await rejection(Predictor.create(await described(), { maxBatch: 0 }))).field).toBe('maxBatch');
  });
});
