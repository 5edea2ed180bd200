#!/usr/bin/env bash
# Formats native/ with clang-format; `--check` only reports (used by npm run lint).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find native -name '*.cc' -o -name '*.h')
if [ "${1:-}" = --check ]; then
  clang-format --dry-run -Werror $files
else
  clang-format -i $files
fi
