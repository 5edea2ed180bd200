// evaluate(): test metrics and inference latency of a trained model on a dataset split.
import { resolveConfig } from '../config/resolve.js';
import type { ConfigInput } from '../config/schema.js';
import { openDataset } from '../data/dataset.js';
import { KdtorchError } from '../errors.js';
import { type LatencyRow, measureLatency } from '../metrics/latency.js';
import { type TestReport, testReport } from '../metrics/score.js';
import { type DescribedModel, loadModel } from '../model-file.js';
import { runFolderOf } from '../run/run-folder.js';

export interface EvaluateInput {
  /** A model file written by a run (best.safetensors) or a loaded model. */
  model: string | DescribedModel;
  /** Data and latency settings; the model's own input size, channels and normalisation win. */
  config?: ConfigInput;
  split?: 'train' | 'val' | 'test';
}

export interface EvaluateResult {
  split: string;
  metrics: TestReport;
  parameters: number;
  latency: LatencyRow[];
}

/**
 * Test metrics and inference latency of a trained model on a dataset split. A model file inside a run
 * folder that trained on the same dataset is scored on that run's own split (its splits.json), so a
 * carved test split is exactly the images the run never trained on.
 */
export async function evaluate(input: EvaluateInput): Promise<EvaluateResult> {
  const split = input.split ?? 'test';
  const config = resolveConfig(input.config, 'evaluate');
  const described =
    typeof input.model === 'string'
      ? await loadModel(input.model, {
          device: config.device,
          precision: {
            resnet18: { autocast: config.teacher.autocast, channelsLast: config.teacher.channelsLast },
            studentNet: { autocast: config.student.autocast, channelsLast: config.student.channelsLast },
          },
        })
      : input.model;
  // The model's input contract wins over the config's data settings.
  const { imageSize, channels, mean, std } = described.description;
  config.data = { ...config.data, imageSize, channels, mean, std };
  const run = typeof input.model === 'string' ? runFolderOf(input.model) : undefined;
  const record = run && run.config.data.root === config.data.root ? run.readSplits() : undefined;
  const dataset = await openDataset(
    config.data,
    config.seed,
    run && record ? { record, file: run.splitsFile } : undefined,
  );
  const samples = split === 'val' ? dataset.val : dataset.splits[split];
  if (samples.length === 0) {
    throw new KdtorchError('E_DATASET_NOT_FOUND', `${config.data.root}: the ${split} split holds no images`, {
      file: config.data.root,
    });
  }
  const { model, description } = described;
  if (description.classes.join('\n') !== dataset.splits.classes.join('\n')) {
    throw new KdtorchError(
      'E_CLASS_MISMATCH',
      `the model knows classes [${description.classes.join(', ')}] but ${config.data.root} has [${dataset.splits.classes.join(', ')}]`,
      { file: config.data.root },
    );
  }
  const batchSize = Math.max(...config.latency.batchSizes);
  return {
    split,
    metrics: await testReport(model, dataset, samples, batchSize, config.positiveClass),
    parameters: model.parameterCount,
    latency: await measureLatency(model, description, config.latency.batchSizes, config.latency.repeats),
  };
}
