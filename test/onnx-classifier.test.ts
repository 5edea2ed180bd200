// kdtorch/onnx: an exported model classifies with onnxruntime-node and sharp only, in a process where
// libtorch cannot be found and the addon is never loaded, and answers as predict() does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportOnnx, type Prediction, predict, studentNet } from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { reference } from './helpers/reference.js';
import { ROOT, tempDir } from './helpers/run.js';
import { chestStudent, DEMO_DATA } from './helpers/tiny-dataset.js';

const description = chestStudent(64);

const images = ['NORMAL', 'PNEUMONIA'].flatMap((name) => {
  const folder = path.join(DEMO_DATA, 'test', name);
  return fs
    .readdirSync(folder)
    .sort()
    .slice(0, 6)
    .map((f) => path.join(folder, f));
});

async function modelFile(dir: string): Promise<string> {
  const weights = path.join(dir, 'w.safetensors');
  reference('make-weights', { arch: 'studentNet', inputSize: 64, safetensors: weights, seed: 9 });
  const model = await studentNet({ inputSize: 64 });
  await model.loadWeights(weights);
  const file = path.join(dir, 'best.safetensors');
  await model.saveWeights(file, description);
  return file;
}

/** loadOnnxClassifier(file).predict(images) in a child whose libtorch points nowhere; and what it mapped. */
function classifyWithoutTorch(file: string, files: string[]) {
  const entry = path.join(ROOT, 'dist', 'lib', 'onnx', 'index.js');
  const script = `
    const { loadOnnxClassifier } = await import(${JSON.stringify(entry)});
    const classifier = await loadOnnxClassifier(${JSON.stringify(file)}, { threads: 1 });
    const predictions = await classifier.predict(${JSON.stringify(files)});
    const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
    console.log(JSON.stringify({ predictions, input: classifier.input, torch: /libtorch|libc10|kdtorch\\.node/.test(maps) }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, LIBTORCH: '/nowhere', KDTORCH_PYTHON: '/nowhere/python', VIRTUAL_ENV: '' },
  });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout) as { predictions: Prediction[]; input: string; torch: boolean };
}

describe('kdtorch/onnx', () => {
  it('classifies without libtorch, as predict() does (same classes; probabilities within sharp’s decoding parity)', async () => {
    const dir = tempDir('onnx-classifier');
    const file = await modelFile(dir);
    const ours = await predict(file, images);
    for (const input of ['uint8', 'float'] as const) {
      const onnx = path.join(dir, `${input}.onnx`);
      await exportOnnx(file, onnx, { input, dynamicBatch: input === 'uint8' });
      const result = classifyWithoutTorch(onnx, images);
      expect(result.torch).toBe(false);
      expect(result.input).toBe(input);
      expect(result.predictions.map((p) => p.class)).toEqual(ours.map((p) => p.class));
      for (const [i, p] of result.predictions.entries()) {
        const expected = ours[i] as Prediction;
        for (const name of description.classes) {
          // sharp's pixels differ from the native decoder's by about a level on a few pixels (docs/data-parity.md)
          expect(Math.abs((p.probabilities[name] as number) - (expected.probabilities[name] as number))).toBeLessThan(
            0.01,
          );
        }
      }
    }
  }, 120_000);

  it('names a file that is not a kdtorch export', async () => {
    const { loadOnnxClassifier } = await import('../lib/onnx/index.js');
    const dir = tempDir('onnx-classifier-bad');
    const garbage = path.join(dir, 'garbage.onnx');
    fs.writeFileSync(garbage, 'not a protobuf at all \u00ff\u00ff');
    const error = await rejection(loadOnnxClassifier(garbage));
    expect(error).toMatchObject({ code: 'E_BAD_WEIGHTS_FILE', file: garbage });
    const missing = await rejection(loadOnnxClassifier(path.join(dir, 'missing.onnx')));
    expect(missing).toMatchObject({ code: 'E_BAD_WEIGHTS_FILE' });
  });
});
