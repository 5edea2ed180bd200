import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRED_TORCH_VERSION } from '../../lib/native/libtorch.mjs';
import { ROOT, run, tempDir, VENV_PYTHON } from '../helpers/run.js';

/** A PATH with node, npm and a shell and nothing else: no compiler, make, cmake or python. */
function pathWithoutCompilers(): string {
  const bin = tempDir('bin');
  const npmCli = fs.realpathSync(run('sh', ['-c', 'command -v npm']).stdout.trim());
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  return bin;
}

describe('the npm package', () => {
  it('packs the prebuilt binary from a tree that has none yet, installs without compiling, and finds the app’s torch', {
    timeout: 900_000,
  }, () => {
    // As in a fresh clone: prepack must make the binary itself.
    fs.rmSync(path.join(ROOT, 'prebuilds'), { recursive: true, force: true });
    const out = tempDir('pack');
    const packed = run('npm', ['pack', '--json', '--pack-destination', out]);
    expect(packed.status, packed.stderr).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    const paths = files.map((f: { path: string }) => f.path);
    expect(paths).toContain('prebuilds/linux-x64/kdtorch.glibc.node');
    expect(paths).toContain('prebuilds/linux-x64/kdtorch_cuda.so'); // CUDA graphs, opened from beside the binary
    expect(paths).toContain('dist/lib/index.d.ts');
    expect(paths).toContain('binding.gyp');
    expect(paths).toContain('demo/chest_xray/README.md');

    const app = tempDir('app');
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // The app's own .venv, as docs/install.md tells an app to make it (its python runs the project venv's).
    fs.mkdirSync(path.join(app, '.venv', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(app, '.venv', 'bin', 'python'), `#!/bin/sh\nexec ${VENV_PYTHON} "$@"\n`, {
      mode: 0o755,
    });
    const env = {
      HOME: process.env.HOME,
      PATH: pathWithoutCompilers(),
      CC: '/bin/false',
      CXX: '/bin/false',
    };
    const installed = run('npm', ['install', '--no-audit', '--no-fund', path.join(out, filename)], { cwd: app, env });
    expect(installed.status, installed.stdout + installed.stderr).toBe(0);
    const pkgDir = path.join(app, 'node_modules', 'kdtorch');
    expect(fs.existsSync(path.join(pkgDir, 'build')), 'a source build happened').toBe(false);

    const script = "import('kdtorch').then(async (k) => console.log(JSON.stringify(await k.info())))";
    const loaded = run(process.execPath, ['-e', script], { cwd: app, env });
    expect(loaded.status, loaded.stderr).toBe(0);
    const info = JSON.parse(loaded.stdout);
    expect(info.binary).toBe(path.join(fs.realpathSync(pkgDir), 'prebuilds', 'linux-x64', 'kdtorch.glibc.node'));
    expect(info.torch).toMatchObject({
      built: REQUIRED_TORCH_VERSION,
      runtime: REQUIRED_TORCH_VERSION,
      source: 'app venv',
    });
    // Found and opened beside the prebuilt binary: only the device is missing (a CPU CI machine).
    expect(info.cudaGraphsUnavailable).toBe(info.cudaAvailable ? null : 'no CUDA device');

    // The bin link runs the demo on the bundled data (shortened to one epoch at 32²).
    const demo = run(
      path.join(app, 'node_modules', '.bin', 'kdtorch'),
      ['demo', '--epochs', '1', '--image-size', '32', '--output', 'demo-run', '--set', 'latency.repeats=1'],
      { cwd: app, env },
    );
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('| Distilled student |');
    expect(fs.existsSync(path.join(app, 'demo-run', 'report.html'))).toBe(true);
  });
});
