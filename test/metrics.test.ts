import { describe, expect, it } from 'vitest';
import { seededRandom } from '../lib/data/random.js';
import { classificationMetrics, rocAuc, studentNet } from '../lib/index.js';
import { measureLatency } from '../lib/metrics/latency.js';

/** AUC by its definition: P(score of a positive > score of a negative), ties counting half. */
function pairwiseAuc(scores: number[], labels: number[], positive: number): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== positive) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] === positive) continue;
      pairs++;
      wins += (scores[i] as number) > (scores[j] as number) ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('classification metrics', () => {
  it('ROC AUC equals the pairwise definition, ties included', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 20; trial++) {
      // Scores rounded to tenths so that ties are common.
      const labels = Array.from({ length: 60 }, () => (random() < 0.4 ? 1 : 0));
      const scores = labels.map((y) => Math.round((random() + 0.3 * y) * 10) / 10);
      expect(rocAuc(scores, labels, 1)).toBeCloseTo(pairwiseAuc(scores, labels, 1), 12);
    }
    expect(rocAuc([0.1, 0.9], [0, 1], 1)).toBe(1);
    expect(rocAuc([0.5, 0.5], [0, 1], 1)).toBe(0.5);
    expect(rocAuc([0.5, 0.7], [1, 1], 1)).toBeNaN();
  });

  it('gives the binary figures of the positive class from the confusion matrix', () => {
    // rows true, columns predicted: TN 50, FP 10, FN 5, TP 95
    const confusion = [
      [50, 10],
      [5, 95],
    ];
    const labels = [0, 0, 1, 1];
    const m = classificationMetrics(
      confusion,
      [0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.2, 0.8],
      labels,
      ['NORMAL', 'PNEUMONIA'],
      1,
    );
    expect(m.accuracy).toBeCloseTo(145 / 160, 15);
    expect(m.precision).toBeCloseTo(95 / 105, 15);
    expect(m.recall).toBeCloseTo(95 / 100, 15);
    expect(m.specificity).toBeCloseTo(50 / 60, 15);
    expect(m.f1).toBeCloseTo((2 * 95) / (2 * 95 + 10 + 5), 15);
    expect(m.rocAuc).toBe(1);
    expect(m.positiveClass).toBe('PNEUMONIA');
    // The other class as positive swaps sensitivity and specificity.
    const flipped = classificationMetrics(
      confusion,
      [0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.2, 0.8],
      labels,
      ['NORMAL', 'PNEUMONIA'],
      0,
    );
    expect(flipped.recall).toBeCloseTo(m.specificity, 15);
    expect(flipped.specificity).toBeCloseTo(m.recall, 15);
  });

  it('macro-averages one-vs-rest figures for more than two classes', () => {
    const confusion = [
      [5, 1, 0],
      [2, 6, 2],
      [0, 0, 4],
    ];
    const m = classificationMetrics(confusion, new Float64Array(0), [], ['a', 'b', 'c'], 2);
    const recalls = [5 / 6, 6 / 10, 4 / 4];
    const precisions = [5 / 7, 6 / 7, 4 / 6];
    expect(m.recall).toBeCloseTo(recalls.reduce((a, b) => a + b) / 3, 15);
    expect(m.precision).toBeCloseTo(precisions.reduce((a, b) => a + b) / 3, 15);
    expect(m.accuracy).toBeCloseTo(15 / 20, 15);
    expect(m.positiveClass).toBeNull();
  });
});

describe('measureLatency', () => {
  it('times at least `repeats` passes and 250 ms, reporting the median between its p10 and p90', async () => {
    const model = await studentNet({ inputSize: 32 });
    const description = {
      architecture: 'studentNet' as const,
      classes: ['a', 'b'],
      imageSize: 32,
      channels: 3 as const,
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    };
    const [row] = await measureLatency(model, description, [1], 3);
    if (!row) throw new Error('no row');
    expect(row.passes).toBeGreaterThanOrEqual(3);
    expect(row.passes).toBeLessThanOrEqual(30);
    // A sub-millisecond student cannot fill 250 ms in 3 passes: it runs the 10 × repeats cap.
    if (row.p90 < 1) expect(row.passes).toBe(30);
    expect(row.p10).toBeLessThanOrEqual(row.msPerBatch);
    expect(row.msPerBatch).toBeLessThanOrEqual(row.p90);
    expect(row.unstable).toBe((row.p90 - row.p10) / row.msPerBatch > 1);
  });
});
