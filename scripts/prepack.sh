#!/usr/bin/env bash
# npm pack / npm publish: the tarball carries the TypeScript build and the prebuilt binary. The binary is
# made here (npm run prebuild) when prebuilds/ has none yet, so a tarball from a fresh clone is complete.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build:ts
if [ ! -f prebuilds/linux-x64/kdtorch.glibc.node ]; then
  echo "prepack: no prebuilt binary yet; building it (npm run prebuild)" >&2
  npm run --silent prebuild >&2
fi
