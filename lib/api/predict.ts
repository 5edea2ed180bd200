// predict(): classifying images with a trained model, decoded exactly as its training images were.
import { decodeBytes, decodeImage } from '../data/decode.js';
import { type DescribedModel, loadModel } from '../model-file.js';
import { type Prediction, prediction, softmax } from '../prediction.js';

export type { Prediction } from '../prediction.js';

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
  return decoded.map((_, n) =>
    prediction(softmax(logits.data.subarray(n * classCount, (n + 1) * classCount)), classes),
  );
}
