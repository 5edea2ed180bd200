// Scoring a model on a list of samples: loss, confusion, probabilities, and the test metrics.

import type { SkippedImage } from '../data/data-loader.js';
import { type Dataset, evalLoader } from '../data/dataset.js';
import type { Sample } from '../data/image-folder.js';
import { KdtorchError } from '../errors.js';
import { Evaluation } from '../native/evaluation.js';
import type { Model } from '../native/model.js';
import type { ProcessGroup } from '../native/process-group.js';
import { type ClassificationMetrics, classificationMetrics } from './classification.js';

export interface SplitScore {
  loss: number;
  accuracy: number;
  count: number;
}

/**
 * Mean cross-entropy and accuracy over `samples` (model in eval mode). With a process group each rank
 * scores every `worldSize`-th sample from its rank on, and every rank gets the sums over all of them:
 * loss, counts and confusion summed, probabilities, labels and skipped images gathered in rank order.
 */
export async function scoreSplit(
  model: Model,
  dataset: Dataset,
  samples: Sample[],
  batchSize: number,
  group?: ProcessGroup,
) {
  const mine = group ? samples.filter((_, i) => i % group.worldSize === group.rank) : samples;
  await using evaluation = await Evaluation.create(model);
  let labels: number[] = [];
  const loader = evalLoader(dataset, mine, batchSize);
  for await (const batch of loader.epoch(0)) {
    await evaluation.add(batch);
    labels.push(...batch.labels);
    loader.recycle(batch);
  }
  let sums = await evaluation.read();
  let skipped = loader.skipped;
  if (group) {
    const classes = sums.confusion.length;
    const [lossSum = 0, correct = 0, count = 0, ...confusion] = await group.sum([
      sums.lossSum,
      sums.correct,
      sums.count,
      ...sums.confusion.flat(),
    ]);
    const probabilities = await group.gather(sums.probabilities.data);
    labels = [...(await group.gather(labels))];
    skipped = await group.gatherJson(skipped);
    sums = {
      lossSum,
      correct,
      count,
      confusion: Array.from({ length: classes }, (_, i) => confusion.slice(i * classes, (i + 1) * classes)),
      probabilities: { data: Float32Array.from(probabilities), shape: [count, classes] },
    };
  }
  const score: SplitScore = {
    loss: sums.count === 0 ? Number.NaN : sums.lossSum / sums.count,
    accuracy: sums.count === 0 ? Number.NaN : sums.correct / sums.count,
    count: sums.count,
  };
  return { score, sums, labels, skipped };
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
  group?: ProcessGroup,
): Promise<TestReport> {
  const { classes } = dataset.splits;
  const { score, sums, labels, skipped } = await scoreSplit(model, dataset, samples, batchSize, group);
  const metrics = classificationMetrics(
    sums.confusion,
    sums.probabilities.data,
    labels,
    classes,
    positiveIndex(classes, positiveClass),
  );
  return { ...metrics, loss: score.loss, count: score.count, skipped };
}
