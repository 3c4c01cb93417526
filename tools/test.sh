#!/usr/bin/env bash
# Builds everything and runs every test.
# Usage: tools/test.sh [--sanitize | --clang | --tsan] [test names for meson test...]
#   (no mode)    build/ (gcc, release).
#   --sanitize   build-asan/ with ASan + UBSan.
#   --clang      build-clang/ with clang++, ASan + UBSan and the libFuzzer targets
#                (-Dfuzzers=true); after the suite every libFuzzer target runs FUZZ_SECONDS
#                (default 30; 0 = none) on a scratch copy of its committed corpus.
#   --tsan       build-tsan/ with ThreadSanitizer (suppressions: tests/tsan.supp).
# Test names (e.g. core crypto e2e) limit the run to those tests; default: all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh

mode=${1:-}
case "$mode" in
  --sanitize | --clang | --tsan) shift ;;
  *) mode= ;;
esac

builddir=build
opts=(-Dbuildtype=release)
case "$mode" in
  --sanitize)
    builddir=build-asan
    opts=(-Dbuildtype=debug -Dsanitizers=address -Dbenchmarks=false)
    ;;
  --clang)
    builddir=build-clang
    CXX=clang++
    if command -v ccache >/dev/null; then CXX="ccache clang++"; fi
    export CXX
    opts=(-Dbuildtype=debugoptimized -Dsanitizers=address -Dfuzzers=true)
    ;;
  --tsan)
    builddir=build-tsan
    opts=(-Dbuildtype=debugoptimized -Dsanitizers=thread -Dbenchmarks=false)
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
    ;;
esac
if [ "$mode" = --sanitize ] || [ "$mode" = --clang ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "${opts[@]}"
else
  meson configure "$builddir" "${opts[@]}" >/dev/null
fi
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@"

if [ "$mode" = --clang ] && [ "${FUZZ_SECONDS:-30}" != 0 ]; then
  tools/fuzz_smoke.sh "$builddir" "${FUZZ_SECONDS:-30}"
fi
