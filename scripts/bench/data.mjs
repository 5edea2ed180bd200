// `npm run bench -- data [--size 224]`: images/s of kdtorch's loader against the article's PyTorch
// ImageFolder + DataLoader (Resize, RandomHorizontalFlip, ToTensor, Normalize) at num_workers 0 and 2,
// in one run, on the real data: the full-size sample (decode-bound) and the 224-px train split, first
// (decoding) epoch and a cached epoch; the train split with the `recommended` augmentation on both sides
// (kdtorch: cached batches through the native augmentation, augmentPixels on the CPU; PyTorch: the same
// transforms in torchvision.transforms.v2); then peak RSS with the whole train split cached, 3 and 1 channels.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nativeAugmentSpec } from '../../dist/lib/data/augment.js';
import { augmentPixels, DataLoader, DecodeCache, decodeImage, PRESETS, scanImageFolder } from '../../dist/lib/index.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { referencePython } from './reference/run-article.mjs';

const root = findPackageRoot();
const DATA = path.resolve(root, '..', 'shared', 'datasets');
const FOLDERS = {
  'full-size sample': path.join(DATA, 'chest_xray-fullres-sample', 'train'),
  'train split (224-px copies)': path.join(DATA, 'chest_xray', 'train'),
};

/** The recommended augmentation's native spec, with the views the loader gives each image. */
const AUGMENT = { spec: nativeAugmentSpec(PRESETS.recommended.data.augment), views: 'live' };

async function kdtorchEpochs(folder, size, channels, epochs, cacheDirectory, augment = false) {
  const { samples } = await scanImageFolder(folder);
  const options = { height: size, width: size, channels };
  // Loads libtorch and the addon (JPEG decoding lives there) outside the timed epochs, as creating
  // the model does before a training run's first epoch; this image is not cached.
  await decodeImage(samples[0].path, options);
  const cache = new DecodeCache(options, cacheDirectory);
  const loader = new DataLoader(samples, cache, {
    batchSize: 32,
    hflip: 0.5,
    seed: 0,
    ...(augment ? { augment: AUGMENT } : {}),
  });
  const rates = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const start = performance.now();
    let images = 0;
    for await (const batch of loader.epoch(epoch)) {
      images += batch.labels.length;
      if (augment) augmentPixels(batch.pixels, batch.shape, batch);
      loader.recycle(batch); // as the training loop does once a step is done with a batch
    }
    rates.push(images / ((performance.now() - start) / 1000));
  }
  return rates;
}

function pytorchRate(folder, size, workers, augment = false) {
  const python = referencePython();
  const args = JSON.stringify({ root: folder, size, workers, batch: 32, augment });
  const result = spawnSync(python, [path.join(root, 'scripts', 'bench', 'data_reference.py'), 'loader', args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(result.stderr);
  const { images, seconds } = JSON.parse(result.stdout.trim().split('\n').at(-1));
  return images / seconds;
}

/** Cached epochs of the train split through the recommended augmentation, against PyTorch's loader with it. */
async function augmentedRow(size) {
  const folder = FOLDERS['train split (224-px copies)'];
  const [, ...again] = await kdtorchEpochs(folder, size, 3, 3, undefined, true);
  const cached = again.reduce((a, b) => a + b, 0) / again.length;
  const article = Math.max(pytorchRate(folder, size, 0), pytorchRate(folder, size, 2));
  const augmented = Math.max(pytorchRate(folder, size, 0, true), pytorchRate(folder, size, 2, true));
  console.log(
    `\ntrain split, ${size}², with the recommended augmentation (crop, affine, colour jitter): kdtorch cached epochs ${cached.toFixed(0)} img/s; the article's loader (best of workers 0, 2) ${article.toFixed(0)} img/s: ${(cached / article).toFixed(1)}×; PyTorch with the same augmentation ${augmented.toFixed(0)} img/s: ${(cached / augmented).toFixed(1)}×`,
  );
}

/** Peak RSS of a fresh process that caches the whole train split (run as a child of the bench). */
function cachedRss(size, channels) {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, [script, '--rss', String(size), String(channels)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

export async function benchData(args) {
  const { values } = parseArgs({
    args,
    options: { size: { type: 'string', default: '224' }, 'augment-only': { type: 'boolean', default: false } },
  });
  const size = Number(values.size);
  if (values['augment-only']) return augmentedRow(size);
  console.log(`data: ${size}², batch 32, flip 0.5; PyTorch epochs decode every time (no cache); kdtorch's batches are`);
  console.log('uint8 pixels + flip flags, normalised inside the native step.\n');
  console.log(
    '| data | kdtorch epoch 1 (decode) | epoch 1, 2nd run (file cache) | epochs 2–3 (cached) | PyTorch workers 0 | PyTorch workers 2 | epoch 1 / best PyTorch | 2nd run epoch 1 / best | cached / best |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, folder] of Object.entries(FOLDERS)) {
    const [first, ...again] = await kdtorchEpochs(folder, size, 3, 3);
    const cached = again.reduce((a, b) => a + b, 0) / again.length;
    // A second run with a file cache: its first epoch reads decoded pixels instead of JPEGs.
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-bench-cache-'));
    await kdtorchEpochs(folder, size, 3, 1, directory);
    const [secondRun] = await kdtorchEpochs(folder, size, 3, 1, directory);
    fs.rmSync(directory, { recursive: true, force: true });
    const [w0, w2] = [pytorchRate(folder, size, 0), pytorchRate(folder, size, 2)];
    const best = Math.max(w0, w2);
    const fmt = (v) => `${v.toFixed(0)} img/s`;
    console.log(
      `| ${name} | ${fmt(first)} | ${fmt(secondRun)} | ${fmt(cached)} | ${fmt(w0)} | ${fmt(w2)} | ${(first / best).toFixed(2)}× | ${(secondRun / best).toFixed(1)}× | ${(cached / best).toFixed(1)}× |`,
    );
  }
  await augmentedRow(size);
  for (const channels of [3, 1]) {
    const { images, maxRssMiB } = cachedRss(size, channels);
    console.log(
      `\npeak RSS with the whole train split cached (${images} images, ${channels} channel${channels > 1 ? 's' : ''}): ${maxRssMiB.toFixed(0)} MiB`,
    );
  }
}

if (process.argv[2] === '--rss') {
  const [size, channels] = process.argv.slice(3).map(Number);
  const { samples } = await scanImageFolder(FOLDERS['train split (224-px copies)']);
  const cache = new DecodeCache({ height: size, width: size, channels });
  const loader = new DataLoader(samples, cache, { batchSize: 32 });
  for await (const _ of loader.epoch(0));
  // VmHWM, not getrusage's maxRSS: Linux carries the latter over from the parent across fork + exec,
  // so a child of a large bench process would report the parent's peak.
  const hwmKiB = Number(fs.readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+)/m)?.[1]);
  process.stdout.write(JSON.stringify({ images: cache.size, maxRssMiB: hwmKiB / 1024 }));
}
