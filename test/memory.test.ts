// Native memory V8 can see and free: models disposed explicitly, and models merely dropped, which the
// GC collects because the addon reports their tensors' size (napi_adjust_external_memory).
import { describe, expect, it } from 'vitest';
import { KdtorchError, resnet18 } from '../lib/index.js';

const MB = 2 ** 20;

describe('memory', () => {
  it('keeps RSS flat over ResNet-18 create/dispose cycles, and over cycles that only drop the model', async () => {
    const warm = await resnet18({ numClasses: 2 });
    await warm.dispose();
    const start = process.memoryUsage().rss;
    for (let i = 0; i < 100; i++) await (await resnet18({ numClasses: 2 })).dispose();
    const disposed = process.memoryUsage().rss - start;
    // 100 × 44.7 MB of weights would be 4.4 GB if any stayed.
    expect(disposed).toBeLessThan(150 * MB);

    for (let i = 0; i < 100; i++) await resnet18({ numClasses: 2 }); // dropped: only the GC frees them
    const dropped = process.memoryUsage().rss - start;
    expect(dropped).toBeLessThan(1500 * MB);

    const model = await resnet18({ numClasses: 2 });
    await model.dispose();
    const error = await model.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] }).catch((e) => e);
    expect(error).toBeInstanceOf(KdtorchError);
    expect(error.code).toBe('E_RELEASED');
  }, 300_000);
});
