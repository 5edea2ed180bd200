// Small image folders made on the fly with sharp, and the real chest X-rays beside the checkout.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ROOT, run, VENV_PYTHON } from './run.js';

export const DATASETS = path.resolve(ROOT, '..', 'shared', 'datasets');
export const CHEST_XRAY = path.join(DATASETS, 'chest_xray');

/** A w×h RGB image whose pixel (x, y) is (x·7 + seed, y·5, (x + y)·3) mod 256: every pixel distinct enough to see flips. */
export function gradient(width: number, height: number, seed = 0): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 7 + seed) % 256;
      data[i + 1] = (y * 5) % 256;
      data[i + 2] = ((x + y) * 3) % 256;
    }
  }
  return data;
}

export async function writeImage(file: string, width: number, height: number, seed = 0): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const image = sharp(gradient(width, height, seed), { raw: { width, height, channels: 3 } });
  const ext = path.extname(file).toLowerCase();
  await (ext === '.png'
    ? image.png()
    : ext === '.webp'
      ? image.webp({ lossless: true })
      : image.jpeg({ quality: 95 })
  ).toFile(file);
}

/** Runs scripts/bench/data_reference.py (PIL + torchvision) and parses its JSON line. */
export function dataReference<T>(command: string, args: object): T {
  const result = run(VENV_PYTHON, [
    path.join(ROOT, 'scripts', 'bench', 'data_reference.py'),
    command,
    JSON.stringify(args),
  ]);
  if (result.status !== 0) throw new Error(`data_reference.py ${command} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null') as T;
}
