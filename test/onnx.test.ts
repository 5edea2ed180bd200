// ONNX export: onnxruntime (Node) on the exported file gives kdtorch's logits, for both architectures,
// float and uint8 inputs, batch 1 and 7; onnx's checker passes it, and the same weights in the PyTorch
// modules exported by torch.onnx.export give the same outputs through onnxruntime (Python).
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type DescribedModel, exportOnnx, type ModelDescription, resnet18, studentNet } from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { maxAbsDiff, reference } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

const TOLERANCE = 1e-4; // fp32; folding BatchNorm into the convolutions reorders a few roundings

interface Case {
  name: string;
  spec: { arch: 'studentNet' | 'resnet18'; numClasses: number; inputSize: number; inChannels: number; width?: number };
}

const cases: Case[] = [
  {
    name: 'the article’s student',
    spec: { arch: 'studentNet', numClasses: 2, inputSize: 64, inChannels: 3, width: 4 },
  },
  {
    name: 'a grey 3-class student',
    spec: { arch: 'studentNet', numClasses: 3, inputSize: 48, inChannels: 1, width: 6 },
  },
  { name: 'ResNet-18', spec: { arch: 'resnet18', numClasses: 2, inputSize: 64, inChannels: 3 } },
];

async function described(dir: string, { spec }: Case): Promise<DescribedModel & { weights: string }> {
  const weights = path.join(dir, `${spec.arch}-${spec.inChannels}.safetensors`);
  reference('make-weights', { ...spec, safetensors: weights, seed: 5 }); // BatchNorm statistics randomised
  const options = { numClasses: spec.numClasses, inChannels: spec.inChannels };
  const model =
    spec.arch === 'resnet18'
      ? await resnet18(options)
      : await studentNet({ ...options, inputSize: spec.inputSize, width: spec.width as number });
  await model.loadWeights(weights);
  await model.eval();
  const description: ModelDescription = {
    architecture: spec.arch,
    classes: Array.from({ length: spec.numClasses }, (_, i) => `class ${i}`),
    imageSize: spec.inputSize,
    channels: spec.inChannels as 1 | 3,
    mean: [0.485, 0.456, 0.406].slice(0, spec.inChannels),
    std: [0.229, 0.224, 0.225].slice(0, spec.inChannels),
    ...(spec.width ? { width: spec.width } : {}),
  };
  return { model, description, weights };
}

const pixels = (n: number, size: number, channels: number) =>
  new Uint8Array(n * size * size * channels).map((_, i) => (i * 97 + (i >> 7)) % 256);
const floats = (n: number, size: number, channels: number) =>
  new Float32Array(n * channels * size * size).map((_, i) => Math.sin(i * 0.37) * 2);

async function runOnnx(file: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const { logits } = await session.run(feeds);
  return (logits as ort.Tensor).data as Float32Array;
}

