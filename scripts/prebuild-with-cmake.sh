#!/usr/bin/env bash
# Stands in for node-gyp under prebuildify (`--node-gyp`), so the prebuilt binary is the CMake
# build (precompiled header, ccache) rather than a second, slower compile. prebuildify calls it
# as `<this> rebuild --target=… --release` in build-prebuild/ and takes build/Release/*.node from there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && npx cmake-js build --out build-cmake)
mkdir -p build/Release
cp "$root/build/Release/kdtorch.node" build/Release/kdtorch.node
