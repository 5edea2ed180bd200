#!/usr/bin/env bash
# Run here, before a device call: stages what the GPU machine lacks into .device/ (gitignored),
# which the call carries. That machine has no Node and its own torch under /opt/torch/.venv.
#   bash scripts/device/prepare.sh
#   device run: carry [".device", "dist", "prebuilds"], command: bash scripts/device/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build:ts
npm run --silent prebuild > /dev/null
rm -rf .device && mkdir -p .device/node_modules
xz -T0 -6 -c "$(command -v node)" > .device/node.xz
# The only runtime dependency the loader needs there.
cp -r node_modules/node-gyp-build .device/node_modules/
du -sh .device dist prebuilds
