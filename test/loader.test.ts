import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLibtorch, REQUIRED_TORCH_VERSION } from '../lib/native/libtorch.mjs';
import { locateBinary, readBuildStamp } from '../lib/native/load-addon.js';
import { fakeLibtorch, libtorchWithoutCudaLibraries } from './helpers/fake-libtorch.js';
import { kdtorch, ROOT } from './helpers/run.js';

describe('the loader', () => {
  it('reads the libtorch version stamped into the binary without loading it', () => {
    const stamp = readBuildStamp(locateBinary(ROOT));
    expect(stamp).toEqual({ torch: REQUIRED_TORCH_VERSION, cxx11abi: findLibtorch().cxx11abi });
  });

  it('loads libtorch and the addon with no LD_LIBRARY_PATH', () => {
    const { LD_LIBRARY_PATH: _, ...env } = process.env;
    const result = kdtorch(['info', '--json', '--check', 'cpu'], { ...env, LD_LIBRARY_PATH: '' });
    expect(result.stderr).toBe('');
    const info = JSON.parse(result.stdout);
    expect(info.torch.runtime).toBe(REQUIRED_TORCH_VERSION);
    expect(info.check.device).toBe('cpu');
  });

  it('refuses a libtorch of another version before loading anything, in sharp style', () => {
    const fake = fakeLibtorch({ version: '2.10.0', buildVersion: '2.10.0+cu128' });
    const result = kdtorch(['info'], { LIBTORCH: fake });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_LIBTORCH_MISMATCH]');
    expect(result.stderr).toContain(`was built for libtorch ${REQUIRED_TORCH_VERSION}`);
    expect(result.stderr).toContain('Possible solutions:');
    expect(result.stderr).toContain(`- Found libtorch 2.10.0 (CUDA 12.8, cxx11abi 1) at ${fake}, found via LIBTORCH`);
    expect(result.stderr).toContain(`- Requires libtorch ${REQUIRED_TORCH_VERSION}`);
    expect(result.stderr).toContain(`pip install torch==${REQUIRED_TORCH_VERSION}`);
    expect(result.stderr).toContain('npm rebuild kdtorch --build-from-source');
    // The binary is made for the pinned torch: installing it comes first, rebuilding last.
    expect(result.stderr.indexOf('npm run setup')).toBeLessThan(result.stderr.indexOf('npm rebuild kdtorch'));
  });

  it('refuses a libtorch built with the other C++ ABI', () => {
    const fake = fakeLibtorch({ version: REQUIRED_TORCH_VERSION, cxx11abi: false });
    const result = kdtorch(['info'], { LIBTORCH: fake });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_LIBTORCH_MISMATCH]');
    expect(result.stderr).toContain('cxx11abi 0');
  });

  it('says where it looked when there is no libtorch', () => {
    const result = kdtorch(['info'], { KDTORCH_PYTHON: '/nowhere/python' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_LIBTORCH_NOT_FOUND] Cannot find a libtorch install');
    expect(result.stderr).toContain('KDTORCH_PYTHON (/nowhere/python)');
  });

  it('passes the dynamic loader’s own errors on when libtorch’s CUDA libraries are missing', () => {
    const broken = libtorchWithoutCudaLibraries(findLibtorch().root);
    const result = kdtorch(['info'], { LIBTORCH: broken });
    fs.rmSync(broken, { recursive: true, force: true }); // hard links: nothing of the venv goes with it
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_BINARY_LOAD] Could not load the kdtorch binary');
    expect(result.stderr).toMatch(/libcudart\.so\.\d+: cannot open shared object file/);
    // The remedy names the wheel that holds the library, before every other.
    const solutions = result.stderr.slice(result.stderr.indexOf('Possible solutions:'));
    expect(solutions).toMatch(
      /^Possible solutions:\n- Found [^\n]+\n- Requires libcudart\.so\.\d+, from the pip wheel nvidia-cuda-runtime/,
    );
    expect(solutions).toContain('python -m pip install --force-reinstall nvidia-cuda-runtime');
  });

  it('takes the binary from KDTORCH_BINARY when set, and says so when it is missing', () => {
    const result = kdtorch(['info', '--json'], { KDTORCH_BINARY: path.join(ROOT, 'nowhere.node') });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[E_BINARY_NOT_FOUND]');
    expect(result.stderr).toContain('KDTORCH_BINARY=');
    // No binary: building one is the first remedy.
    expect(result.stderr).toMatch(/Possible solutions:\n- Found [^\n]+\n- Build kdtorch against the libtorch you have/);
  });
});
