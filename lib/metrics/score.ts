// Scoring a model on a list of samples: loss, confusion, probabilities, and the test metrics.

import type { SkippedImage } from '../data/data-loader.js';
import { type Dataset, evalLoader } from '../data/dataset.js';
import type { Sample } from '../data/image-folder.js';
import { KdtorchError } from '../errors.js';
import { Evaluation } from '../native/evaluation.js';
import type { Model } from '../native/model.js';
import { type ClassificationMetrics, classificationMetrics } from './classification.js';

export interface SplitScore {
  loss: number;
  accuracy: number;
  count: number;
}

/** Mean cross-entropy and accuracy over `samples` (model in eval mode). */
export async function scoreSplit(model: Model, dataset: Dataset, samples: Sample[], batchSize: number) {
  await using evaluation = await Evaluation.create(model);
  const labels: number[] = [];
  const loader = evalLoader(dataset, samples, batchSize);
  for await (const batch of loader.epoch(0)) {
    await evaluation.add(batch);
    labels.push(...batch.labels);
    loader.recycle(batch);
  }
  const sums = await evaluation.read();
  const score: SplitScore = {
    loss: sums.count === 0 ? Number.NaN : sums.lossSum / sums.count,
    accuracy: sums.count === 0 ? Number.NaN : sums.correct / sums.count,
    count: sums.count,
  };
  return { score, sums, labels, skipped: loader.skipped };
}

/** The index of config.positiveClass, or the last class when it is null. */
export function positiveIndex(classes: string[], positiveClass: string | null): number {
  if (positiveClass === null) return classes.length - 1;
  const index = classes.indexOf(positiveClass);
  if (index < 0) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `positiveClass '${positiveClass}' is not one of the dataset's classes (${classes.join(', ')})`,
      { field: 'positiveClass' },
    );
  }
  return index;
}

export interface TestReport extends ClassificationMetrics {
  loss: number;
  count: number;
  /** Images of the split left out under data.onBadImage 'skip', with the reason. */
  skipped: SkippedImage[];
}

/** Loss, accuracy, precision/recall/specificity/F1/AUC and confusion over `samples`. */
export async function testReport(
  model: Model,
  dataset: Dataset,
  samples: Sample[],
  batchSize: number,
  positiveClass: string | null,
): Promise<TestReport> {
  const { classes } = dataset.splits;
  const { score, sums, labels, skipped } = await scoreSplit(model, dataset, samples, batchSize);
  const metrics = classificationMetrics(
    sums.confusion,
    sums.probabilities.data,
    labels,
    classes,
    positiveIndex(classes, positiveClass),
  );
  return { ...metrics, loss: score.loss, count: score.count, skipped };
}
