// A trained model on disk: safetensors weights plus, in the header's metadata, what is needed to
// use them (architecture, classes, input size, normalisation), so loadModel() needs only the path.
// The header is read by the native weights reader, the only safetensors parser kdtorch has.
import fs from 'node:fs';
import { KdtorchError } from './errors.js';
import { descriptionSchema, type ModelDescription } from './model-description.js';
import { readSafetensorsMetadata } from './native/addon.js';
import {
  type Model,
  NETWORK_DEFAULTS,
  type Precision,
  parameterCount,
  type ResNet18Options,
  resnet18,
  studentNet,
} from './native/model.js';

export type { ModelDescription } from './model-description.js';

/** A model together with what its inputs and outputs mean. */
export interface DescribedModel {
  model: Model;
  description: ModelDescription;
}

/** The network options a description stands for. */
function networkOptions(description: ModelDescription) {
  return {
    numClasses: description.classes.length,
    inChannels: description.channels,
    ...(description.architecture === 'studentNet'
      ? { inputSize: description.imageSize, width: description.width ?? NETWORK_DEFAULTS.width }
      : {}),
  };
}

/** The parameters the network a description names has. */
export function describedParameters(description: ModelDescription): number {
  return parameterCount(description.architecture, networkOptions(description));
}

/** Builds the network a description names, with fresh weights. */
export function createModel(
  description: ModelDescription,
  options: Pick<ResNet18Options, 'device' | 'seed' | 'autocast' | 'channelsLast'>,
): Promise<Model> {
  const spec = { ...options, ...networkOptions(description) };
  return description.architecture === 'resnet18' ? resnet18(spec) : studentNet(spec);
}

/** Reads the description saved with a kdtorch model file (its best.safetensors). */
export async function readDescription(file: string): Promise<ModelDescription> {
  const text = (await readSafetensorsMetadata(file)).kdtorch;
  const bad = (why: string, cause?: unknown) =>
    new KdtorchError('E_BAD_WEIGHTS_FILE', `${file}: ${why}`, { file, ...(cause ? { cause } : {}) });
  if (!text) {
    throw bad(
      "these weights carry no kdtorch description (classes, input size); use a run's <phase>/best.safetensors, or build the model with resnet18()/studentNet() and loadWeights()",
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw bad(`its kdtorch description is not JSON (${(error as Error).message})`, error);
  }
  const parsed = descriptionSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(`its kdtorch description is invalid: ${issue?.path.join('.') || '(description)'}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Loads a model saved by a kdtorch run (strictly: every tensor must match). */
export interface LoadModelOptions {
  device?: string;
  /** Precision per architecture (default fp32): evaluate() passes its config's, so a model scores as it trained. */
  precision?: Partial<Record<ModelDescription['architecture'], Precision>>;
}

export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<DescribedModel> {
  const description = await readDescription(file);
  // Before building: a description that does not belong to its weights (edited, or crafted) could name a
  // network of many GB; the file must hold at least a byte per parameter (U8 is the narrowest dtype read).
  const parameters = describedParameters(description);
  const { size } = fs.statSync(file);
  if (parameters > size) {
    throw new KdtorchError(
      'E_WEIGHTS_MISMATCH',
      `${file}: its description (${description.architecture}, imageSize ${description.imageSize}, ${description.classes.length} classes${description.width ? `, width ${description.width}` : ''}) makes a network of ${parameters.toLocaleString('en')} parameters, more than the file's ${size.toLocaleString('en')} bytes can hold: the description does not belong to these weights`,
      { file },
    );
  }
  const model = await createModel(description, {
    device: options.device ?? 'cpu',
    ...options.precision?.[description.architecture],
  });
  await model.loadWeights(file);
  await model.eval();
  return { model, description };
}
