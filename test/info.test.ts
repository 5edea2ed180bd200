import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { info } from '../lib/index.js';
import { REQUIRED_TORCH_VERSION } from '../lib/native/libtorch.mjs';
import { kdtorch, python, ROOT } from './helpers/run.js';

describe('info()', () => {
  it('reports the versions, devices and threads of the running libtorch', async () => {
    const reference = python<{ cuda: boolean; devices: number; cudnn: number | null; threads: number }>(
      'import json, torch; print(json.dumps({"cuda": torch.cuda.is_available(), "devices": torch.cuda.device_count(), "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None, "threads": torch.get_num_threads()}))',
    );
    const result = await info();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(result.kdtorchVersion).toBe(pkg.version);
    expect(result.torch.built).toBe(REQUIRED_TORCH_VERSION);
    expect(result.torch.runtime).toBe(REQUIRED_TORCH_VERSION);
    expect(result.cudaAvailable).toBe(reference.cuda);
    expect(result.devices).toHaveLength(reference.devices);
    expect(result.cudnnVersion).toBe(reference.cudnn);
    expect(result.threads).toBe(reference.threads);
    for (const device of result.devices) {
      expect(device.name).not.toBe('');
      expect(device.totalMemoryBytes).toBeGreaterThan(0);
      expect(device.capability).toMatch(/^\d+\.\d+$/);
    }
  });

  it('says why CUDA graphs are unavailable: with a CUDA libtorch, only for want of a device (kdtorch_cuda.so loaded)', async () => {
    const result = await info();
    if (result.cudaAvailable) {
      expect(result.cudaGraphsUnavailable).toBeNull();
    } else if (result.torch.cuda) {
      // The plugin was built beside the addon, found and opened; the device is all that is missing.
      expect(result.cudaGraphsUnavailable).toBe('no CUDA device');
    } else {
      expect(result.cudaGraphsUnavailable).toContain('kdtorch_cuda.so');
    }
  });
});

describe('kdtorch info', () => {
  it('prints the same facts as info() with --json', async () => {
    const result = kdtorch(['info', '--json']);
    expect(result.status).toBe(0);
    const { binary: _b, ...printed } = JSON.parse(result.stdout);
    const { binary: _c, ...direct } = await info();
    expect(printed).toEqual(direct);
  });

  it('prints a readable summary by default', async () => {
    const result = kdtorch(['info']);
    const { cpu } = await info();
    expect(result.stdout).toMatch(
      cpu.nativeBf16
        ? /^CPU bf16 {5}native \(.*oneDNN\): precision 'auto' trains the teacher in bf16$/m
        : /^CPU bf16 {5}emulated \(.+\): precision 'auto' stays fp32$/m,
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      `libtorch     ${REQUIRED_TORCH_VERSION} (binary built for ${REQUIRED_TORCH_VERSION}`,
    );
    expect(result.stdout).toContain('CUDA usable');
    expect(result.stdout).toMatch(/^CUDA graphs {2}(yes|no: .+)$/m);
  });

  it('exits 2 with the usage on a bad command or option, 0 on --help', () => {
    expect(kdtorch(['frobnicate']).status).toBe(2);
    const badOption = kdtorch(['info', '--colour']);
    expect(badOption.status).toBe(2);
    expect(badOption.stderr).toContain("Unknown option '--colour'");
    const help = kdtorch(['info', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('kdtorch info [--json] [--check DEVICE]');
  });
});
