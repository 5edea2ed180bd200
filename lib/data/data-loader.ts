// Batches for the training steps: a seeded shuffle per epoch, images from the decode cache (decoded
// in parallel on libuv's pool the first time), copied as uint8 into one [N, H, W, C] buffer per batch
// with a seeded horizontal-flip flag per image and, with augmentation, a view seed per image (augment.ts).
// Flipping, augmentation and normalisation happen natively on the model's device
// (native/core/image_batch.cc). The next batches are prepared while a step runs.
import os from 'node:os';
import { KdtorchError } from '../errors.js';
import type { PixelBatch } from '../native/batch.js';
import type { NativeAugmentSpec } from '../native/wire.js';
import { pickView, type ViewCount, viewFlip, viewSeed } from './augment.js';
import type { DecodeCache } from './decode-cache.js';
import type { Sample } from './image-folder.js';
import type { PixelStore } from './pixel-store.js';
import { shuffled, streamRandom } from './random.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize (as DataLoader(drop_last=True)). */
  dropLast?: boolean;
  /** Probability of a horizontal flip per image (RandomHorizontalFlip). Default 0. */
  hflip?: number;
  /**
   * Serve each image in one of its views (augment.ts): the transform (null: the flip only) and how many
   * views an image has. Without it, flips are drawn per epoch and nothing else changes the pixels.
   */
  augment?: { spec: NativeAugmentSpec | null; views: ViewCount };
  /** Per-channel mean and std of the normalisation; ImageNet's by default. */
  mean?: number[];
  std?: number[];
  /** 'error' (default) stops at the first bad image; 'skip' leaves it out and records it. */
  onBadImage?: 'error' | 'skip';
  /** Called once per skipped image. */
  onSkip?: (file: string, reason: string) => void;
  /** Batches prepared ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /**
   * Serve store rows instead of pixels: the store holds these very samples (PixelStore.fill with the
   * same array) on the model's device, so no pixels are copied per batch.
   */
  store?: PixelStore;
  /**
   * Serve this rank's share of each epoch, as torch.utils.data.DistributedSampler does: every rank draws
   * the same seeded order, pads it by repeating its start to a multiple of `count`, and takes the images
   * at positions rank, rank + count, …; so all ranks have as many batches, and one global batch is
   * `count` × batchSize images. Flips are drawn over the whole order, so ranks do not share a pattern.
   */
  shard?: { rank: number; count: number };
  /**
   * Yield a batch whose images were all skipped (onBadImage 'skip') as a batch of none, instead of leaving
   * it out: ranks that step together need the same number of batches, and skip such a one together.
   */
  emptyBatches?: boolean;
}

/** One batch as an epoch plans it: its samples, their flips and (with augmentation) their views. */
interface Group {
  samples: Sample[];
  flip: boolean[];
  views?: number[];
  seeds?: number[];
}

export interface SkippedImage {
  file: string;
  reason: string;
}

