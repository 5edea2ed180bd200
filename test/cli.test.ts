// The kdtorch command as users run it: every command's help, exit codes that mean something,
// progress as JSON lines, and Ctrl-C → exit 130 → --resume.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../lib/index.js';
import { maxAbsDiff } from './helpers/reference.js';
import { expectResumable, interruptAtEpoch, kdtorch, tempDir } from './helpers/run.js';
import { FAST_LATENCY, TINY_FLAGS, tinyChestXray } from './helpers/tiny-dataset.js';

const TINY = [...TINY_FLAGS, '--epochs', '2'];

let data: string;
beforeAll(() => {
  data = tinyChestXray();
});

describe('kdtorch usage', () => {
  it('prints help for every command and exits 0', () => {
    for (const command of ['info', 'teacher', 'student', 'distill', 'eval', 'predict', 'export', 'bench', 'demo']) {
      const result = kdtorch([command, '--help']);
      expect(result.status, command).toBe(0);
      expect(result.stdout, command).toContain(`kdtorch ${command}`);
    }
  });

  it('exits 2 on usage mistakes, with the relevant help', () => {
    expect(kdtorch([]).status).toBe(2);
    const unknown = kdtorch(['train']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'train'");
    const flag = kdtorch(['student', '--epoch', '3']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('--epoch');
    expect(flag.stderr).toContain('kdtorch student');
    expect(kdtorch(['eval', '--data', data]).stderr).toContain('--model');
  });

  it('exits 2 on a bad config value, naming the field and the value', () => {
    const result = kdtorch(['student', '--data', data, '--lr=-1']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/E_INVALID_CONFIG.*\n.*student\.optimizer\.lr = -1: .*>0/);
    const text = kdtorch(['teacher', '--data', data, '--epochs', 'many']);
    expect(text.status).toBe(2);
    expect(text.stderr).toMatch(/teacher\.epochs = "many": .*expected number/);
    const negative = kdtorch(['teacher', '--data', data, '--epochs', '-1']);
    expect(negative.status).toBe(2);
    expect(negative.stderr).toMatch(/teacher\.epochs = -1: /);
    const huge = kdtorch(['teacher', '--data', data, '--image-size', '100000', '--batch-size', '1000000000']);
    expect(huge.status).toBe(2);
    expect(huge.stderr).toMatch(/data\.imageSize = 100000: .*4096/);
    expect(huge.stderr).toMatch(/teacher\.batchSize = 1000000000: /);
  });

  it('names the config file and the output folder when they are the fault', () => {
    const dir = tempDir('cli');
    const cycle = path.join(dir, 'cycle.yaml');
    fs.writeFileSync(cycle, 'data: &x\n  root: *x\n');
    const aliased = kdtorch(['student', '--config', cycle, '--print-config']);
    expect(aliased.status).toBe(2);
    expect(aliased.stderr).toContain('[E_INVALID_CONFIG]');
    expect(aliased.stderr).toContain(cycle);
    const wrong = path.join(dir, 'wrong.json');
    fs.writeFileSync(wrong, JSON.stringify({ student: { epochs: 0 } }));
    expect(kdtorch(['student', '--config', wrong, '--data', data, '--print-config']).stderr).toContain(
      `(${wrong} and flags)`,
    );
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    const output = kdtorch(['student', '--data', data, '--output', path.join(file, 'run'), ...TINY]);
    expect(output.status).toBe(2);
    expect(output.stderr).toMatch(/cannot make the run folder \(ENOTDIR\)/);
  });

  it('exits 1 when the work fails, with the error code and the file', () => {
    const missing = path.join(tempDir('cli'), 'nowhere');
    const result = kdtorch(['student', '--data', missing, ...TINY]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_DATASET_NOT_FOUND]');
    expect(result.stderr).toContain(missing);
  });

  it('--print-config shows the resolved config with the flags applied; the old preset name seed still works, with a deprecation line', () => {
    const result = kdtorch([
      'distill',
      '--preset',
      'seed',
      '--data',
      data,
      '--set',
      'distill.temperature=4',
      '--print-config',
    ]);
    expect(result.status).toBe(0);
    const config = JSON.parse(result.stdout);
    expect(config.preset).toBe('article');
    expect(result.stderr).toContain("DeprecationWarning: flags: preset 'seed' is now called 'article'");
    expect(config.distill).toMatchObject({ temperature: 4, alpha: 0.25, loss: 'article' });
  });
});

describe('kdtorch training commands', () => {
  it('student → JSON lines of progress and a result; eval, predict, export and bench use the model', async () => {
    const output = path.join(tempDir('cli'), 'run');
    const result = kdtorch(['student', '--data', data, '--output', output, '--json', ...TINY, ...FAST_LATENCY]);
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(2);
    const final = lines.at(-1);
    expect(final.type).toBe('result');
    expect(final.results[0].phase).toBe('student');
    const model = path.join(output, 'student', 'best.safetensors');

    const evaluated = kdtorch(['eval', '--model', model, '--data', data, '--json', ...FAST_LATENCY]);
    expect(evaluated.status, evaluated.stderr).toBe(0);
    expect(JSON.parse(evaluated.stdout).metrics.confusion).toEqual(final.results[0].test.confusion);

    const image = path.join(data, 'test', 'NORMAL', fs.readdirSync(path.join(data, 'test', 'NORMAL'))[0] as string);
    const predicted = kdtorch(['predict', '--model', model, image]);
    expect(predicted.status, predicted.stderr).toBe(0);
    expect(predicted.stdout).toMatch(
      new RegExp(`${image}: (NORMAL|PNEUMONIA) \\(NORMAL 0\\.\\d{4}, PNEUMONIA 0\\.\\d{4}\\)`),
    );
    const bad = kdtorch(['predict', '--model', model, path.join(data, 'nothing.jpg')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('[E_BAD_IMAGE]');

    // The model as ONNX with a uint8 input: onnxruntime on the decoded pixels gives predict's probabilities.
    const exported = kdtorch(['export', '--model', model, '--input', 'uint8', '--json']);
    expect(exported.status, exported.stderr).toBe(0);
    const onnxFile = path.join(output, 'student', 'best.onnx');
    expect(JSON.parse(exported.stdout)).toMatchObject({
      file: onnxFile,
      input: { name: 'pixels', dims: [1, 32, 32, 3] },
    });
    const session = await ort.InferenceSession.create(onnxFile);
    const pixels = await decodeImage(image, { height: 32, width: 32, channels: 3 });
    const { probabilities } = await session.run({ pixels: new ort.Tensor('uint8', pixels, [1, 32, 32, 3]) });
    const json = JSON.parse(kdtorch(['predict', '--model', model, image, '--json']).stdout);
    expect(
      maxAbsDiff((probabilities as ort.Tensor).data as Float32Array, Object.values(json.probabilities)),
    ).toBeLessThan(1e-5);
    expect(kdtorch(['export', '--model', model, '--input', 'rgb']).status).toBe(2);
    expect(kdtorch(['export', '--model', model, '--opset', '9']).stderr).toContain('[E_INVALID_ARGUMENT]');

    const bench = kdtorch(['bench', '--model', model, '--batch-size', '2', '--repeats', '2', '--json']);
    expect(bench.status, bench.stderr).toBe(0);
    expect(JSON.parse(bench.stdout).latency[0].batchSize).toBe(2);
  }, 120_000);

  it('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
    const output = path.join(tempDir('cli'), 'run');
    // Interrupted at the first batch of the second epoch.
    const stopped = await interruptAtEpoch(
      ['teacher', '--data', data, '--output', output, '--json', ...TINY, ...FAST_LATENCY],
      2,
    );
    expect(stopped.stderr).toContain(`--resume ${output}`);
    expectResumable(stopped, output);
  }, 120_000);
});
