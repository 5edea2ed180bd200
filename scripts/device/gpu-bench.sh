#!/usr/bin/env bash
# The article's full experiment on the GPU machine, kdtorch and PyTorch side by side (issue 6), in
# device calls that each fit 64 MiB and 10 minutes. After `bash scripts/device/prepare.sh` here:
#   1. run  carry [".device/data-1"]                                            command: bash scripts/device/gpu-bench.sh stage
#   2. run  carry [".device/data-2", ".device/runtime", "dist", "prebuilds"]    command: bash scripts/device/gpu-bench.sh kdtorch
#   3. run  (nothing to carry: the machine still holds it)                     command: bash scripts/device/gpu-bench.sh pytorch
#   (each within the machine's 30 s warm window of the last, or data-1 is gone; the sides may go in either
#   order, and the first process on a fresh machine reads cuDNN's kernel libraries from disk, so the first
#   epochs of the side that runs first can be slower for that alone: see scripts/device/epoch-one.mjs), then here:
#   npm run bench -- compare --combine <files_at>/kdtorch.json,<files_at>/pytorch.json
# Measured on an H200 (2026-11-30, docs/results.md): the article's code takes 13 s per epoch there, so its
# 30 epochs × 3 phases (about 20 minutes) outrun a session's 15 minutes of device time; EPOCHS=3 fits
# (kdtorch side under a minute, PyTorch side about 3 minutes).
# Step speed (issue 7: images/s per step at batch 32 and 256, kdtorch vs PyTorch as written and vs PyTorch
# tuned: channels-last, bf16 autocast, cudnn.benchmark, fused optimizers; then kdtorch tuned with its steps
# replayed from CUDA graphs) needs no data; REPEATS=10 takes about 5 minutes:
#   run  carry [".device/runtime", "dist", "prebuilds"]                        command: REPEATS=10 bash scripts/device/gpu-bench.sh steps
# or, after gpu-check.sh (graph-check and loop-check, about 4 minutes), in the same call and machine start:
#   command: bash scripts/device/gpu-check.sh; REPEATS=10 bash scripts/device/gpu-bench.sh steps
# SIZE, EPOCHS, PRESET, DEVICE override 224, 30, seed, cuda (DEVICE=cpu and small values rehearse it on a CPU);
# further arguments go to compare, e.g. --tuned (both sides as their users would tune them for a GPU; give it
# to both sides' calls), --batch 256 (both sides) or --set data.deviceCache=true for the kdtorch side. OUT=DIR
# keeps several runs' JSON apart in one call.
set -euo pipefail
cd "$(dirname "$0")/../.."
side=${1:?usage: gpu-bench.sh stage|kdtorch|pytorch|steps}
out=${OUT:-/tmp/kdtorch-out}
mkdir -p "$out"
if [ "$side" = stage ]; then
  du -sh .device/data-1
  exit 0
fi
if [ "$side" = steps ]; then
  source scripts/device/runtime.sh
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  for batch in 32 256; do
    for variant in "" --tuned "--tuned --graphs"; do
      node scripts/bench/bench.mjs steps --device "${DEVICE:-cuda}" --size "${SIZE:-224}" --batch "$batch" \
        --warmup 5 --repeats "${REPEATS:-20}" --rounds 3 $variant 2>&1 | tee -a "$out/steps.log"
    done
  done
  exit 0
fi
for part in .device/data-1 .device/data-2; do
  [ -d "$part/chest_xray" ] || { echo "$part is missing: run the calls in order, each while the machine is warm" >&2; exit 1; }
done
# The two parts as one ImageFolder dataset.
data=/tmp/chest_xray
mkdir -p "$data/train"
ln -sfn "$PWD/.device/data-1/chest_xray/train/PNEUMONIA" "$data/train/PNEUMONIA"
ln -sfn "$PWD/.device/data-2/chest_xray/train/NORMAL" "$data/train/NORMAL"
ln -sfn "$PWD/.device/data-2/chest_xray/test" "$data/test"
ln -sfn "$PWD/.device/data-2/chest_xray/val" "$data/val"
source scripts/device/runtime.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
node scripts/bench/bench.mjs compare --preset "${PRESET:-seed}" --size "${SIZE:-224}" --epochs "${EPOCHS:-30}" \
  --device "${DEVICE:-cuda}" --side "$side" --data "$data" --out "$out/$side.json" "${@:2}" 2>&1 | tee "$out/$side.log"
