// One training phase (teacher, student alone, or distillation) from first batch to test metrics:
// the epoch loop with its schedule, validation, best-on-validation weights, early stopping,
// progress, checkpoints after every epoch, and a clean stop on abort that --resume continues
// exactly (same batches, same flips, same weights as a run that was never stopped). With a process
// group, every rank runs this loop on its shard of each global batch, validation and test sharded and
// summed, and rank 0 alone writes the run folder; the others read what it wrote after a barrier.
import fs from 'node:fs';
import path from 'node:path';
import type { PhaseConfig } from '../config/schema.js';
import type { DataLoader, SkippedImage } from '../data/data-loader.js';
import { type Dataset, trainLoader } from '../data/dataset.js';
import { PixelStore } from '../data/pixel-store.js';
import { KdtorchError } from '../errors.js';
import { type LatencyRow, measureLatency } from '../metrics/latency.js';
import { scoreSplit, type TestReport, testReport } from '../metrics/score.js';
import type { ModelDescription } from '../model-file.js';
import { releaseCpuBlockCache } from '../native/addon.js';
import type { Model, ResolvedPrecision } from '../native/model.js';
import type { ProcessGroup } from '../native/process-group.js';
import { type PixelBatch, Trainer, type TrainerOptions } from '../native/trainer.js';
import { intactCheckpoint, saveCheckpointFile } from './checkpoint-file.js';
import type { EpochRecord, ProgressEvent } from './progress.js';
import type { Phase, RunFolder } from './run-folder.js';
import { scheduleInSteps } from './schedule.js';
import type { TeacherOutputsInfo } from './teacher-outputs.js';

export interface PhaseResult {
  phase: Phase;
  runDir: string;
  classes: string[];
  device: string;
  history: EpochRecord[];
  /** The epoch whose weights the phase kept (select: the best on validation, or the last). */
  bestEpoch: number;
  /** The kept weights, with their description: loadModel() takes it. */
  bestCheckpoint: string;
  stoppedEarly: boolean;
  /** Where validation came from ('val', 'carved from train', or 'test' under the article preset). */
  validation: string;
  /** Metrics of the best weights on the test split; null when the dataset has none. */
  test: TestReport | null;
  parameters: number;
  /** What the model computed in: the config's precision with 'auto' resolved for its device. */
  precision: ResolvedPrecision;
  /** Size of the float32 weights file. */
  weightsBytes: number;
  latency: LatencyRow[];
  skippedImages: SkippedImage[];
  /** Distillation only: where the teacher's outputs came from (null: the teacher ran every step). */
  teacherOutputs?: TeacherOutputsInfo | null;
}

export interface PhaseSetup {
  phase: Phase;
  run: RunFolder;
  dataset: Dataset;
  model: Model;
  description: ModelDescription;
  /** Everything but the schedule, which follows from the phase's epochs and batches. */
  trainer: Omit<TrainerOptions, 'schedule'>;
  step: (trainer: Trainer, batch: PixelBatch) => Promise<void>;
  /** Continue from the phase's last checkpoint instead of starting over. */
  resume: boolean;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  teacherOutputs?: TeacherOutputsInfo | null;
  /** Train data-parallel with these ranks (each calls runPhase with the same setup but its group). */
  group?: ProcessGroup | undefined;
}

/** Where the loop stands; saved in every checkpoint. */
interface LoopState {
  epoch: number;
  /** Batches of `epoch` already trained. */
  batch: number;
  partial: { lossSum: number; correct: number; count: number; trainSeconds: number };
  history: EpochRecord[];
  best: { epoch: number; valAccuracy: number; valLoss: number } | null;
  epochsWithoutGain: number;
  stoppedEarly: boolean;
}

const freshState = (): LoopState => ({
  epoch: 0,
  batch: 0,
  partial: { lossSum: 0, correct: 0, count: 0, trainSeconds: 0 },
  history: [],
  best: null,
  epochsWithoutGain: 0,
  stoppedEarly: false,
});

const METRICS_INTERVAL_MS = 1000;
// With a process group the ranks read their summed metrics together: after a fixed number of batches.
const METRICS_INTERVAL_BATCHES = 20;

