import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLibtorch } from '../../lib/native/libtorch.mjs';
import { kdtorch, ROOT, run } from '../helpers/run.js';

const GYP_BINARY = path.join(ROOT, 'build-gyp', 'build', 'Release', 'kdtorch.node');
const CMAKE_BINARY = path.join(ROOT, 'build', 'Release', 'kdtorch.node');

/** libjpeg-turbo is inside the binary: nothing to find at run time, and none of its symbols exported. */
function expectLibjpegLinkedIn(binary: string) {
  const needed = run('readelf', ['--dynamic', '--wide', binary]);
  expect(needed.stdout, binary).toContain('libtorch_cpu.so'); // the listing was read
  expect(needed.stdout, binary).not.toMatch(/libjpeg/);
  const exported = run('nm', ['--dynamic', '--defined-only', binary]);
  expect(exported.stdout, binary).toMatch(/napi_register_module/);
  expect(exported.stdout, binary).not.toMatch(/\bjpeg_/);
}

// The node-gyp build is what `npm install` compiles when no prebuilt fits; CMake is what we develop
// and prebuild with. Both must come out working and equal from the same sources.
describe('the two builds of native/', () => {
  it('builds binding.gyp with node-gyp (no download, no CMake) and loads it', { timeout: 1_200_000 }, () => {
    const built = run('npm', ['run', 'build:gyp']);
    expect(built.status, built.stdout + built.stderr).toBe(0);
    const viaGyp = kdtorch(['info', '--json', '--check', 'cpu'], { KDTORCH_BINARY: GYP_BINARY });
    expect(viaGyp.status, viaGyp.stderr).toBe(0);
    const viaCmake = kdtorch(['info', '--json', '--check', 'cpu']);
    const [gyp, cmake] = [JSON.parse(viaGyp.stdout), JSON.parse(viaCmake.stdout)];
    expect(gyp.binary).toBe(GYP_BINARY);
    expect(cmake.binary).toBe(CMAKE_BINARY);
    expect(gyp.torch).toEqual(cmake.torch);
    // Each build's kdtorch_cuda.so is found beside its own binary and opens.
    expect(fs.existsSync(path.join(path.dirname(GYP_BINARY), 'kdtorch_cuda.so'))).toBe(true);
    expect(gyp.cudaGraphsUnavailable).toBe(cmake.cudaGraphsUnavailable);
    expect(gyp.check.checksum).toBe(cmake.check.checksum);
    expectLibjpegLinkedIn(GYP_BINARY);
  });

  it('links libjpeg-turbo statically into the CMake build (what prebuilds ship)', () => {
    expectLibjpegLinkedIn(CMAKE_BINARY);
  });

  it('compiles with the same defines in both', () => {
    const abi = `_GLIBCXX_USE_CXX11_ABI=${findLibtorch().cxx11abi}`;
    const ninja = fs.readFileSync(path.join(ROOT, 'build-cmake', 'build.ninja'), 'utf8');
    expect(ninja).toContain(`-D${abi}`);
    expect(ninja).toContain('-DNAPI_VERSION=8');
    const gypMake = fs.readFileSync(path.join(ROOT, 'build-gyp', 'build', 'kdtorch.target.mk'), 'utf8');
    expect(gypMake).toContain(`'-D${abi}'`);
    expect(gypMake).toContain("'-DNAPI_VERSION=8'");
  });
});
