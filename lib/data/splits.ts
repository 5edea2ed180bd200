// The train/val/test splits of a dataset folder, in either of two layouts:
// - root/train/<class>/…, optional root/val/ and root/test/ (the Kaggle chest X-ray set): validation is
//   carved from train when the folder's own val split is too small to measure anything (it has 16 images);
// - root/<class>/… (torchvision's plain ImageFolder): test and validation are stratified, seeded carve-outs.
// A run records the split it used (SplitRecord), so evaluation and --resume see the very same images.
import fs from 'node:fs';
import path from 'node:path';
import { KdtorchError } from '../errors.js';
import { type ImageFolder, type Sample, scanImageFolder } from './image-folder.js';
import { shuffled, streamRandom } from './random.js';

/** The folders that make a root the train/val/test layout. */
const SPLIT_FOLDERS = ['train', 'val', 'test'] as const;

export interface SplitOptions {
  /** Share of each class of train moved to validation when val/ is missing or too small. Default 0.1. */
  valFraction?: number;
  /** Plain ImageFolder only: share of each class held out as the test split. Default 0.2. */
  testFraction?: number;
  /** A val/ split with fewer images than this is merged into train before carving. Default 100. */
  minValImages?: number;
  seed?: number;
  /** false: never move training images to validation (when validation is the test split anyway). Default true. */
  carve?: boolean;
}

export interface DatasetSplits {
  root: string;
  /** 'splits': root/train, root/val, root/test; 'image-folder': root/<class>, every split carved. */
  layout: 'splits' | 'image-folder';
  classes: string[];
  train: Sample[];
  val: Sample[];
  test: Sample[];
  /** Where validation came from: the folder's val/ split, or a stratified carve-out of train. */
  valSource: 'val' | 'carved from train';
  skipped: ImageFolder['skipped'];
}

/** A split as a run folder keeps it (splits.json): every image by its path relative to the dataset root. */
export interface SplitRecord {
  layout: DatasetSplits['layout'];
  classes: string[];
  valSource: DatasetSplits['valSource'];
  train: string[];
  val: string[];
  test: string[];
}

const SPLIT_DEFAULTS = { valFraction: 0.1, testFraction: 0.2, minValImages: 100, seed: 0, carve: true };

async function scanIfPresent(dir: string): Promise<ImageFolder | undefined> {
  return fs.existsSync(dir) ? scanImageFolder(dir) : undefined;
}

/** Reads the dataset at `root` in whichever layout it has. Validation is never the test split. */
export async function loadSplits(root: string, options: SplitOptions = {}): Promise<DatasetSplits> {
  const settings = { ...SPLIT_DEFAULTS, ...options };
  for (const field of ['valFraction', 'testFraction'] as const) {
    const value = settings[field];
    if (!(value > 0 && value < 1)) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `${field} must be in (0, 1), got ${value}`, { field });
    }
  }
  return (await layoutOf(root)) === 'splits' ? loadSplitFolders(root, settings) : loadImageFolder(root, settings);
}

/** Which layout `root` has; both at once is refused, since either reading would silently drop images. */
async function layoutOf(root: string): Promise<DatasetSplits['layout']> {
  const entries = await fs.promises.readdir(root, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    throw new KdtorchError(
      'E_DATASET_NOT_FOUND',
      `${root}: cannot read the dataset folder (${error.code}). Expected ${root}/train/<class>/<images> or ${root}/<class>/<images>`,
      { file: root, cause: error },
    );
  });
  const folders = entries.filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink()));
  const splitFolders = folders.filter((e) => (SPLIT_FOLDERS as readonly string[]).includes(e.name));
  if (!splitFolders.some((e) => e.name === 'train')) return 'image-folder';
  const others = folders.filter((e) => !(SPLIT_FOLDERS as readonly string[]).includes(e.name)).map((e) => e.name);
  if (others.length > 0) {
    throw new KdtorchError(
      'E_AMBIGUOUS_DATASET',
      `${root} holds both train/ and other folders (${others.sort().join(', ')}): use either ${root}/train/<class>/… (with optional val/ and test/) or ${root}/<class>/… alone; move the other folders out`,
      { file: root },
    );
  }
  return 'splits';
}

