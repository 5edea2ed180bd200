import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Batch, resnet18, studentNet, Trainer } from '../lib/index.js';
import { maxAbsDiff, reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

// These options exist for CUDA; they are device-independent in libtorch, so CI runs them on the CPU.
const dir = tempDir('precision');
const spec = { arch: 'resnet18', numClasses: 2 };
const weights = path.join(dir, 'r.safetensors');
let batch: Batch & { files: object };

beforeAll(() => {
  reference('make-weights', { ...spec, safetensors: weights, seed: 20 });
  batch = referenceBatch(dir, [4, 3, 64, 64], 21);
});

/** Eval logits of the shared weights with `options`, from kdtorch and from PyTorch with the same options. */
async function logitsBothWays(options: { channelsLast?: boolean; autocast?: 'bf16' }) {
  const model = await resnet18(options);
  await model.loadWeights(weights);
  await model.eval();
  const ours = await model.forward({ data: batch.images, shape: batch.shape });
  const theirs = reference<{ logits: number[] }>('forward', {
    ...spec,
    ...batch.files,
    shape: batch.shape,
    weights,
    ...options,
  });
  return { ours, theirs };
}

describe('precision and memory format', () => {
  it('channels-last gives PyTorch’s channels-last logits to 1e-4', async () => {
    const { ours, theirs } = await logitsBothWays({ channelsLast: true });
    expect(maxAbsDiff(ours.data, theirs.logits)).toBeLessThanOrEqual(1e-4);
  });

  it('bf16 autocast gives torch.autocast(bfloat16) logits, and differs from fp32 as bf16 does', async () => {
    const { ours, theirs } = await logitsBothWays({ autocast: 'bf16' });
    const fp32 = reference<{ logits: number[] }>('forward', { ...spec, ...batch.files, shape: batch.shape, weights });
    expect(maxAbsDiff(ours.data, theirs.logits)).toBeLessThanOrEqual(1e-2);
    expect(maxAbsDiff(ours.data, fp32.logits)).toBeGreaterThan(1e-5);
  });

  it('trains with autocast and channels-last together: a distillStep lowers the loss on its batch', async () => {
    const teacher = await resnet18({ autocast: 'bf16', channelsLast: true });
    await teacher.loadWeights(weights);
    const student = await studentNet({ inputSize: 64, autocast: 'bf16', channelsLast: true });
    const trainer = await Trainer.create(student, {
      // Small steps: with a batch of 4, Adam at 1e-3 oscillates in fp32 as much as in bf16.
      optimizer: { name: 'adam', lr: 1e-4 },
      loss: { mode: 'hinton', alpha: 0.5, temperature: 2 },
      teacher,
    });
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      await trainer.distillStep(batch);
      const m = await trainer.takeMetrics();
      losses.push(m.lossSum / m.count);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
  });

  it('refuses an unknown autocast type', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: an invalid value on purpose
    await expect(studentNet({ autocast: 'fp8' as any })).rejects.toThrow(
      "autocast must be 'none' or 'bf16', got 'fp8'",
    );
  });
});
