import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyOverride } from '../lib/config/resolve.js';
import { type ConfigInput, KdtorchError, PRESETS, readConfigFile, resolveConfig } from '../lib/index.js';
import { RunFolder } from '../lib/run/run-folder.js';
import { tempDir } from './helpers/run.js';

const ROOT = { data: { root: '/data/xray' } };

function configError(input: unknown): KdtorchError {
  try {
    resolveConfig(input as ConfigInput);
  } catch (error) {
    expect(error).toBeInstanceOf(KdtorchError);
    expect((error as KdtorchError).code).toBe('E_INVALID_CONFIG');
    return error as KdtorchError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('presets', () => {
  it('article is the article exactly, faults included', () => {
    const c = resolveConfig({ preset: 'article', ...ROOT });
    expect(c.data).toMatchObject({ imageSize: 224, channels: 3, hflip: 0.5, validateOn: 'test' });
    for (const phase of [c.teacher, c.student, c.distill]) {
      expect(phase).toMatchObject({ epochs: 30, batchSize: 32, classWeights: 'none', labelSmoothing: 0 });
    }
    expect(c.distill).toMatchObject({ alpha: 0.25, temperature: 1, loss: 'article' });
    // No augmentation but the flip, and the best epoch on (the article's) validation.
    expect(Object.values(c.data.augment).filter((v) => v !== false && v !== 'bilinear')).toEqual([]);
    expect(c.student.select).toBe('best');
    expect(c.teacher.freeze).toBe('none');
    expect(c.student.width).toBe(4);
  });

  it('recommended corrects the loss, the validation split and the class imbalance, and augments; it is the default', () => {
    const c = resolveConfig(ROOT);
    expect(c.preset).toBe('recommended');
    expect(c.data.validateOn).toBe('val');
    expect(c.data.augment.resizedCrop).toEqual({ scale: [0.7, 1], ratio: [3 / 4, 4 / 3] });
    expect(c.distill).toMatchObject({ alpha: 0.9, temperature: 4, teacherViews: 4, select: 'last' });
    expect(c.distill.loss).toBe('hinton');
    expect(c.teacher.classWeights).toBe('balanced');
    expect(c.data.root).toBe('/data/xray');
  });

  it('quick is recommended at a smaller size and fewer epochs', () => {
    const c = resolveConfig({ preset: 'quick', ...ROOT });
    expect(c.data.imageSize).toBeLessThan(PRESETS.recommended.data.imageSize);
    expect(c.teacher.epochs).toBeLessThan(PRESETS.recommended.teacher.epochs);
    expect(c.distill.loss).toBe('hinton');
  });

  it('overlays nested values, replaces a schedule of another kind, and makes paths absolute', () => {
    const c = resolveConfig(
      {
        data: { root: 'rel/data', cacheDir: 'cache' },
        teacher: { schedule: { name: 'step', everyEpochs: 5, gamma: 0.1 } },
      },
      'test',
      '/work',
    );
    expect(c.teacher.schedule).toEqual({ name: 'step', everyEpochs: 5, gamma: 0.1 });
    expect(c.teacher.optimizer).toEqual(PRESETS.recommended.teacher.optimizer);
    expect(c.data.root).toBe('/work/rel/data');
    expect(c.data.cacheDir).toBe('/work/cache');
  });

  it('one channel takes one-channel normalisation unless mean and std are given', () => {
    const c = resolveConfig({ data: { ...ROOT.data, channels: 1 } });
    expect(c.data.mean).toHaveLength(1);
    expect(c.data.mean[0]).toBeCloseTo((0.485 + 0.456 + 0.406) / 3, 12);
    configError({ data: { ...ROOT.data, channels: 1, mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] } });
  });
});

describe('bad config values', () => {
  // One case per kind of mistake: each names the field, shows the value and says what is allowed.
  const cases: [string, unknown, string, RegExp][] = [
    ['no dataset', {}, 'data.root', /give the dataset folder/],
    ['a string for a number', { ...ROOT, teacher: { epochs: 'ten' } }, 'teacher.epochs', /"ten".*expected number/],
    ['not an integer', { ...ROOT, student: { batchSize: 2.5 } }, 'student.batchSize', /2\.5.*int/i],
    ['out of range', { ...ROOT, distill: { alpha: 1.5 } }, 'distill.alpha', /1\.5.*<=1/],
    ['not positive', { ...ROOT, teacher: { optimizer: { lr: -0.1 } } }, 'teacher.optimizer.lr', /-0\.1.*>0/],
    [
      'unknown option',
      { ...ROOT, teacher: { optimizer: { name: 'rmsprop', lr: 1 } } },
      'teacher.optimizer.name',
      /"rmsprop".*"sgd"\|"adam"\|"adamw"/,
    ],
    ['unknown field', { ...ROOT, teacher: { epochz: 3 } }, 'teacher', /epochz/],
    ['unknown preset', { ...ROOT, preset: 'fast' }, 'preset', /"fast".*article, recommended, quick/],
    ['bad device', { ...ROOT, device: 'gpu' }, 'device', /"gpu".*'auto', 'cpu', 'cuda' or 'cuda:N'/],
    ['odd image size', { data: { ...ROOT.data, imageSize: 99 } }, 'data.imageSize', /99.*even/],
    ['image too small for ResNet-18', { data: { ...ROOT.data, imageSize: 16 } }, 'data.imageSize', /16.*32 px/],
    ['statistics per channel', { data: { ...ROOT.data, mean: [0.5] } }, 'data.mean', /\[0\.5\].*3 values/],
    ['freezing random weights', { ...ROOT, teacher: { freeze: 'backbone' } }, 'teacher.freeze', /teacher\.weights/],
    [
      'early stopping without patience',
      { ...ROOT, student: { earlyStopping: { minDelta: 0 } } },
      'student.earlyStopping',
      /patience/,
    ],
    [
      'learning-rate scaling rule',
      { ...ROOT, teacher: { lrScaling: { rule: 'cubic', referenceBatchSize: 32 } } },
      'teacher.lrScaling',
      /'linear' \| 'sqrt'/,
    ],
    [
      'neither allowed kind',
      { ...ROOT, distill: { classWeights: 'inverse' } },
      'distill.classWeights',
      /"inverse".*'balanced'/,
    ],
    ['channels', { data: { ...ROOT.data, channels: 2 } }, 'data.channels', /2.*1 \(grey\) or 3/],
    ['CUDA graphs', { ...ROOT, cudaGraphs: 'yes' }, 'cudaGraphs', /"yes".*true, false or 'auto'/],
    ['device cache', { data: { ...ROOT.data, deviceCache: 1 } }, 'data.deviceCache', /1.*true, false or 'auto'/],
    [
      'an augmentation range the wrong way round',
      { data: { ...ROOT.data, augment: { resizedCrop: { scale: [1, 0.5], ratio: [0.75, 1.33] } } } },
      'data.augment.resizedCrop.scale',
      /\[1,0\.5\].*low ≤ high/,
    ],
    [
      'a crop that keeps more than the image',
      { data: { ...ROOT.data, augment: { resizedCrop: { scale: [0.5, 1.5], ratio: [0.75, 1.33] } } } },
      'data.augment.resizedCrop.scale.1',
      /1\.5.*<=1/,
    ],
    [
      'a rotation as text',
      { data: { ...ROOT.data, augment: { rotation: '12deg' } } },
      'data.augment.rotation',
      /"12deg".*largest angle in degrees/,
    ],
    [
      'an erasing probability above 1',
      { data: { ...ROOT.data, augment: { erasing: { p: 2, scale: [0.02, 0.3], ratio: [0.3, 3.3] } } } },
      'data.augment.erasing.p',
      /2.*<=1/,
    ],
    ['teacher views out of range', { ...ROOT, distill: { teacherViews: 0 } }, 'distill.teacherViews', /0.*>=1/],
    ['model selection', { ...ROOT, student: { select: 'ema' } }, 'student.select', /"ema".*"best"\|"last"/],
    ['threads per rank', { ...ROOT, distributed: { threadsPerRank: 0 } }, 'distributed.threadsPerRank', /0.*>0/],
    ['a rank timeout too short', { ...ROOT, distributed: { timeoutMs: 10 } }, 'distributed.timeoutMs', /10.*>=1000/],
    ['an unknown backend', { ...ROOT, distributed: { backend: 'mpi' } }, 'distributed.backend', /"mpi".*"nccl"/],
  ];
  for (const [name, input, field, message] of cases) {
    it(`${name}: names ${field}`, () => {
      const error = configError(input);
      expect(error.field).toBe(field);
      expect(error.message).toMatch(new RegExp(`${field.replace(/\./g, '\\.')}.*`));
      expect(error.message.split('\n').find((l) => l.includes(field))).toMatch(message);
    });
  }

  it('is not an object', () => {
    expect(configError([1, 2]).message).toMatch(/expected an object/);
  });
});

describe('config files and overrides', () => {
  it('reads JSON and YAML to the same config', () => {
    const dir = tempDir('config');
    const json = path.join(dir, 'c.json');
    const yaml = path.join(dir, 'c.yaml');
    fs.writeFileSync(json, JSON.stringify({ preset: 'article', data: { root: '/d' }, distill: { temperature: 4 } }));
    fs.writeFileSync(yaml, 'preset: seed\ndata:\n  root: /d\ndistill:\n  temperature: 4\n');
    expect(resolveConfig(readConfigFile(yaml))).toEqual(resolveConfig(readConfigFile(json)));
    expect(resolveConfig(readConfigFile(yaml)).distill.temperature).toBe(4);
  });

  it('names the file that is missing or malformed', () => {
    const dir = tempDir('config');
    const broken = path.join(dir, 'broken.yaml');
    fs.writeFileSync(broken, 'data: [unclosed\n');
    for (const file of [broken, path.join(dir, 'missing.json')]) {
      expect(() => readConfigFile(file)).toThrow(expect.objectContaining({ code: 'E_INVALID_CONFIG', file }));
    }
  });

  it('--set reads values as JSON when they parse, as text otherwise', () => {
    let input: ConfigInput = {};
    input = applyOverride(input, 'distill.temperature=4');
    input = applyOverride(input, 'data.root=/some/where');
    input = applyOverride(input, 'student.classWeights=[1,3]');
    expect(input).toEqual({
      distill: { temperature: 4 },
      data: { root: '/some/where' },
      student: { classWeights: [1, 3] },
    });
    expect(() => applyOverride(input, 'novalue')).toThrow(/field\.path=value/);
  });
});

describe('run folders saved by earlier versions', () => {
  it('read a distributed section, or a field of it, they predate at its default, and share the folder', () => {
    const output = path.join(tempDir('config'), 'run');
    const config = resolveConfig({ preset: 'quick', data: { root: '/d' }, output });
    const { syncBatchNorm: _, ...older } = config.distributed;
    for (const saved of [
      { ...config, distributed: older },
      { ...config, distributed: undefined },
    ]) {
      fs.rmSync(output, { recursive: true, force: true });
      fs.mkdirSync(output, { recursive: true });
      fs.writeFileSync(path.join(output, 'config.json'), JSON.stringify(saved));
      expect(RunFolder.open(output).config.distributed).toEqual(PRESETS.quick.distributed);
      // The next phase of the same experiment writes into the folder rather than calling it another run.
      expect(RunFolder.create(config, 'distill').dir).toBe(output);
    }
  });
});