describe('exportOnnx', () => {
  for (const c of cases) {
    it(`${c.name}: onnxruntime gives kdtorch's logits, float and uint8 inputs, batch 1 and 7`, async () => {
      const dir = tempDir('onnx');
      const m = await described(dir, c);
      const { imageSize: size, channels } = m.description;
      const dynamicFloat = path.join(dir, 'float.onnx');
      const staticUint8 = path.join(dir, 'uint8-1.onnx');
      const dynamicUint8 = path.join(dir, 'uint8.onnx');
      const exported = await exportOnnx(m, dynamicFloat, { dynamicBatch: true });
      expect(exported.input).toEqual({ name: 'input', type: 'float', dims: ['batch', channels, size, size] });
      await exportOnnx(m, staticUint8, { input: 'uint8' });
      await exportOnnx(m, dynamicUint8, { input: 'uint8', dynamicBatch: true });
      expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);

      for (const n of [1, 7]) {
        const x = floats(n, size, channels);
        const ours = await m.model.forward({ data: x, shape: [n, channels, size, size] });
        const theirs = await runOnnx(dynamicFloat, { input: new ort.Tensor('float32', x, [n, channels, size, size]) });
        expect(maxAbsDiff(theirs, ours.data), `float, batch ${n}`).toBeLessThanOrEqual(TOLERANCE);

        const p = pixels(n, size, channels);
        const { mean, std } = m.description;
        const fromPixels = await m.model.forward({ pixels: p, shape: [n, size, size, channels], mean, std });
        const feeds = { pixels: new ort.Tensor('uint8', p, [n, size, size, channels]) };
        const uint8 = await runOnnx(n === 1 ? staticUint8 : dynamicUint8, feeds);
        expect(maxAbsDiff(uint8, fromPixels.data), `uint8, batch ${n}`).toBeLessThanOrEqual(TOLERANCE);
      }
    }, 120_000);
  }

  for (const c of [cases[0], cases[2]] as Case[]) {
    it(`${c.name}: passes onnx's checker and equals torch.onnx.export of the same weights (Python)`, async () => {
      const dir = tempDir('onnx-python');
      const m = await described(dir, c);
      const { imageSize: size, channels, mean, std } = m.description;
      for (const input of ['float', 'uint8'] as const) {
        const file = path.join(dir, `${input}.onnx`);
        await exportOnnx(m, file, { input, dynamicBatch: true });
        const n = 7;
        const images = path.join(dir, `${input}.bin`);
        const data = input === 'uint8' ? pixels(n, size, channels) : floats(n, size, channels);
        fs.writeFileSync(images, data);
        const shape = input === 'uint8' ? [n, size, size, channels] : [n, channels, size, size];
        const python = reference<{
          ours: number[];
          torchOnnx: number[];
          eager: number[];
          metadata: Record<string, string>;
        }>('onnx-check', { ...c.spec, onnx: file, weights: m.weights, images, shape, input, mean, std, threads: 1 });
        const kdtorch =
          input === 'uint8'
            ? await m.model.forward({ pixels: data as Uint8Array, shape, mean, std })
            : await m.model.forward({ data: data as Float32Array, shape });
        expect(maxAbsDiff(python.ours, kdtorch.data), input).toBeLessThanOrEqual(TOLERANCE);
        expect(maxAbsDiff(python.ours, python.torchOnnx), input).toBeLessThanOrEqual(TOLERANCE);
        expect(maxAbsDiff(python.ours, python.eager), input).toBeLessThanOrEqual(TOLERANCE);
        expect(JSON.parse(python.metadata.kdtorch as string)).toEqual(m.description);
        expect(JSON.parse(python.metadata.classes as string)).toEqual(m.description.classes);
      }
    }, 300_000);
  }

  it('folds BatchNorm or keeps it as BatchNormalization nodes, with the same outputs', async () => {
    const dir = tempDir('onnx-bn');
    const m = await described(dir, cases[0] as Case);
    const folded = path.join(dir, 'folded.onnx');
    const nodes = path.join(dir, 'nodes.onnx');
    await exportOnnx(m, folded);
    await exportOnnx(m, nodes, { batchNorm: 'node' });
    const x = floats(1, 64, 3);
    const feeds = { input: new ort.Tensor('float32', x, [1, 3, 64, 64]) };
    expect(maxAbsDiff(await runOnnx(folded, feeds), await runOnnx(nodes, feeds))).toBeLessThanOrEqual(TOLERANCE);
    expect(fs.readFileSync(nodes).includes('BatchNormalization')).toBe(true);
    expect(fs.readFileSync(folded).includes('BatchNormalization')).toBe(false);
  });

  it('names what it cannot export', async () => {
    const dir = tempDir('onnx-errors');
    const m = await described(dir, cases[0] as Case);
    const out = path.join(dir, 'x.onnx');
    expect(await rejection(exportOnnx(m, out, { opset: 12 }))).toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      field: 'opset',
    });
    const vit = { ...m, description: { ...m.description, architecture: 'vit' } } as unknown as DescribedModel;
    const unsupported = await rejection(exportOnnx(vit, out));
    expect(unsupported).toMatchObject({ code: 'E_INVALID_ARGUMENT', field: 'architecture' });
    expect(unsupported.message).toContain("'vit'");
    const missing = await rejection(exportOnnx(path.join(dir, 'nope.safetensors'), out));
    expect(missing.message).toContain('nope.safetensors');
    expect(fs.existsSync(out)).toBe(false);
  });
});
