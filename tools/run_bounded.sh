# Sourced by the fuzz scripts: run_bounded MAX FUNC ITEM... runs `FUNC ITEM` for every item, at
# most MAX at a time in the background; returns 1 if any of them failed, after all have ended.
run_bounded() {
  local max=$1 func=$2 failed=0 running=0 item
  shift 2
  for item in "$@"; do
    if [ "$running" -ge "$max" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
    "$func" "$item" &
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
  return "$failed"
}
