#!/usr/bin/env bash
# Runs on the GPU machine (device tool), in one call: loads the prebuilt binary against that
# machine's torch, prints info() (cudaAvailable must be true) and multiplies matrices on the GPU.
# If the prebuilt does not load, says why and rebuilds from source there. Then checks CUDA-graph steps
# against eager ones and times both (graph-check.mjs; about a minute), and the whole training loop with
# each GPU setting against the plain loop (loop-check.mjs, on the demo data), and data-parallel steps
# and a phase on NCCL against lone ones (ddp-check.mjs, about a minute).
# After bash scripts/device/prepare.sh: run carry [".device/runtime", "dist", "prebuilds"], command: bash scripts/device/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/runtime.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$KDTORCH_PYTHON" -c 'import torch; print("python torch", torch.__version__, "cuda", torch.cuda.is_available())'

out=${OUT:-/tmp}
checks() {
  node scripts/device/graph-check.mjs 2>&1 | tee "$out/graph-check.log"
  local graphs=${PIPESTATUS[0]}
  node scripts/device/loop-check.mjs 2>&1 | tee "$out/loop-check.log"
  local loop=${PIPESTATUS[0]}
  node scripts/device/ddp-check.mjs 2>&1 | tee "$out/ddp-check.log"
  return $((graphs || loop || PIPESTATUS[0]))
}
if node dist/lib/cli.js info --json --check cuda | tee "$out/info.json"; then
  node -e 'const i = require(process.argv[1]); if (!i.cudaAvailable) { console.error("cudaAvailable is false"); process.exit(1); } console.log("GPU check passed:", i.devices[0].name, i.check, "CUDA graphs:", i.cudaGraphsUnavailable ?? "available")' "$out/info.json" || exit 1
  checks
  exit
fi

echo "The prebuilt did not load on the GPU machine (message above); building from source there." >&2
rm -rf prebuilds
npx --yes cmake-js --version > /dev/null 2>&1 || { echo "no cmake-js there: carry node_modules to rebuild" >&2; exit 1; }
npm run build:native && node dist/lib/cli.js info --json --check cuda | tee "$out/info-source-build.json" && checks
