// A kdtorch model exported to ONNX, classifying images with onnxruntime-node and sharp only: no libtorch,
// no kdtorch addon (kdtorch/onnx imports nothing that loads them). The description comes from the file's
// metadata_props; images are decoded and resized as in training, by sharp (docs/data-parity.md gives
// how close sharp's pixels come to the native decoder's, which needs the addon).
import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { DECODE_SETTINGS, decodeBytes, decodeImage } from '../data/decode.js';
import { KdtorchError } from '../errors.js';
import type { ModelDescription } from '../model-description.js';
import { type Prediction, prediction } from '../prediction.js';
import { readOnnxExport } from './read-export.js';
import { sessionOptions } from './session-options.js';

export interface OnnxClassifier {
  readonly description: ModelDescription;
  /** 'uint8' when the graph normalises NHWC pixels itself, 'float' when it takes normalised NCHW floats. */
  readonly input: 'float' | 'uint8';
  /** Classifies image files or encoded images (JPEG, PNG, …), in one run when the graph's batch is dynamic. */
  predict(images: ReadonlyArray<string | Uint8Array>): Promise<Prediction[]>;
  /** Frees onnxruntime's session. */
  close(): Promise<void>;
}

export interface OnnxClassifierOptions {
  /** onnxruntime's intra-op threads (default: its own choice). */
  threads?: number;
}

const SHARP_ONLY = { ...DECODE_SETTINGS, nativeJpeg: false };

export async function loadOnnxClassifier(file: string, options: OnnxClassifierOptions = {}): Promise<OnnxClassifier> {
  const bytes = await readFile(file).catch((error: Error) => {
    throw new KdtorchError('E_BAD_WEIGHTS_FILE', `${file}: cannot read (${error.message})`, { file, cause: error });
  });
  const { description, input, dynamicBatch } = readOnnxExport(file, bytes);
  const ort = await onnxruntime();
  const session = await ort.InferenceSession.create(bytes, sessionOptions(description, options.threads));
  const { imageSize: size, channels, mean, std, classes } = description;

  const feed = (pixels: Uint8Array[]): Ort.Tensor => {
    const n = pixels.length;
    if (input === 'uint8') {
      const data = new Uint8Array(n * size * size * channels);
      for (const [i, p] of pixels.entries()) data.set(p, i * p.length);
      return new ort.Tensor('uint8', data, [n, size, size, channels]);
    }
    // HWC pixels → normalised CHW floats, as the training loader feeds the network.
    const data = new Float32Array(n * channels * size * size);
    for (const [i, p] of pixels.entries()) {
      for (let c = 0; c < channels; c++) {
        const scale = 1 / (255 * (std[c] as number));
        const shift = (mean[c] as number) / (std[c] as number);
        const plane = (i * channels + c) * size * size;
        for (let k = 0; k < size * size; k++) data[plane + k] = (p[k * channels + c] as number) * scale - shift;
      }
    }
    return new ort.Tensor('float32', data, [n, channels, size, size]);
  };
  const run = async (pixels: Uint8Array[]): Promise<Prediction[]> => {
    const { probabilities } = await session.run({ [input === 'uint8' ? 'pixels' : 'input']: feed(pixels) });
    const rows = (probabilities as Ort.Tensor).data as Float32Array;
    return pixels.map((_, n) => prediction(rows.subarray(n * classes.length, (n + 1) * classes.length), classes));
  };

  return {
    description,
    input,
    async predict(images) {
      const target = { height: size, width: size, channels };
      const pixels = await Promise.all(
        images.map((image, i) =>
          typeof image === 'string'
            ? decodeImage(image, target, SHARP_ONLY)
            : decodeBytes(image, target, `images[${i}]`, SHARP_ONLY),
        ),
      );
      if (dynamicBatch) return pixels.length === 0 ? [] : run(pixels);
      const out: Prediction[] = [];
      for (const p of pixels) out.push(...(await run([p])));
      return out;
    },
    close: () => session.release(),
  };
}

/** onnxruntime-node, an optional peer dependency of kdtorch: only this entry point needs it. */
async function onnxruntime(): Promise<typeof Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (error) {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      `kdtorch/onnx needs onnxruntime-node: npm install onnxruntime-node (${(error as Error).message})`,
      { cause: error },
    );
  }
}
