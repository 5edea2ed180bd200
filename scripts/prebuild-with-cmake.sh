#!/usr/bin/env bash
# Stands in for node-gyp under prebuildify (`--node-gyp`), so the prebuilt binary is the CMake
# build (precompiled header, ccache) rather than a second, slower compile. prebuildify calls it
# as `<this> rebuild --target=… --release` in build-prebuild/ and takes build/Release/*.node from there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && npx cmake-js build --out build-cmake)
mkdir -p build/Release
cp "$root/build/Release/kdtorch.node" build/Release/kdtorch.node
# kdtorch_cuda.so (CUDA graphs), when there was a CUDA runtime to build it: prebuildify copies shared
# libraries from build/Release beside the prebuilt binary, where the addon looks for it.
if [ -f "$root/build/Release/kdtorch_cuda.so" ]; then cp "$root/build/Release/kdtorch_cuda.so" build/Release/; fi
