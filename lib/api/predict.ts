// predict(): classifying images with a trained model, decoded exactly as its training images were.
import { decodeBytes, decodeImage } from '../data/decode.js';
import { type DescribedModel, loadModel, type ModelDescription } from '../model-file.js';
import { type Prediction, prediction, softmax } from '../prediction.js';

export type { Prediction } from '../prediction.js';

/** Classifies image files or encoded image bytes (JPEG, PNG, …) with a trained model. */
export async function predict(
  model: string | DescribedModel,
  images: ReadonlyArray<string | Uint8Array>,
): Promise<Prediction[]> {
  const described = typeof model === 'string' ? await loadModel(model) : model;
  const decoded = await Promise.all(images.map((image, i) => decodeFor(described.description, image, `images[${i}]`)));
  return classifyPixels(described, decoded);
}

/** One image as the model takes it: imageSize² × channels uint8, decoded as in training. */
export function decodeFor(
  description: ModelDescription,
  image: string | Uint8Array,
  name: string,
): Promise<Uint8Array> {
  const size = { height: description.imageSize, width: description.imageSize, channels: description.channels };
  return typeof image === 'string' ? decodeImage(image, size) : decodeBytes(image, size, name);
}

/** Decoded images (decodeFor's) through the network in one call. */
export async function classifyPixels(
  { model, description }: DescribedModel,
  decoded: Uint8Array[],
): Promise<Prediction[]> {
  const { imageSize, channels, mean, std, classes } = description;
  const pixels = new Uint8Array(decoded.length * imageSize * imageSize * channels);
  for (const [i, d] of decoded.entries()) pixels.set(d, i * d.length);
  await model.eval();
  const logits = await model.forward({ pixels, shape: [decoded.length, imageSize, imageSize, channels], mean, std });
  const classCount = classes.length;
  return decoded.map((_, n) =>
    prediction(softmax(logits.data.subarray(n * classCount, (n + 1) * classCount)), classes),
  );
}
