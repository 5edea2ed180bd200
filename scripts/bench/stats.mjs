// The statistics the benches report: medians, mean ± sample sd, and a paired difference in standard errors.

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function meanSd(values) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(values.length - 1, 1));
  return { mean, sd };
}

/** b − a over paired runs (same seed): its mean, standard error and the mean in standard errors. */
export function pairedDifference(a, b) {
  const { mean, sd } = meanSd(b.map((value, i) => value - a[i]));
  const se = sd / Math.sqrt(a.length);
  return { mean, se, inSe: se > 0 ? mean / se : 0 };
}