export class DataLoader {
  readonly skipped: SkippedImage[] = [];
  private readonly skippedFiles = new Set<string>();
  private readonly positions: Map<Sample, number>;
  // Full-batch pixel buffers handed back with recycle(). A fresh 4.8 MB buffer per batch (224², 32
  // images) made V8 collect garbage every few batches under external-memory pressure: about a third
  // of a cached epoch's time (npm run bench -- data).
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly samples: readonly Sample[],
    private readonly cache: DecodeCache,
    private readonly options: LoaderOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `batchSize must be a positive integer, got ${options.batchSize}`, {
        field: 'batchSize',
      });
    }
    const { shard } = options;
    if (
      shard &&
      !(
        Number.isInteger(shard.count) &&
        shard.count >= 1 &&
        Number.isInteger(shard.rank) &&
        shard.rank >= 0 &&
        shard.rank < shard.count
      )
    ) {
      throw new KdtorchError(
        'E_INVALID_ARGUMENT',
        `shard must be { rank, count } with 0 <= rank < count, got ${JSON.stringify(shard)}`,
        {
          field: 'shard',
        },
      );
    }
    if (options.store && options.store.samples !== samples) {
      throw new KdtorchError('E_INVALID_ARGUMENT', 'store must be filled from the samples this loader serves', {
        field: 'store',
      });
    }
    this.positions = new Map(samples.map((sample, i) => [sample, i]));
    const channels = cache.options.channels;
    for (const field of ['mean', 'std'] as const) {
      const values = options[field];
      if (values && values.length !== channels) {
        throw new KdtorchError(
          'E_INVALID_ARGUMENT',
          `${field} needs ${channels} values (one per channel), got ${values.length}`,
          {
            field,
          },
        );
      }
    }
  }

  /** Number of batches in an epoch (before any image is skipped). */
  get batchCount(): number {
    const count = this.options.shard?.count ?? 1;
    const n = Math.ceil(this.samples.length / count) / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /**
   * Hands a batch's pixel buffer back for a later batch to reuse. Only for a batch you are done
   * with: its `pixels` will be overwritten. Optional; batches not handed back are left to the GC.
   */
  recycle(batch: PixelBatch): void {
    const { height, width, channels } = this.cache.options;
    const full = this.options.batchSize * height * width * channels;
    const spares = (this.options.prefetch ?? 2) + 2; // the batches one epoch() holds at once
    const pixels = batch.pixels; // empty for store rows: not a full batch, so never kept
    // A buffer handed back twice would end up under two batches at once.
    if (
      pixels.byteLength === full &&
      Buffer.isBuffer(pixels) &&
      this.spare.length < spares &&
      !this.spare.includes(pixels)
    ) {
      this.spare.push(pixels);
    }
  }

  /**
   * One epoch's batches; `epoch` picks the shuffle, the flips and the views, so epochs are reproducible.
   * `fromBatch` skips the first batches without decoding them: a resumed run continues mid-epoch.
   * `view` serves every image in that view (of options.augment), as the teacher-output cache needs.
   */
  async *epoch(epoch: number, fromBatch = 0, view?: number): AsyncGenerator<PixelBatch> {
    const { batchSize, shuffle = true, seed = 0, dropLast = false, prefetch = 2, hflip = 0, augment } = this.options;
    const flips = streamRandom(seed ^ 0x5f3759df, epoch);
    const { order, flipped } = this.shardOf(
      shuffle ? shuffled(this.samples, streamRandom(seed, epoch)) : [...this.samples],
      () => flips() < hflip,
    );
    const groups: Group[] = [];
    for (let start = 0; start < order.length; start += batchSize) {
      const samples = order.slice(start, start + batchSize);
      if (dropLast && samples.length < batchSize) break;
      if (!augment) {
        groups.push({ samples, flip: flipped.slice(start, start + samples.length) });
        continue;
      }
      const positions = samples.map((sample) => this.positions.get(sample) as number);
      const views = positions.map((p) => view ?? pickView(seed, epoch, p, augment.views));
      groups.push({
        samples,
        flip: positions.map((p, i) => viewFlip(seed, p, views[i] as number, hflip)),
        views,
        seeds: positions.map((p, i) => viewSeed(seed, p, views[i] as number)),
      });
    }
    const pending: Promise<PixelBatch | undefined>[] = [];
    let next = fromBatch;
    const fill = () => {
      while (next < groups.length && pending.length <= prefetch) {
        const batch = this.assemble(groups[next++] as Group);
        // A prefetched batch may fail before its turn; its error is rethrown when it is awaited.
        batch.catch(() => undefined);
        pending.push(batch);
      }
    };
    fill();
    try {
      while (pending.length > 0) {
        const batch = await (pending.shift() as Promise<PixelBatch | undefined>);
        fill();
        if (batch) yield batch;
      }
    } finally {
      pending.length = 0; // stopped early (an error, or the caller broke out): prefetched batches are dropped
    }
  }

  /** `order` (all ranks' order) and a flip drawn for each of its places, cut to this rank's shard. */
  private shardOf(order: Sample[], flip: () => boolean): { order: Sample[]; flipped: boolean[] } {
    const { shard } = this.options;
    if (!shard || shard.count === 1) return { order, flipped: order.map(flip) };
    const padded = [...order];
    const total = Math.ceil(order.length / shard.count) * shard.count;
    while (padded.length < total) padded.push(...order.slice(0, total - padded.length));
    const flipped = padded.map(flip);
    const mine = (_: unknown, i: number) => i % shard.count === shard.rank;
    return { order: padded.filter(mine), flipped: flipped.filter(mine) };
  }

  private async assemble({ samples, flip, views, seeds }: Group): Promise<PixelBatch | undefined> {
    const decoded = await this.decodeAll(samples);
    const kept = samples.map((_, i) => i).filter((i) => decoded[i] !== undefined);
    if (kept.length === 0 && !this.options.emptyBatches) return undefined;
    const { height, width, channels } = this.cache.options;
    const common = {
      shape: [kept.length, height, width, channels],
      labels: Int32Array.from(kept, (i) => (samples[i] as Sample).label),
      indices: Uint32Array.from(kept, (i) => this.positions.get(samples[i] as Sample) as number),
      flip: Uint8Array.from(kept, (i) => (flip[i] ? 1 : 0)),
      mean: this.options.mean ?? IMAGENET_MEAN,
      std: this.options.std ?? IMAGENET_STD,
      ...(views ? { views: Uint32Array.from(kept, (i) => views[i] as number) } : {}),
      ...(seeds && this.options.augment?.spec
        ? { augment: { spec: this.options.augment.spec, seeds: Uint32Array.from(kept, (i) => seeds[i] as number) } }
        : {}),
    };
    const store = this.options.store;
    // A store's rows are the loader's sample positions, which `indices` already holds.
    if (store)
      return { ...common, pixels: new Uint8Array(0), store: store.native, rows: Int32Array.from(common.indices) };
    const imageBytes = height * width * channels;
    // Every byte is written below, so skip the zero-fill a new Uint8Array would do.
    const pixels =
      (kept.length === this.options.batchSize && this.spare.pop()) || Buffer.allocUnsafe(kept.length * imageBytes);
    for (const [n, i] of kept.entries()) pixels.set(decoded[i] as Uint8Array, n * imageBytes);
    return { ...common, pixels };
  }

  private async decodeAll(samples: Sample[]): Promise<(Uint8Array | undefined)[]> {
    const ready = samples.map((sample) => this.cache.peek(sample.path));
    if (ready.every((pixels) => pixels !== undefined)) return ready;
    return Promise.all(
      samples.map(async (sample) => {
        if (this.skippedFiles.has(sample.path)) return undefined;
        try {
          return await this.cache.get(sample.path);
        } catch (error) {
          if (this.options.onBadImage !== 'skip') throw error;
          const reason = (error as Error).message;
          this.skippedFiles.add(sample.path);
          this.skipped.push({ file: sample.path, reason });
          this.options.onSkip?.(sample.path, reason);
          return undefined;
        }
      }),
    );
  }
}

/** Decodes every sample into the cache up front, `concurrency` at a time; returns the failures. */
export async function warmCache(
  samples: readonly Sample[],
  cache: DecodeCache,
  concurrency = os.availableParallelism() * 2,
): Promise<SkippedImage[]> {
  const failures: SkippedImage[] = [];
  let next = 0;
  const worker = async () => {
    while (next < samples.length) {
      const file = (samples[next++] as Sample).path;
      await cache.get(file).catch((error: Error) => failures.push({ file, reason: error.message }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}
