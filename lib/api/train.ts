// The experiment's three training calls: trainTeacher, trainStudent, distill. Each takes a config
// (preset + overrides, validated), writes a run folder and returns what it measured.
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../config/resolve.js';
import type { Config, ConfigInput, PhaseConfig } from '../config/schema.js';
import { classWeights, type Dataset, openDataset, phaseAugment } from '../data/dataset.js';
import { splitRecord } from '../data/splits.js';
import { KdtorchError } from '../errors.js';
import { positiveIndex } from '../metrics/score.js';
import {
  createModel,
  type DescribedModel,
  describedParameters,
  loadModel,
  type ModelDescription,
} from '../model-file.js';
import { nativeInfo, setCudnnBenchmark } from '../native/addon.js';
import type { Model } from '../native/model.js';
import type { ProcessGroup } from '../native/process-group.js';
import type { NativeLossSpec } from '../native/wire.js';
import { type PhaseResult, type PhaseSetup, runPhase } from '../run/phase.js';
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
  /**
   * Train data-parallel with these ranks (joinProcessGroup()): every rank makes the same call, each
   * trains on its shard of every global batch (the phase's batchSize), and rank 0 alone writes the run
   * folder; the others take it from rank 0 (their `config` and `resume` are not used).
   */
  processGroup?: ProcessGroup;
}

export interface DistillOptions extends RunOptions {
  /** The teacher; by default distill.teacher, else the run folder's teacher/best.safetensors. */
  teacher?: DescribedModel;
}

/**
 * The run folder, its config and its dataset (the split the folder recorded, or a new one it records now),
 * with the folder locked until the result is disposed: `using prepared = await prepare(…)`.
 */
async function prepare(input: ConfigInput, command: string, options: RunOptions) {
  const group = options.processGroup;
  if (group && group.rank > 0) {
    // Rank 0 has made (or reopened) the folder, its config and split record when it shares the path.
    const shared = JSON.parse(await group.fromRankZero('')) as { dir: string; resume: boolean };
    const run = RunFolder.open(shared.dir);
    const ranked = { ...options, resume: shared.resume ? shared.dir : undefined };
    return { ...(await prepareLocked(run, ranked)), options: ranked, writes: false, [Symbol.dispose]: () => {} };
  }
  const run = options.resume ? RunFolder.open(options.resume) : RunFolder.create(resolveConfig(input), command);
  const lock = run.lock();
  try {
    const prepared = await prepareLocked(run, options);
    await group?.fromRankZero(JSON.stringify({ dir: run.dir, resume: options.resume !== undefined }));
    return { ...prepared, options, writes: true, [Symbol.dispose]: () => lock[Symbol.dispose]() };
  } catch (error) {
    lock[Symbol.dispose]();
    throw error;
  }
}

async function prepareLocked(run: RunFolder, options: RunOptions) {
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
  const recorded = run.readSplits();
  const dataset =
    options.dataset ??
    (await openDataset(config.data, config.seed, recorded ? { record: recorded, file: run.splitsFile } : undefined));
  // A dataset opened here already follows the record; one handed in must hold the same split.
  if (!recorded) {
    run.writeSplits(splitRecord(dataset.splits));
  } else if (options.dataset && JSON.stringify(recorded) !== JSON.stringify(splitRecord(options.dataset.splits))) {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      `options.dataset holds another split than the run's (${run.splitsFile}); open it with openDataset(config.data, config.seed) before the run's first phase`,
      { field: 'dataset', file: run.splitsFile },
    );
  }
  positiveIndex(dataset.splits.classes, config.positiveClass); // a wrong class name fails before training
  setCudnnBenchmark(config.cudnnBenchmark);
  return { run, config: rankConfig(config, options.processGroup), dataset };
}

/**
 * The config a rank trains with: under NCCL its models on its own CUDA device (cuda:LOCAL_RANK, whatever
 * CUDA device the config names), else the run's config as it is.
 */
function rankConfig(config: Config, group: ProcessGroup | undefined): Config {
  if (!group?.device) return config;
  if (config.device === 'cpu') {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      "device cpu with NCCL ranks: NCCL trains on CUDA devices; use device cuda or auto, or distributed.backend 'gloo'",
      { field: 'distributed.backend' },
    );
  }
  return { ...config, device: group.device };
}

