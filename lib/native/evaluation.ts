// Evaluation over many batches with the sums kept on the device: one read at the end.
import { createNativeEvaluator } from './addon.js';
import { type Batch, nativeImages, type PixelBatch } from './batch.js';
import type { Model } from './model.js';
import type { EvaluationSums, NativeEvaluator } from './wire.js';

export type { EvaluationSums } from './wire.js';

export class Evaluation {
  private constructor(
    private readonly model: Model,
    private readonly native: NativeEvaluator,
  ) {}

  /** Puts the model in eval mode for each batch (BatchNorm on running statistics). */
  static async create(model: Model): Promise<Evaluation> {
    return new Evaluation(model, await model.run((handle) => createNativeEvaluator(handle)));
  }

  add(batch: Batch | PixelBatch): Promise<void> {
    const [images, shape, pixels] = nativeImages(batch);
    return this.model.run(() => this.native.add(images, shape, batch.labels, pixels));
  }

  /** Loss sum, correct count, confusion matrix and per-sample class probabilities so far. */
  read(): Promise<EvaluationSums> {
    return this.model.run(() => this.native.read());
  }

  /** Frees the sums and probabilities after the batches already queued; later calls reject with E_RELEASED. */
  dispose(): Promise<void> {
    return this.model.run(async () => this.native.dispose());
  }

  /** `await using evaluation = await Evaluation.create(model)` disposes it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
