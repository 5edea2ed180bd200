#!/usr/bin/env node
// The one place that knows where libtorch is and how to build and load against it.
// Used by CMakeLists.txt (`--cmake`), binding.gyp (`--gyp FIELD`), the runtime loader
// (lib/native/load-addon.ts imports findLibtorch) and `kdtorch info`. The search order follows
// tch-rs's torch-sys: an explicit install first, then the Pythons a user would mean, nearest first.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The libtorch version kdtorch's sources and prebuilt binaries are made for. */
export const REQUIRED_TORCH_VERSION = '2.11.0';
export const REQUIRED_TORCHVISION_VERSION = '0.26.0';

/** The kdtorch package root: the nearest folder above this file with kdtorch's package.json. */
export function findPackageRoot(from = path.dirname(fileURLToPath(import.meta.url))) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'kdtorch') {
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`kdtorch's package.json not found above ${from}`);
  }
}

/**
 * @typedef {object} Libtorch
 * @property {string} root         the folder holding include/ and lib/ (LibTorch zip or Python's torch package)
 * @property {string} source       which rule of findLibtorch found it ('LIBTORCH', 'KDTORCH_PYTHON', 'VIRTUAL_ENV', …)
 * @property {string} version      e.g. '2.11.0' (from the headers, so it is what a build compiles against)
 * @property {string|null} cuda    the CUDA version libtorch was built with ('13.0'), or null for a CPU-only build
 * @property {0|1} cxx11abi        the _GLIBCXX_USE_CXX11_ABI value libtorch was built with
 * @property {string[]} includeDirs
 * @property {string} libDir
 * @property {string[]} libraries  linked by name (-l); only CPU-side libraries, see docs/install.md
 * @property {{includeDirs: string[], libraries: string[]}|null} cudaRuntime
 *           the CUDA runtime's headers and the CUDA-side libraries kdtorch_cuda.so links, or null when
 *           this libtorch has no CUDA or no CUDA headers are found (then kdtorch is built without CUDA graphs)
 * @property {string[]} preload    absolute paths to load with RTLD_GLOBAL before the addon, in order
 */

/** @typedef {{ source: string, tried: string, error: string }} SearchAttempt */

export class LibtorchNotFoundError extends Error {
  /**
   * @param {SearchAttempt[]} attempts
   * @param {{ packageRoot: string, cwd: string }} where
   */
  constructor(attempts, where) {
    super(formatNotFound(attempts, where));
    this.name = 'LibtorchNotFoundError';
    this.code = 'E_LIBTORCH_NOT_FOUND';
    this.attempts = attempts;
  }
}

/**
 * Finds libtorch, trying in order: `LIBTORCH`; `KDTORCH_PYTHON`; the activated virtualenv
 * (`VIRTUAL_ENV`) or conda env (`CONDA_PREFIX`); the app's own `.venv` (beside the nearest package.json
 * above the working directory); kdtorch's own venv (a checkout's `npm run setup`); `python3` on the PATH.
 * An explicitly set LIBTORCH or KDTORCH_PYTHON that points nowhere is an error, not a reason to look
 * further: silently using another libtorch than the one asked for is worse than stopping.
 * @param {{ env?: NodeJS.ProcessEnv, packageRoot?: string, cwd?: string }} [options]
 * @returns {Libtorch}
 */
export function findLibtorch({ env = process.env, packageRoot = findPackageRoot(), cwd = process.cwd() } = {}) {
  /** @type {SearchAttempt[]} */
  const attempts = [];
  const python = (source, interpreter, explicit = false) => ({
    source,
    tried: interpreter,
    explicit,
    root: () => torchFromPython(interpreter),
  });
  const rules = [];
  if (env.LIBTORCH) rules.push({ source: 'LIBTORCH', tried: env.LIBTORCH, explicit: true, root: () => env.LIBTORCH });
  if (env.KDTORCH_PYTHON) rules.push(python('KDTORCH_PYTHON', env.KDTORCH_PYTHON, true));
  if (env.VIRTUAL_ENV) rules.push(python('VIRTUAL_ENV', path.join(env.VIRTUAL_ENV, 'bin', 'python')));
  if (env.CONDA_PREFIX) rules.push(python('CONDA_PREFIX', path.join(env.CONDA_PREFIX, 'bin', 'python')));
  const packageVenv = venvPython(packageRoot);
  const app = findAppRoot(cwd);
  // In a kdtorch checkout the app is kdtorch itself: one venv, named for the package.
  if (app && venvPython(app) !== packageVenv) rules.push(python('app venv', venvPython(app)));
  rules.push(python('project venv', packageVenv));
  rules.push({ ...python('python3', 'python3'), tried: 'python3 on PATH' });

  for (const rule of rules) {
    try {
      return describeLibtorch(rule.root(), rule.source);
    } catch (error) {
      attempts.push({ source: rule.source, tried: rule.tried, error: firstLine(error) });
      if (rule.explicit) break;
    }
  }
  throw new LibtorchNotFoundError(attempts, { packageRoot, cwd });
}