/**
 * config.cudaGraphs on a model's device: CUDA graphs there, no effect on a CPU (as cudnnBenchmark). Not
 * yet for data-parallel ranks (a step's collectives are not captured): 'auto' steps eagerly there.
 */
async function stepGraphs(c: Config, model: Model, group?: ProcessGroup): Promise<'cuda' | 'none'> {
  if (!c.cudaGraphs || !model.device.startsWith('cuda')) return 'none';
  if (group && c.cudaGraphs === 'auto') return 'none';
  if (group) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      'cudaGraphs: CUDA graphs of data-parallel steps are not supported yet; set cudaGraphs to auto or false',
      { field: 'cudaGraphs' },
    );
  }
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

/**
 * A phase's loss: its cross-entropy settings and, for distillation, the distillation term. Teacher and
 * student-alone steps use the cross-entropy part only (alpha 0, where the temperature plays no part).
 */
function lossFor(c: Config, phase: Phase, dataset: Dataset): NativeLossSpec {
  const phaseConfig: PhaseConfig = c[phase];
  const weights = classWeights(dataset, phaseConfig, `${phase}.classWeights`);
  const kd =
    phase === 'distill'
      ? { mode: c.distill.loss, alpha: c.distill.alpha, temperature: c.distill.temperature }
      : { mode: 'hinton' as const, alpha: 0, temperature: 1 };
  return { ...kd, labelSmoothing: phaseConfig.labelSmoothing, ...(weights ? { classWeights: weights } : {}) };
}

/** A phase's model: the network its description names, seeded by the config, with the phase's precision. */
// fp32 weights, their gradients and Adam's two moments: what training a parameter holds at least.
const TRAINING_BYTES_PER_PARAMETER = 16;

function phaseModel(c: Config, description: ModelDescription, precision: Config['teacher' | 'student']) {
  // The student's fc grows with the square of the image size: refused up front, not by the kernel's OOM killer.
  const bytes = describedParameters(description) * TRAINING_BYTES_PER_PARAMETER;
  if (bytes > os.totalmem()) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `data.imageSize ${description.imageSize}${description.width ? ` with student.width ${description.width}` : ''} makes a ${description.architecture} that needs at least ${(bytes / 2 ** 30).toFixed(1)} GiB to train, more than this machine's ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; lower data.imageSize or student.width`,
      { field: 'data.imageSize' },
    );
  }
  return createModel(description, {
    device: c.device,
    seed: c.seed,
    autocast: precision.autocast,
    channelsLast: precision.channelsLast,
  });
}

async function finish(prepared: { run: RunFolder; writes: boolean }, result: PhaseResult): Promise<PhaseResult> {
  if (prepared.writes) await writeReports(prepared.run);
  return result;
}

/** Fine-tunes (or trains from scratch) the ResNet-18 teacher. */
export async function trainTeacher(config: ConfigInput = {}, options: RunOptions = {}): Promise<PhaseResult> {
  using prepared = await prepare(config, 'teacher', options);
  const { run, config: c, dataset } = prepared;
  const description = describe(c, dataset, 'resnet18');
  const model = await phaseModel(c, description, c.teacher);
  // Pretrained weights come without our head (ImageNet has 1000 classes): fc keeps its fresh init.
  if (c.teacher.weights) await model.loadWeights(c.teacher.weights, { skip: ['fc.'] });
  const result = await runPhase({
    phase: 'teacher',
    run,
    dataset,
    model,
    description,
    trainer: {
      optimizer: scaledOptimizer(c.teacher),
      loss: lossFor(c, 'teacher', dataset),
      freeze: c.teacher.freeze,
      graphs: await stepGraphs(c, model, options.processGroup),
    },
    step: (trainer, batch) => trainer.teacherStep(batch),
    resume: prepared.options.resume !== undefined,
    signal: options.signal,
    onProgress: options.onProgress,
    group: options.processGroup,
  });
  return await finish(prepared, result);
}

/** Trains the student CNN alone on the labels: the article's baseline. */
export async function trainStudent(config: ConfigInput = {}, options: RunOptions = {}): Promise<PhaseResult> {
  using prepared = await prepare(config, 'student', options);
  const { run, config: c, dataset } = prepared;
  return await finish(prepared, await studentPhase(run, c, dataset, prepared.options, { kind: 'alone' }));
}

