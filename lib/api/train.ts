// The experiment as four calls: trainTeacher, trainStudent, distill, evaluate, plus predict for
// using a trained model. Each takes a config (preset + overrides, validated), writes a run folder
// and returns what it measured.
import path from 'node:path';
import { resolveConfig } from '../config/resolve.js';
import type { Config, ConfigInput } from '../config/schema.js';
import { classWeights, type Dataset, openDataset } from '../data/dataset.js';
import { decodeBytes, decodeImage } from '../data/decode.js';
import { KdtorchError } from '../errors.js';
import { type LatencyRow, measureLatency } from '../metrics/latency.js';
import { positiveIndex, type TestReport, testReport } from '../metrics/score.js';
import { createModel, type DescribedModel, loadModel, type ModelDescription } from '../model-file.js';
import { nativeInfo, setCudnnBenchmark } from '../native/addon.js';
import type { Model } from '../native/model.js';
import { type PhaseResult, runPhase } from '../run/phase.js';
import type { ProgressEvent } from '../run/progress.js';
import { writeReports } from '../run/report.js';
import { type Phase, RunFolder } from '../run/run-folder.js';
import { scaledOptimizer } from '../run/schedule.js';
import { TeacherOutputs } from '../run/teacher-outputs.js';

export interface RunOptions {
  /** Stops after the current batch, saves a checkpoint and rejects with E_ABORTED. */
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** A run folder to continue: its saved config is used, `config` is ignored. */
  resume?: string;
  /** Decoded images from an earlier phase of the same process (openDataset), so nothing is decoded twice. */
  dataset?: Dataset;
}

export interface DistillOptions extends RunOptions {
  /** The teacher; by default distill.teacher, else the run folder's teacher/best.safetensors. */
  teacher?: DescribedModel;
}

async function prepare(input: ConfigInput, command: string, options: RunOptions) {
  const run = options.resume ? RunFolder.open(options.resume) : RunFolder.create(resolveConfig(input), command);
  const { config } = run;
  // deviceCache only says where a phase keeps the decoded pixels: a dataset serves either way.
  const decoding = (data: Config['data']) => JSON.stringify({ ...data, deviceCache: null });
  if (options.dataset && decoding(options.dataset.data) !== decoding(config.data)) {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      'options.dataset was opened with other data settings than config.data',
      {
        field: 'dataset',
      },
    );
  }
  const dataset = options.dataset ?? (await openDataset(config.data, config.seed));
  positiveIndex(dataset.splits.classes, config.positiveClass); // a wrong class name fails before training
  setCudnnBenchmark(config.cudnnBenchmark);
  return { run, config, dataset };
}

/** config.cudaGraphs on a model's device: CUDA graphs there, no effect on a CPU (as cudnnBenchmark). */
async function stepGraphs(c: Config, model: Model): Promise<'cuda' | 'none'> {
  if (!c.cudaGraphs || !model.device.startsWith('cuda')) return 'none';
  const { cudaGraphsUnavailable } = await nativeInfo();
  if (cudaGraphsUnavailable && c.cudaGraphs === 'auto') return 'none';
  if (cudaGraphsUnavailable) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `cudaGraphs: ${cudaGraphsUnavailable}; or set cudaGraphs: false to train with eager steps`,
      { field: 'cudaGraphs' },
    );
  }
  return 'cuda';
}

function describe(config: Config, dataset: Dataset, architecture: ModelDescription['architecture']): ModelDescription {
  const { imageSize, channels, mean, std } = config.data;
  return {
    architecture,
    classes: dataset.splits.classes,
    imageSize,
    channels,
    mean,
    std,
    ...(architecture === 'studentNet' ? { width: config.student.width } : {}),
  };
}

async function finish(run: RunFolder, result: PhaseResult): Promise<PhaseResult> {
  await writeReports(run);
  return result;
}

/** Fine-tunes (or trains from scratch) the ResNet-18 teacher. */
export async function trainTeacher(config: ConfigInput = {}, options: RunOptions = {}): Promise<PhaseResult> {
  const { run, config: c, dataset } = await prepare(config, 'teacher', options);
  const description = describe(c, dataset, 'resnet18');
  const model = await createModel(description, {
    device: c.device,
    seed: c.seed,
    autocast: c.teacher.autocast,
    channelsLast: c.teacher.channelsLast,
  });
  // Pretrained weights come without our head (ImageNet has 1000 classes): fc keeps its fresh init.
  if (c.teacher.weights) await model.loadWeights(c.teacher.weights, { skip: ['fc.'] });
  const weights = classWeights(dataset, c.teacher, 'teacher.classWeights');
  const result = await runPhase({
    phase: 'teacher',
    run,
    dataset,
    model,
    description,
    trainer: {
      optimizer: scaledOptimizer(c.teacher),
      loss: {
        mode: 'hinton',
        alpha: 0,
        temperature: 1,
        labelSmoothing: c.teacher.labelSmoothing,
        ...(weights ? { classWeights: weights } : {}),
      },
      freeze: c.teacher.freeze,
      graphs: await stepGraphs(c, model),
    },
    step: (trainer, batch) => trainer.teacherStep(batch),
    resume: options.resume !== undefined,
    signal: options.signal,
    onProgress: options.onProgress,
  });
  return finish(run, result);
}

