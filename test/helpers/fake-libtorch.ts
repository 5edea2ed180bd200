// Libtorch folders that are deliberately wrong, to drive the discovery and loader failure paths.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './run.js';

export interface FakeLibtorchOptions {
  version: string;
  /** Contents of build-version, as a LibTorch zip has it ("2.10.0+cu128"). */
  buildVersion?: string;
  cxx11abi?: boolean;
}

/** Just enough files for discovery to accept the folder; its libraries are not real. */
export function fakeLibtorch({ version, buildVersion, cxx11abi = true }: FakeLibtorchOptions): string {
  const root = tempDir('fake-libtorch');
  const [major, minor, patch] = version.split('.');
  const api = path.join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch');
  fs.mkdirSync(api, { recursive: true });
  fs.writeFileSync(path.join(api, 'torch.h'), '#pragma once\n');
  fs.mkdirSync(path.join(root, 'include', 'torch', 'headeronly'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'include', 'torch', 'headeronly', 'version.h'),
    `#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH ${patch}\n`,
  );
  fs.mkdirSync(path.join(root, 'lib'));
  fs.writeFileSync(path.join(root, 'lib', 'libc10.so'), cxx11abi ? 'xx_ZNSt7__cxx1112basic_stringxx' : '_ZNSsxx');
  fs.writeFileSync(path.join(root, 'lib', 'libtorch_cpu.so'), 'not a library');
  if (buildVersion) fs.writeFileSync(path.join(root, 'build-version'), `${buildVersion}\n`);
  return root;
}

/**
 * The real libtorch's headers and libraries, linked into a folder without the nvidia-* wheels
 * beside it: what a machine with a CUDA libtorch but no CUDA runtime libraries looks like.
 */
export function libtorchWithoutCudaLibraries(realRoot: string): string {
  // Hard links, not symlinks: the dynamic loader resolves $ORIGIN through symlinks, which would
  // lead it back to the nvidia-* wheels. A folder beside the venv shares its filesystem.
  fs.mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  const root = fs.mkdtempSync(path.join(ROOT, '.tmp', 'no-cuda-libs-'));
  fs.symlinkSync(path.join(realRoot, 'include'), path.join(root, 'include'));
  fs.mkdirSync(path.join(root, 'lib'));
  for (const file of fs.readdirSync(path.join(realRoot, 'lib'))) {
    if (file.endsWith('.so') || /\.so\.\d+$/.test(file))
      fs.linkSync(path.join(realRoot, 'lib', file), path.join(root, 'lib', file));
  }
  return root;
}
