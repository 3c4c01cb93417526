#!/usr/bin/env bash
# Builds mtproxy-ng and starts it with sensible defaults; state lives in ./run/.
#   sudo tools/run.sh [--port N] [--stats-port N] [--host PUBLIC_HOST] [--config FILE]
#                     [--aes-pwd FILE] [--tls-domain DOMAIN] [--direct] [--refresh SEC]
#                     [--config-url URL] [--secret-url URL] [--config-proxy URL]
#                     [-- extra mtproto-proxy options]
# First run generates a client secret in run/secret (kept across runs). Upstream mode:
#   * default: through Telegram's middle-ends (media for non-Premium accounts needs them; -P
#     ad tags work). Telegram's config and proxy secret are fetched into run/ (mtproto-proxy
#     --fetch-config, from --config-url/--secret-url, default core.telegram.org, optionally
#     through --config-proxy socks5h://HOST:PORT) and the proxy keeps them refreshed every
#     --refresh seconds (default 21600). When they cannot be fetched and run/ holds no earlier
#     copy, it falls back to direct mode with a warning that says why;
#   * --config FILE: that proxy-multi.conf, not refreshed;
#   * --direct: straight to the Telegram DCs (nothing is downloaded).
# MTP_RUN_BIN=path skips the build and runs that binary; MTP_RUN_DIR=dir keeps state there.
# The proxy prints its tg:// and https://t.me links and the stats URL at start-up.
# kill -HUP re-reads the config, the proxy secret and run/secret; kill -TERM drains and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

port=443
stats_port=8888
host=""
config=""
aes_pwd=""
domain=""
direct=0
refresh=21600
fetch_args=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --stats-port) stats_port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --aes-pwd) aes_pwd=$2; shift 2 ;;
    --tls-domain) domain=$2; shift 2 ;;
    --fetch-telegram-config) shift ;;  # the default now (kept for old command lines)
    --direct) direct=1; shift ;;
    --refresh) refresh=$2; shift 2 ;;
    --config-url|--secret-url|--config-proxy) fetch_args+=("$1" "$2"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
if [ "$is_root" -eq 0 ] && [ "$port" -lt 1024 ]; then
  echo "not root: using port 8443 instead of $port" >&2
  port=8443
fi

if [ -n "${MTP_RUN_BIN:-}" ]; then
  bin=$MTP_RUN_BIN
else
  tools/deps.sh
  if [ ! -f build/build.ninja ]; then
    meson setup build -Dbuildtype=release >/dev/null
  fi
  ninja -C build control/mtproto-proxy >/dev/null
  bin=build/control/mtproto-proxy
fi
run=${MTP_RUN_DIR:-run}

mkdir -p "$run"
if [ ! -s "$run/secret" ]; then
  (umask 077 && "$bin" --generate-secret > "$run/secret")
  echo "generated a new client secret in $run/secret"
fi

refreshing=0
if [ -z "$config" ] && [ "$direct" -eq 0 ]; then
  echo "fetching Telegram's middle-end config and proxy secret into $run/"
  if why=$("$bin" --fetch-config --config-cache-dir "$run" "${fetch_args[@]}" 2>&1 >/dev/null); then
    refreshing=1
  elif [ -s "$run/proxy-multi.conf" ] && [ -s "$run/proxy-secret" ]; then
    echo "WARNING: cannot fetch Telegram's config ($(echo "$why" | tail -n 1)); using the copy" \
         "from $(date -r "$run/proxy-multi.conf" '+%F %T') and retrying every ${refresh}s" >&2
    refreshing=1
  else
    echo "WARNING: falling back to direct mode: cannot fetch Telegram's config" \
         "($(echo "$why" | tail -n 1)). Media for non-Premium accounts needs the middle-ends:" \
         "fix the network (or pass --config-proxy socks5h://HOST:PORT) and restart." >&2
    direct=1
  fi
  if [ "$refreshing" -eq 1 ]; then
    config=$run/proxy-multi.conf
    [ -n "$aes_pwd" ] || aes_pwd=$run/proxy-secret
  fi
fi

args=(-H "$port" -p "$stats_port" --http-stats --mtproto-secret-file "$run/secret")
if [ "$refreshing" -eq 1 ]; then
  args+=(--config-refresh-interval "$refresh" "${fetch_args[@]}")
fi
if [ "$is_root" -eq 1 ]; then
  # The proxy drops root after binding (to 'mtproxy', else 'nobody'); let that user re-read
  # the files on SIGHUP and, when refreshing, replace the downloaded ones.
  user=mtproxy
  id -u "$user" >/dev/null 2>&1 || user=nobody
  group="$(id -gn "$user")"
  chgrp "$group" "$run" "$run/secret"
  chmod 0750 "$run"
  chmod 0640 "$run/secret"
  if [ "$refreshing" -eq 1 ]; then
    chmod 0770 "$run"
    chgrp "$group" "$run/proxy-multi.conf" "$run/proxy-secret"
    chmod 0640 "$run/proxy-secret"
  fi
  args+=(-u "$user")
fi
[ -n "$host" ] && args+=(--public-host "$host")
[ -n "$domain" ] && args+=(-D "$domain")
[ -n "$aes_pwd" ] && args+=(--aes-pwd "$aes_pwd")
if [ "$direct" -eq 0 ] && [ -n "$config" ]; then
  mode="middle-ends ($config)"
  [ "$refreshing" -eq 1 ] && mode="$mode, refreshed every ${refresh}s"
  # Serve a DC's clients directly while all its middle-ends are down (no non-Premium media
  # then, but text keeps flowing); extra arguments may override it.
  mode="$mode, direct while a DC's middle-ends are down for 60s"
  args+=(--direct-fallback-after 60 "${extra[@]}" "$config")
else
  mode="direct to the Telegram DCs"
  args+=(--direct "${extra[@]}")
fi

echo "mode: $mode"
echo "stats: http://127.0.0.1:$stats_port/stats   (Prometheus: /metrics)"
echo "starting: $bin ${args[*]}"
exec "$bin" "${args[@]}"
