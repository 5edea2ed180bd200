// Native memory V8 can see and free: models, trainers and evaluations disposed explicitly (or by
// `await using`), models merely dropped, which the GC collects because the addon reports their tensors'
// size (napi_adjust_external_memory), and many predictions in a row.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DescribedModel,
  Evaluation,
  KdtorchError,
  predict,
  resnet18,
  studentNet,
  Trainer,
  trainStudent,
} from '../lib/index.js';
import { tempDir } from './helpers/run.js';
import { chestStudent, DEMO_DATA, tinyChestXray, tinyConfig } from './helpers/tiny-dataset.js';

const MB = 2 ** 20;
const rss = () => process.memoryUsage().rss;

async function released(call: Promise<unknown>): Promise<void> {
  const error: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KdtorchError);
  expect((error as KdtorchError).code).toBe('E_RELEASED');
}

const batch = (n: number, size: number) => ({
  images: new Float32Array(n * 3 * size * size).map((_, i) => Math.sin(i)),
  shape: [n, 3, size, size],
  labels: new Int32Array(n).map((_, i) => i % 2),
});

describe('memory', () => {
  it('keeps RSS flat over 1,000 ResNet-18 create/dispose cycles, and over cycles that only drop the model', async () => {
    await (await resnet18({ numClasses: 2 })).dispose();
    const start = rss();
    for (let i = 0; i < 1000; i++) await (await resnet18({ numClasses: 2 })).dispose();
    // 1,000 × 44.7 MB of weights would be 44 GB if any stayed.
    expect(rss() - start).toBeLessThan(150 * MB);

    for (let i = 0; i < 100; i++) await resnet18({ numClasses: 2 }); // dropped: only the GC frees them
    expect(rss() - start).toBeLessThan(1500 * MB);

    const model = await resnet18({ numClasses: 2 });
    await model.dispose();
    await released(model.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] }));
  }, 600_000);

  it('keeps RSS flat over 10,000 predictions', async () => {
    const folder = path.join(DEMO_DATA, 'test', 'NORMAL');
    const image = fs.readFileSync(path.join(folder, fs.readdirSync(folder).sort()[0] as string));
    const described: DescribedModel = {
      model: await studentNet({ inputSize: 64 }),
      description: chestStudent(64),
    };
    const first = await predict(described, [image]);
    for (let i = 0; i < 1000; i++) await predict(described, [image]);
    const start = rss();
    for (let i = 0; i < 9000; i++) await predict(described, [image]);
    expect(rss() - start).toBeLessThan(32 * MB);
    expect(await predict(described, [image])).toEqual(first);
  }, 600_000);

  it('frees a trainer’s optimizer state and an evaluation’s sums on dispose, at the end of an `await using` scope', async () => {
    const model = await studentNet({ inputSize: 32 });
    const options = {
      optimizer: { name: 'adam' as const, lr: 0.01 },
      loss: { mode: 'hinton' as const, alpha: 0, temperature: 1 },
    };
    const teacher = await resnet18({ numClasses: 2 });
    await (await Trainer.create(teacher, options)).dispose();
    const start = rss();
    // Adam keeps two moments per parameter: 2 × 44.7 MB per trainer of ResNet-18 if any stayed.
    for (let i = 0; i < 50; i++) await (await Trainer.create(teacher, options)).dispose();
    expect(rss() - start).toBeLessThan(100 * MB);

    let kept: Trainer | undefined;
    {
      await using trainer = await Trainer.create(model, options);
      await trainer.studentStep(batch(4, 32));
      kept = trainer;
    }
    await released(kept.studentStep(batch(4, 32)));
    // The model outlives its trainer.
    const { images, shape } = batch(2, 32);
    expect((await model.forward({ data: images, shape })).shape).toEqual([2, 2]);

    let keptEvaluation: Evaluation | undefined;
    {
      await using evaluation = await Evaluation.create(model);
      await evaluation.add(batch(4, 32));
      expect((await evaluation.read()).count).toBe(4);
      keptEvaluation = evaluation;
    }
    await released(keptEvaluation.read());
    {
      await using disposedModel = await studentNet({ inputSize: 32 });
      kept = await Trainer.create(disposedModel, options);
    }
    await released(kept.studentStep(batch(4, 32))); // the trainer's model went with its scope
  }, 600_000);

  it('keeps RSS flat over repeated trainStudent runs in one process (nothing kept per run)', async () => {
    const data = tinyChestXray();
    const run = () => trainStudent(tinyConfig(data, tempDir('out'), { student: { epochs: 1 } }));
    for (let i = 0; i < 20; i++) await run(); // glibc's arenas and libtorch's caches settle
    const start = rss();
    const exitHooks = process.listenerCount('exit');
    for (let i = 0; i < 20; i++) await run();
    expect(rss() - start).toBeLessThan(24 * MB);
    expect(process.listenerCount('exit')).toBe(exitHooks);
  }, 600_000);
});
