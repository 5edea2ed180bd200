// predict(): classifying images with a trained model, decoded exactly as its training images were.
import { decodeBytes, decodeImage } from '../data/decode.js';
import { type DescribedModel, loadModel } from '../model-file.js';

export interface Prediction {
  /** The predicted class name and index. */
  class: string;
  index: number;
  /** Probability per class name. */
  probabilities: Record<string, number>;
}

/** Classifies image files or encoded image bytes (JPEG, PNG, …) with a trained model. */
export async function predict(
  model: string | DescribedModel,
  images: ReadonlyArray<string | Uint8Array>,
): Promise<Prediction[]> {
  const { model: network, description } = typeof model === 'string' ? await loadModel(model) : model;
  const { imageSize, channels, mean, std, classes } = description;
  const size = { height: imageSize, width: imageSize, channels };
  const decoded = await Promise.all(
    images.map((image, i) =>
      typeof image === 'string' ? decodeImage(image, size) : decodeBytes(image, size, `images[${i}]`),
    ),
  );
  const pixels = new Uint8Array(decoded.length * imageSize * imageSize * channels);
  for (const [i, d] of decoded.entries()) pixels.set(d, i * d.length);
  await network.eval();
  const logits = await network.forward({ pixels, shape: [decoded.length, imageSize, imageSize, channels], mean, std });
  const classCount = classes.length;
  return decoded.map((_, n) => {
    const row = Array.from(logits.data.subarray(n * classCount, (n + 1) * classCount));
    const top = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    const index = row.indexOf(top);
    return {
      class: classes[index] as string,
      index,
      probabilities: Object.fromEntries(classes.map((name, k) => [name, (exps[k] as number) / total])),
    };
  });
}
