#!/usr/bin/env bash
# Builds everything and runs every test.  Usage: tools/test.sh [--sanitize]
#   --sanitize   build in build-asan/ with ASan + UBSan and run the suite there.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh

builddir=build
opts=(-Dbuildtype=release)
if [ "${1:-}" = "--sanitize" ]; then
  builddir=build-asan
  opts=(-Dbuildtype=debug -Dsanitizers=true -Dbenchmarks=false)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "${opts[@]}"
else
  meson configure "$builddir" "${opts[@]}" >/dev/null
fi
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 3
