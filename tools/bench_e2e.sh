#!/usr/bin/env bash
# Dataplane end-to-end benchmarks: mtp-fake-me + mtproto-proxy pinned to CPU 0, mtp-loadgen (and
# the fake ME) on CPU 1, all on 127.0.0.1. Prints one loadgen JSON line per scenario and run,
# prefixed with the scenario name. No assertions: numbers go to docs/performance.md.
#
#   tools/bench_e2e.sh [BUILD_DIR]        (env: RUNS=3 DURATION=5 BACKEND=auto SHARDS="1 2"
#                                          SCENARIOS="big small churn idle" PERF_RECORD=prefix)
set -euo pipefail

BUILD=${1:-${MTP_BUILD_ROOT:-build}}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
BACKEND=${BACKEND:-auto}
SHARDS=${SHARDS:-1 2}
SCENARIOS=${SCENARIOS:-big small churn idle}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
SECRET=0123456789abcdef0123456789abcdef

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

head -c 128 /dev/urandom > "$tmp/proxy-secret"
ulimit -n 65536 2>/dev/null || true

wait_for() {  # wait_for FILE PATTERN
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

start_me() {
  taskset -c "$LOAD_CPU" "$BUILD/tools/mtp-fake-me" --listen 127.0.0.1:0 \
      --aes-pwd "$tmp/proxy-secret" --no-log-requests > "$tmp/me.out" 2>&1 &
  me_pid=$!
  pids+=("$me_pid")
  wait_for "$tmp/me.out" listening
  me_port=$(grep -o 'listening 127.0.0.1:[0-9]*' "$tmp/me.out" | cut -d: -f2)
  printf 'min_connections 4;\nmax_connections 8;\ndefault 2;\nproxy_for 2 127.0.0.1:%s;\n' \
      "$me_port" > "$tmp/proxy-multi.conf"
}

start_proxy() {  # start_proxy SHARDS CPUS
  taskset -c "$2" "$BUILD/control/mtproto-proxy" -H 0 -M "$1" -S "$SECRET" -c 65536 \
      --io-backend "$BACKEND" --aes-pwd "$tmp/proxy-secret" "$tmp/proxy-multi.conf" \
      > "$tmp/proxy.out" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_for "$tmp/proxy.out" "listening on port"
  proxy_port=$(grep -o 'listening on port [0-9]*' "$tmp/proxy.out" | awk '{print $4}')
  sleep 1  # ME links up
}

stop_proxy() { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }

want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

loadgen() {  # loadgen NAME ARGS...
  local name=$1
  shift
  local out perf_pid=
  if [ -n "${PERF_RECORD:-}" ]; then  # PERF_RECORD=PREFIX: perf record the proxy per scenario
    perf record -q -g -p "$proxy_pid" -o "$PERF_RECORD.${name// /_}" 2>/dev/null &
    perf_pid=$!
  fi
  out=$(taskset -c "$LOAD_CPU" "$BUILD/tools/mtp-loadgen" --server "127.0.0.1:$proxy_port" \
      --secret "$SECRET" --cpu "$LOAD_CPU" --proxy-pid "$proxy_pid" "$@" || true)
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  echo "$name $out"
}

start_me
for shards in $SHARDS; do
  want big || want small || { [ "$shards" = 1 ] && want churn; } || continue
  cpus=$PROXY_CPU
  [ "$shards" = 2 ] && cpus="$PROXY_CPU,$LOAD_CPU"
  start_proxy "$shards" "$cpus"
  for run in $(seq "$RUNS"); do
    want big && loadgen "shards=$shards throughput_8x64KiB" --mode throughput --connections 8 \
        --size 65536 --window 4 --duration "$DURATION" --warmup 1
    want small && loadgen "shards=$shards throughput_64x256B" --mode throughput --connections 64 \
        --size 256 --window 8 --duration "$DURATION" --warmup 1
    if [ "$shards" = 1 ] && want churn; then
      loadgen "shards=1 churn" --mode churn --connections 32 --size 256 --duration "$DURATION" \
          --warmup 1
    fi
  done
  stop_proxy
done

# Idle connections: RSS per connection at 10 000 (one shard).
want idle || exit 0
start_proxy 1 "$PROXY_CPU"
for run in $(seq "$RUNS"); do
  loadgen "shards=1 idle_10000" --mode idle --connections 10000 --size 256 --hold-seconds 3 \
      --max-pending-connects 512 --timeout-ms 30000 --max-seconds 120
done
stop_proxy
