// Training steps as TypeScript users see them: one native call per batch, the learning rate from a
// schedule, loss sums read only when asked, and checkpoints holding everything needed to resume.
import { KdtorchError } from '../errors.js';
import { call, createNativeTrainer } from './addon.js';
import { type Batch, nativeImages, type PixelBatch } from './batch.js';
import type { Model } from './model.js';
import type { ProcessGroup } from './process-group.js';
import { learningRateAt, type Schedule } from './schedule.js';
import type { NativeLossSpec, NativeOptimizerSpec, NativeTrainer, NativeTrainerSpec, StepMetrics } from './wire.js';

export type { Batch, PixelBatch } from './batch.js';
export type { StepMetrics } from './wire.js';
export type OptimizerOptions = NativeOptimizerSpec;
export type LossOptions = NativeLossSpec;

export interface TrainerOptions {
  optimizer: OptimizerOptions;
  /** Cross-entropy settings for every step, and the distillation terms for distillStep. */
  loss: LossOptions;
  schedule?: Schedule;
  /** 'backbone' trains only fc.* (really frozen: no gradients, not in the optimizer). Default 'none'. */
  freeze?: 'none' | 'backbone';
  /** The teacher for distillStep; it is run in eval mode without gradients. */
  teacher?: Model;
  /**
   * 'cuda': each step shape (batch size, with or without teacher outputs) runs eagerly three times,
   * is then captured once into a CUDA graph and replayed, one launch per step; the model must be on
   * a CUDA device. 'replayed': the same bookkeeping on any device with the graph's work re-run
   * eagerly, for testing it without a GPU. Default 'none'.
   */
  graphs?: 'none' | 'cuda' | 'replayed';
  /**
   * Train with these ranks as DistributedDataParallel does by default: every rank starts from rank 0's
   * parameters and buffers, BatchNorm buffers come from rank 0 before each training forward, gradients are
   * averaged over the ranks after backward, and takeMetrics() sums over them (every rank must call it).
   * Each rank steps on its own shard of the batch. Not with `graphs`.
   */
  processGroup?: ProcessGroup;
  /**
   * With processGroup: the trained model's BatchNorms normalise over every rank's images together in
   * training, as torch.nn.SyncBatchNorm, so N ranks of B images step as one process of N·B would; their
   * running statistics then agree on every rank too. Default false: each rank's own batch, as DDP.
   */
  syncBatchNorm?: boolean;
}

/** What a checkpoint records beside the tensors, as JSON. */
export interface CheckpointInfo {
  /** Scheduler (and optimizer) steps taken. */
  step: number;
  epoch: number;
  schedule: Schedule;
  baseLr: number;
  /** The caller's configuration, stored as given. */
  config?: unknown;
}

type StepKind = 'teacherStep' | 'studentStep' | 'distillStep';

export class Trainer {
  private stepsTaken = 0;

  private constructor(
    private readonly model: Model,
    private readonly teacher: Model | undefined,
    private readonly native: NativeTrainer,
    private readonly schedule: Schedule,
    private readonly baseLr: number,
  ) {}

  static async create(model: Model, options: TrainerOptions): Promise<Trainer> {
    const { optimizer, loss, schedule = { name: 'constant' }, freeze = 'none', teacher, graphs = 'none' } = options;
    const { processGroup } = options;
    if (freeze === 'backbone' && model.architecture !== 'resnet18') {
      throw new KdtorchError('E_INVALID_ARGUMENT', "freeze: 'backbone' applies to a resnet18 teacher", {
        field: 'freeze',
      });
    }
    const spec: NativeTrainerSpec = {
      optimizer,
      loss: { ...loss },
      freeze,
      stepGraphs: graphs,
      ...(processGroup ? { processGroup: processGroup.native, syncBatchNorm: options.syncBatchNorm ?? false } : {}),
    };
    const native = await model.run((handle) =>
      teacher
        ? teacher.run((teacherHandle) => createNativeTrainer(handle, teacherHandle, spec))
        : createNativeTrainer(handle, null, spec),
    );
    return new Trainer(model, teacher, native, schedule, optimizer.lr);
  }

