import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Evaluation, studentNet } from '../lib/index.js';
import { maxAbsDiff, reference, referenceBatch } from './helpers/reference.js';
import { tempDir } from './helpers/run.js';

describe('Evaluation', () => {
  it('sums loss, correct answers, confusion and probabilities over batches as PyTorch’s logits give them', async () => {
    const dir = tempDir('evaluation');
    const spec = { arch: 'studentNet', numClasses: 3, inputSize: 32 };
    const weights = path.join(dir, 'w.safetensors');
    reference('make-weights', { ...spec, safetensors: weights, seed: 4 });
    const model = await studentNet({ numClasses: 3, inputSize: 32 });
    await model.loadWeights(weights);
    await model.train(); // the evaluation must switch to eval mode by itself
    const evaluation = await Evaluation.create(model);

    let lossSum = 0;
    let correct = 0;
    const confusion = [0, 1, 2].map(() => [0, 0, 0]);
    const probabilities: number[] = [];
    for (const seed of [7, 8]) {
      const batch = referenceBatch(dir, [5, 3, 32, 32], seed, 3);
      await evaluation.add(batch);
      const { logits } = reference<{ logits: number[] }>('forward', {
        ...spec,
        ...batch.files,
        shape: batch.shape,
        weights,
      });
      batch.labels.forEach((label, i) => {
        const row = logits.slice(i * 3, i * 3 + 3);
        const max = Math.max(...row);
        const sum = row.reduce((acc, v) => acc + Math.exp(v - max), 0);
        lossSum += -(row[label] as number) + max + Math.log(sum);
        const predicted = row.indexOf(max);
        if (predicted === label) correct++;
        (confusion[label] as number[])[predicted] = ((confusion[label] as number[])[predicted] as number) + 1;
        probabilities.push(...row.map((v) => Math.exp(v - max) / sum));
      });
    }
    const result = await evaluation.read();
    expect(result.count).toBe(10);
    expect(result.correct).toBe(correct);
    expect(result.confusion).toEqual(confusion);
    expect(Math.abs(result.lossSum - lossSum)).toBeLessThan(1e-4);
    expect(result.probabilities.shape).toEqual([10, 3]);
    expect(maxAbsDiff(result.probabilities.data, probabilities)).toBeLessThan(1e-5);
    expect(model.training).toBe(false);
  });
});
