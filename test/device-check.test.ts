import { describe, expect, it } from 'vitest';
import { checkDevice, info, KdtorchError } from '../lib/index.js';
import { python } from './helpers/run.js';

function pytorchChecksum(size: number, seed: number): number {
  return python<number>(
    `import torch; g = torch.Generator().manual_seed(${seed}); a = torch.randn(${size}, ${size}, generator=g); b = torch.randn(${size}, ${size}, generator=g); print((a @ b).sum(dtype=torch.float64).item())`,
  );
}

describe('checkDevice()', () => {
  it('multiplies seeded matrices on the CPU exactly as PyTorch does', async () => {
    for (const [size, seed] of [
      [64, 0],
      [300, 7],
    ] as const) {
      const check = await checkDevice({ device: 'cpu', size, seed });
      expect(check.device).toBe('cpu');
      // Same kernels and thread count: the float32 products agree to rounding (relative 1e-6).
      const reference = pytorchChecksum(size, seed);
      expect(Math.abs(check.checksum - reference)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(reference)) * size);
    }
  });

  it('runs on CUDA when present and otherwise says CUDA is absent instead of falling back', async () => {
    const { cudaAvailable } = await info();
    if (cudaAvailable) {
      const [gpu, cpu] = [
        await checkDevice({ device: 'cuda', size: 256 }),
        await checkDevice({ device: 'cpu', size: 256 }),
      ];
      expect(gpu.device).toBe('cuda:0');
      expect(Math.abs(gpu.checksum - cpu.checksum)).toBeLessThan(1e-2 * Math.abs(cpu.checksum) + 1);
      return;
    }
    const error = await checkDevice({ device: 'cuda', size: 8 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KdtorchError);
    expect(error).toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    expect((error as Error).message).toContain("device 'cuda' asked for, but this libtorch sees no CUDA device");
    expect((await checkDevice({ device: 'auto', size: 8 })).device).toBe('cpu');
  });

  it('rejects a device it does not know, naming the choices', async () => {
    await expect(checkDevice({ device: 'tpu', size: 8 })).rejects.toThrow(
      /'tpu' is not one of 'cpu', 'cuda', 'cuda:N', 'auto'/,
    );
  });
});