/** Trains the student CNN alone on the labels: the article's baseline. */
export async function trainStudent(config: ConfigInput = {}, options: RunOptions = {}): Promise<PhaseResult> {
  const { run, config: c, dataset } = await prepare(config, 'student', options);
  return finish(run, await studentPhase('student', run, c, dataset, options, undefined));
}

/** Distils the teacher into the student: teacher forward without grad + student step, fused, per batch. */
export async function distill(config: ConfigInput = {}, options: DistillOptions = {}): Promise<PhaseResult> {
  const { run, config: c, dataset } = await prepare(config, 'distill', options);
  const teacherFile = options.teacher ? null : (c.distill.teacher ?? run.best('teacher'));
  const teacher =
    options.teacher ??
    (await loadModel(teacherFile as string, { device: c.device }).catch((error: unknown) => {
      if (c.distill.teacher !== null) throw error;
      throw new KdtorchError(
        'E_INVALID_CONFIG',
        `distill needs a teacher: none in ${run.dir}/teacher/; train one first (kdtorch teacher) or set distill.teacher to a best.safetensors`,
        { field: 'distill.teacher', cause: error },
      );
    }));
  const { classes, channels } = teacher.description;
  if (classes.join('\n') !== dataset.splits.classes.join('\n') || channels !== c.data.channels) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `the teacher was trained on classes [${classes.join(', ')}] with ${channels} channel(s); this dataset has [${dataset.splits.classes.join(', ')}] with ${c.data.channels}`,
      { field: 'distill.teacher' },
    );
  }
  if (!c.distill.teacherCache) {
    return finish(
      run,
      await studentPhase('distill', run, c, dataset, options, { teacher: teacher.model, outputs: null }),
    );
  }
  const outputs = await TeacherOutputs.load(
    teacher.model,
    teacherFile,
    dataset,
    dataset.splits.train,
    c.distill.batchSize,
    teacherFile ? path.join(path.dirname(teacherFile), 'teacher-outputs') : null,
  );
  const { info } = outputs;
  options.onProgress?.({
    type: 'phase',
    phase: 'distill',
    state: 'start',
    runDir: run.dir,
    message: `distill: teacher outputs for ${info.images} images × ${info.views} view(s) ${info.source === 'file' ? `read from ${info.file}` : `computed in ${info.seconds.toFixed(1)} s${info.file ? `, saved to ${info.file}` : ''}`}`,
  });
  return finish(run, await studentPhase('distill', run, c, dataset, options, { teacher: null, outputs }));
}

async function studentPhase(
  phase: Extract<Phase, 'student' | 'distill'>,
  run: RunFolder,
  c: Config,
  dataset: Dataset,
  options: RunOptions,
  /** For distillation: the live teacher, or its cached outputs. */
  kdSource: { teacher: Model | null; outputs: TeacherOutputs | null } | undefined,
): Promise<PhaseResult> {
  const teacher = kdSource?.teacher ?? undefined;
  const outputs = kdSource?.outputs ?? null;
  const description = describe(c, dataset, 'studentNet');
  // The same seed as the student trained alone: both start from the same weights.
  const model = await createModel(description, {
    device: c.device,
    seed: c.seed,
    autocast: c.student.autocast,
    channelsLast: c.student.channelsLast,
  });
  const phaseConfig = c[phase];
  const weights = classWeights(dataset, phaseConfig, `${phase}.classWeights`);
  const kd = phase === 'distill' ? c.distill : undefined;
  return runPhase({
    phase,
    run,
    dataset,
    model,
    description,
    trainer: {
      optimizer: scaledOptimizer(phaseConfig),
      loss: {
        mode: kd?.loss ?? 'hinton',
        alpha: kd?.alpha ?? 0,
        temperature: kd?.temperature ?? 1,
        labelSmoothing: phaseConfig.labelSmoothing,
        ...(weights ? { classWeights: weights } : {}),
      },
      ...(teacher ? { teacher } : {}),
      graphs: await stepGraphs(c, model),
    },
    step: (trainer, batch) =>
      outputs
        ? trainer.distillStep(batch, outputs.forBatch(batch))
        : teacher
          ? trainer.distillStep(batch)
          : trainer.studentStep(batch),
    ...(kdSource ? { teacherOutputs: outputs?.info ?? null } : {}),
    resume: options.resume !== undefined,
    signal: options.signal,
    onProgress: options.onProgress,
  });
}

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

/** Test metrics and inference latency of a trained model on a dataset split. */
export async function evaluate(input: EvaluateInput): Promise<EvaluateResult> {
  const split = input.split ?? 'test';
  const config = resolveConfig(input.config, 'evaluate');
  const described =
    typeof input.model === 'string' ? await loadModel(input.model, { device: config.device }) : input.model;
  // The model's input contract wins over the config's data settings.
  const { imageSize, channels, mean, std } = described.description;
  config.data = { ...config.data, imageSize, channels, mean, std };
  const dataset = await openDataset(config.data, config.seed);
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
