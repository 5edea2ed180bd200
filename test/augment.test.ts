// The training augmentation against torchvision: for each transform, kdtorch's views of real X-rays
// and colour gradients equal torchvision.transforms.v2.functional applied with the parameters kdtorch
// sampled, to the same uint8 images (test/reference/augment_reference.py).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAugmentSpec } from '../lib/data/augment.js';
import { decodeImage } from '../lib/data/decode.js';
import { augmentPixels, type NativeAugmentSpec, PRESETS } from '../lib/index.js';
import { CHEST_XRAY, gradient } from './helpers/images.js';
import { ROOT, run, tempDir, VENV_PYTHON } from './helpers/run.js';

const HEIGHT = 48; // not square, so a swapped height and width shows
const WIDTH = 64;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

async function batch(): Promise<Uint8Array> {
  const folder = path.join(CHEST_XRAY, 'train', 'PNEUMONIA');
  const files = fs.readdirSync(folder).slice(0, 4);
  const images = await Promise.all(
    files.map((f) => decodeImage(path.join(folder, f), { height: HEIGHT, width: WIDTH, channels: 3 })),
  );
  // Colour gradients too: X-rays are grey, where saturation changes nothing.
  for (let seed = 0; seed < 4; seed++) images.push(gradient(WIDTH, HEIGHT, seed * 40));
  const out = new Uint8Array(images.length * HEIGHT * WIDTH * 3);
  for (const [i, image] of images.entries()) out.set(image, i * HEIGHT * WIDTH * 3);
  return out;
}

/** kdtorch's views and torchvision's, float path and uint8 path. */
async function both(spec: NativeAugmentSpec, seedBase = 1) {
  const pixels = await batch();
  const n = pixels.length / (HEIGHT * WIDTH * 3);
  const shape = [n, HEIGHT, WIDTH, 3];
  const flip = Uint8Array.from({ length: n }, (_, i) => i % 2);
  const seeds = Uint32Array.from({ length: n }, (_, i) => seedBase * 1000 + i);
  const ours = augmentPixels(pixels, shape, { flip, mean: MEAN, std: STD, augment: { spec, seeds } });
  const dir = tempDir('augment');
  const file = path.join(dir, 'pixels.u8');
  fs.writeFileSync(file, pixels);
  const out = path.join(dir, 'views');
  const args = { pixels: file, shape, flip: [...flip], views: ours.views, spec, fill: MEAN, out };
  const result = run(VENV_PYTHON, [path.join(ROOT, 'test', 'reference', 'augment_reference.py'), JSON.stringify(args)]);
  if (result.status !== 0) throw new Error(result.stderr);
  const f32 = fs.readFileSync(`${out}.f32`);
  return {
    ours: ours.images,
    views: ours.views,
    float: new Float32Array(f32.buffer, f32.byteOffset, f32.byteLength / 4),
    uint8: new Uint8Array(fs.readFileSync(`${out}.u8`)),
  };
}

/** The largest difference, and the share of values more than `level` apart. */
function differences(a: ArrayLike<number>, b: ArrayLike<number>, level: number) {
  expect(a.length).toBe(b.length);
  let max = 0;
  let beyond = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    max = Math.max(max, d);
    if (d > level) beyond++;
  }
  return { max, beyond: beyond / a.length };
}

const base = { interpolation: 'bilinear' } as const;
// [name, spec, the most grey levels torchvision's uint8 kernels may differ by]
const CASES: [string, NativeAugmentSpec, number][] = [
  ['RandomResizedCrop', { ...base, resizedCrop: { scale: [0.3, 1], ratio: [0.6, 1.6] } }, 1],
  [
    'RandomAffine (bilinear)',
    {
      ...base,
      affine: { degrees: 30, translate: [0.2, 0.1], scale: [0.7, 1.3], shearX: [-15, 15], shearY: [-8, 8] },
    },
    1,
  ],
  ['RandomRotation (bilinear)', { ...base, rotation: { degrees: 40 } }, 1],
  // Three adjustments, each truncated to a whole level by torchvision's uint8 kernels.
  ['ColorJitter', { ...base, colorJitter: { brightness: 0.5, contrast: 0.5, saturation: 0.8 } }, 3],
  ['RandomErasing', { ...base, erasing: { p: 1, scale: [0.02, 0.3], ratio: [0.3, 3.3] } }, 1],
];

