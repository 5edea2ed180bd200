#!/usr/bin/env bash
# Run here, before device calls: stages what the GPU machine lacks into .device/ (gitignored). That
# machine has no Node, and one call carries at most 64 MiB with the repository (~6 MiB), so the
# chest X-rays (61.5 MiB) travel in two parts, one per call, while the machine stays warm between them.
#   bash scripts/device/prepare.sh [DATASET_DIR]     (default ../shared/datasets/chest_xray)
# Then, see the call plan in scripts/device/gpu-bench.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/datasets/chest_xray}
npm run --silent build:ts
npm run --silent prebuild > /dev/null
rm -rf .device && mkdir -p .device/runtime .device/data-1/chest_xray/train .device/data-2/chest_xray/train
xz -T0 -6 -c "$(command -v node)" > .device/runtime/node.xz
# What dist/ needs at run time: the loader (node-gyp-build), sharp with its libvips, zod, yaml.
tar -C node_modules -cf - node-gyp-build sharp @img detect-libc semver zod yaml | xz -T0 -6 > .device/runtime/node_modules.tar.xz
cp -r "$data/train/PNEUMONIA" .device/data-1/chest_xray/train/
cp -r "$data/train/NORMAL" .device/data-2/chest_xray/train/
cp -r "$data/test" "$data/val" .device/data-2/chest_xray/
repo=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
size() { du -cb "$@" | tail -1 | cut -f1; }
call1=$((repo + $(size .device/data-1)))
call2=$((repo + $(size .device/data-2 .device/runtime dist prebuilds)))
limit=$((64 * 1024 * 1024))
printf 'call 1 carries %d MiB, call 2 %d MiB (limit 64 MiB each)\n' $((call1 >> 20)) $((call2 >> 20))
((call1 < limit && call2 < limit)) || { echo 'too big for one call: split the data differently' >&2; exit 1; }
