// Graph-replayed training steps (TrainerOptions.graphs, native/core/step_graph.h). A CPU has no
// CUDA graphs, so CI runs the trainer's graph bookkeeping (static inputs, warm-up, capture, replay,
// a graph per batch shape) with the CPU stand-in, whose replay re-runs the captured step on the
// static inputs — exactly what a CUDA graph replays. scripts/device/gpu-check.sh runs the same
// comparison with real CUDA graphs.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Batch, type Model, resnet18, studentNet, Trainer, type TrainerOptions } from '../lib/index.js';
import { reference } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

const dir = tempDir('step-graphs');
const options: TrainerOptions = {
  optimizer: { name: 'adam', lr: 1e-3 },
  loss: { mode: 'hinton', alpha: 0.5, temperature: 2 },
};

/** A seeded batch of N images 3×64×64 with labels 0/1: every call another batch, so a step that read a stale one shows. */
function batchOf(n: number, seed: number): Batch {
  let state = seed * 2654435761 + 1;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const images = Float32Array.from({ length: n * 3 * 64 * 64 }, () => next() * 4 - 2);
  const labels = Int32Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1));
  return { images, shape: [n, 3, 64, 64], labels };
}

function logitsFor(n: number, seed: number): Float32Array {
  return Float32Array.from(batchOf(n, seed).images.subarray(0, n * 2), (v) => v * 3);
}

// Two epochs of 6 full batches and a smaller last one: the full shape warms up (3 steps), is captured
// and replayed; the last batch's shape gets its own warm-up steps.
const schedule = Array.from({ length: 14 }, (_, i) => ({ n: i % 7 === 6 ? 5 : 8, seed: 100 + i }));

async function trained(
  graphs: 'none' | 'replayed',
  run: (trainer: Trainer, step: { n: number; seed: number }) => Promise<void>,
  teacher?: Model,
) {
  const student = await studentNet({ inputSize: 64, seed: 7 });
  const trainer = await Trainer.create(student, { ...options, graphs, ...(teacher ? { teacher } : {}) });
  for (const step of schedule) await run(trainer, step);
  const file = path.join(dir, `${graphs}-${Math.random().toString(36).slice(2)}.safetensors`);
  await student.saveWeights(file);
  return { file, metrics: await trainer.takeMetrics() };
}

/** `calls`: trainer steps per schedule entry. */
async function expectSameTraining(run: Parameters<typeof trained>[1], calls: number, teacher?: Model) {
  const eager = await trained('none', run, teacher);
  const replayed = await trained('replayed', run, teacher);
  const { maxAbsDiff } = reference<{ maxAbsDiff: number }>('compare', { a: eager.file, b: replayed.file });
  expect(maxAbsDiff).toBe(0);
  expect(replayed.metrics).toEqual(eager.metrics);
  expect(eager.metrics.count).toBe(calls * schedule.reduce((sum, step) => sum + step.n, 0));
}

describe('graph-replayed steps train exactly as eager ones', () => {
  it('studentStep: every parameter and BatchNorm statistic equal after warm-up, capture and replays of two shapes', async () => {
    await expectSameTraining((trainer, { n, seed }) => trainer.studentStep(batchOf(n, seed)), 1);
  });

  it('distillStep, live teacher and cached teacher outputs interleaved (a graph each)', async () => {
    const teacher = await resnet18({ seed: 3 });
    await expectSameTraining(
      async (trainer, { n, seed }) => {
        await trainer.distillStep(batchOf(n, seed));
        await trainer.distillStep(batchOf(n, seed + 1000), logitsFor(n, seed));
      },
      2,
      teacher,
    );
  });
});

describe('graphs: cuda', () => {
  it('refuses a model that is not on a CUDA device, saying so', async () => {
    const student = await studentNet({ inputSize: 64 });
    await expect(Trainer.create(student, { ...options, graphs: 'cuda' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining("stepGraphs 'cuda' needs the model on a CUDA device, not cpu"),
    });
  });
});
