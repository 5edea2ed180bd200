// A few real chest X-rays copied from the bundled demo set into a fresh ImageFolder, and the config
// that trains on them in seconds: what the end-to-end tests run.
import fs from 'node:fs';
import path from 'node:path';
import type { ConfigInput, ModelDescription } from '../../lib/index.js';
import { ROOT, tempDir } from './run.js';

export const DEMO_DATA = path.join(ROOT, 'demo', 'chest_xray');

/** `perClass[split]` images of each class, the first ones in name order. */
export function tinyChestXray(perClass = { train: 12, test: 6 }): string {
  const root = tempDir('tiny-xray');
  for (const [split, count] of Object.entries(perClass)) {
    for (const name of ['NORMAL', 'PNEUMONIA']) {
      const from = path.join(DEMO_DATA, split, name);
      fs.mkdirSync(path.join(root, split, name), { recursive: true });
      for (const file of fs.readdirSync(from).sort().slice(0, count)) {
        fs.copyFileSync(path.join(from, file), path.join(root, split, name, file));
      }
    }
  }
  return root;
}

/** tinyConfig's data and batch settings as CLI flags (the epochs left to each command). */
export const TINY_FLAGS = [
  '--image-size',
  '32',
  '--batch-size',
  '8',
  '--device',
  'cpu',
  '--set',
  'data.valFraction=0.25',
];

/** The latency a finished phase measures, cut to one batch size and one repeat. */
export const FAST_LATENCY = ['--set', 'latency.batchSizes=[1]', '--set', 'latency.repeats=1'];

/** The quick preset shrunk to 32² and two epochs of batches of 8, on the CPU. */
export function tinyConfig(root: string, output: string, more: ConfigInput = {}): ConfigInput {
  const phase = { epochs: 2, batchSize: 8 };
  return {
    preset: 'quick',
    device: 'cpu',
    output,
    latency: { batchSizes: [1, 4], repeats: 2 },
    ...more,
    data: { root, imageSize: 32, valFraction: 0.25, ...more.data },
    teacher: { ...phase, ...more.teacher },
    student: { ...phase, ...more.student },
    distill: { ...phase, ...more.distill },
  };
}

/** The description of the article's student (width 4) for the chest X-ray classes at `imageSize`². */
export function chestStudent(imageSize: number): ModelDescription {
  return {
    architecture: 'studentNet',
    classes: ['NORMAL', 'PNEUMONIA'],
    imageSize,
    channels: 3,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    width: 4,
  };
}
