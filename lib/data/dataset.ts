// The data side of a run: the splits of the dataset folder, one decode cache shared by every phase
// of a process, and the loaders each phase draws from.

import type { Config, PhaseConfig } from '../config/schema.js';
import { KdtorchError } from '../errors.js';
import type { NativeAugmentSpec } from '../native/wire.js';
import { nativeAugmentSpec, type ViewCount } from './augment.js';
import { DataLoader, type LoaderOptions } from './data-loader.js';
import type { DecodeOptions } from './decode.js';
import { DecodeCache } from './decode-cache.js';
import type { Sample } from './image-folder.js';
import type { PixelStore } from './pixel-store.js';
import { applySplitRecord, type DatasetSplits, loadSplits, type SplitRecord } from './splits.js';

export interface Dataset {
  splits: DatasetSplits;
  /** Validation samples: the val split (or the carve-out), or the test split under validateOn 'test'. */
  val: Sample[];
  cache: DecodeCache;
  data: Config['data'];
}

/**
 * Scans the folder and sets up decoding for `data`; pass the result to every phase to decode once.
 * With `recorded` (a run's splits.json) the splits are the run's own, whatever the folder has gained since.
 */
export async function openDataset(
  data: Config['data'],
  seed: number,
  recorded?: { record: SplitRecord; file: string },
): Promise<Dataset> {
  const scanned = await loadSplits(data.root, {
    valFraction: data.valFraction,
    testFraction: data.testFraction,
    minValImages: data.minValImages,
    seed,
    // Validating on the test split (the article's way), the whole train split trains, as in the article.
    carve: data.validateOn !== 'test',
  });
  const splits = recorded ? applySplitRecord(scanned, recorded.record, recorded.file) : scanned;
  const options: DecodeOptions = {
    height: data.imageSize,
    width: data.imageSize,
    channels: data.channels,
    maxPixels: data.maxPixels,
  };
  const cache = new DecodeCache(options, data.cacheDir ?? undefined);
  return { splits, val: data.validateOn === 'test' ? splits.test : splits.val, cache, data };
}

/** The augmentation a phase trains with: data.augment's, when the phase augments and it has any. */
export function phaseAugment(dataset: Dataset, phase: PhaseConfig): NativeAugmentSpec | null {
  return phase.augment ? nativeAugmentSpec(dataset.data.augment) : null;
}

/**
 * Training batches for one phase: seeded shuffle, flips and, when the phase augments, views (data.augment:
 * `views` per image, or 'live', a fresh one each epoch); from `store` when given (data.deviceCache).
 */
/** One rank's share of a loader's samples (LoaderOptions.shard). */
type Shard = NonNullable<LoaderOptions['shard']>;

export function trainLoader(
  dataset: Dataset,
  phase: PhaseConfig,
  seed: number,
  store?: PixelStore,
  views: ViewCount = 'live',
  shard?: Shard,
): DataLoader {
  const { train } = dataset.splits;
  const spec = phaseAugment(dataset, phase);
  // phase.batchSize is the global batch: each of `count` ranks takes its share of every one.
  const count = shard?.count ?? 1;
  const batchSize = phase.batchSize / count;
  return new DataLoader(train, dataset.cache, {
    ...(store ? { store } : {}),
    ...(spec ? { augment: { spec, views } } : {}),
    ...(shard ? { shard, emptyBatches: true } : {}),
    batchSize,
    shuffle: true,
    seed,
    hflip: dataset.data.hflip,
    mean: dataset.data.mean,
    std: dataset.data.std,
    onBadImage: dataset.data.onBadImage,
    // BatchNorm cannot train on a batch of one image (ResNet's last stage has one value per channel).
    dropLast: Math.ceil(train.length / count) % batchSize === 1,
  });
}

/** Evaluation batches: in order, unflipped. */
export function evalLoader(dataset: Dataset, samples: Sample[], batchSize: number, shard?: Shard): DataLoader {
  return new DataLoader(samples, dataset.cache, {
    ...(shard ? { shard } : {}),
    batchSize,
    shuffle: false,
    mean: dataset.data.mean,
    std: dataset.data.std,
    onBadImage: dataset.data.onBadImage,
  });
}

/** The training images in order, each in the view `epoch(0, 0, k)` names: what the teacher-output cache computes. */
export function viewLoader(
  dataset: Dataset,
  samples: readonly Sample[],
  batchSize: number,
  seed: number,
  spec: NativeAugmentSpec,
  shard?: Shard,
): DataLoader {
  return new DataLoader(samples, dataset.cache, {
    ...(shard ? { shard } : {}),
    batchSize,
    shuffle: false,
    seed,
    hflip: dataset.data.hflip,
    augment: { spec, views: 'live' },
    mean: dataset.data.mean,
    std: dataset.data.std,
    onBadImage: dataset.data.onBadImage,
  });
}

/** torch/sklearn 'balanced' weights n / (C · n_c) from the training split, or the config's own. */
export function classWeights(dataset: Dataset, phase: PhaseConfig, field: string): number[] | undefined {
  if (phase.classWeights === 'none') return undefined;
  const classCount = dataset.splits.classes.length;
  if (Array.isArray(phase.classWeights)) {
    if (phase.classWeights.length === classCount) return phase.classWeights;
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `${field} has ${phase.classWeights.length} weights but the dataset has ${classCount} classes (${dataset.splits.classes.join(', ')})`,
      { field },
    );
  }
  const counts = new Array<number>(classCount).fill(0);
  for (const sample of dataset.splits.train) counts[sample.label] = (counts[sample.label] ?? 0) + 1;
  const total = dataset.splits.train.length;
  return counts.map((n) => total / (classCount * n));
}
