// kdtorch eval | predict | bench: using trained models.
import { parseArgs } from 'node:util';
import { evaluate } from '../api/evaluate.js';
import { predict } from '../api/predict.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/data-loader.js';
import { type LatencyRow, measureLatency } from '../metrics/latency.js';
import { loadModel, type ModelDescription } from '../model-file.js';
import { NETWORK_DEFAULTS, resnet18, studentNet } from '../native/model.js';
import { exportOnnx } from '../onnx/export.js';
import { CONFIG_FLAGS, configFromFlags } from './config-flags.js';

export class UsageError extends Error {}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

function latencyLines(name: string, rows: LatencyRow[]): string[] {
  return rows.map(
    (r) =>
      `${name}  batch ${String(r.batchSize).padStart(3)}: ${r.msPerBatch.toFixed(2)} ms/batch, ${r.msPerImage.toFixed(3)} ms/image, ${r.imagesPerSecond.toFixed(0)} images/s (median of ${r.passes}, p10–p90 ${r.p10.toFixed(2)}–${r.p90.toFixed(2)} ms${r.unstable ? '; unstable: the machine was busy' : ''})`,
  );
}

export async function runEval(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...CONFIG_FLAGS, model: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (!values.model) throw new UsageError("eval needs --model FILE (a run's <phase>/best.safetensors)");
  const split = values.split ?? 'test';
  if (split !== 'test' && split !== 'val' && split !== 'train') {
    throw new UsageError(`--split must be test, val or train, got '${split}'`);
  }
  const result = await evaluate({ model: values.model, config: configFromFlags(values, []), split });
  const m = result.metrics;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  print(
    values.json === true,
    result,
    [
      `${result.split}: ${m.count} images, accuracy ${pct(m.accuracy)}, loss ${m.loss.toFixed(4)}`,
      `${m.positiveClass ? `positive class ${m.positiveClass}: ` : 'macro averages: '}precision ${pct(m.precision)}, sensitivity ${pct(m.recall)}, specificity ${pct(m.specificity)}, F1 ${m.f1.toFixed(3)}, ROC AUC ${m.rocAuc.toFixed(3)}`,
      `confusion (rows true, columns predicted): ${JSON.stringify(m.confusion)}`,
      `parameters ${result.parameters.toLocaleString('en-US')}`,
      ...latencyLines('latency', result.latency),
    ].join('\n'),
  );
}

export async function runExport(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      opset: { type: 'string' },
      'dynamic-batch': { type: 'boolean' },
      input: { type: 'string' },
      'batch-norm': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.model) throw new UsageError("export needs --model FILE (a run's <phase>/best.safetensors)");
  const input = values.input ?? 'float';
  if (input !== 'float' && input !== 'uint8') throw new UsageError(`--input must be float or uint8, got '${input}'`);
  const batchNorm = values['batch-norm'] ?? 'fold';
  if (batchNorm !== 'fold' && batchNorm !== 'node') {
    throw new UsageError(`--batch-norm must be fold or node, got '${batchNorm}'`);
  }
  const opset = values.opset === undefined ? undefined : Number(values.opset);
  if (opset !== undefined && !Number.isInteger(opset))
    throw new UsageError(`--opset must be an integer, got '${values.opset}'`);
  const out = values.out ?? `${values.model.replace(/\.safetensors$/, '')}.onnx`;
  const result = await exportOnnx(values.model, out, {
    input,
    batchNorm,
    dynamicBatch: values['dynamic-batch'] === true,
    ...(opset === undefined ? {} : { opset }),
  });
  print(
    values.json === true,
    result,
    `wrote ${result.file} (${(result.bytes / 1e6).toFixed(2)} MB, opset ${result.opset}): input '${result.input.name}' ${result.input.type} [${result.input.dims.join(', ')}] → ${result.outputs.join(', ')}`,
  );
}

export async function runPredict(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { model: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (!values.model) throw new UsageError("predict needs --model FILE (a run's <phase>/best.safetensors)");
  if (positionals.length === 0) throw new UsageError('predict needs at least one image file');
  const predictions = await predict(values.model, positionals);
  for (const [i, p] of predictions.entries()) {
    const probabilities = Object.entries(p.probabilities)
      .map(([c, v]) => `${c} ${v.toFixed(4)}`)
      .join(', ');
    print(values.json === true, { file: positionals[i], ...p }, `${positionals[i]}: ${p.class} (${probabilities})`);
  }
}

/** Inference speed of trained models, or of fresh ResNet-18 and student networks at --image-size. */
export async function runBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', multiple: true },
      'image-size': { type: 'string', default: '224' },
      'batch-size': { type: 'string', multiple: true },
      repeats: { type: 'string', default: '20' },
      device: { type: 'string', default: 'cpu' },
      json: { type: 'boolean' },
    },
  });
  const integer = (text: string, flag: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
    return n;
  };
  const batchSizes = (values['batch-size'] ?? ['1', '32']).map((b) => integer(b, '--batch-size'));
  const repeats = integer(values.repeats, '--repeats');
  const device = values.device;
  const models: { name: string; model: Awaited<ReturnType<typeof resnet18>>; description: ModelDescription }[] = [];
  if (values.model) {
    for (const file of values.model) models.push({ name: file, ...(await loadModel(file, { device })) });
  } else {
    const imageSize = integer(values['image-size'], '--image-size');
    const base = { classes: ['a', 'b'], imageSize, channels: 3 as const, mean: IMAGENET_MEAN, std: IMAGENET_STD };
    models.push(
      { name: 'resnet18', model: await resnet18({ device }), description: { ...base, architecture: 'resnet18' } },
      {
        name: 'studentNet',
        model: await studentNet({ device, inputSize: imageSize }),
        description: { ...base, architecture: 'studentNet', width: NETWORK_DEFAULTS.width },
      },
    );
  }
  const rows = [];
  for (const { name, model, description } of models) {
    const latency = await measureLatency(model, description, batchSizes, repeats);
    rows.push({
      name,
      parameters: model.parameterCount,
      device: model.device,
      imageSize: description.imageSize,
      latency,
    });
    print(
      values.json === true,
      rows.at(-1),
      latencyLines(`${name} (${description.imageSize}², ${model.device})`, latency).join('\n'),
    );
  }
}
