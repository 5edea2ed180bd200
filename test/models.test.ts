import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Model, parameterCount, resnet18, studentNet, Trainer } from '../lib/index.js';
import { maxAbsDiff, reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

// float32 on the CPU, same kernels: differences come from summation order only (issue 3 asks ≤ 1e-4).
const LOGITS_TOLERANCE = 1e-4;

describe('ResNet-18', () => {
  const dir = tempDir('resnet');
  const spec = { arch: 'resnet18', numClasses: 2 };
  const weights = { safetensors: path.join(dir, 'r.safetensors'), pth: path.join(dir, 'r.pth') };
  let made: { parameters: number; keys: string[] };
  let model: Model;
  beforeAll(async () => {
    made = reference('make-weights', { ...spec, ...weights, seed: 1 });
    model = await resnet18({ numClasses: 2 });
  });

  /** `candidate`'s logits and torchvision's (from the safetensors weights) for a seeded batch of `n` 64² images. */
  async function logitsBothWays(candidate: Model, n: number, seed: number, train = false) {
    const batch = referenceBatch(dir, [n, 3, 64, 64], seed);
    const theirs = reference<{ logits: number[] }>('forward', {
      ...spec,
      ...batch.files,
      shape: batch.shape,
      weights: weights.safetensors,
      train,
    });
    const ours = await candidate.forward({ data: batch.images, shape: batch.shape });
    return { ours, theirs };
  }

  it('has torchvision’s 11,177,538 parameters for 2 classes and exactly its state_dict names', async () => {
    expect(model.parameterCount).toBe(11_177_538);
    expect(made.parameters).toBe(11_177_538);
    const ours = path.join(dir, 'ours.safetensors');
    await model.saveWeights(ours);
    const compared = reference<{ sameKeys: boolean }>('compare', { a: ours, b: weights.safetensors });
    expect(compared).toMatchObject({ sameKeys: true });
  });

  it('initialises as torchvision does: He fan-out convolutions, identity BatchNorm', async () => {
    const fresh = path.join(dir, 'fresh.safetensors');
    await (await resnet18({ numClasses: 2 })).saveWeights(fresh);
    const keys = ['layer4.0.conv1.weight', 'conv1.weight', 'bn1.weight', 'bn1.bias'];
    const s = reference<Record<string, { mean: number; std: number }>>('stats', { weights: fresh, keys });
    // kaiming_normal_(mode='fan_out'): std = sqrt(2 / (out_channels * k * k)); 1.2M samples → ±2%.
    expect(s['layer4.0.conv1.weight']?.std).toBeCloseTo(Math.sqrt(2 / (512 * 9)), 3);
    expect(Math.abs((s['conv1.weight']?.std ?? 0) / Math.sqrt(2 / (64 * 49)) - 1)).toBeLessThan(0.02);
    expect(s['bn1.weight']).toEqual({ mean: 1, std: 0 });
    expect(s['bn1.bias']).toEqual({ mean: 0, std: 0 });
  });

  it('gives torchvision’s eval logits from the same safetensors weights, to 1e-4', async () => {
    await model.loadWeights(weights.safetensors);
    await model.eval();
    const { ours, theirs } = await logitsBothWays(model, 4, 3);
    expect(ours.shape).toEqual([4, 2]);
    expect(maxAbsDiff(ours.data, theirs.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('gives torchvision’s train-mode logits (batch statistics) too', async () => {
    const fresh = await resnet18({ numClasses: 2 });
    await fresh.loadWeights(weights.safetensors);
    await fresh.train();
    const { ours, theirs } = await logitsBothWays(fresh, 4, 4, true);
    expect(maxAbsDiff(ours.data, theirs.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  // Eval forwards on the CPU keep each layer's BatchNorm-folded weights (native/core/conv_bn.h): every
  // later change to the weights or the running statistics must show in the next eval forward.
  it('follows loaded weights and updated running statistics after a cached eval forward', async () => {
    const changing = await resnet18({ numClasses: 2, seed: 7 });
    await changing.eval();
    const before = await logitsBothWays(changing, 2, 6);
    expect(maxAbsDiff(before.ours.data, before.theirs.logits)).toBeGreaterThan(100 * LOGITS_TOLERANCE);

    await changing.loadWeights(weights.safetensors);
    const loaded = await logitsBothWays(changing, 2, 6);
    expect(maxAbsDiff(loaded.ours.data, loaded.theirs.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);

    await changing.train();
    const batch = referenceBatch(dir, [4, 3, 64, 64], 8);
    await changing.forward({ data: batch.images, shape: batch.shape }); // moves every running mean and variance
    await changing.eval();
    const saved = path.join(dir, 'after-train-forward.safetensors');
    await changing.saveWeights(saved);
    const probe = referenceBatch(dir, [2, 3, 64, 64], 6);
    const expected = reference<{ logits: number[] }>('forward', {
      ...spec,
      ...probe.files,
      shape: probe.shape,
      weights: saved,
    });
    const ours = await changing.forward({ data: probe.images, shape: probe.shape });
    expect(maxAbsDiff(ours.data, expected.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    expect(maxAbsDiff(ours.data, loaded.ours.data)).toBeGreaterThan(100 * LOGITS_TOLERANCE);
  });

  it('loads the same weights from a torch.save(state_dict) .pth file with the same logits', async () => {
    const fromPth = await resnet18({ numClasses: 2 });
    const report = await fromPth.loadWeights(weights.pth);
    expect(report.loaded).toHaveLength(made.keys.length);
    await fromPth.eval();
    const { ours, theirs } = await logitsBothWays(fromPth, 2, 5);
    expect(maxAbsDiff(ours.data, theirs.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });
});

describe('StudentNet', () => {
  const dir = tempDir('student');
  const spec = { arch: 'studentNet', numClasses: 2, inputSize: 224, width: 4 };

  // The fused optimizer and BatchNorm's running statistics write in place without bumping a version
  // counter: the training forward itself must drop the folded pair an eval forward kept (conv_bn.h).
  it('follows training steps after a cached eval forward', async () => {
    const small = { arch: 'studentNet', numClasses: 2, inputSize: 64, width: 4 };
    const model = await studentNet({ inputSize: 64, seed: 9 });
    const probe = referenceBatch(dir, [2, 3, 64, 64], 10);
    await model.eval();
    const before = await model.forward({ data: probe.images, shape: probe.shape });
    const trainer = await Trainer.create(model, {
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    });
    const batch = referenceBatch(dir, [8, 3, 64, 64], 11);
    for (let i = 0; i < 2; i++) await trainer.studentStep(batch);
    await model.eval();
    const saved = path.join(dir, 'after-steps.safetensors');
    await model.saveWeights(saved);
    const expected = reference<{ logits: number[] }>('forward', {
      ...small,
      ...probe.files,
      shape: probe.shape,
      weights: saved,
    });
    const after = await model.forward({ data: probe.images, shape: probe.shape });
    expect(maxAbsDiff(after.data, expected.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    expect(maxAbsDiff(after.data, before.data)).toBeGreaterThan(100 * LOGITS_TOLERANCE);
  });

  // binding/model.cc runs forwards under a million multiply-adds on the JS thread while the torch thread is
  // idle: such a promise is settled before the event loop turns, one sent to the torch thread is not.
  it('answers tiny forwards on the JS thread with the torch thread’s logits; larger or concurrent ones go there', async () => {
    const small = { arch: 'studentNet', numClasses: 2, inputSize: 64, width: 4 };
    const weights = path.join(dir, 'inline.safetensors');
    reference('make-weights', { ...small, safetensors: weights, seed: 12 });
    const model = await studentNet({ inputSize: 64 });
    await model.loadWeights(weights);
    await model.eval();
    const probe = referenceBatch(dir, [1, 3, 64, 64], 13);
    const expected = reference<{ logits: number[] }>('forward', {
      ...small,
      ...probe.files,
      shape: probe.shape,
      weights,
    });
    const input = { data: probe.images, shape: probe.shape };

    const here = model.forward(input);
    expect(await settlesBeforeTheLoopTurns(here)).toBe(true);
    expect(maxAbsDiff((await here).data, expected.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);

    // The torch thread busy with a teacher's forward: the student's call queues behind it, same logits.
    const teacher = await resnet18();
    const teacherCall = teacher.forward({ data: new Float32Array(2 * 3 * 224 * 224), shape: [2, 3, 224, 224] });
    const queued = model.forward(input);
    expect(await settlesBeforeTheLoopTurns(queued)).toBe(false);
    await teacherCall;
    expect(maxAbsDiff((await queued).data, (await here).data)).toBeLessThanOrEqual(1e-6);

    // 5.5 M multiply-adds (the article's student at 224²) is past the limit, and errors still reject.
    const large = await studentNet({ inputSize: 224 });
    await large.eval();
    const largeCall = large.forward({ data: new Float32Array(3 * 224 * 224), shape: [1, 3, 224, 224] });
    expect(await settlesBeforeTheLoopTurns(largeCall)).toBe(false);
    await largeCall;
    await expect(model.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await Promise.all([model, teacher, large].map((m) => m.dispose()));
  });

  it('has the article’s 100,474 parameters at 224², width 4, 2 classes, and its PyTorch names', async () => {
    const weights = path.join(dir, 's.safetensors');
    const made = reference<{ parameters: number }>('make-weights', { ...spec, safetensors: weights, seed: 2 });
    const model = await studentNet({ numClasses: 2, inputSize: 224, width: 4 });
    expect(model.parameterCount).toBe(100_474);
    expect(made.parameters).toBe(100_474);
    const ours = path.join(dir, 'ours.safetensors');
    await model.saveWeights(ours);
    expect(reference('compare', { a: ours, b: weights })).toMatchObject({ sameKeys: true });
  });

  it('gives the PyTorch module’s logits for other sizes, channels and widths, both ways', async () => {
    const custom = { arch: 'studentNet', numClasses: 3, inputSize: 48, inChannels: 1, width: 6 };
    const weights = path.join(dir, 'c.safetensors');
    reference('make-weights', { ...custom, safetensors: weights, seed: 3 });
    const model = await studentNet({ numClasses: 3, inputSize: 48, inChannels: 1, width: 6 });
    await model.loadWeights(weights);
    await model.eval();
    const batch = referenceBatch(dir, [5, 1, 48, 48], 6, 3);
    const expected = reference<{ logits: number[] }>('forward', {
      ...custom,
      ...batch.files,
      shape: batch.shape,
      weights,
    });
    const ours = await model.forward({ data: batch.images, shape: batch.shape });
    expect(maxAbsDiff(ours.data, expected.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    // And back: our saved weights load into the PyTorch module and give the same logits.
    const saved = path.join(dir, 'back.safetensors');
    await model.saveWeights(saved);
    const back = reference<{ logits: number[] }>('forward', {
      ...custom,
      ...batch.files,
      shape: batch.shape,
      weights: saved,
    });
    expect(maxAbsDiff(ours.data, back.logits)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });
});

describe('devices', () => {
  it("resolves 'auto' to CUDA when present, else the CPU; moves with to(); refuses absent CUDA by name", async () => {
    const { cudaAvailable } = await (await import('../lib/index.js')).info();
    const model = await studentNet({ inputSize: 32, device: 'auto' });
    expect(model.device).toBe(cudaAvailable ? 'cuda:0' : 'cpu');
    await model.to('cpu');
    expect(model.device).toBe('cpu');
    if (!cudaAvailable) {
      await expect(model.to('cuda')).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
      await expect(studentNet({ device: 'cuda:0' })).rejects.toThrow(
        "device 'cuda:0' asked for, but this libtorch sees no CUDA device",
      );
      expect(model.device).toBe('cpu');
    }
  });
});

describe('parameterCount', () => {
  it('counts the parameters of the network it would build, for both architectures', async () => {
    const specs = [
      { numClasses: 2 },
      { numClasses: 7, inChannels: 1 },
      { numClasses: 3, inChannels: 1, inputSize: 48, width: 6 },
      { numClasses: 10, inputSize: 96, width: 16 },
    ];
    for (const spec of specs) {
      expect(parameterCount('resnet18', spec), JSON.stringify(spec)).toBe((await resnet18(spec)).parameterCount);
      expect(parameterCount('studentNet', spec), JSON.stringify(spec)).toBe((await studentNet(spec)).parameterCount);
    }
  });
});

/** Whether `promise` settles in the microtasks that follow, before the event loop could run a native completion. */
async function settlesBeforeTheLoopTurns(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return settled;
}
