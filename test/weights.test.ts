import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KdtorchError, resnet18, studentNet } from '../lib/index.js';
import { reference } from './helpers/reference.js';
import { python, tempDir } from './helpers/run.js';

const dir = tempDir('weights');
const imagenet = path.join(dir, 'imagenet-head.pth');
const student = path.join(dir, 'student.safetensors');

async function loadError(load: () => Promise<unknown>): Promise<KdtorchError> {
  const error = await load().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KdtorchError);
  return error as KdtorchError;
}

beforeAll(() => {
  // A 1000-class ResNet-18 as torchvision distributes it (random weights: the format is what matters).
  reference('make-weights', {
    arch: 'resnet18',
    numClasses: 1000,
    safetensors: path.join(dir, 'r1000.safetensors'),
    pth: imagenet,
    seed: 0,
  });
  reference('make-weights', { arch: 'studentNet', inputSize: 32, safetensors: student, seed: 0 });
});

describe('loadWeights', () => {
  it('refuses 1000-class weights for a 2-class model, listing the mismatch, and changes nothing', async () => {
    const model = await resnet18({ numClasses: 2 });
    const before = path.join(dir, 'before.safetensors');
    await model.saveWeights(before);
    const error = await loadError(() => model.loadWeights(imagenet));
    expect(error.code).toBe('E_WEIGHTS_MISMATCH');
    expect(error.message).toContain('fc.weight: file [1000, 512] vs model [2, 512]');
    expect(error.message).toContain('fc.bias: file [1000] vs model [2]');
    expect(error.message).toContain("skip: ['fc.']");
    const after = path.join(dir, 'after.safetensors');
    await model.saveWeights(after);
    expect(reference('compare', { a: before, b: after })).toMatchObject({ maxAbsDiff: 0 });
  });

  it('fine-tunes from 1000-class weights with skip: ["fc."], loading everything else', async () => {
    const model = await resnet18({ numClasses: 2 });
    const report = await model.loadWeights(imagenet, { skip: ['fc.'] });
    expect(report.loaded).toHaveLength(122 - 2);
    expect(report).toMatchObject({ missing: [], unexpected: [], mismatched: [] });
    expect(report.loaded).not.toContain('fc.weight');
  });

  it('loads what fits with strict: false and reports the rest', async () => {
    const model = await resnet18({ numClasses: 2 });
    const report = await model.loadWeights(imagenet, { strict: false });
    expect(report.mismatched).toHaveLength(2);
    expect(report.loaded).toHaveLength(120);
  });

  it('lists missing and unexpected names when the architecture differs', async () => {
    const error = await loadError(async () => (await resnet18()).loadWeights(student));
    expect(error.code).toBe('E_WEIGHTS_MISMATCH');
    expect(error.message).toMatch(/missing in the file \(12\d\)/);
    expect(error.message).toContain('unexpected in the file (7)');
    expect(error.message).toContain('layer1.1.running_mean');
  });

  it('refuses a .pth whose pickle refers to code, without running it', async () => {
    const evil = path.join(dir, 'evil.pth');
    const marker = path.join(dir, 'pwned');
    python(
      `import json, os, torch; torch.save({"w": torch.zeros(2), "x": (os.system, ("touch ${marker}",))}, "${evil}"); print(json.dumps(1))`,
    );
    const error = await loadError(async () => (await studentNet({ inputSize: 32 })).loadWeights(evil));
    expect(error.code).toBe('E_BAD_WEIGHTS_FILE');
    expect(error.message).toContain("refers to 'posix.system'");
    expect(error.message).toContain('never code');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('names the file and the fault for empty, truncated, foreign and wrong-dtype files', async () => {
    const model = await studentNet({ inputSize: 32 });
    const cases: [string, Buffer | string, RegExp][] = [
      ['empty.safetensors', '', /the file is empty/],
      ['text.pth', 'hello, I am not weights\n', /not a valid safetensors file/],
      ['truncated.safetensors', fs.readFileSync(student).subarray(0, 200), /truncated/],
      ['truncated.pth', fs.readFileSync(imagenet).subarray(0, 4096), /not a PyTorch zip file|truncated/],
    ];
    for (const [name, content, pattern] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      const error = await loadError(() => model.loadWeights(file));
      expect(error.code, name).toBe('E_BAD_WEIGHTS_FILE');
      expect(error.message, name).toContain(file);
      expect(error.message, name).toMatch(pattern);
    }
    const missing = await loadError(() => model.loadWeights(path.join(dir, 'nope.safetensors')));
    expect(missing.message).toMatch(/nope\.safetensors: cannot open/);

    const ints = path.join(dir, 'ints.safetensors');
    python(
      `import json; from safetensors.torch import load_file, save_file; t = load_file("${student}"); t["fc.weight"] = t["fc.weight"].long(); save_file(t, "${ints}"); print(1)`,
    );
    const dtype = await loadError(() => model.loadWeights(ints));
    expect(dtype.code).toBe('E_WEIGHTS_MISMATCH');
    expect(dtype.message).toContain('fc.weight: file dtype Long vs model Float');
  });

  it('saves atomically: the finished file only, readable by PyTorch', async () => {
    const model = await studentNet({ inputSize: 32 });
    const out = path.join(dir, 'saved', 'model.safetensors');
    fs.mkdirSync(path.dirname(out));
    await model.saveWeights(out);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['model.safetensors']);
    expect(reference('compare', { a: out, b: student })).toMatchObject({ sameKeys: true });
    const unwritable = await loadError(() => model.saveWeights(path.join(dir, 'no-such-dir', 'm.safetensors')));
    expect(unwritable.message).toContain('no-such-dir/m.safetensors: cannot write');
  });
});
