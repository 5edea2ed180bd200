// A trained model on disk: safetensors weights plus, in the header's metadata, what is needed to
// use them (architecture, classes, input size, normalisation), so loadModel() needs only the path.
import fs from 'node:fs';
import { KdtorchError } from './errors.js';
import { type Model, type ResNet18Options, resnet18, studentNet } from './native/model.js';

export interface ModelDescription {
  architecture: 'resnet18' | 'studentNet';
  classes: string[];
  imageSize: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  /** studentNet's convolution channels. */
  width?: number;
}

/** A model together with what its inputs and outputs mean. */
export interface DescribedModel {
  model: Model;
  description: ModelDescription;
}

/** Builds the network a description names, with fresh weights. */
export function createModel(
  description: ModelDescription,
  options: Pick<ResNet18Options, 'device' | 'seed' | 'autocast' | 'channelsLast'>,
) {
  const common = { ...options, numClasses: description.classes.length, inChannels: description.channels };
  return description.architecture === 'resnet18'
    ? resnet18(common)
    : studentNet({ ...common, inputSize: description.imageSize, width: description.width ?? 4 });
}

/** The `__metadata__` of a safetensors file, read from its JSON header. */
function safetensorsMetadata(file: string): Record<string, string> {
  let header: { __metadata__?: Record<string, string> };
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const length = Buffer.alloc(8);
      fs.readSync(fd, length, 0, 8, 0);
      const size = Number(length.readBigUInt64LE());
      if (size <= 0 || size > 100 * 2 ** 20) throw new Error('not a safetensors file');
      const text = Buffer.alloc(size);
      fs.readSync(fd, text, 0, size, 8);
      header = JSON.parse(text.toString('utf8'));
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw new KdtorchError(
      'E_BAD_WEIGHTS_FILE',
      `${file}: cannot read a safetensors header (${(error as Error).message}); give a best.safetensors written by kdtorch`,
      { file, cause: error },
    );
  }
  return header.__metadata__ ?? {};
}

/** Reads the description saved with a kdtorch model file (its best.safetensors). */
export function readDescription(file: string): ModelDescription {
  const text = safetensorsMetadata(file).kdtorch;
  if (!text) {
    throw new KdtorchError(
      'E_BAD_WEIGHTS_FILE',
      `${file}: these weights carry no kdtorch description (classes, input size); use a run's <phase>/best.safetensors, or build the model with resnet18()/studentNet() and loadWeights()`,
      { file },
    );
  }
  return JSON.parse(text) as ModelDescription;
}

/** Loads a model saved by a kdtorch run (strictly: every tensor must match). */
export async function loadModel(file: string, options: { device?: string } = {}): Promise<DescribedModel> {
  const description = readDescription(file);
  const model = await createModel(description, { device: options.device ?? 'cpu' });
  await model.loadWeights(file);
  await model.eval();
  return { model, description };
}

/** Saves weights with their description, atomically. */
export function saveModel(model: Model, description: ModelDescription, file: string): Promise<void> {
  return model.saveWeights(file, description);
}
