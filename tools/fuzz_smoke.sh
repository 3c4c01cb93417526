#!/usr/bin/env bash
# Short libFuzzer runs (CI, tools/test.sh --clang): every <name>_fuzzer of a -Dfuzzers=true
# clang build runs SECONDS on a scratch copy of tests/fuzz/corpus/<name> (the tree is never
# written), FUZZ_JOBS (default 2) at a time, with tests/fuzz/<name>.dict when there is one.
# Fails if any target finds a crash, leak or timeout, and prints its log and the input
# (base64) so the failure can be replayed from the CI log.
# The mutation seed is fixed (FUZZ_SEED, default 1): the inputs a run tries are then the same
# sequence on every machine, and a slower machine tries a prefix of it, so a longer run here
# with the same seed covers what CI will try. Random seeds and long runs are the campaign's job
# (tools/fuzz_campaign.sh); what it finds goes into the committed corpus.
# Usage: tools/fuzz_smoke.sh BUILDDIR [SECONDS]
set -euo pipefail
. "$(dirname "$0")/run_bounded.sh"
cd "$(dirname "$0")/.."

builddir=${1:?usage: tools/fuzz_smoke.sh BUILDDIR [SECONDS]}
seconds=${2:-30}
jobs=${FUZZ_JOBS:-2}
shopt -s nullglob
fuzzers=("$builddir"/tests/fuzz/*_fuzzer)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "fuzz_smoke: no libFuzzer targets in $builddir (configure with CXX=clang++ -Dfuzzers=true)" >&2
  exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run_one() {
  local bin=$1
  local name
  name=$(basename "$bin" _fuzzer)
  local dir=$scratch/$name
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "tests/fuzz/corpus/$name/." "$dir/corpus/"
  local args=(-seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1
              -artifact_prefix="$dir/artifacts/")
  [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
  local rc=0
  "$bin" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
  local execs rate
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"
    tail -n 60 "$dir/log"
    for f in "$dir"/artifacts/*; do
      echo "--- reproducer $(basename "$f") (base64; decode and pass the file to $bin):"
      base64 "$f"
    done
    return 1
  fi
  printf 'ok   %-14s %10s runs %8s exec/s in %ss\n' "$name" "${execs:-?}" "${rate:-?}" "$seconds"
}

failed=0
run_bounded "$jobs" run_one "${fuzzers[@]}" || failed=1
if [ "$failed" -ne 0 ]; then
  echo "fuzz_smoke: a libFuzzer target failed (see above)" >&2
  exit 1
fi
echo "fuzz_smoke: ${#fuzzers[@]} targets, ${seconds}s each, no crashes"
