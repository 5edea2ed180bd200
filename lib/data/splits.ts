// The train/val/test splits of a dataset folder, with validation carved from train when the
// folder's own val split is too small to measure anything (the Kaggle chest X-ray val has 16 images).
import fs from 'node:fs';
import path from 'node:path';
import { KdtorchError } from '../errors.js';
import { type ImageFolder, type Sample, scanImageFolder } from './image-folder.js';
import { shuffled, streamRandom } from './random.js';

export interface SplitOptions {
  /** Share of each class of train moved to validation when val/ is missing or too small. Default 0.1. */
  valFraction?: number;
  /** A val/ split with fewer images than this is merged into train before carving. Default 100. */
  minValImages?: number;
  seed?: number;
  /** false: never move training images to validation (when validation is the test split anyway). Default true. */
  carve?: boolean;
}

export interface DatasetSplits {
  root: string;
  classes: string[];
  train: Sample[];
  val: Sample[];
  test: Sample[];
  /** Where validation came from: the folder's val/ split, or a stratified carve-out of train. */
  valSource: 'val' | 'carved from train';
  skipped: ImageFolder['skipped'];
}

async function scanIfPresent(dir: string): Promise<ImageFolder | undefined> {
  return fs.existsSync(dir) ? scanImageFolder(dir) : undefined;
}

/** Reads root/train, root/val (optional) and root/test (optional). Validation is never the test split. */
export async function loadSplits(root: string, options: SplitOptions = {}): Promise<DatasetSplits> {
  const { valFraction = 0.1, minValImages = 100, seed = 0, carve = true } = options;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new KdtorchError('E_INVALID_ARGUMENT', `valFraction must be in (0, 1), got ${valFraction}`, {
      field: 'valFraction',
    });
  }
  const train = await scanImageFolder(path.join(root, 'train'));
  const val = await scanIfPresent(path.join(root, 'val'));
  const test = await scanIfPresent(path.join(root, 'test'));
  for (const [name, split] of [
    ['val', val],
    ['test', test],
  ] as const) {
    if (split && split.classes.join('\n') !== train.classes.join('\n')) {
      throw new KdtorchError(
        'E_CLASS_MISMATCH',
        `${path.join(root, name)} has classes [${split.classes.join(', ')}] but train has [${train.classes.join(', ')}]; every split needs the same class folders`,
        { file: path.join(root, name) },
      );
    }
  }
  const skipped = { hidden: 0, nonImage: 0 };
  for (const split of [train, val, test]) {
    skipped.hidden += split?.skipped.hidden ?? 0;
    skipped.nonImage += split?.skipped.nonImage ?? 0;
  }
  const base = { root, classes: train.classes, test: test?.samples ?? [], skipped };
  if (!carve || (val && val.samples.length >= minValImages)) {
    return { ...base, train: train.samples, val: val?.samples ?? [], valSource: 'val' };
  }
  const pool = [...train.samples, ...(val?.samples ?? [])];
  const carved = carveStratified(pool, train.classes.length, valFraction, seed);
  return { ...base, ...carved, valSource: 'carved from train' };
}

/** Moves round(n · fraction) of each class, chosen by a seeded shuffle, to val; keeps the pool's order otherwise. */
export function carveStratified(samples: Sample[], classCount: number, fraction: number, seed: number) {
  const toVal = new Set<Sample>();
  for (let label = 0; label < classCount; label++) {
    const ofClass = samples.filter((s) => s.label === label);
    for (const s of shuffled(ofClass, streamRandom(seed, label)).slice(0, Math.round(ofClass.length * fraction))) {
      toVal.add(s);
    }
  }
  return { train: samples.filter((s) => !toVal.has(s)), val: samples.filter((s) => toVal.has(s)) };
}
