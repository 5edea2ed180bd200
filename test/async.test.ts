import { describe, expect, it } from 'vitest';
import { checkDevice, KdtorchError, studentNet } from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { NETWORK_DEFAULTS } from '../lib/native/model.js';

describe('native calls run off the JS thread', () => {
  it('keeps the event loop ticking during a long native call', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    // A 1536² float32 matmul is a few GFLOP: hundreds of ms on two cores.
    await checkDevice({ device: 'cpu', size: 1536 });
    const elapsedMs = performance.now() - started;
    clearInterval(timer);
    expect(elapsedMs).toBeGreaterThan(50);
    // A blocked loop would tick at most once or twice; a free one ticks about once per ms.
    expect(ticks).toBeGreaterThan(elapsedMs / 10);
  });

  it('turns an allocation libtorch cannot make into a rejected E_OUT_OF_MEMORY KdtorchError', async () => {
    // 2^21 squared floats is 16 TiB: kdtorch's CPU allocator (cpu_block_cache) throws c10::OutOfMemoryError,
    // which must not crash the process.
    const error = await checkDevice({ device: 'cpu', size: 2 ** 21 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KdtorchError);
    expect(error).toMatchObject({ code: 'E_OUT_OF_MEMORY' });
    expect((error as Error).message).toMatch(/CPU out of memory: could not map 17592186044416 bytes/);
    expect((error as Error).message).not.toMatch(/Exception raised from/);
  });

  it('turns a std::exception from the model code into a KdtorchError', async () => {
    const model = await studentNet({ inputSize: 32 });
    const wrong = { data: new Float32Array(1 * 3 * 16 * 16), shape: [1, 3, 16, 16] };
    await expect(model.forward(wrong)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: 'studentNet expects input of shape [N, 3, 32, 32], got [1, 3, 16, 16]',
    });
    const mismatched = { data: new Float32Array(10), shape: [1, 3, 32, 32] };
    await expect(model.forward(mismatched)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
  });
});

describe('one native object, concurrent calls', () => {
  const input = () => {
    const data = new Float32Array(8 * 3 * 64 * 64);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i);
    return { data, shape: [8, 3, 64, 64] };
  };

  it('serialises calls made through the TypeScript Model, each giving the same answer', async () => {
    const model = await studentNet({ inputSize: 64 });
    const results = await Promise.all([model.forward(input()), model.forward(input()), model.forward(input())]);
    expect(results.map((r) => r.shape)).toEqual([
      [8, 2],
      [8, 2],
      [8, 2],
    ]);
    expect(Array.from(results[1]?.data ?? [])).toEqual(Array.from(results[0]?.data ?? []));
    expect(Array.from(results[2]?.data ?? [])).toEqual(Array.from(results[0]?.data ?? []));
  });

  it('rejects an overlapping call on the raw native object with E_BUSY instead of racing', async () => {
    const raw = await native().addon.createModel({ architecture: 'studentNet', ...NETWORK_DEFAULTS, inputSize: 64 });
    const { data, shape } = input();
    const first = raw.forward(data, shape);
    expect(() => raw.forward(data, shape)).toThrow(/busy with another call/);
    await expect(first).resolves.toMatchObject({ shape: [8, 2] });
    await expect(raw.forward(data, shape)).resolves.toMatchObject({ shape: [8, 2] });
  });
});