describe('augmentation equals torchvision.transforms.v2.functional with the same parameters', () => {
  for (const [name, spec, levels] of CASES) {
    it(name, async () => {
      const { ours, float, uint8 } = await both(spec);
      // Float kernels on both sides: the same arithmetic up to float32 rounding (under 0.01 of a grey level).
      expect(differences(ours, float, 0).max).toBeLessThan(0.01);
      // torchvision's uint8 kernels round (resize, affine) or truncate (colour) to whole levels after each
      // step; kdtorch keeps floats until normalising.
      expect(differences(ours, uint8, 1).max).toBeLessThanOrEqual(levels);
    }, 60_000);
  }

  it('RandomAffine with nearest interpolation', async () => {
    const spec: NativeAugmentSpec = {
      interpolation: 'nearest',
      affine: { degrees: 20, translate: [0.1, 0.1], scale: [0.8, 1.2], shearX: [-10, 10], shearY: [0, 0] },
    };
    const { ours, float } = await both(spec);
    // A grid point within float rounding of a pixel boundary may pick the other neighbour: rare, never more.
    expect(differences(ours, float, 1e-3).beyond).toBeLessThan(1e-3);
  }, 60_000);

  it('the recommended preset, all transforms in sequence', async () => {
    const spec = nativeAugmentSpec({
      ...PRESETS.recommended.data.augment,
      erasing: { p: 0.5, scale: [0.02, 0.2], ratio: [0.3, 3.3] },
    }) as NativeAugmentSpec;
    const { ours, float } = await both(spec, 7);
    expect(differences(ours, float, 0).max).toBeLessThan(0.01);
  }, 60_000);
});

describe('sampled views', () => {
  const pixels = new Uint8Array(3 * HEIGHT * WIDTH * 3).fill(128);
  const shape = [3, HEIGHT, WIDTH, 3];
  const options = (spec: NativeAugmentSpec, seeds: number[]) => ({
    flip: new Uint8Array(seeds.length),
    mean: MEAN,
    std: STD,
    augment: { spec, seeds: Uint32Array.from(seeds) },
  });
  const spec: NativeAugmentSpec = {
    ...base,
    resizedCrop: { scale: [0.5, 0.9], ratio: [0.75, 1.33] },
    affine: { degrees: 10, translate: [0.1, 0.2], scale: [0.9, 1.1], shearX: [-5, 5], shearY: [0, 0] },
    colorJitter: { brightness: 0.2, contrast: 0.3, saturation: 0 },
  };

  it('are a function of the seed alone, within the configured ranges', () => {
    const a = augmentPixels(pixels, shape, options(spec, [5, 6, 5]));
    expect(a.views[2]).toEqual(a.views[0]);
    expect(a.views[1]).not.toEqual(a.views[0]);
    expect(augmentPixels(pixels, shape, options(spec, [6, 5, 6])).views[1]).toEqual(a.views[0]);
    const many = augmentPixels(
      new Uint8Array(200 * HEIGHT * WIDTH * 3),
      [200, HEIGHT, WIDTH, 3],
      options(
        spec,
        Array.from({ length: 200 }, (_, i) => i * 7919),
      ),
    ).views;
    for (const v of many) {
      const [top, left, h, w] = v.crop;
      // round() of the sampled side lengths can move the area share just past the range.
      expect((h * w) / (HEIGHT * WIDTH)).toBeGreaterThan(0.45);
      expect((h * w) / (HEIGHT * WIDTH)).toBeLessThan(0.95);
      expect(top + h).toBeLessThanOrEqual(HEIGHT);
      expect(left + w).toBeLessThanOrEqual(WIDTH);
      expect(Math.abs(v.angle)).toBeLessThanOrEqual(10);
      expect(Math.abs(v.translate[0])).toBeLessThanOrEqual(Math.round(0.1 * WIDTH));
      expect(Math.abs(v.translate[1])).toBeLessThanOrEqual(Math.round(0.2 * HEIGHT));
      expect(Number.isInteger(v.translate[0])).toBe(true);
      expect(v.brightness).toBeGreaterThanOrEqual(0.8);
      expect(v.brightness).toBeLessThanOrEqual(1.2);
      expect(v.saturation).toBe(1);
      expect([...v.colorOrder].sort()).toEqual([0, 1, 2]);
    }
    // Every colour order turns up, as torch.randperm gives them.
    expect(new Set(many.map((v) => v.colorOrder.join(''))).size).toBe(6);
  });

  it('refuses a batch without one seed per image', () => {
    expect(() => augmentPixels(pixels, shape, options(spec, [1, 2]))).toThrow(/one seed per image/);
  });
});
