#!/usr/bin/env bash
# Builds the native parsers with clang's libFuzzer, AddressSanitizer and UBSan (build-fuzz/), replays the
# hostile corpus (test/hostile/make_corpus.py) through each, then fuzzes each target for SECONDS
# (default 60), printing executions per target. Any sanitizer report or crash fails the script.
# FUZZ_SEED fixes libFuzzer's random seed, so a run (CI's) explores the same inputs every time and a
# find reproduces; without it each run explores new ones. Crash inputs are left in build-fuzz/.
# usage: [FUZZ_SEED=N] scripts/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out"
flags=$(node lib/native/libtorch.mjs --json)
field() { node -e "const f = JSON.parse(process.argv[1]).flags; console.log([].concat(f['$1']).join(' '))" "$flags"; }
includes=$(field includeDirs | sed 's/\([^ ]*\)/-I\1/g')
defines=$(field defines | sed 's/\([^ ]*\)/-D\1/g')
libdir=$(node -e "console.log(JSON.parse(process.argv[1]).libDir)" "$flags")
sanitize="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
compile() { ccache clang++ -std=c++17 -O1 -g $sanitize $includes $defines -c "$1" -o "$2"; }

declare -A sources=(
  [pth]="native/core/pth_reader.cc native/core/zip_directory.cc native/core/file_bytes.cc"
  [safetensors]="native/core/safetensors.cc native/core/file_bytes.cc"
  [jpeg]="native/core/jpeg_image.cc native/core/resize.cc"
)
for target in pth safetensors jpeg; do
  objects=()
  for source in ${sources[$target]} test/fuzz/fuzz_$target.cc; do
    object="$out/$(basename "${source%.cc}").o"
    [[ "$object" -nt "$source" ]] || compile "$source" "$object"
    objects+=("$object")
  done
  ccache clang++ $sanitize "${objects[@]}" -o "$out/fuzz_$target" -L"$libdir" -Wl,-rpath,"$libdir" \
    -lc10 -ltorch_cpu /usr/lib/x86_64-linux-gnu/libjpeg.a
done

# Seeds: the hostile corpus, split by reader.
seeds="$out/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"/{pth,safetensors,jpeg}
.venv/bin/python test/reference/kd_reference.py make-weights \
  "{\"arch\":\"studentNet\",\"inputSize\":32,\"safetensors\":\"$seeds/student.safetensors\",\"seed\":0}" >/dev/null
.venv/bin/python test/hostile/make_corpus.py "$seeds/all" "$seeds/student.safetensors" >/dev/null
find "$seeds/all" -maxdepth 1 -type f -name '*.pth' -size -2M -exec cp {} "$seeds/pth/" \;
find "$seeds/all" -maxdepth 1 -type f -name '*.safetensors' -exec cp {} "$seeds/safetensors/" \;
find "$seeds/all" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) -exec sh -c 'for f; do printf "\003" | cat - "$f" > "$0/$(basename "$f")"; done' "$seeds/jpeg" {} +

export ASAN_OPTIONS=detect_leaks=0:detect_container_overflow=0:allocator_may_return_null=1
for target in pth safetensors jpeg; do
  mkdir -p "$out/corpus-$target"
  log="$out/fuzz_$target.log"
  "$out/fuzz_$target" ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus-$target" "$seeds/$target" >"$log" 2>&1 || {
    tail -60 "$log"
    echo "fuzz_$target: FAILED (log: $log)"
    exit 1
  }
  echo "fuzz_$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds}s, no sanitizer report"
done
