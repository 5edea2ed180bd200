#!/usr/bin/env bash
# From a fresh checkout to a working kdtorch, idempotently: system tools, the project venv with
# torch (requirements.txt), npm packages, the native addon (CMake) and the TypeScript build.
# Each step is skipped when its result is already there, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Debian packages: compilers and build tools, ccache (compile cache), clang-format (lint), clang with
# libFuzzer and the sanitizers (scripts/fuzz/run.sh), libjpeg-turbo's static library, linked into
# the addon for JPEG decoding (lib/native/libtorch.mjs), gloo's headers, which c10d's ProcessGroupGloo.hpp
# includes (the torch wheel ships none; the gloo code is libtorch's own, native/core/process_group.cc), and
# Chromium, which the browser demo's test drives headless (test/web-demo.test.ts; playwright-core
# downloads no browser).
missing=()
for tool in g++:g++ cmake:cmake ninja:ninja-build ccache:ccache clang-format:clang-format clang++:clang chromium:chromium python3:python3-venv; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
[[ "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)" == /* ]] || missing+=(libclang-rt-dev)
[[ "$(cc -print-file-name=libjpeg.a 2>/dev/null)" == /* && -f /usr/include/jpeglib.h ]] || missing+=(libjpeg62-turbo-dev)
[[ -f /usr/include/gloo/algorithm.h ]] || missing+=(libgloo-dev)
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi

requirements_hash=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements-hash 2>/dev/null)" != "$requirements_hash" ]; then
  step "Python venv with torch (.venv; several GB on first run)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$requirements_hash" > .venv/.requirements-hash
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  step "npm ci"
  # --ignore-scripts: kdtorch's own install script would compile with node-gyp; setup builds with CMake below.
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$lock_hash" > node_modules/.lock-hash
fi

step "native addon (CMake; incremental)"
npm run --silent build:native > build-native.log 2>&1 || { cat build-native.log; exit 1; }
rm -f build-native.log

step "TypeScript"
npm run --silent build:ts

echo
echo "kdtorch is set up. Try: npx kdtorch info --check auto"