export async function runPhase(setup: PhaseSetup): Promise<PhaseResult> {
  const { phase, run, dataset, model } = setup;
  const finished = setup.resume ? run.readResult<PhaseResult>(phase) : undefined;
  if (finished) return finished;
  const store = await PixelStore.forPhase(run.config.data.deviceCache, model, dataset.splits.train, dataset.cache);
  // Freed when the phase ends, not when V8 collects the object: it cannot see device memory, and the next
  // phase fills a store of its own.
  try {
    return await trainPhase(setup, store);
  } finally {
    store?.release();
    // The CPU blocks a training step reused are a step's peak memory: not for an idle process to hold.
    releaseCpuBlockCache();
  }
}

/** What one phase's epochs share: the loop's objects and its saved position. */
interface Loop {
  setup: PhaseSetup;
  phaseConfig: PhaseConfig;
  loader: DataLoader;
  trainer: Trainer;
  state: LoopState;
  /** Saves model, optimizer and `state` to the phase's last.safetensors. */
  save: () => Promise<void>;
  emit: (event: ProgressEvent) => void;
  /** This process writes the run folder: no group, or rank 0 of it. */
  writes: boolean;
}

async function trainPhase(setup: PhaseSetup, store: PixelStore | undefined): Promise<PhaseResult> {
  const { phase, run, dataset, model } = setup;
  const phaseConfig: PhaseConfig = run.config[phase];
  const views = phase === 'distill' ? run.config.distill.teacherViews : 'live';
  const { group } = setup;
  if (group && phaseConfig.batchSize % group.worldSize !== 0) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `${phase}.batchSize ${phaseConfig.batchSize} is the global batch, shared by ${group.worldSize} ranks: make it a multiple of ${group.worldSize}`,
      { field: `${phase}.batchSize` },
    );
  }
  if (group?.backend === 'gloo' && !model.device.startsWith('cpu')) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `device ${model.device}: Gloo ranks train on the CPU; set distributed.backend to 'nccl' or 'auto' for CUDA devices, or use --device cpu`,
      { field: 'device' },
    );
  }
  const shard = group ? { rank: group.rank, count: group.worldSize } : undefined;
  const loader = trainLoader(dataset, phaseConfig, run.config.seed, store, views, shard);
  const schedule = scheduleInSteps(phaseConfig.schedule, phaseConfig.epochs, loader.batchCount);
  // Its optimizer state is freed when the phase ends, not when V8 gets to it.
  await using trainer = await Trainer.create(model, {
    ...setup.trainer,
    schedule,
    ...(group ? { processGroup: group, syncBatchNorm: run.config.distributed.syncBatchNorm } : {}),
  });
  const writes = !group || group.rank === 0;
  const checkpoint = run.checkpoint(phase);
  if (writes) fs.mkdirSync(path.dirname(checkpoint), { recursive: true });
  const loop: Loop = {
    setup,
    phaseConfig,
    loader,
    trainer,
    state: freshState(),
    save: async () => {
      if (!writes) return;
      await saveCheckpointFile(checkpoint, (file) =>
        trainer.saveCheckpoint(file, { epoch: loop.state.epoch, config: { loop: loop.state } }),
      );
    },
    emit: setup.onProgress ?? (() => {}),
    writes,
  };
  const resumeFrom = setup.resume
    ? intactCheckpoint(checkpoint, (message) =>
        loop.emit({ type: 'phase', phase, state: 'start', runDir: run.dir, message }),
      )
    : undefined;
  if (resumeFrom) {
    const saved = (await trainer.loadCheckpoint(resumeFrom)).config as { loop?: LoopState } | undefined;
    if (!saved?.loop) {
      throw new KdtorchError(
        'E_BAD_WEIGHTS_FILE',
        `${resumeFrom}: not a checkpoint kdtorch wrote (no loop state in its metadata); delete it to restart the ${phase} phase`,
        { file: resumeFrom },
      );
    }
    loop.state = saved.loop;
    if (writes) run.rewriteMetrics(phase, loop.state.history);
  }
  const { state } = loop;
  const resumed = state.epoch > 0 || state.batch > 0;
  loop.emit({
    type: 'phase',
    phase,
    state: 'start',
    runDir: run.dir,
    message: `${phase}: ${resumed ? `resuming at epoch ${state.epoch + 1}, batch ${state.batch + 1}; ` : ''}${dataset.splits.train.length} training images, ${dataset.val.length} validation (${validationSource(setup)}), ${phaseConfig.epochs} epochs on ${model.device} in ${describePrecision(model.precision)}${store ? ' (training images held there)' : ''}; run folder ${run.dir}`,
  });
  while (loop.state.epoch < phaseConfig.epochs && !loop.state.stoppedEarly) {
    const trainSeconds = await trainEpoch(loop);
    await endEpoch(loop, trainSeconds);
  }
  return await finishPhase(loop); // awaited: the trainer is disposed when this scope ends
}