/** Distils the teacher into the student: teacher forward without grad + student step, fused, per batch. */
export async function distill(config: ConfigInput = {}, options: DistillOptions = {}): Promise<PhaseResult> {
  using prepared = await prepare(config, 'distill', options);
  const { run, config: c, dataset } = prepared;
  const teacherFile = options.teacher ? null : (c.distill.teacher ?? run.best('teacher'));
  const teacher = options.teacher ?? (await loadTeacher(c, run, teacherFile as string));
  const { classes, channels } = teacher.description;
  if (classes.join('\n') !== dataset.splits.classes.join('\n') || channels !== c.data.channels) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `the teacher was trained on classes [${classes.join(', ')}] with ${channels} channel(s); this dataset has [${dataset.splits.classes.join(', ')}] with ${c.data.channels}`,
      { field: 'distill.teacher' },
    );
  }
  // Fresh views every epoch cannot be cached: the teacher runs on each batch.
  const liveViews = c.distill.teacherViews === 'live' && phaseAugment(dataset, c.distill) !== null;
  if (!c.distill.teacherCache || liveViews) {
    return await finish(
      prepared,
      await studentPhase(run, c, dataset, prepared.options, { kind: 'live teacher', teacher: teacher.model }),
    );
  }
  const outputs = await TeacherOutputs.load(
    teacher.model,
    teacherFile,
    dataset,
    dataset.splits.train,
    c.distill.batchSize,
    teacherFile ? path.join(path.dirname(teacherFile), 'teacher-outputs') : null,
    { seed: c.seed, distill: c.distill },
    options.processGroup,
  );
  const { info } = outputs;
  options.onProgress?.({
    type: 'phase',
    phase: 'distill',
    state: 'start',
    runDir: run.dir,
    message: `distill: teacher outputs for ${info.images} images × ${info.views} view(s) (${(info.bytes / 1e6).toFixed(1)} MB) ${info.source === 'file' ? `read from ${info.file}` : `computed in ${info.seconds.toFixed(1)} s${info.file ? `, saved to ${info.file}` : ''}`}`,
  });
  return await finish(
    prepared,
    await studentPhase(run, c, dataset, prepared.options, { kind: 'cached teacher', outputs }),
  );
}

/** distill.teacher, else the run's own teacher; without either, an error that says how to get one. */
function loadTeacher(c: Config, run: RunFolder, file: string): Promise<DescribedModel> {
  return loadModel(file, { device: c.device }).catch((error: unknown) => {
    if (c.distill.teacher !== null) throw error;
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `distill needs a teacher: none in ${run.dir}/teacher/; train one first (kdtorch teacher) or set distill.teacher to a best.safetensors`,
      { field: 'distill.teacher', cause: error },
    );
  });
}

/** Where a student phase's targets come from: the labels alone, or a teacher run live or read from its cache. */
type StudentTargets =
  | { kind: 'alone' }
  | { kind: 'live teacher'; teacher: Model }
  | { kind: 'cached teacher'; outputs: TeacherOutputs };

async function studentPhase(
  run: RunFolder,
  c: Config,
  dataset: Dataset,
  options: RunOptions,
  targets: StudentTargets,
): Promise<PhaseResult> {
  const phase = targets.kind === 'alone' ? 'student' : 'distill';
  const description = describe(c, dataset, 'studentNet');
  // The same seed as the student trained alone: both start from the same weights.
  const model = await phaseModel(c, description, c.student);
  let step: PhaseSetup['step'];
  switch (targets.kind) {
    case 'alone':
      step = (trainer, batch) => trainer.studentStep(batch);
      break;
    case 'live teacher':
      step = (trainer, batch) => trainer.distillStep(batch);
      break;
    case 'cached teacher':
      step = (trainer, batch) => trainer.distillStep(batch, targets.outputs.forBatch(batch));
      break;
  }
  return runPhase({
    phase,
    run,
    dataset,
    model,
    description,
    trainer: {
      optimizer: scaledOptimizer(c[phase]),
      loss: lossFor(c, phase, dataset),
      ...(targets.kind === 'live teacher' ? { teacher: targets.teacher } : {}),
      graphs: await stepGraphs(c, model, options.processGroup),
    },
    step,
    ...(targets.kind === 'alone'
      ? {}
      : { teacherOutputs: targets.kind === 'cached teacher' ? targets.outputs.info : null }),
    resume: options.resume !== undefined,
    signal: options.signal,
    onProgress: options.onProgress,
    group: options.processGroup,
  });
}