function venvPython(dir) {
  return path.join(dir, '.venv', 'bin', 'python');
}

/** The folder of the nearest package.json at or above `cwd` that is not inside node_modules: the user's app. */
export function findAppRoot(cwd) {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (!dir.split(path.sep).includes('node_modules') && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Whether kdtorch runs from an app's node_modules (npm install kdtorch) rather than from a checkout of its own. */
function installedInApp(packageRoot) {
  return packageRoot.split(path.sep).includes('node_modules');
}

/**
 * The pip wheel of each CUDA library `import torch` loads (WHEEL_CUDA_LIBRARIES), for torch 2.11.0's CUDA 13
 * build: what to reinstall when the dynamic loader cannot find one.
 */
export function wheelOfLibrary(fileName) {
  return WHEEL_CUDA_LIBRARIES.find(([, prefix]) => fileName.startsWith(prefix))?.[2];
}

/**
 * "Possible solutions", in sharp's style: `Found …` lines, then every way out, the one that fits the cause first.
 * One builder for every libtorch failure (not found, version or ABI mismatch, a library that will not load).
 * @param {{ found?: string[], first?: 'install torch' | 'rebuild' | { wheel: string, library: string },
 *           packageRoot: string, cwd: string }} options
 */
export function possibleSolutions({ found = [], first = 'install torch', packageRoot, cwd }) {
  const app = findAppRoot(cwd) ?? cwd;
  const install = installedInApp(packageRoot)
    ? [
        `- Requires libtorch ${REQUIRED_TORCH_VERSION}. Install PyTorch into your app's virtualenv (kdtorch finds ${path.join(app, '.venv')}):`,
        `    cd ${app} && python3 -m venv .venv && .venv/bin/pip install torch==${REQUIRED_TORCH_VERSION}`,
        '  or into the virtualenv or conda env you activate (VIRTUAL_ENV, CONDA_PREFIX are searched):',
        `    pip install torch==${REQUIRED_TORCH_VERSION}`,
      ]
    : [
        `- Requires libtorch ${REQUIRED_TORCH_VERSION}. In this kdtorch checkout, set up its venv:`,
        `    npm run setup    (pip install torch==${REQUIRED_TORCH_VERSION} into ${path.join(packageRoot, '.venv')})`,
      ];
  const elsewhere = [
    `- Use another Python that has torch==${REQUIRED_TORCH_VERSION}:`,
    '    export KDTORCH_PYTHON=/path/to/python',
    `  or an unzipped LibTorch ${REQUIRED_TORCH_VERSION} distribution:`,
    '    export LIBTORCH=/path/to/libtorch',
  ];
  const rebuild = [
    '- Build kdtorch against the libtorch you have (needs a C++ compiler, docs/install.md):',
    '    npm rebuild kdtorch --build-from-source',
  ];
  const wheel =
    typeof first === 'object'
      ? [
          `- Requires ${first.library}, from the pip wheel ${first.wheel} that torch==${REQUIRED_TORCH_VERSION} installs beside itself; reinstall it into the Python whose torch is used:`,
          `    python -m pip install --force-reinstall ${first.wheel}`,
          '  (a LibTorch zip carries it in its own lib/: use a complete one)',
        ]
      : [];
  const ordered =
    first === 'rebuild' ? [...rebuild, ...install, ...elsewhere] : [...wheel, ...install, ...elsewhere, ...rebuild];
  return ['Possible solutions:', ...found.map((line) => `- Found ${line}`), ...ordered].join('\n');
}

/** Asks a Python interpreter where its torch package is, without importing torch (which takes seconds). */
function torchFromPython(python) {
  const script =
    'import importlib.util as u; s = u.find_spec("torch"); print(s.submodule_search_locations[0] if s else "")';
  let out;
  try {
    out = execFileSync(python, ['-c', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (error) {
    throw new Error(
      error.code === 'ENOENT'
        ? `${python}: no such interpreter`
        : `${python} failed: ${firstLine(error.stderr || error)}`,
    );
  }
  const root = out.trim();
  if (!root) throw new Error(`${python} has no torch package (pip install torch==${REQUIRED_TORCH_VERSION})`);
  return root;
}

/**
 * Reads what a build needs from a libtorch folder. Everything comes from files, so the
 * answer describes exactly what will be compiled against and loaded.
 * @returns {Libtorch}
 */
export function describeLibtorch(root, source) {
  const libDir = path.join(root, 'lib');
  const apiInclude = path.join(root, 'include', 'torch', 'csrc', 'api', 'include');
  for (const required of [
    path.join(apiInclude, 'torch', 'torch.h'),
    path.join(libDir, 'libtorch_cpu.so'),
    path.join(libDir, 'libc10.so'),
  ]) {
    if (!fs.existsSync(required)) throw new Error(`${root} is not a libtorch install: ${required} is missing`);
  }
  const version = readHeaderVersion(root);
  const cuda = readCudaVersion(root, libDir);
  const inLibDir = (name) => [path.join(libDir, name)].filter((file) => fs.existsSync(file));
  const preload = [
    ...inLibDir('libtorch_global_deps.so'),
    ...wheelCudaLibraries(root, cuda),
    ...inLibDir('libtorch.so'),
  ];
  return {
    root,
    source,
    version,
    cuda,
    cxx11abi: usesCxx11Abi(path.join(libDir, 'libc10.so')) ? 1 : 0,
    includeDirs: [path.join(root, 'include'), apiInclude],
    libDir,
    libraries: ['c10', 'torch_cpu', ...openMpRuntime(libDir)],
    cudaRuntime: findCudaRuntime(root, libDir),
    preload,
  };
}

/**
 * The OpenMP runtime libtorch_cpu runs its parallel ops on, linked by file name (-l:libgomp.so.1): the
 * addon sets the JS thread's own OpenMP thread count (native/binding/async.h), and that must be the
 * runtime torch uses, not a second copy from the compiler. Absent in a libtorch built without OpenMP.
 */
function openMpRuntime(libDir) {
  return fs
    .readdirSync(libDir)
    .filter((name) => /^libgomp[-\w]*\.so\.1$/.test(name))
    .map((name) => `:${name}`);
}

/**
 * The CUDA libraries `import torch` loads from the nvidia-* wheels after libtorch_global_deps.so, in its
 * order (torch/__init__.py, _preload_cuda_deps): folder under site-packages/nvidia, and file name up to
 * the version. Some are opened by name by libraries that do not know the wheels' layout: cuDNN opens
 * libnvrtc for its runtime-compiled kernels, and libnvrtc opens libnvrtc-builtins (pytorch/pytorch#145580);
 * libtorch opens libcusolver for linear algebra. Loading what `import torch` loads makes libtorch find
 * what it finds in Python (test/libtorch.test.ts compares the two processes' mapped libraries). The third
 * column is the pip wheel (torch 2.11.0's CUDA 13 dependencies) that holds the library.
 */
const WHEEL_CUDA_LIBRARIES = [
  ['cublas', 'libcublasLt.so.', 'nvidia-cublas'],
  ['cublas', 'libcublas.so.', 'nvidia-cublas'],
  ['cudnn', 'libcudnn.so.', 'nvidia-cudnn-cu13'],
  ['cuda_nvrtc', 'libnvrtc.so.', 'nvidia-cuda-nvrtc'],
  ['cuda_nvrtc', 'libnvrtc-builtins.so.', 'nvidia-cuda-nvrtc'],
  ['cuda_runtime', 'libcudart.so.', 'nvidia-cuda-runtime'],
  ['cuda_cupti', 'libcupti.so.', 'nvidia-cuda-cupti'],
  ['cufft', 'libcufft.so.', 'nvidia-cufft'],
  ['curand', 'libcurand.so.', 'nvidia-curand'],
  ['nvjitlink', 'libnvJitLink.so.', 'nvidia-nvjitlink'],
  ['cusparse', 'libcusparse.so.', 'nvidia-cusparse'],
  ['cusparselt', 'libcusparseLt.so.', 'nvidia-cusparselt-cu13'],
  ['cusolver', 'libcusolver.so.', 'nvidia-cusolver'],
  ['nccl', 'libnccl.so.', 'nvidia-nccl-cu13'],
  ['nvshmem', 'libnvshmem_host.so.', 'nvidia-nvshmem-cu13'],
  ['cufile', 'libcufile.so.', 'nvidia-cufile'],
  ['nvtx', 'libnvToolsExt.so.', 'nvidia-nvtx'],
];

/**
 * WHEEL_CUDA_LIBRARIES as found beside Python's torch, looked up where torch looks: the CUDA major's
 * folder (nvidia/cu13/lib), then the library's own (nvidia/cudnn/lib). None for a LibTorch zip or a
 * CPU-only build, whose lib/ holds what they need.
 */
function wheelCudaLibraries(root, cuda) {
  const nvidia = nvidiaWheels(root);
  if (!cuda || !fs.existsSync(nvidia)) return [];
  const major = cuda.split('.')[0];
  return WHEEL_CUDA_LIBRARIES.flatMap(([folder, prefix]) => {
    const found = [path.join(nvidia, `cu${major}`, 'lib'), path.join(nvidia, folder, 'lib')]
      .flatMap(entries)
      .find((file) => path.basename(file).startsWith(prefix) && /\d$/.test(file));
    return found ? [found] : [];
  });
}

/** Where pip puts the nvidia-* wheels' files: site-packages/nvidia, beside Python's torch. */
function nvidiaWheels(root) {
  return path.join(path.dirname(root), 'nvidia');
}

/**
 * The CUDA runtime for kdtorch_cuda.so (native/cuda/: CUDA graphs, the NCCL backend): its headers from
 * the nvidia-* wheels installed beside Python's torch (site-packages/nvidia/cu13 for CUDA 13,
 * nvidia/cuda_runtime for CUDA 12), else from a CUDA toolkit (CUDA_HOME, /usr/local/cuda), and nccl.h
 * from the nvidia-nccl wheel torch depends on, else from that toolkit.
 */
function findCudaRuntime(root, libDir) {
  if (!fs.existsSync(path.join(libDir, 'libtorch_cuda.so'))) return null;
  const candidates = [...entries(nvidiaWheels(root)), ...[process.env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean)];
  const has = (dir, header) => fs.existsSync(path.join(dir, 'include', header));
  // c10's CUDA headers include cuda_runtime.h, which includes crt/ (the nvidia-cuda-crt wheel);
  // ProcessGroupNCCL.hpp's include cuda_fp16.h, which includes CCCL's nv/target (nvidia-cuda-cccl).
  const home = candidates.find((dir) =>
    ['cuda_runtime_api.h', 'crt/host_config.h', 'nv/target'].every((header) => has(dir, header)),
  );
  const nccl = [path.join(nvidiaWheels(root), 'nccl'), home].find((dir) => dir && has(dir, 'nccl.h'));
  if (!home || !nccl) return null;
  const cudart = ['lib', 'lib64']
    .flatMap((lib) => entries(path.join(home, lib)))
    .find((file) => /\/libcudart\.so(\.\d+)?$/.test(file));
  return {
    includeDirs: [...new Set([path.join(home, 'include'), path.join(nccl, 'include')])],
    // libcudart by path: the wheels ship only libcudart.so.13, which -lcudart would not find.
    libraries: ['-lc10_cuda', '-ltorch_cuda', ...(cudart ? [cudart] : [])],
  };
}

/** The paths in `dir`, sorted; none when it does not exist. */
function entries(dir) {
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .sort()
        .map((name) => path.join(dir, name))
    : [];
}

function readHeaderVersion(root) {
  const candidates = ['include/torch/headeronly/version.h', 'include/torch/csrc/api/include/torch/version.h'];
  for (const relative of candidates) {
    const file = path.join(root, relative);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const part = (name) => text.match(new RegExp(`#define TORCH_VERSION_${name}\\s+(\\d+)`))?.[1];
    if (part('MAJOR')) return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  }
  throw new Error(`${root}: no TORCH_VERSION_MAJOR in ${candidates.join(' or ')}`);
}

/** Python's torch states its CUDA version in version.py; a LibTorch zip in build-version ("2.11.0+cu130"). */
function readCudaVersion(root, libDir) {
  const versionPy = path.join(root, 'version.py');
  if (fs.existsSync(versionPy)) {
    const match = fs.readFileSync(versionPy, 'utf8').match(/^cuda(?::[^=]*)?\s*=\s*'([^']+)'/m);
    return match ? match[1] : null;
  }
  const buildVersion = path.join(root, 'build-version');
  if (fs.existsSync(buildVersion)) {
    const match = fs.readFileSync(buildVersion, 'utf8').match(/\+cu(\d+)(\d)\b/);
    if (match) return `${match[1]}.${match[2]}`;
  }
  return fs.existsSync(path.join(libDir, 'libtorch_cuda.so')) ? 'unknown' : null;
}

/** The new-ABI std::string lives in namespace std::__cxx11, so its mangled name shows in every symbol using it. */
function usesCxx11Abi(library) {
  return fs.readFileSync(library).includes('St7__cxx11');
}

/** Compiler and linker settings shared by CMakeLists.txt and binding.gyp, so both builds are the same build. */
export function buildFlags(libtorch, packageRoot = findPackageRoot()) {
  const require = createRequire(import.meta.url);
  const linkTorch = libtorch.libraries.map((name) => `-l${name}`);
  return {
    sources: listSources(packageRoot),
    includeDirs: [...libtorch.includeDirs, path.dirname(require.resolve('node-addon-api/package.json'))],
    defines: [
      `_GLIBCXX_USE_CXX11_ABI=${libtorch.cxx11abi}`,
      'NAPI_VERSION=8',
      'NAPI_CPP_EXCEPTIONS',
      'NODE_ADDON_API_DISABLE_DEPRECATED',
    ],
    cflags: ['-std=c++17', '-fexceptions', '-frtti', '-fvisibility=hidden'],
    // No rpath: lib/native/load-addon.ts loads libtorch by absolute path first, so the addon binds to the
    // libtorch that was found and checked, never to whichever one it was built against.
    // libjpeg-turbo is linked statically with its symbols kept private, so a prebuilt binary needs
    // no system libjpeg and cannot clash with the one inside sharp's libvips.
    ldflags: [`-L${libtorch.libDir}`, '-Wl,--exclude-libs,libjpeg.a'],
    libraries: [...linkTorch, findStaticLibjpeg()],
    // kdtorch_cuda.so: empty lists when there is no CUDA runtime to build it with.
    cudaSources: libtorch.cudaRuntime ? listSources(packageRoot, 'cuda') : [],
    cudaIncludeDirs: libtorch.cudaRuntime ? [...libtorch.includeDirs, ...libtorch.cudaRuntime.includeDirs] : [],
    cudaLibraries: libtorch.cudaRuntime ? [...linkTorch, ...libtorch.cudaRuntime.libraries] : [],
  };
}

/** libjpeg-turbo's static library, where the C compiler would find it (Debian: libjpeg62-turbo-dev). */
function findStaticLibjpeg() {
  let found = '';
  try {
    found = execFileSync(process.env.CC || 'cc', ['-print-file-name=libjpeg.a'], { encoding: 'utf8' }).trim();
  } catch {}
  // The compiler echoes the bare name back when it has no such file.
  if (!path.isAbsolute(found) || !fs.existsSync(found)) {
    throw new Error(
      "Cannot find libjpeg-turbo's static library (libjpeg.a), which the addon links for JPEG decoding.\n" +
        'Install it: sudo apt-get install libjpeg62-turbo-dev   (Fedora: libjpeg-turbo-static; or run npm run setup)',
    );
  }
  return path.resolve(found);
}

/**
 * Every .cc under native/ but native/cuda/ (the addon), or under native/cuda/ (kdtorch_cuda.so);
 * sorted and relative to the package root (gyp requires relative paths).
 */
function listSources(packageRoot, part = 'addon') {
  return fs
    .readdirSync(path.join(packageRoot, 'native'), { recursive: true })
    .filter((file) => file.endsWith('.cc') && file.startsWith(`cuda${path.sep}`) === (part === 'cuda'))
    .sort()
    .map((file) => path.join('native', file));
}

/** Everything searched, and every way out. */
export function formatNotFound(attempts, where) {
  return [
    'Cannot find a libtorch install. Searched, in order:',
    ...attempts.map((a) => `  - ${a.source} (${a.tried}): ${a.error}`),
    possibleSolutions({ ...where, first: 'install torch' }),
  ].join('\n');
}

function firstLine(error) {
  return String(error?.message ?? error)
    .trim()
    .split('\n')[0];
}

function main(args) {
  let libtorch;
  try {
    libtorch = findLibtorch();
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  const flags = buildFlags(libtorch);
  const [mode, field] = args;
  if (mode === '--json') {
    process.stdout.write(`${JSON.stringify({ ...libtorch, flags }, null, 2)}\n`);
  } else if (mode === '--gyp') {
    const value = flags[field];
    if (!value) throw new Error(`--gyp takes one of ${Object.keys(flags).join(', ')}`);
    process.stdout.write(value.join(' '));
  } else if (mode === '--cmake') {
    // Evaluated by CMakeLists.txt with cmake_language(EVAL): one set() per field.
    const cmakeList = (values) => `"${values.join(';')}"`;
    const out = [
      `set(KDTORCH_TORCH_ROOT "${libtorch.root}")`,
      `set(KDTORCH_TORCH_VERSION "${libtorch.version}")`,
      ...Object.entries(flags).map(([key, values]) => `set(KDTORCH_${key.toUpperCase()} ${cmakeList(values)})`),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } else {
    process.stderr.write(
      'usage: libtorch.mjs --json | --cmake | --gyp sources|includeDirs|defines|cflags|ldflags|libraries\n',
    );
    process.exit(2);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
