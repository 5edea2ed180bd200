// The training augmentation's two halves on the JS side: data.augment as the native spec it runs
// (native/core/augment.h), and which view each image gets. A view is a pure function of (seed, image
// position, k): its parameters come from a 32-bit view seed, its flip from another hash of the same
// three numbers. Training alone takes view k = epoch (a fresh view each epoch, the same ones after
// --resume); distillation with distill.teacherViews K draws k in [0, K) per epoch and image, so the
// teacher's logits for all K views can be computed once (lib/run/teacher-outputs.ts).
import type { Config } from '../config/schema.js';
import type { NativeAugmentSpec } from '../native/wire.js';
import { hash32 } from './random.js';

export type AugmentConfig = Config['data']['augment'];

/** Which views a loader serves: K fixed views per image, or a fresh one per epoch. */
export type ViewCount = number | 'live';

// Stream tags, so the view seed, the flip and the view pick never share a hash.
const VIEW_SEED = 0x76696577;
const VIEW_FLIP = 0x666c6970;
const VIEW_PICK = 0x7069636b;

/** The native spec, or null when no transform is on (the flip alone needs none). */
export function nativeAugmentSpec(augment: AugmentConfig): NativeAugmentSpec | null {
  const spec: NativeAugmentSpec = { interpolation: augment.interpolation };
  if (augment.resizedCrop) spec.resizedCrop = augment.resizedCrop;
  if (augment.affine) {
    const { degrees, translate, scale, shear } = augment.affine;
    const [shearX, shearY]: [[number, number], [number, number]] =
      typeof shear === 'number'
        ? [
            [-shear, shear],
            [0, 0],
          ]
        : shear.length === 2
          ? [shear, [0, 0]]
          : [
              [shear[0], shear[1]],
              [shear[2], shear[3]],
            ];
    spec.affine = { degrees, translate, scale, shearX, shearY };
  }
  if (augment.rotation) spec.rotation = { degrees: augment.rotation };
  if (augment.colorJitter) spec.colorJitter = augment.colorJitter;
  if (augment.erasing) spec.erasing = augment.erasing;
  return Object.keys(spec).length > 1 ? spec : null;
}

/** The seed image `position`'s view `k` draws its parameters from. */
export function viewSeed(seed: number, position: number, k: number): number {
  return hash32(VIEW_SEED, seed, position, k);
}

/** Whether view `k` of image `position` is flipped, with probability `hflip`. */
export function viewFlip(seed: number, position: number, k: number, hflip: number): boolean {
  return hash32(VIEW_FLIP, seed, position, k) / 4294967296 < hflip;
}

/** The view image `position` is served in during `epoch`. */
export function pickView(seed: number, epoch: number, position: number, views: ViewCount): number {
  if (views === 'live') return epoch;
  return Math.floor((hash32(VIEW_PICK, seed, epoch, position) / 4294967296) * views);
}
