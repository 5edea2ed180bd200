import { describe, expect, it } from 'vitest';
import { parityOf, paritySamples, referencePixels } from '../scripts/bench/parity.mjs';

// Bounds from docs/data-parity.md (npm run bench -- parity), in normalised units: |ours - PIL| / 255 / 0.224.
const BOUNDS = {
  'chest_xray/train (mostly 224-px copies)': { mean: 0.002, max: 0.2 },
  'fullres sample (originals)': { mean: 0.01, max: 1.3 },
};

describe('decoding parity with PIL + torchvision on the real chest X-rays', () => {
  it('stays within the documented mean and max differences for both kinds of image', { timeout: 300_000 }, async () => {
    const subsets = await paritySamples(40);
    for (const [name, files] of Object.entries(subsets)) {
      const bound = BOUNDS[name as keyof typeof BOUNDS];
      const result = await parityOf(files, referencePixels(files));
      expect(result.mean, name).toBeLessThanOrEqual(bound.mean);
      expect(result.max, name).toBeLessThanOrEqual(bound.max);
    }
  });
});
