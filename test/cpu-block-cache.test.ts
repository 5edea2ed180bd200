import { describe, expect, it } from 'vitest';
import { cpuBlockCache, releaseCpuBlockCache, studentNet } from '../lib/index.js';

// libtorch's CPU allocator in kdtorch (native/core/cpu_block_cache.h): a step's large blocks come back.
describe('CPU block cache', () => {
  it('serves a repeated forward from blocks it kept, with the same logits, and unmaps them on release', async () => {
    const size = 128;
    const model = await studentNet({ inputSize: size, seed: 3 });
    await model.eval();
    const images = Float32Array.from({ length: 8 * 3 * size * size }, (_, i) => Math.sin(i));
    const input = { data: images, shape: [8, 3, size, size] };
    releaseCpuBlockCache();
    const first = await model.forward(input);
    const afterFirst = cpuBlockCache();
    // The first layer's 8×4×128² float output (2 MiB) and the pooled one are large blocks, freed by now.
    expect(afterFirst.cachedBytes).toBeGreaterThanOrEqual(2 ** 21);
    expect(afterFirst.cachedBytes).toBeLessThanOrEqual(afterFirst.limitBytes);
    const second = await model.forward(input);
    const afterSecond = cpuBlockCache();
    expect(afterSecond.misses).toBe(afterFirst.misses); // nothing mapped anew
    expect(afterSecond.hits).toBeGreaterThan(afterFirst.hits);
    expect(Array.from(second.data)).toEqual(Array.from(first.data)); // reused memory, same numbers
    releaseCpuBlockCache();
    expect(cpuBlockCache().cachedBytes).toBe(0);
    const third = await model.forward(input);
    expect(cpuBlockCache().misses).toBeGreaterThan(afterSecond.misses); // mapped again after the release
    expect(Array.from(third.data)).toEqual(Array.from(first.data));
  });
});
