# shellcheck shell=bash
# Shared by the packaging tests (sourced): paths from packaging/meson.build, a scratch
# directory removed on exit, and fail().
set -euo pipefail
: "${MTP_SOURCE_ROOT:?run through meson test}" "${MTP_PACKAGING_BUILD:?}" "${MTP_PROXY:?}"
scratch=$(mktemp -d)
cleanup_hooks=()
cleanup() {
  for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The configured units as installed, with the installed paths of the binary and the helper
# scripts pointed at the build tree (systemd-analyze verify checks that they exist), under
# their real names in $1.
stage_units() {
  local dir=$1
  mkdir -p "$dir"
  for u in mtproto-proxy.service mtproto-proxy-config.service; do
    sed -e "s|$MTP_BINDIR/mtproto-proxy |$MTP_PROXY |" \
        -e "s|$MTP_PKGLIBEXECDIR/|$MTP_PACKAGING_BUILD/|" \
        "$MTP_PACKAGING_BUILD/$u" > "$dir/$u"
  done
  cp "$MTP_SOURCE_ROOT/packaging/mtproto-proxy-config.timer" "$dir/"
}

# Value of KEY= in unit file $1 (the last assignment wins, as in systemd).
unit_value() {
  sed -n "s/^$2=//p" "$1" | tail -n 1
}

# Serves directory $1 over HTTP on 127.0.0.1; sets http_port.
serve_dir() {
  local log=$scratch/http.log
  : > "$log"  # exists before the background job opens it
  python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" > "$log" 2>&1 &
  local pid=$!
  cleanup_hooks+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
  for _ in $(seq 100); do
    http_port=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
    [ -n "$http_port" ] && return 0
    sleep 0.1
  done
  cat "$log" >&2
  fail "the test HTTP server did not start"
}