/** Adds the trainer's loss and accuracy sums since the last read to the epoch's. */
async function takeMetrics({ trainer, state }: Loop): Promise<void> {
  const m = await trainer.takeMetrics();
  state.partial.lossSum += m.lossSum;
  state.partial.correct += m.correct;
  state.partial.count += m.count;
}

/**
 * The rest of the current epoch's batches, with progress; on abort, a checkpoint after the last
 * finished batch and E_ABORTED. Returns the epoch's training seconds.
 */
async function trainEpoch(loop: Loop): Promise<number> {
  const { setup, phaseConfig, loader, trainer, state, emit } = loop;
  const { phase, signal, group } = setup;
  const batches = loader.batchCount;
  const started = performance.now();
  const doneBefore = state.partial.trainSeconds;
  let lastRead = started;
  let images = state.partial.count;
  const trainSeconds = () => doneBefore + (performance.now() - started) / 1000;
  for await (const batch of loader.epoch(state.epoch, state.batch)) {
    if (group) {
      // Ranks step together: any rank's signal stops them all before the same batch, and a batch one of
      // them has no images for (onBadImage 'skip' dropped them all) is left out on every rank.
      const [stopping = 0, empty = 0] = await group.sum([signal?.aborted ? 1 : 0, batch.labels.length === 0 ? 1 : 0]);
      if (stopping > 0) await stop(loop, trainSeconds);
      if (empty === 0) await setup.step(trainer, batch);
    } else {
      await setup.step(trainer, batch);
    }
    loader.recycle(batch);
    state.batch++;
    images += batch.labels.length * (group?.worldSize ?? 1); // every rank's share of the batch
    const now = performance.now();
    // Reading the loss waits for the device, so it is refreshed at most once a second.
    const readNow = group ? state.batch % METRICS_INTERVAL_BATCHES === 0 : now - lastRead >= METRICS_INTERVAL_MS;
    if (readNow || state.batch === batches) {
      lastRead = now;
      await takeMetrics(loop);
    }
    const seconds = doneBefore + (now - started) / 1000;
    emit({
      type: 'batch',
      phase,
      epoch: state.epoch + 1,
      epochs: phaseConfig.epochs,
      batch: state.batch,
      batches,
      loss: state.partial.count > 0 ? state.partial.lossSum / state.partial.count : null,
      imagesPerSecond: images / Math.max(seconds, 1e-9),
      etaSeconds: (seconds / state.batch) * ((phaseConfig.epochs - state.epoch) * batches - state.batch),
    });
    if (!group && signal?.aborted) await stop(loop, trainSeconds);
  }
  await takeMetrics(loop);
  return trainSeconds();
}

/** The checkpoint after the last finished batch, then E_ABORTED. */
async function stop(loop: Loop, trainSeconds: () => number): Promise<never> {
  const { phase, run } = loop.setup;
  const { state } = loop;
  await takeMetrics(loop);
  state.partial.trainSeconds = trainSeconds();
  await loop.save();
  loop.emit({
    type: 'phase',
    phase,
    state: 'stopped',
    runDir: run.dir,
    message: `${phase}: stopped after batch ${state.batch} of epoch ${state.epoch + 1}; checkpoint saved. Resume with --resume ${run.dir}`,
  });
  throw new KdtorchError('E_ABORTED', `${phase} stopped; resume with --resume ${run.dir}`, { file: run.dir });
}

