// `npm run bench -- parity [--per-split 150]`: how close kdtorch's decoding comes to PIL + torchvision's
// Resize((224, 224)) on the real chest X-ray data — the native JPEG decoder and sharp with several
// resize kernels — in normalised units (levels / 255 / 0.224, the smallest ImageNet std), and how
// many images come out byte-identical. The chosen settings are DECODE_SETTINGS in lib/data/decode.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DECODE_SETTINGS, decodeImage } from '../../dist/lib/data/decode.js';
import { scanImageFolder } from '../../dist/lib/data/image-folder.js';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';
import { referencePython } from './reference/run-article.mjs';

const root = findPackageRoot();
const DATA = path.resolve(root, '..', 'shared', 'datasets');
const SIZE = 224;
const STD = 0.224;

/** Every k-th file of the 224-px train split and all full-size originals of the sample. */
export async function paritySamples(perSplit) {
  const train = (await scanImageFolder(path.join(DATA, 'chest_xray', 'train'))).samples;
  const step = Math.max(1, Math.floor(train.length / perSplit));
  const squashed = train.filter((_, i) => i % step === 0).map((s) => s.path);
  const fullres = (await scanImageFolder(path.join(DATA, 'chest_xray-fullres-sample', 'train'))).samples.map(
    (s) => s.path,
  );
  return { 'chest_xray/train (mostly 224-px copies)': squashed, 'fullres sample (originals)': fullres };
}

/** PIL + torchvision's pixels for `files`, as one uint8 buffer. */
export function referencePixels(files) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kdtorch-parity-')), 'ref.u8');
  const python = referencePython();
  const result = spawnSync(
    python,
    [path.join(root, 'scripts', 'bench', 'data_reference.py'), 'pixels', JSON.stringify({ files, size: SIZE, out })],
    {
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return fs.readFileSync(out);
}

/** Mean and max |ours - PIL| in normalised units over `files`, and the images equal byte for byte. */
export async function parityOf(files, reference, settings = DECODE_SETTINGS) {
  const per = SIZE * SIZE * 3;
  let sum = 0;
  let max = 0;
  let identical = 0;
  for (const [i, file] of files.entries()) {
    const ours = await decodeImage(file, { height: SIZE, width: SIZE, channels: 3 }, settings);
    let imageMax = 0;
    for (let j = 0; j < per; j++) {
      const d = Math.abs(ours[j] - reference[i * per + j]);
      sum += d;
      if (d > imageMax) imageMax = d;
    }
    max = Math.max(max, imageMax);
    if (imageMax === 0) identical++;
  }
  const scale = 1 / (255 * STD);
  return { mean: (sum / (files.length * per)) * scale, max: max * scale, identical };
}

export async function benchParity(args) {
  const { values } = parseArgs({ args, options: { 'per-split': { type: 'string', default: '150' } } });
  const subsets = await paritySamples(Number(values['per-split']));
  const candidates = [];
  for (const fastShrinkOnLoad of [true, false]) {
    candidates.push({ ...DECODE_SETTINGS, nativeJpeg: true, fastShrinkOnLoad });
  }
  for (const kernel of ['linear', 'cubic', 'mitchell', 'lanczos3']) {
    for (const fastShrinkOnLoad of [true, false]) {
      candidates.push({ nativeJpeg: false, kernel, fastShrinkOnLoad, ignoreIcc: true });
    }
  }
  candidates.push({ ...DECODE_SETTINGS, nativeJpeg: false, ignoreIcc: false });
  console.log(
    '| subset | decoder | fastShrinkOnLoad | ignoreIcc | mean abs diff | max abs diff | byte-identical images |',
  );
  console.log('|---|---|---|---|---:|---:|---:|');
  for (const [name, files] of Object.entries(subsets)) {
    const reference = referencePixels(files);
    for (const settings of candidates) {
      const r = await parityOf(files, reference, settings);
      const chosen = Object.entries(DECODE_SETTINGS).every(([k, v]) => settings[k] === v) ? ' (chosen)' : '';
      const { nativeJpeg, kernel, fastShrinkOnLoad, ignoreIcc } = settings;
      const decoder = nativeJpeg ? 'native libjpeg-turbo + Pillow resize' : `sharp, ${kernel}`;
      console.log(
        `| ${name} (${files.length}) | ${decoder}${chosen} | ${fastShrinkOnLoad} | ${nativeJpeg ? '–' : ignoreIcc} | ${r.mean.toFixed(4)} | ${r.max.toFixed(3)} | ${r.identical} |`,
      );
    }
  }
}
