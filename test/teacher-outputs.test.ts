// The teacher-output cache is exact: distilling from cached teacher logits gives the losses and
// weights that running the teacher every step gives, and a second distillation reuses the file.
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
const distillConfig = (output: string, teacherCache: boolean, more = {}) =>
  tinyConfig(data, output, {
    distill: {
      teacher: teacherFile,
      teacherCache,
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
      epochs: 3,
      ...more,
    },
  });

describe('teacher-output cache', () => {
  it('gives the losses and weights of running the teacher every step (flips included)', async () => {
    const live = await distill(distillConfig(tempDir('live'), false));
    const cached = await distill(distillConfig(tempDir('cached'), true));
    expect(live.teacherOutputs).toBeNull();
    expect(cached.teacherOutputs).toMatchObject({
      source: 'computed',
      views: 2,
      images: live.history.length ? expect.any(Number) : 0,
    });
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
  }, 60_000);

  it('is saved beside the teacher and reused by a distillation with another alpha and temperature', async () => {
    const first = (await distill(distillConfig(tempDir('first'), true))) as PhaseResult;
    const file = first.teacherOutputs?.file as string;
    expect(path.dirname(file)).toBe(path.join(path.dirname(teacherFile), 'teacher-outputs'));
    expect(fs.statSync(file).size).toBe((first.teacherOutputs?.images as number) * 2 * 2 * 4);
    const events: ProgressEvent[] = [];
    const second = await distill(distillConfig(tempDir('second'), true, { alpha: 0.7, temperature: 4 }), {
      onProgress: (e) => events.push(e),
    });
    expect(second.teacherOutputs).toMatchObject({ source: 'file', file });
    expect(events.some((e) => e.type === 'phase' && e.message.includes(`read from ${file}`))).toBe(true);
  }, 60_000);

  it('keeps one view when there is no flip', async () => {
    const r = await distill(
      tinyConfig(data, tempDir('noflip'), { data: { hflip: 0 }, distill: { teacher: teacherFile, epochs: 1 } }),
    );
    expect(r.teacherOutputs?.views).toBe(1);
  }, 60_000);
});
