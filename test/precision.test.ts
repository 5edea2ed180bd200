import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Batch, info, resnet18, studentNet, Trainer } from '../lib/index.js';
import { maxAbsDiff, reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

// bf16 autocast and channels-last on the CPU (oneDNN), the same code paths CUDA takes; CI runs them here.
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

/** kdtorch's bf16 weights after a step are PyTorch's bf16 step's, far closer to them than bf16 is to fp32. */
function expectBf16StepOfPyTorch(ours: string, theirsBf16: string, theirsFp32: string) {
  const same = reference<{ maxAbsDiff: number }>('compare', { a: ours, b: theirsBf16 }).maxAbsDiff;
  const precisionGap = reference<{ maxAbsDiff: number }>('compare', { a: theirsBf16, b: theirsFp32 }).maxAbsDiff;
  expect(precisionGap).toBeGreaterThan(1e-5);
  expect(same).toBeLessThanOrEqual(precisionGap / 10);
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

  it('trains with autocast and channels-last together as torch.autocast(bfloat16) + channels_last does', async () => {
    const studentSpec = { arch: 'studentNet', numClasses: 2, inputSize: 64, width: 4 };
    const studentWeights = path.join(dir, 's.safetensors');
    reference('make-weights', { ...studentSpec, safetensors: studentWeights, seed: 22 });
    const options = {
      optimizer: { name: 'sgd' as const, lr: 0.05 },
      loss: { mode: 'hinton' as const, alpha: 0, temperature: 1 },
    };
    const step = async (precision: { autocast?: 'bf16'; channelsLast?: boolean }) => {
      const student = await studentNet({ inputSize: 64, ...precision });
      await student.loadWeights(studentWeights);
      const trainer = await Trainer.create(student, options);
      await trainer.studentStep(batch);
      const file = path.join(dir, `s-${precision.autocast ?? 'fp32'}-ours.safetensors`);
      await student.saveWeights(file);
      return file;
    };
    const theirs = (precision: object, out: string) => {
      reference('step', {
        model: { ...studentSpec, weights: studentWeights },
        ...batch.files,
        shape: batch.shape,
        ...options,
        ...precision,
        out,
      });
      return out;
    };
    const bf16 = { autocast: 'bf16' as const, channelsLast: true };
    const oursBf16 = await step(bf16);
    const theirsBf16 = theirs(bf16, path.join(dir, 's-bf16-theirs.safetensors'));
    const theirsFp32 = theirs({}, path.join(dir, 's-fp32-theirs.safetensors'));
    expectBf16StepOfPyTorch(oursBf16, theirsBf16, theirsFp32);
  });

  it('distils in bf16 + channels-last, teacher and student, as PyTorch does', async () => {
    const studentSpec = { arch: 'studentNet', numClasses: 2, inputSize: 64, width: 4 };
    const studentWeights = path.join(dir, 'kd-s.safetensors');
    reference('make-weights', { ...studentSpec, safetensors: studentWeights, seed: 23 });
    const loss = { mode: 'hinton' as const, alpha: 0.5, temperature: 2 };
    const options = { optimizer: { name: 'sgd' as const, lr: 0.05 }, loss };
    const bf16 = { autocast: 'bf16' as const, channelsLast: true };
    const ours = async () => {
      const teacher = await resnet18(bf16);
      await teacher.loadWeights(weights);
      const student = await studentNet({ inputSize: 64, ...bf16 });
      await student.loadWeights(studentWeights);
      const trainer = await Trainer.create(student, { ...options, teacher });
      await trainer.distillStep(batch);
      const file = path.join(dir, 'kd-bf16-ours.safetensors');
      await student.saveWeights(file);
      return file;
    };
    const theirs = (precision: object, out: string) => {
      reference('step', {
        model: { ...studentSpec, weights: studentWeights },
        teacher: { ...spec, weights, ...precision },
        ...batch.files,
        shape: batch.shape,
        ...options,
        ...precision,
        out,
      });
      return out;
    };
    const oursBf16 = await ours();
    const theirsBf16 = theirs(bf16, path.join(dir, 'kd-bf16-theirs.safetensors'));
    const theirsFp32 = theirs({}, path.join(dir, 'kd-fp32-theirs.safetensors'));
    expectBf16StepOfPyTorch(oursBf16, theirsBf16, theirsFp32);
  });

  it("reads the CPU's bf16 support as PyTorch does, and 'auto' picks bf16 + channels-last for the teacher only there", async () => {
    const { cpu } = await info();
    const theirs = reference<{ avx512Bf16: boolean; amxBf16: boolean; onednn: boolean; name: string }>('cpu', {});
    expect(cpu).toMatchObject(theirs);
    expect(cpu.nativeBf16).toBe(cpu.onednn && (cpu.avx512Bf16 || cpu.amxBf16));
    const auto = { autocast: 'auto', channelsLast: 'auto' } as const;
    const teacher = await resnet18(auto);
    const student = await studentNet({ inputSize: 64, ...auto });
    // Either way the rule is checked; where the CPU lacks native bf16 the teacher must stay fp32.
    expect(teacher.precision).toEqual(
      cpu.nativeBf16 ? { autocast: 'bf16', channelsLast: true } : { autocast: 'none', channelsLast: false },
    );
    expect(student.precision).toEqual({ autocast: 'none', channelsLast: false });
    // Explicit settings are kept as given, 'auto' only fills in.
    expect((await resnet18({ autocast: 'none', channelsLast: true })).precision).toEqual({
      autocast: 'none',
      channelsLast: true,
    });
    expect((await studentNet({ inputSize: 64, autocast: 'bf16' })).precision).toEqual({
      autocast: 'bf16',
      channelsLast: false,
    });
  });

  it('refuses an unknown autocast type', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: an invalid value on purpose
    await expect(studentNet({ autocast: 'fp8' as any })).rejects.toThrow(
      "autocast must be 'none', 'bf16' or 'auto', got 'fp8'",
    );
    // biome-ignore lint/suspicious/noExplicitAny: an invalid value on purpose
    await expect(studentNet({ channelsLast: 'yes' as any })).rejects.toThrow(
      "channelsLast must be true, false or 'auto'",
    );
  });
});