/** What an epoch's end records: validation, the best weights so far, early stopping, the checkpoint. */
async function endEpoch(loop: Loop, trainSeconds: number): Promise<void> {
  const { setup, phaseConfig, trainer, state } = loop;
  const { phase, run, dataset, model, description, group } = setup;
  const validated = performance.now();
  if (group) await trainer.syncFromRankZero(); // every rank scores rank 0's model, the one saved below
  const { score } = await scoreSplit(model, dataset, dataset.val, phaseConfig.batchSize, group);
  const { partial } = state;
  const record: EpochRecord = {
    phase,
    epoch: state.epoch + 1,
    trainLoss: partial.lossSum / Math.max(1, partial.count),
    trainAccuracy: partial.correct / Math.max(1, partial.count),
    valLoss: score.loss,
    valAccuracy: score.accuracy,
    lr: trainer.learningRate,
    seconds: trainSeconds + (performance.now() - validated) / 1000,
    imagesPerSecond: partial.count / Math.max(trainSeconds, 1e-9),
  };
  const { best } = state;
  // With select 'last' every epoch replaces the kept weights, so the phase ends with the last epoch's.
  const isBest =
    phaseConfig.select === 'last' ||
    best === null ||
    record.valAccuracy > best.valAccuracy ||
    (record.valAccuracy === best.valAccuracy && record.valLoss < best.valLoss);
  const gained = best === null || record.valAccuracy > best.valAccuracy + minDelta(phaseConfig);
  if (isBest) {
    state.best = { epoch: record.epoch, valAccuracy: record.valAccuracy, valLoss: record.valLoss };
    if (loop.writes) await model.saveWeights(run.best(phase), description);
  }
  state.epochsWithoutGain = gained ? 0 : state.epochsWithoutGain + 1;
  const { earlyStopping } = phaseConfig;
  state.stoppedEarly = earlyStopping !== false && state.epochsWithoutGain >= earlyStopping.patience;
  state.history.push(record);
  if (loop.writes) run.appendMetrics(record);
  loop.emit({ type: 'epoch', ...record, epochs: phaseConfig.epochs, best: isBest });
  loop.state = { ...state, epoch: state.epoch + 1, batch: 0, partial: freshState().partial };
  await loop.save();
  await group?.barrier(); // the best weights and the checkpoint on disk before any rank reads them
}

/** The phase's result: test metrics and latency of the best weights, not the last; saved as result.json. */
async function finishPhase({ setup, phaseConfig, loader, state, emit, writes }: Loop): Promise<PhaseResult> {
  const { phase, run, dataset, model, description, group } = setup;
  const { config } = run;
  await model.loadWeights(run.best(phase));
  const test =
    dataset.splits.test.length > 0
      ? await testReport(model, dataset, dataset.splits.test, phaseConfig.batchSize, config.positiveClass, group)
      : null;
  // Training images every rank skipped, as in a run of one process.
  const trainSkipped = group ? await group.gatherJson(loader.skipped) : loader.skipped;
  // A rank's shard is padded with other ranks' images: one may have been skipped on two ranks.
  const skippedTrain = trainSkipped.filter((s, i) => trainSkipped.findIndex((t) => t.file === s.file) === i);
  if (!writes) {
    await group?.barrier(); // rank 0 measures the latency and writes the result
    const result = run.readResult<PhaseResult>(phase) as PhaseResult;
    emit({ type: 'phase', phase, state: 'done', runDir: run.dir, message: summary(result) });
    return result;
  }
  const result: PhaseResult = {
    phase,
    runDir: run.dir,
    classes: dataset.splits.classes,
    device: model.device,
    history: state.history,
    bestEpoch: state.best?.epoch ?? 0,
    bestCheckpoint: run.best(phase),
    stoppedEarly: state.stoppedEarly,
    validation: validationSource(setup),
    test,
    parameters: model.parameterCount,
    precision: model.precision,
    weightsBytes: fs.statSync(run.best(phase)).size,
    latency: await measureLatency(model, description, config.latency.batchSizes, config.latency.repeats),
    // Everything left out, in any split: what the folder walk refused, then bad images in train and test.
    skippedImages: [...dataset.splits.skipped.refused, ...skippedTrain, ...(test?.skipped ?? [])],
    ...(setup.teacherOutputs === undefined ? {} : { teacherOutputs: setup.teacherOutputs }),
  };
  run.writeResult(phase, result);
  await group?.barrier();
  emit({ type: 'phase', phase, state: 'done', runDir: run.dir, message: summary(result) });
  return result;
}

function minDelta(phaseConfig: PhaseConfig): number {
  return phaseConfig.earlyStopping === false ? 0 : phaseConfig.earlyStopping.minDelta;
}

function validationSource({ dataset }: Pick<PhaseSetup, 'dataset'>): string {
  return dataset.data.validateOn === 'test' ? 'the test split, as the article did' : dataset.splits.valSource;
}

function summary(result: PhaseResult): string {
  const test = result.test ? `test accuracy ${(100 * result.test.accuracy).toFixed(2)}%` : 'no test split';
  return `${result.phase}: best epoch ${result.bestEpoch}, ${test}; weights ${result.bestCheckpoint}`;
}

function describePrecision({ autocast, channelsLast }: ResolvedPrecision): string {
  return `${autocast === 'bf16' ? 'bf16 autocast' : 'fp32'}${channelsLast ? ', channels-last' : ''}`;
}