async function loadSplitFolders(root: string, options: typeof SPLIT_DEFAULTS): Promise<DatasetSplits> {
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
  const skipped: DatasetSplits['skipped'] = { hidden: 0, nonImage: 0, refused: [] };
  for (const split of [train, val, test]) {
    skipped.hidden += split?.skipped.hidden ?? 0;
    skipped.nonImage += split?.skipped.nonImage ?? 0;
    skipped.refused.push(...(split?.skipped.refused ?? []));
  }
  const base = { root, layout: 'splits' as const, classes: train.classes, test: test?.samples ?? [], skipped };
  if (!options.carve || (val && val.samples.length >= options.minValImages)) {
    return { ...base, train: train.samples, val: val?.samples ?? [], valSource: 'val' };
  }
  const pool = [...train.samples, ...(val?.samples ?? [])];
  const carved = carveStratified(pool, train.classes.length, options.valFraction, options.seed);
  return { ...base, train: carved.kept, val: carved.carved, valSource: 'carved from train' };
}

/** root/<class>/…: test carved from everything, then validation from the rest, both per class and seeded. */
async function loadImageFolder(root: string, options: typeof SPLIT_DEFAULTS): Promise<DatasetSplits> {
  const folder = await scanImageFolder(root);
  const classCount = folder.classes.length;
  // Streams of their own (the class count onwards), so the test carve-out never equals validation's.
  const test = carveStratified(folder.samples, classCount, options.testFraction, options.seed, classCount);
  const base = { root, layout: 'image-folder' as const, classes: folder.classes, test: test.carved };
  const skipped = folder.skipped;
  if (!options.carve) return { ...base, train: test.kept, val: [], valSource: 'carved from train', skipped };
  const val = carveStratified(test.kept, classCount, options.valFraction, options.seed);
  return { ...base, train: val.kept, val: val.carved, valSource: 'carved from train', skipped };
}

/**
 * Moves round(n · fraction) of each class, chosen by a seeded shuffle (random stream `firstStream` + label),
 * to `carved`; keeps the pool's order otherwise.
 */
export function carveStratified(
  samples: Sample[],
  classCount: number,
  fraction: number,
  seed: number,
  firstStream = 0,
) {
  const carved = new Set<Sample>();
  for (let label = 0; label < classCount; label++) {
    const ofClass = samples.filter((s) => s.label === label);
    const random = streamRandom(seed, firstStream + label);
    for (const s of shuffled(ofClass, random).slice(0, Math.round(ofClass.length * fraction))) carved.add(s);
  }
  return { kept: samples.filter((s) => !carved.has(s)), carved: samples.filter((s) => carved.has(s)) };
}

/** What a run folder saves of `splits`. */
export function splitRecord(splits: DatasetSplits): SplitRecord {
  const relative = (samples: Sample[]) => samples.map((s) => path.relative(splits.root, s.path));
  const { layout, classes, valSource } = splits;
  return {
    layout,
    classes,
    valSource,
    train: relative(splits.train),
    val: relative(splits.val),
    test: relative(splits.test),
  };
}

/**
 * `splits` rearranged as `record` says: the same images in the same splits and order as when the run
 * started. An image the record names that the folder no longer has, or a new class, is an error: the
 * run's split cannot be rebuilt.
 */
export function applySplitRecord(splits: DatasetSplits, record: SplitRecord, recordFile: string): DatasetSplits {
  if (record.classes.join('\n') !== splits.classes.join('\n')) {
    throw new KdtorchError(
      'E_CLASS_MISMATCH',
      `${splits.root} has classes [${splits.classes.join(', ')}] but the run's split (${recordFile}) has [${record.classes.join(', ')}]`,
      { file: recordFile },
    );
  }
  const byPath = new Map<string, Sample>();
  for (const s of [...splits.train, ...splits.val, ...splits.test]) byPath.set(path.relative(splits.root, s.path), s);
  const samples = (files: string[]) =>
    files.map((file) => {
      const sample = byPath.get(file);
      if (!sample) {
        throw new KdtorchError(
          'E_DATASET_NOT_FOUND',
          `${path.join(splits.root, file)}: the run's split (${recordFile}) has this image but the dataset no longer does; restore it, or start a new run`,
          { file: path.join(splits.root, file) },
        );
      }
      return sample;
    });
  return {
    ...splits,
    layout: record.layout,
    valSource: record.valSource,
    train: samples(record.train),
    val: samples(record.val),
    test: samples(record.test),
  };
}