  /** Steps taken so far; the schedule's position. */
  get step(): number {
    return this.stepsTaken;
  }

  /** The learning rate the next step will use. */
  get learningRate(): number {
    return learningRateAt(this.schedule, this.baseLr, this.stepsTaken);
  }

  /** Cross-entropy step on a teacher (honours `freeze`). */
  teacherStep(batch: Batch | PixelBatch): Promise<void> {
    return this.runStep('teacherStep', batch);
  }

  /** Cross-entropy step on the student alone: the article's baseline. */
  studentStep(batch: Batch | PixelBatch): Promise<void> {
    return this.runStep('studentStep', batch);
  }

  /**
   * Teacher forward without gradients + student forward + fused distillation loss + backward + step.
   * With `teacherLogits` ([N, classes], the teacher's eval-mode outputs for exactly these images as
   * given, flips included) the teacher is not run: the teacher-output cache's fast path.
   */
  distillStep(batch: Batch | PixelBatch, teacherLogits?: Float32Array): Promise<void> {
    if (!this.teacher && !teacherLogits) {
      return Promise.reject(
        new KdtorchError(
          'E_INVALID_ARGUMENT',
          'distillStep needs a teacher (Trainer.create(model, { teacher })) or its outputs for the batch',
          { field: 'teacher' },
        ),
      );
    }
    return this.runStep('distillStep', batch, teacherLogits);
  }

  /** Per-sample loss and accuracy sums since the last call: one device read. */
  takeMetrics(): Promise<StepMetrics> {
    return this.withModels(() => this.native.takeMetrics());
  }

  /**
   * With a processGroup, rank 0's BatchNorm buffers into every rank (and, before the first step, its
   * parameters): each rank's running statistics last followed its own batch, so an evaluation on every
   * rank's shard needs this first to score rank 0's model. Every rank must call it; alone, nothing.
   */
  syncFromRankZero(): Promise<void> {
    return this.withModels(() => this.native.syncFromRankZero());
  }

  /** Writes model, optimizer state and `info` (JSON) to one safetensors file, atomically. */
  saveCheckpoint(path: string, extra: { epoch: number; config?: unknown }): Promise<void> {
    const info: CheckpointInfo = {
      step: this.stepsTaken,
      epoch: extra.epoch,
      schedule: this.schedule,
      baseLr: this.baseLr,
      config: extra.config,
    };
    return this.withModels(() => this.native.saveCheckpoint(path, JSON.stringify(info)));
  }

  /** Restores model, optimizer and schedule position from saveCheckpoint's file. */
  async loadCheckpoint(path: string): Promise<CheckpointInfo> {
    const info = JSON.parse(await this.withModels(() => this.native.loadCheckpoint(path))) as CheckpointInfo;
    this.stepsTaken = info.step;
    return info;
  }

  /**
   * Frees the optimizer state now, after the steps already queued, rather than when V8 collects this
   * object (it is told its size). The models stay usable; any later call here rejects with E_RELEASED.
   */
  dispose(): Promise<void> {
    return this.withModels(async () => this.native.dispose());
  }

  /** `await using trainer = await Trainer.create(…)` disposes it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private async runStep(kind: StepKind, batch: Batch | PixelBatch, teacherLogits?: Float32Array): Promise<void> {
    const lr = this.learningRate;
    const [images, shape, pixels] = nativeImages(batch);
    await this.withModels(() => this.native[kind](images, shape, batch.labels, lr, pixels, teacherLogits));
    this.stepsTaken += 1;
  }

  // Queues on the model (and teacher) so steps never overlap other calls on them; always in
  // the order model → teacher, so two queued users cannot wait on each other.
  private withModels<T>(work: () => Promise<T>): Promise<T> {
    const teacher = this.teacher;
    return this.model.run(() => (teacher ? teacher.run(() => call(work)) : call(work)));
  }
}
