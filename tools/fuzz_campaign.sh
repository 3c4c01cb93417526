#!/usr/bin/env bash
# Fuzzing campaign (not in CI; docs/fuzzing.md). Builds build-fuzz/ with clang (ASan + UBSan,
# libFuzzer), runs every libFuzzer target (or the ones named) for RUNS executions, merges the
# inputs that add coverage into the committed corpora tests/fuzz/corpus/<name>/ (libFuzzer
# -merge=1: only inputs reaching new edges are added, as found_<sha1 prefix>), and prints
# executions, exec/s, crashes and corpus size per target. Crash inputs are kept in build-fuzz/campaign/.
# Run it niced on a shared machine: nice -n 19 tools/fuzz_campaign.sh -r 10000000
#
# Usage: tools/fuzz_campaign.sh [-r RUNS] [-t MAX_SECONDS] [-j PARALLEL_TARGETS] [-n] [name...]
#   -r RUNS         executions per target (default 10000000)
#   -t MAX_SECONDS  stop a target after this long even if RUNS is not reached (default: none)
#   -j N            targets run N at a time (default 1)
#   -n              do not merge into tests/fuzz/corpus (report only)
# Env FUZZ_BUILDDIR: the build directory (default build-fuzz).
set -euo pipefail
. "$(dirname "$0")/run_bounded.sh"
cd "$(dirname "$0")/.."

runs=10000000
max_time=0
parallel=1
merge=1
while getopts "r:t:j:n" opt; do
  case "$opt" in
    r) runs=$OPTARG ;;
    t) max_time=$OPTARG ;;
    j) parallel=$OPTARG ;;
    n) merge=0 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

builddir=${FUZZ_BUILDDIR:-build-fuzz}  # an existing clang -Dfuzzers=true build may be reused
opts=(-Dbuildtype=debugoptimized -Dsanitizers=address -Dfuzzers=true -Dbenchmarks=false)
cxx=clang++
if command -v ccache >/dev/null; then cxx="ccache clang++"; fi
if [ ! -f "$builddir/build.ninja" ]; then
  CXX=$cxx meson setup "$builddir" "${opts[@]}"
else
  meson configure "$builddir" "${opts[@]}" >/dev/null
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for src in tests/fuzz/*_fuzz.cc; do
    names+=("$(basename "$src" _fuzz.cc)")
  done
fi
targets=()
for name in "${names[@]}"; do targets+=("tests/fuzz/${name}_fuzzer"); done
ninja -C "$builddir" "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$builddir/campaign
mkdir -p "$out"

campaign_one() {
  local name=$1
  local bin=$builddir/tests/fuzz/${name}_fuzzer
  local dir=$out/$name
  rm -rf "$dir"
  mkdir -p "$dir/new" "$dir/artifacts"
  local args=(-runs="$runs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$dir/artifacts/")
  [ "$max_time" != 0 ] && args+=(-max_total_time="$max_time")
  [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
  local start rc=0
  start=$(date +%s)
  # New inputs go to $dir/new; the committed corpus is only read.
  "$bin" "${args[@]}" "$dir/new" "tests/fuzz/corpus/$name" >"$dir/log" 2>&1 || rc=$?
  local seconds=$(( $(date +%s) - start ))
  local execs rate crashes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  local before after added=0
  before=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
  if [ "$merge" = 1 ] && [ "$rc" -eq 0 ]; then
    # Merge into a copy, then bring in only the files the merge added, under readable names.
    mkdir -p "$dir/merged"
    cp -r "tests/fuzz/corpus/$name/." "$dir/merged/"
    # -use_counters=0: an input is kept for a new edge, not for a new hit count of a known
    # edge (that kept ~4x more files for the same coverage).
    "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$dir/merged" "$dir/new" \
      >"$dir/merge.log" 2>&1
    local f base
    for f in "$dir"/merged/*; do
      base=$(basename "$f")
      [ -e "tests/fuzz/corpus/$name/$base" ] && continue
      cp "$f" "tests/fuzz/corpus/$name/found_${base:0:10}"
      added=$((added + 1))
    done
  fi
  after=$(find "tests/fuzz/corpus/$name" -type f | wc -l)
  printf '%-14s %12s runs %9s exec/s %7ss  exit %-3s crashes %-3s corpus %4s -> %4s (+%s)\n' \
    "$name" "${execs:-?}" "${rate:-?}" "$seconds" "$rc" "$crashes" "$before" "$after" "$added" \
    | tee "$dir/summary"
  [ "$rc" -eq 0 ]
}

echo "campaign: ${#names[@]} targets, $runs runs each, $parallel at a time, commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
failed=0
run_bounded "$parallel" campaign_one "${names[@]}" || failed=1
if [ "$failed" -ne 0 ]; then
  echo "campaign: a target crashed or failed; inputs and logs under $out/<name>/" >&2
  exit 1
fi
echo "campaign: no crashes"
