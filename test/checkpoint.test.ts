import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { studentNet, Trainer, type TrainerOptions } from '../lib/index.js';
import { reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

describe('checkpoints', () => {
  it('resume gives exactly the next step that not stopping gives (model, Adam state, schedule)', async () => {
    const dir = tempDir('checkpoint');
    const batches = [1, 2, 3].map((seed) => referenceBatch(dir, [6, 3, 32, 32], seed));
    const options: TrainerOptions = {
      optimizer: { name: 'adam', lr: 0.01 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
      schedule: { name: 'cosine', totalSteps: 10 },
    };
    const config = { preset: 'test', lr: 0.01 };

    const straight = await studentNet({ inputSize: 32 });
    const trainer = await Trainer.create(straight, options);
    await trainer.studentStep(batches[0] as (typeof batches)[0]);
    await trainer.studentStep(batches[1] as (typeof batches)[0]);
    const checkpoint = path.join(dir, 'run', 'last.safetensors');
    fs.mkdirSync(path.dirname(checkpoint));
    await trainer.saveCheckpoint(checkpoint, { epoch: 1, config });
    expect(fs.readdirSync(path.dirname(checkpoint))).toEqual(['last.safetensors']);
    const lrAtStop = trainer.learningRate;
    await trainer.studentStep(batches[2] as (typeof batches)[0]);
    const straightWeights = path.join(dir, 'straight.safetensors');
    await straight.saveWeights(straightWeights);

    const resumed = await studentNet({ inputSize: 32 });
    const again = await Trainer.create(resumed, options);
    const info = await again.loadCheckpoint(checkpoint);
    expect(info).toMatchObject({ step: 2, epoch: 1, config, baseLr: 0.01, schedule: options.schedule });
    expect(again.step).toBe(2);
    expect(again.learningRate).toBe(lrAtStop);
    expect(lrAtStop).toBeLessThan(0.01);
    await again.studentStep(batches[2] as (typeof batches)[0]);
    const resumedWeights = path.join(dir, 'resumed.safetensors');
    await resumed.saveWeights(resumedWeights);

    expect(reference('compare', { a: straightWeights, b: resumedWeights })).toMatchObject({ maxAbsDiff: 0 });
  });

  it('refuses a checkpoint of another model, naming the file', async () => {
    const dir = tempDir('checkpoint-other');
    const small = await studentNet({ inputSize: 32 });
    const trainer = await Trainer.create(small, {
      optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    });
    const file = path.join(dir, 'c.safetensors');
    await trainer.saveCheckpoint(file, { epoch: 0 });
    const other = await Trainer.create(await studentNet({ inputSize: 64 }), {
      optimizer: { name: 'sgd', lr: 0.1 },
      loss: { mode: 'hinton', alpha: 0, temperature: 1 },
    });
    await expect(other.loadCheckpoint(file)).rejects.toMatchObject({ code: 'E_WEIGHTS_MISMATCH' });
    await expect(other.loadCheckpoint(file)).rejects.toThrow(`${file} does not fit the model`);
  });
});
