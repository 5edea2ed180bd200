// Splits of the two dataset layouts: the Kaggle train/val/test folders and torchvision's plain
// ImageFolder, whose test and validation splits are carved out and recorded in the run folder.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDataset } from '../lib/data/dataset.js';
import { loadSplits, splitRecord } from '../lib/data/splits.js';
import { evaluate, resolveConfig, type SplitRecord, trainStudent } from '../lib/index.js';
import { rejection } from './helpers/errors.js';
import { writeImage } from './helpers/images.js';
import { tempDir } from './helpers/run.js';
import { DEMO_DATA, tinyConfig } from './helpers/tiny-dataset.js';

const count = (samples: { label: number }[], label: number) => samples.filter((s) => s.label === label).length;

/** root/<class>/… with `sizes[k]` images in class k. */
async function plainFolder(sizes: number[]): Promise<string> {
  const root = tempDir('plain');
  for (const [label, size] of sizes.entries()) {
    for (let i = 0; i < size; i++) await writeImage(path.join(root, `class${label}`, `i${i}.png`), 4, 4, i);
  }
  return root;
}

describe('a plain ImageFolder (root/<class>/…)', () => {
  it('carves a stratified, seeded test split, then validation from the rest; every image in exactly one split', async () => {
    const root = await plainFolder([20, 30, 10]);
    const splits = await loadSplits(root, { testFraction: 0.2, valFraction: 0.1, seed: 3 });
    expect(splits.layout).toBe('image-folder');
    expect(splits.classes).toEqual(['class0', 'class1', 'class2']);
    // round(0.2 n) of each class to test, then round(0.1 × what is left) to validation.
    expect([0, 1, 2].map((k) => count(splits.test, k))).toEqual([4, 6, 2]);
    expect([0, 1, 2].map((k) => count(splits.val, k))).toEqual([2, 2, 1]);
    const all = [...splits.train, ...splits.val, ...splits.test].map((s) => s.path);
    expect(new Set(all).size).toBe(60);
    expect(await loadSplits(root, { testFraction: 0.2, valFraction: 0.1, seed: 3 })).toEqual(splits);
    const other = await loadSplits(root, { testFraction: 0.2, valFraction: 0.1, seed: 4 });
    expect(other.test).not.toEqual(splits.test);
  });

  it('refuses a folder that holds both train/ and class folders, naming them', async () => {
    const root = tempDir('ambiguous');
    await writeImage(path.join(root, 'train', 'a', 'x.png'), 4, 4);
    await writeImage(path.join(root, 'dogs', 'y.png'), 4, 4);
    const error = await rejection(loadSplits(root));
    expect(error.code).toBe('E_AMBIGUOUS_DATASET');
    expect(error.message).toContain(`${root} holds both train/ and other folders (dogs)`);
  });

  it('opens with a recorded split exactly as recorded, whatever seed the config has now', async () => {
    const root = await plainFolder([12, 12]);
    const data = resolveConfig({ data: { root } }).data;
    const recorded = splitRecord((await openDataset(data, 7)).splits);
    const reopened = await openDataset(data, 0, { record: recorded, file: 'splits.json' });
    expect(splitRecord(reopened.splits)).toEqual(recorded);
    expect(splitRecord((await openDataset(data, 0)).splits)).not.toEqual(recorded);
  });

  it('trains on it, records the split in the run folder, and evaluates the run’s model on that very test split', async () => {
    const root = tempDir('plain-xray');
    for (const name of ['NORMAL', 'PNEUMONIA']) {
      const from = path.join(DEMO_DATA, 'train', name);
      fs.mkdirSync(path.join(root, name));
      for (const file of fs.readdirSync(from).sort().slice(0, 20)) {
        fs.copyFileSync(path.join(from, file), path.join(root, name, file));
      }
    }
    const output = tempDir('plain-run');
    const result = await trainStudent(tinyConfig(root, output, { seed: 5, student: { epochs: 1 } }));
    const record = JSON.parse(fs.readFileSync(path.join(output, 'splits.json'), 'utf8')) as SplitRecord;
    expect(record).toMatchObject({ layout: 'image-folder', classes: ['NORMAL', 'PNEUMONIA'] });
    expect(record.test).toHaveLength(8); // round(0.2 × 20) of each class
    expect(result.test?.count).toBe(8);
    // evaluate() with another seed still scores the run's own test images: removing one of them is an error.
    const evaluated = await evaluate({ model: result.bestCheckpoint, config: { data: { root }, seed: 1 } });
    expect(evaluated.metrics.count).toBe(8);
    fs.rmSync(path.join(root, record.test[0] as string));
    const error = await rejection(evaluate({ model: result.bestCheckpoint, config: { data: { root }, seed: 1 } }));
    expect(error.code).toBe('E_DATASET_NOT_FOUND');
    expect(error.message).toContain(path.join(root, record.test[0] as string));
  });
});
