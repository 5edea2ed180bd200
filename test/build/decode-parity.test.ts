import { describe, expect, it } from 'vitest';
import { parityOf, paritySamples, referencePixels } from '../../scripts/bench/parity.mjs';

// docs/data-parity.md (npm run bench -- parity): with DECODE_SETTINGS every JPEG of the chest X-ray
// data decodes to the bytes PIL + transforms.Resize((224, 224)) give, so the bound is zero.
describe('decoding parity with PIL + torchvision on the real chest X-rays', () => {
  it('gives PIL’s exact pixels for the 224-px copies and the full-size originals alike', {
    timeout: 300_000,
  }, async () => {
    const subsets = await paritySamples(40);
    for (const [name, files] of Object.entries(subsets)) {
      const result = await parityOf(files, referencePixels(files));
      expect(result.identical, name).toBe(files.length);
      expect(result.max, name).toBe(0);
    }
  });
});
