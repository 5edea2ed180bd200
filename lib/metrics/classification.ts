// Test-set metrics from a confusion matrix and class probabilities. With two classes they are the
// usual binary figures for the positive class; with more, macro averages over one-vs-rest.

export interface ClassificationMetrics {
  accuracy: number;
  precision: number;
  /** Sensitivity: the share of positives found. */
  recall: number;
  specificity: number;
  f1: number;
  /** Area under the ROC curve of the positive class's probability (ties count half). */
  rocAuc: number;
  /** rows: true class, columns: predicted class */
  confusion: number[][];
  /** The class the binary figures are about; null when they are macro averages. */
  positiveClass: string | null;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** One-vs-rest figures for class `k`. */
function oneVsRest(confusion: number[][], k: number) {
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const tp = confusion[k]?.[k] ?? 0;
  const actual = (confusion[k] ?? []).reduce((a, b) => a + b, 0);
  const predicted = confusion.reduce((sum, row) => sum + (row[k] ?? 0), 0);
  const fp = predicted - tp;
  const fn = actual - tp;
  const tn = total - tp - fp - fn;
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return { precision, recall, specificity: ratio(tn, tn + fp), f1: ratio(2 * precision * recall, precision + recall) };
}

/** Mann–Whitney AUC of `scores` for samples whose label is `positive`, with average ranks for ties. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, positive: number): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1] as number] === scores[order[start] as number]) end++;
    const rank = (start + end) / 2 + 1; // ranks are 1-based; tied scores share the average
    for (let i = start; i <= end; i++) {
      if (labels[order[i] as number] === positive) {
        positives++;
        rankSum += rank;
      }
    }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * @param probabilities row-major [N, C] class probabilities
 * @param positive the positive class index for two classes (ignored for more)
 */
export function classificationMetrics(
  confusion: number[][],
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: string[],
  positive: number,
): ClassificationMetrics {
  const classCount = classes.length;
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((sum, row, i) => sum + (row[i] ?? 0), 0);
  const aucOf = (k: number) =>
    rocAuc(
      Float64Array.from({ length: labels.length }, (_, n) => probabilities[n * classCount + k] as number),
      labels,
      k,
    );
  const base = { accuracy: ratio(correct, total), confusion };
  if (classCount === 2) {
    return {
      ...base,
      ...oneVsRest(confusion, positive),
      rocAuc: aucOf(positive),
      positiveClass: classes[positive] ?? null,
    };
  }
  const perClass = classes.map((_, k) => ({ ...oneVsRest(confusion, k), rocAuc: aucOf(k) }));
  const mean = (key: keyof (typeof perClass)[0]) => perClass.reduce((sum, m) => sum + m[key], 0) / classCount;
  return {
    ...base,
    precision: mean('precision'),
    recall: mean('recall'),
    specificity: mean('specificity'),
    f1: mean('f1'),
    rocAuc: mean('rocAuc'),
    positiveClass: null,
  };
}
