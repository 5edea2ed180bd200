// The teacher-output cache is exact: distilling from cached teacher logits gives the losses and
// weights that running the teacher every step gives — over K augmented views per image, and over the
// image and its flip without augmentation — and a second distillation reuses the file.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { distill, type PhaseResult, type ProgressEvent, trainTeacher } from '../lib/index.js';
import { reference } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';
import { tinyChestXray, tinyConfig } from './helpers/tiny-dataset.js';

let data: string;
let teacherFile: string;

beforeAll(async () => {
  data = tinyChestXray();
  const teacher = await trainTeacher(tinyConfig(data, tempDir('teacher'), { teacher: { epochs: 1 } }));
  teacherFile = teacher.bestCheckpoint;
}, 60_000);

// SGD, not Adam: the student's conv bias has an exactly-zero gradient (BatchNorm follows it), and
// Adam would scale the rounding noise of two equal computations up to ±lr per step.
const distillConfig = (output: string, teacherCache: boolean, more = {}, dataMore = {}) =>
  tinyConfig(data, output, {
    data: dataMore,
    distill: {
      teacher: teacherFile,
      teacherCache,
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
      epochs: 3,
      ...more,
    },
  });

/** The quick preset's augmentation switched off: the flip is all that changes an image. */
const FLIP_ONLY = { augment: { resizedCrop: false, affine: false, colorJitter: false } } as const;

describe('teacher-output cache', () => {
  const cases = [
    { name: '3 augmented views per image', views: 3, data: {}, augment: true, source: 'computed' },
    { name: 'no augmentation: the image and its flip', views: 2, data: FLIP_ONLY, augment: true, source: 'computed' },
    // The same two views as the case before, so the same file: the key holds what the logits depend on.
    { name: 'a phase that does not augment', views: 2, data: {}, augment: false, source: 'file' },
  ];
  it.each(cases)(
    'gives the losses and weights of running the teacher every step: $name',
    async ({ views, data, augment, source }) => {
      const phase = { teacherViews: 3, augment };
      const live = await distill(distillConfig(tempDir('live'), false, phase, data));
      const cached = await distill(distillConfig(tempDir('cached'), true, phase, data));
      expect(live.teacherOutputs).toBeNull();
      expect(cached.teacherOutputs).toMatchObject({ source, views });
      expect(cached.teacherOutputs?.bytes).toBe((cached.teacherOutputs?.images as number) * views * 2 * 4);
      for (const [a, b] of live.history.map((h, i) => [h, cached.history[i]] as const)) {
        expect(b?.trainLoss).toBeCloseTo(a.trainLoss, 5);
        expect(b?.valLoss).toBeCloseTo(a.valLoss, 5);
        expect(b?.trainAccuracy).toBe(a.trainAccuracy);
      }
      const diff = reference<{ sameKeys: boolean; maxAbsDiff: number }>('compare', {
        a: path.join(live.runDir, 'distill', 'last.safetensors'),
        b: path.join(cached.runDir, 'distill', 'last.safetensors'),
      });
      expect(diff.sameKeys).toBe(true);
      expect(diff.maxAbsDiff).toBeLessThan(1e-5);
    },
    60_000,
  );

  it("with 'live' views, runs the teacher on a fresh view each epoch", async () => {
    const events: ProgressEvent[] = [];
    const r = await distill(distillConfig(tempDir('fresh'), true, { teacherViews: 'live', augment: true, epochs: 1 }), {
      onProgress: (e) => events.push(e),
    });
    expect(r.teacherOutputs).toBeNull();
    expect(events.some((e) => e.type === 'phase' && e.message.includes('teacher outputs'))).toBe(false);
  }, 60_000);

  it('is saved beside the teacher and reused by a distillation with another alpha and temperature', async () => {
    const first = (await distill(distillConfig(tempDir('first'), true, { augment: true }))) as PhaseResult;
    const file = first.teacherOutputs?.file as string;
    expect(path.dirname(file)).toBe(path.join(path.dirname(teacherFile), 'teacher-outputs'));
    // images × views (the preset's teacherViews) × classes × float32
    expect(fs.statSync(file).size).toBe((first.teacherOutputs?.images as number) * 4 * 2 * 4);
    const events: ProgressEvent[] = [];
    const second = await distill(
      distillConfig(tempDir('second'), true, { augment: true, alpha: 0.7, temperature: 4 }),
      {
        onProgress: (e) => events.push(e),
      },
    );
    expect(second.teacherOutputs).toMatchObject({ source: 'file', file });
    expect(events.some((e) => e.type === 'phase' && e.message.includes(`read from ${file}`))).toBe(true);
  }, 60_000);

  it('keeps one view when nothing changes an image', async () => {
    const r = await distill(
      tinyConfig(data, tempDir('noflip'), {
        data: { ...FLIP_ONLY, hflip: 0 },
        distill: { teacher: teacherFile, epochs: 1 },
      }),
    );
    expect(r.teacherOutputs?.views).toBe(1);
  }, 60_000);
});
