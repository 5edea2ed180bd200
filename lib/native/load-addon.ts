// Finds libtorch and the kdtorch binary, checks they belong together, and loads them, in the
// manner of sharp's lib/sharp.mjs: every failure ends in one message with the real errors and
// "Possible solutions". No LD_LIBRARY_PATH is needed: libtorch is loaded by absolute path first.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { KdtorchError } from '../errors.js';
import {
  findLibtorch,
  findPackageRoot,
  type Libtorch,
  LibtorchNotFoundError,
  REQUIRED_TORCH_VERSION,
} from './libtorch.mjs';

/** What native/core/runtime.cc stamps into the binary: the libtorch it was compiled against. */
export interface BuildStamp {
  torch: string;
  cxx11abi: number;
}

export interface LoadedAddon {
  addon: unknown;
  binary: string;
  stamp: BuildStamp;
  libtorch: Libtorch;
}

const STAMP_PREFIX = 'kdtorch-build:';
// glibc's RTLD_NODELETE: node's process.dlopen closes a library that registers no module;
// with this flag the close is a no-op and libtorch stays loaded for the addon to bind to.
const RTLD_NODELETE = 0x1000;

/** Reads the build stamp from the file without loading it, so a mismatch is caught before the dynamic linker. */
export function readBuildStamp(binary: string): BuildStamp {
  const bytes = fs.readFileSync(binary);
  const start = bytes.indexOf(STAMP_PREFIX);
  if (start < 0) throw new Error(`${binary} has no kdtorch build stamp: it is not a kdtorch binary`);
  const end = bytes.indexOf(0, start);
  return JSON.parse(bytes.subarray(start + STAMP_PREFIX.length, end).toString('utf8')) as BuildStamp;
}

/** The binary to load: KDTORCH_BINARY, else what node-gyp-build picks (a source build in build/Release, then prebuilds/). */
export function locateBinary(root: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.KDTORCH_BINARY) {
    if (!fs.existsSync(env.KDTORCH_BINARY)) throw new Error(`KDTORCH_BINARY=${env.KDTORCH_BINARY} does not exist`);
    return path.resolve(env.KDTORCH_BINARY);
  }
  return nodeGypBuild.resolve(root);
}

function describe(libtorch: Libtorch): string {
  return `libtorch ${libtorch.version} (${libtorch.cuda ? `CUDA ${libtorch.cuda}` : 'CPU-only'}, cxx11abi ${libtorch.cxx11abi}) at ${libtorch.root}, found via ${libtorch.source}`;
}

interface Failure {
  headline: string;
  errors: string[];
  found: string[];
}

/** sharp's layout: headline, the real errors, then "Possible solutions" as Found/Requires pairs with commands. */
export function formatLoadFailure({ headline, errors, found }: Failure): string {
  return [
    headline,
    ...errors.map((error) => `- ${error}`),
    'Possible solutions:',
    ...found.map((line) => `- Found ${line}`),
    `- Requires libtorch ${REQUIRED_TORCH_VERSION}. Install it into the Python kdtorch uses:`,
    `    pip install torch==${REQUIRED_TORCH_VERSION}    (or, in a kdtorch checkout: npm run setup)`,
    '  or use another Python that has it:',
    '    export KDTORCH_PYTHON=/path/to/python',
    `  or point LIBTORCH at an unzipped LibTorch ${REQUIRED_TORCH_VERSION} distribution:`,
    '    export LIBTORCH=/path/to/libtorch',
    '- Or build kdtorch against the libtorch you have (needs a C++ compiler):',
    '    npm rebuild kdtorch --build-from-source',
  ].join('\n');
}

/** Loads libtorch, then the addon. Throws a KdtorchError whose message says what to do. */
export function loadAddon(env: NodeJS.ProcessEnv = process.env): LoadedAddon {
  const root = findPackageRoot();
  let libtorch: Libtorch;
  try {
    libtorch = findLibtorch({ env, packageRoot: root });
  } catch (error) {
    if (error instanceof LibtorchNotFoundError) {
      throw new KdtorchError('E_LIBTORCH_NOT_FOUND', error.message, { cause: error });
    }
    throw error;
  }

  let binary: string;
  try {
    binary = locateBinary(root, env);
  } catch (error) {
    throw new KdtorchError(
      'E_BINARY_NOT_FOUND',
      formatLoadFailure({
        headline: `Could not find a kdtorch binary for ${os.platform()}-${os.arch()} (Node-API).`,
        errors: [String((error as Error).message).split('\n')[0] ?? ''],
        found: [describe(libtorch)],
      }),
      { cause: error },
    );
  }

  const stamp = readBuildStamp(binary);
  if (stamp.torch !== libtorch.version || stamp.cxx11abi !== libtorch.cxx11abi) {
    throw new KdtorchError(
      'E_LIBTORCH_MISMATCH',
      formatLoadFailure({
        headline: `The kdtorch binary was built for libtorch ${stamp.torch} (cxx11abi ${stamp.cxx11abi}) but found libtorch ${libtorch.version} (cxx11abi ${libtorch.cxx11abi}).`,
        errors: [
          `E_LIBTORCH_MISMATCH: ${binary} requires libtorch ${stamp.torch}; C++ libraries of other versions are not compatible`,
        ],
        found: [describe(libtorch)],
      }),
      { file: binary },
    );
  }

  const flags = os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | RTLD_NODELETE;
  const errors: string[] = [];
  for (const library of libtorch.preload) {
    try {
      process.dlopen({ exports: {} }, library, flags);
    } catch (error) {
      const message = String((error as Error).message);
      if (!message.includes('did not self-register')) errors.push(`${library}: ${message}`);
    }
  }

  const module = { exports: {} as unknown };
  try {
    process.dlopen(module, binary);
  } catch (error) {
    errors.push(`${binary}: ${(error as Error).message}`);
    throw new KdtorchError(
      'E_BINARY_LOAD',
      formatLoadFailure({
        headline: `Could not load the kdtorch binary (built for libtorch ${stamp.torch}) with ${describe(libtorch)}.`,
        errors,
        found: [describe(libtorch)],
      }),
      { file: binary, cause: error },
    );
  }
  return { addon: module.exports, binary, stamp, libtorch };
}

/** kdtorch's own version, from its package.json. */
export function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require(path.join(findPackageRoot(), 'package.json')) as { version: string }).version;
}
