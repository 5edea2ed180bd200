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
  possibleSolutions,
  REQUIRED_TORCH_VERSION,
  wheelOfLibrary,
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

/** What went wrong and what the user can do, chosen by cause (libtorch.mjs possibleSolutions). */
interface Failure {
  headline: string;
  errors: string[];
  libtorch: Libtorch;
  first: Parameters<typeof possibleSolutions>[0]['first'];
}

/** sharp's layout: headline, the real errors, then "Possible solutions" with the one that fits the cause first. */
export function formatLoadFailure({ headline, errors, libtorch, first }: Failure, root: string): string {
  return [
    headline,
    ...errors.map((error) => `- ${error}`),
    possibleSolutions({ found: [describe(libtorch)], first, packageRoot: root, cwd: process.cwd() }),
  ].join('\n');
}

/** A library the dynamic loader could not find, named in its errors, and the pip wheel that holds it. */
export function missingWheelLibrary(errors: string[]): { library: string; wheel: string } | undefined {
  for (const error of errors) {
    const library = error.match(/([\w.+-]+\.so[.\d]*): cannot open shared object file/)?.[1];
    const wheel = library ? wheelOfLibrary(library) : undefined;
    if (library && wheel) return { library, wheel };
  }
  return undefined;
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
      formatLoadFailure(
        {
          headline: `Could not find a kdtorch binary for ${os.platform()}-${os.arch()} (Node-API).`,
          errors: [String((error as Error).message).split('\n')[0] ?? ''],
          libtorch,
          first: 'rebuild',
        },
        root,
      ),
      { cause: error },
    );
  }

  const stamp = readBuildStamp(binary);
  if (stamp.torch !== libtorch.version || stamp.cxx11abi !== libtorch.cxx11abi) {
    throw new KdtorchError(
      'E_LIBTORCH_MISMATCH',
      formatLoadFailure(
        {
          headline: `The kdtorch binary was built for libtorch ${stamp.torch} (cxx11abi ${stamp.cxx11abi}) but found libtorch ${libtorch.version} (cxx11abi ${libtorch.cxx11abi}).`,
          errors: [
            `E_LIBTORCH_MISMATCH: ${binary} requires libtorch ${stamp.torch}; C++ libraries of other versions are not compatible`,
          ],
          libtorch,
          // A binary made for the pinned version wants that torch; one built against another (an old source
          // build) is what needs redoing.
          first: stamp.torch === REQUIRED_TORCH_VERSION ? 'install torch' : 'rebuild',
        },
        root,
      ),
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
      formatLoadFailure(
        {
          headline: `Could not load the kdtorch binary (built for libtorch ${stamp.torch}) with ${describe(libtorch)}.`,
          errors,
          libtorch,
          first: missingWheelLibrary(errors) ?? 'install torch',
        },
        root,
      ),
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
