import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildFlags,
  describeLibtorch,
  findLibtorch,
  LibtorchNotFoundError,
  REQUIRED_TORCH_VERSION,
} from '../lib/native/libtorch.mjs';
import { fakeLibtorch } from './helpers/fake-libtorch.js';
import { python, ROOT, run, tempDir, VENV_PYTHON } from './helpers/run.js';

const venvTorch = python<{ root: string; version: string; cuda: string | null; abi: boolean }>(
  'import json, os, torch; print(json.dumps({"root": os.path.dirname(torch.__file__), "version": torch.__version__, "cuda": torch.version.cuda, "abi": torch._C._GLIBCXX_USE_CXX11_ABI}))',
);

describe('findLibtorch', () => {
  it('finds the project venv torch and reports what PyTorch itself reports', () => {
    const found = findLibtorch({ env: { PATH: process.env.PATH } });
    expect(found.source).toBe('project venv');
    expect(found.root).toBe(venvTorch.root);
    expect(venvTorch.version.startsWith(found.version)).toBe(true);
    expect(found.version).toBe(REQUIRED_TORCH_VERSION);
    expect(found.cuda).toBe(venvTorch.cuda);
    expect(found.cxx11abi).toBe(venvTorch.abi ? 1 : 0);
    expect(found.includeDirs.every((dir: string) => fs.existsSync(dir))).toBe(true);
    const preload = found.preload.map((file: string) => path.basename(file));
    expect([preload[0], preload.at(-1)]).toEqual(['libtorch_global_deps.so', 'libtorch.so']);
  });

  it("loads the CUDA libraries of the nvidia wheels that `import torch` loads, cuDNN's libnvrtc among them", () => {
    // The nvidia-wheel files mapped into a process: Python's after `import torch`, ours after loading the addon.
    const mapped = `sorted({l.split()[5].rsplit("/", 1)[1] for l in open("/proc/self/maps") if "/nvidia/" in l})`;
    const inPython = python<string[]>(`import json, torch; print(json.dumps(${mapped}))`);
    const node = run(process.execPath, [
      '--input-type=module',
      '-e',
      `const k = await import('./dist/lib/index.js'); await k.info();
       const files = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('/nvidia/'));
       console.log(JSON.stringify([...new Set(files.map((l) => l.trim().split(/\\s+/)[5].split('/').at(-1)))]));`,
    ]);
    expect(node.status, node.stderr).toBe(0);
    const inNode = JSON.parse(node.stdout.trim().split('\n').at(-1) ?? '[]') as string[];
    expect(inPython).toContain('libnvrtc.so.13');
    expect(inNode.sort()).toEqual(expect.arrayContaining(inPython));
  });

  // The addon sets the JS thread's OpenMP thread count (native/binding/async.h): that only reaches torch's
  // parallel ops if the addon links torch's own runtime, not a second copy from the compiler.
  it('maps one OpenMP runtime into the process, the one libtorch_cpu uses', () => {
    const node = run(process.execPath, [
      '--input-type=module',
      '-e',
      `const k = await import('./dist/lib/index.js'); await k.info();
       const lines = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8').split('\\n');
       console.log(JSON.stringify([...new Set(lines.filter((l) => /\\/lib[gi]omp/.test(l)).map((l) => l.trim().split(/\\s+/)[5]))]));`,
    ]);
    expect(node.status, node.stderr).toBe(0);
    const runtimes = JSON.parse(node.stdout.trim().split('\n').at(-1) ?? '[]') as string[];
    expect(runtimes).toHaveLength(1);
    expect(path.dirname(runtimes[0] ?? '')).toBe(path.join(venvTorch.root, 'lib'));
  });

  it('puts LIBTORCH first, then KDTORCH_PYTHON, then the venv', () => {
    const fake = fakeLibtorch({ version: '2.10.0', buildVersion: '2.10.0+cu128' });
    const fromLibtorch = findLibtorch({ env: { LIBTORCH: fake, KDTORCH_PYTHON: VENV_PYTHON } });
    expect(fromLibtorch).toMatchObject({
      source: 'LIBTORCH',
      root: fake,
      version: '2.10.0',
      cuda: '12.8',
      cxx11abi: 1,
    });
    const fromPython = findLibtorch({ env: { KDTORCH_PYTHON: VENV_PYTHON }, packageRoot: tempDir('no-venv') });
    expect(fromPython).toMatchObject({ source: 'KDTORCH_PYTHON', root: venvTorch.root });
  });

  it('reads a CPU-only LibTorch and an old-ABI one from their files', () => {
    const cpu = describeLibtorch(
      fakeLibtorch({ version: '2.11.0', buildVersion: '2.11.0+cpu', cxx11abi: false }),
      'test',
    );
    expect(cpu).toMatchObject({ cuda: null, cxx11abi: 0, libraries: ['c10', 'torch_cpu'] });
  });

  it('stops at an explicit LIBTORCH that is not a libtorch, naming it', () => {
    const error = catchError(() =>
      findLibtorch({ env: { LIBTORCH: '/nowhere/libtorch', KDTORCH_PYTHON: VENV_PYTHON } }),
    );
    expect(error).toBeInstanceOf(LibtorchNotFoundError);
    expect(error.code).toBe('E_LIBTORCH_NOT_FOUND');
    expect(error.attempts).toHaveLength(1);
    expect(error.message).toContain('LIBTORCH (/nowhere/libtorch)');
    expect(error.message).toContain('include/torch/csrc/api/include/torch/torch.h is missing');
  });

  it('lists every place searched and every way out when nothing is found', () => {
    const emptyPath = tempDir('empty-path');
    const error = catchError(() =>
      findLibtorch({ env: { PATH: emptyPath, KDTORCH_PYTHON: '/nowhere/python' }, packageRoot: tempDir('pkg') }),
    );
    expect(error.message).toContain('Cannot find a libtorch install');
    expect(error.message).toContain('KDTORCH_PYTHON (/nowhere/python): /nowhere/python: no such interpreter');
    expect(error.message).toContain(`pip install torch==${REQUIRED_TORCH_VERSION}`);
    expect(error.message).toContain('export LIBTORCH=');
    expect(error.message).toContain('export KDTORCH_PYTHON=');

    const noExplicit = catchError(() =>
      findLibtorch({ env: { PATH: emptyPath }, packageRoot: tempDir('pkg'), cwd: tempDir('cwd') }),
    );
    expect(noExplicit.attempts.map((a: { source: string }) => a.source)).toEqual(['project venv', 'python3']);
  });

  it('then tries the activated virtualenv, the conda env, the app’s .venv and kdtorch’s own venv, in that order', () => {
    const withTorch = fakeEnv(VENV_PYTHON);
    const withoutTorch = fakeEnv('python3');
    const nowhere = { PATH: tempDir('empty-path') };
    const lone = { packageRoot: tempDir('pkg'), cwd: tempDir('cwd') };
    expect(
      findLibtorch({ env: { ...nowhere, VIRTUAL_ENV: withTorch, CONDA_PREFIX: withoutTorch }, ...lone }),
    ).toMatchObject({ source: 'VIRTUAL_ENV', root: venvTorch.root });
    // An activated env without torch is passed over: it is where the user is, not a choice of libtorch.
    expect(
      findLibtorch({ env: { ...nowhere, VIRTUAL_ENV: withoutTorch, CONDA_PREFIX: withTorch }, ...lone }),
    ).toMatchObject({ source: 'CONDA_PREFIX', root: venvTorch.root });
    // The app: the nearest package.json above the working directory, its .venv beside it.
    const app = tempDir('app');
    fs.writeFileSync(path.join(app, 'package.json'), '{"name": "my-service"}');
    fs.renameSync(fakeEnv(VENV_PYTHON), path.join(app, '.venv'));
    fs.mkdirSync(path.join(app, 'src', 'deep'), { recursive: true });
    const inApp = { packageRoot: path.join(app, 'node_modules', 'kdtorch'), cwd: path.join(app, 'src', 'deep') };
    expect(findLibtorch({ env: { ...nowhere, VIRTUAL_ENV: withoutTorch }, ...inApp })).toMatchObject({
      source: 'app venv',
      root: venvTorch.root,
    });
    const none = catchError(() =>
      findLibtorch({ env: { ...nowhere, VIRTUAL_ENV: withoutTorch, CONDA_PREFIX: withoutTorch }, ...lone }),
    );
    expect(none.attempts.map((a: { source: string }) => a.source)).toEqual([
      'VIRTUAL_ENV',
      'CONDA_PREFIX',
      'project venv',
      'python3',
    ]);
    expect(none.message).toContain(`VIRTUAL_ENV (${path.join(withoutTorch, 'bin', 'python')}): `);
  });

  it('advises what fits where kdtorch is installed: an app’s own venv, or a checkout’s npm run setup', () => {
    const app = tempDir('app');
    fs.writeFileSync(path.join(app, 'package.json'), '{"name": "my-service"}');
    const nowhere = { PATH: tempDir('empty-path') };
    const inApp = catchError(() =>
      findLibtorch({ env: nowhere, packageRoot: path.join(app, 'node_modules', 'kdtorch'), cwd: app }),
    );
    expect(inApp.message).toContain(
      `cd ${app} && python3 -m venv .venv && .venv/bin/pip install torch==${REQUIRED_TORCH_VERSION}`,
    );
    expect(inApp.message).not.toContain('npm run setup');
    const checkout = catchError(() => findLibtorch({ env: nowhere, packageRoot: tempDir('pkg'), cwd: tempDir('cwd') }));
    expect(checkout.message).toContain('npm run setup');
  });

  it('reports a Python without torch as such', () => {
    const error = catchError(() =>
      findLibtorch({ env: { KDTORCH_PYTHON: 'python3' }, packageRoot: tempDir('pkg'), cwd: tempDir('cwd') }),
    );
    // The system python3 here has no torch; the venv's has.
    expect(error.message).toMatch(/python3 has no torch package/);
  });
});

