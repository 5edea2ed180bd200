// One image's answer, however the network ran (libtorch in predict(), onnxruntime in the ONNX classifier).

export interface Prediction {
  /** The predicted class name and index. */
  class: string;
  index: number;
  /** Probability per class name. */
  probabilities: Record<string, number>;
}

/** The prediction for one image's class probabilities. */
export function prediction(probabilities: ArrayLike<number>, classes: readonly string[]): Prediction {
  let index = 0;
  for (let k = 1; k < classes.length; k++)
    if ((probabilities[k] as number) > (probabilities[index] as number)) index = k;
  return {
    class: classes[index] as string,
    index,
    probabilities: Object.fromEntries(classes.map((name, k) => [name, probabilities[k] as number])),
  };
}

/** Softmax of one row of logits, shifted by its maximum. */
export function softmax(logits: ArrayLike<number>): number[] {
  const row = Array.from(logits);
  const top = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}
