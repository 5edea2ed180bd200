import { describe, expect, it } from 'vitest';
import { distillationLoss, type LossOptions } from '../lib/index.js';
import { reference } from './helpers/reference.js';

/** Deterministic logits spread over about ±6, so some softmax entries are tiny. */
function logits(n: number, c: number, seed: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < out.length; i++) out[i] = 6 * Math.sin(seed * 12.9898 + i * 78.233);
  return out;
}

function relativeError(ours: ArrayLike<number>, theirs: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ours.length; i++) {
    diff = Math.max(diff, Math.abs((ours[i] as number) - (theirs[i] as number)));
    norm = Math.max(norm, Math.abs(theirs[i] as number));
  }
  return diff / norm;
}

describe('the fused distillation loss', () => {
  const cases: [string, LossOptions, number][] = [];
  for (const mode of ['hinton', 'article'] as const) {
    for (const temperature of [1, 2, 4]) {
      for (const alpha of [0, 0.25, 0.7, 1])
        cases.push([`${mode} T=${temperature} α=${alpha}`, { mode, alpha, temperature }, 2]);
    }
  }
  cases.push([
    'hinton with class weights and label smoothing',
    { mode: 'hinton', alpha: 0.4, temperature: 3, classWeights: [0.3, 1.7, 1], labelSmoothing: 0.1 },
    3,
  ]);
  cases.push([
    'article with class weights, 5 classes',
    { mode: 'article', alpha: 0.25, temperature: 1, classWeights: [1, 2, 3, 4, 5] },
    5,
  ]);

  it.each(cases)(
    'matches autograd of the textbook formula in float64 (%s): relative error ≤ 1e-9',
    async (_, loss, classes) => {
      const n = 7;
      const student = logits(n, classes, 1);
      const teacher = logits(n, classes, 2);
      const labels = Int32Array.from({ length: n }, (_, i) => (i * 5) % classes);
      const ours = await distillationLoss(student, teacher, [n, classes], labels, loss);
      const theirs = reference<{ total: number; ce: number; kd: number; grad: number[] }>('loss-grad', {
        student: Array.from(student),
        teacher: Array.from(teacher),
        labels: Array.from(labels),
        shape: [n, classes],
        loss,
      });
      expect(Math.abs(ours.total - theirs.total) / Math.abs(theirs.total)).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(ours.kd - theirs.kd)).toBeLessThanOrEqual(1e-9 * Math.abs(theirs.kd) + 1e-15);
      expect(relativeError(ours.grad, theirs.grad)).toBeLessThanOrEqual(1e-9);
    },
  );

  it('in article mode is the article’s nn.KLDivLoss(): half of batchmean for two classes, no T²', async () => {
    const [n, c] = [6, 2];
    const student = logits(n, c, 3);
    const teacher = logits(n, c, 4);
    const labels = new Int32Array(n);
    const at = async (mode: 'hinton' | 'article', temperature: number) =>
      (await distillationLoss(student, teacher, [n, c], labels, { mode, alpha: 1, temperature })).kd;
    expect(await at('article', 1)).toBeCloseTo((await at('hinton', 1)) / 2, 12);
    expect(await at('article', 3)).toBeCloseTo((await at('hinton', 3)) / 2 / 9, 12);
  });

  it('rejects settings outside their range, naming them', async () => {
    const one = new Float64Array(2);
    const run = (loss: LossOptions) => distillationLoss(one, one, [1, 2], new Int32Array(1), loss);
    await expect(run({ mode: 'hinton', alpha: 1.5, temperature: 1 })).rejects.toThrow('alpha must be in [0, 1]');
    await expect(run({ mode: 'hinton', alpha: 0.5, temperature: 0 })).rejects.toThrow('temperature must be > 0');
    await expect(run({ mode: 'hinton', alpha: 0.5, temperature: 1, classWeights: [1] })).rejects.toThrow(
      'one weight per class',
    );
    // biome-ignore lint/suspicious/noExplicitAny: an invalid mode on purpose
    await expect(run({ mode: 'mean' as any, alpha: 0.5, temperature: 1 })).rejects.toThrow(
      "loss.mode must be 'hinton' or 'article'",
    );
  });
});
