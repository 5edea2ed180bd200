// A Predictor serves many concurrent single-image requests (a Node HTTP service's) with batch throughput:
// each image is decoded as soon as its request arrives (on libuv's threads, while the network runs), and
// the decoded images that are waiting when the model is free, or within maxWaitMs of the first, go
// through the network in one call of up to maxBatch images.
import { KdtorchError } from '../errors.js';
import { type DescribedModel, loadModel } from '../model-file.js';
import type { Prediction } from '../prediction.js';
import { classifyPixels, decodeFor } from './predict.js';

export interface PredictorOptions {
  /** The most images one call takes (default 32). */
  maxBatch?: number;
  /** How long the first waiting request waits for others when the model is idle (default 2 ms). */
  maxWaitMs?: number;
}

interface Request {
  pixels: Uint8Array;
  resolve: (prediction: Prediction) => void;
  reject: (error: unknown) => void;
}

export class Predictor {
  /** Calls made and images classified so far. */
  readonly stats = { batches: 0, images: 0 };
  private readonly pending: Request[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private decoding = 0;

  private constructor(
    private readonly model: DescribedModel,
    private readonly maxBatch: number,
    private readonly maxWaitMs: number,
  ) {}

  static async create(model: string | DescribedModel, options: PredictorOptions = {}): Promise<Predictor> {
    const { maxBatch = 32, maxWaitMs = 2 } = options;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `maxBatch must be a positive integer, got ${maxBatch}`, {
        field: 'maxBatch',
      });
    }
    if (!(maxWaitMs >= 0)) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `maxWaitMs must be ≥ 0, got ${maxWaitMs}`, { field: 'maxWaitMs' });
    }
    return new Predictor(typeof model === 'string' ? await loadModel(model) : model, maxBatch, maxWaitMs);
  }

  /** Classifies one image (a file path or encoded bytes); batched with the requests around it. */
  async predict(image: string | Uint8Array): Promise<Prediction> {
    if (this.closed) throw new KdtorchError('E_RELEASED', 'this predictor was closed');
    this.decoding++;
    // A bad image fails its own request here, before it could join (and fail) a batch.
    const pixels = await decodeFor(this.model.description, image, 'image').finally(() => this.decoding--);
    return new Promise((resolve, reject) => {
      this.pending.push({ pixels, resolve, reject });
      this.schedule();
    });
  }

  /** Answers the requests already made, then refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending.length > 0 || this.running || this.decoding > 0) {
      this.flushSoon(0);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  private schedule(): void {
    if (this.running) return; // the batch after the running one takes whatever arrived meanwhile
    if (this.pending.length >= this.maxBatch) this.flushSoon(0);
    else this.flushSoon(this.maxWaitMs);
  }

  private flushSoon(ms: number): void {
    if (this.running || this.pending.length === 0) return;
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), ms);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      this.stats.batches++;
      this.stats.images += batch.length;
      const predictions = await classifyPixels(
        this.model,
        batch.map((r) => r.pixels),
      );
      for (const [i, request] of batch.entries()) request.resolve(predictions[i] as Prediction);
    } catch (error) {
      for (const request of batch) request.reject(error);
    } finally {
      this.running = false;
      this.flushSoon(0); // what arrived during this call has waited long enough
    }
  }
}