describe('lib/native/libtorch.mjs for the build files', () => {
  it('gives CMake and node-gyp the same sources and flags', () => {
    const flags = buildFlags(findLibtorch({ env: { PATH: process.env.PATH } }));
    const cmake = run(process.execPath, ['lib/native/libtorch.mjs', '--cmake']).stdout;
    for (const [field, values] of Object.entries(flags) as [string, string[]][]) {
      const gyp = run(process.execPath, ['lib/native/libtorch.mjs', '--gyp', field]).stdout;
      expect(gyp.split(' ')).toEqual(values);
      expect(cmake).toContain(`set(KDTORCH_${field.toUpperCase()} "${values.join(';')}")`);
    }
    expect(flags.sources).toContain('native/binding/addon.cc');
    expect(flags.defines).toContain(`_GLIBCXX_USE_CXX11_ABI=${venvTorch.abi ? 1 : 0}`);
  });

  it('fails the build with the not-found message when libtorch is missing', () => {
    const result = run(process.execPath, [path.join(ROOT, 'lib/native/libtorch.mjs'), '--cmake'], {
      env: { ...process.env, LIBTORCH: '/nowhere' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Cannot find a libtorch install');
  });
});

/** A virtualenv-shaped folder whose bin/python runs `interpreter`: one with torch, or one without. */
function fakeEnv(interpreter: string): string {
  const env = tempDir('env');
  fs.mkdirSync(path.join(env, 'bin'));
  fs.writeFileSync(path.join(env, 'bin', 'python'), `#!/bin/sh\nexec ${interpreter} "$@"\n`, { mode: 0o755 });
  return env;
}

// biome-ignore lint/suspicious/noExplicitAny: the errors under test carry extra fields
function catchError(work: () => unknown): any {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
