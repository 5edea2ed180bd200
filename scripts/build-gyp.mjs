#!/usr/bin/env node
// Builds binding.gyp with node-gyp — the build `npm install` falls back to when no prebuilt fits —
// in a staging copy (build-gyp/), because node-gyp always wipes ./build, where the CMake build lives.
// Node's headers come from the running Node's own include/node: nothing is downloaded.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findPackageRoot } from '../lib/native/libtorch.mjs';

const root = findPackageRoot();
const stage = path.join(root, 'build-gyp');
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(path.join(stage, 'lib', 'native'), { recursive: true });
for (const entry of ['package.json', 'binding.gyp', 'native', 'lib/native/libtorch.mjs']) {
  fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
}
for (const shared of ['node_modules', '.venv']) {
  if (fs.existsSync(path.join(root, shared))) fs.symlinkSync(path.join(root, shared), path.join(stage, shared));
}

const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp) {
  console.error('build-gyp: run me through npm (npm run build:gyp), which provides its bundled node-gyp');
  process.exit(2);
}
const nodedir = path.resolve(process.execPath, '..', '..');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
  cwd: stage,
  stdio: 'inherit',
});
if (result.status === 0) console.log(`build-gyp: ${path.join(stage, 'build', 'Release', 'kdtorch.node')}`);
process.exit(result.status ?? 1);
