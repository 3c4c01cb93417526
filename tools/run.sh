#!/usr/bin/env bash
# Builds mtproxy-ng and starts it with sensible defaults; state lives in ./run/.
#   sudo tools/run.sh [--port N] [--stats-port N] [--host PUBLIC_HOST] [--config FILE]
#                     [--aes-pwd FILE] [--tls-domain DOMAIN] [--fetch-telegram-config]
#                     [-- extra mtproto-proxy options]
# First run generates a client secret in run/secret (kept across runs). Upstream mode:
#   * --config FILE, or run/proxy-multi.conf + run/proxy-secret when present: through
#     Telegram's middle-ends, like the reference (-P ad tags work);
#     --fetch-telegram-config downloads both files from core.telegram.org into run/ first;
#   * otherwise direct mode (clients go straight to the Telegram DCs; nothing is downloaded).
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
fetch=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --stats-port) stats_port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --aes-pwd) aes_pwd=$2; shift 2 ;;
    --tls-domain) domain=$2; shift 2 ;;
    --fetch-telegram-config) fetch=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
if [ "$is_root" -eq 0 ] && [ "$port" -lt 1024 ]; then
  echo "not root: using port 8443 instead of $port" >&2
  port=8443
fi

tools/deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build control/mtproto-proxy >/dev/null
bin=build/control/mtproto-proxy

mkdir -p run
if [ ! -s run/secret ]; then
  (umask 077 && "$bin" --generate-secret > run/secret)
  echo "generated a new client secret in run/secret"
fi

if [ "$fetch" -eq 1 ]; then
  echo "downloading the proxy secret and the middle-end list from core.telegram.org"
  curl -fsS --max-time 30 https://core.telegram.org/getProxySecret -o run/proxy-secret.new
  curl -fsS --max-time 30 https://core.telegram.org/getProxyConfig -o run/proxy-multi.conf.new
  mv run/proxy-secret.new run/proxy-secret
  mv run/proxy-multi.conf.new run/proxy-multi.conf
fi
if [ -z "$config" ] && [ -s run/proxy-multi.conf ] && [ -s run/proxy-secret ]; then
  config=run/proxy-multi.conf
  [ -n "$aes_pwd" ] || aes_pwd=run/proxy-secret
fi

args=(-H "$port" -p "$stats_port" --http-stats --mtproto-secret-file run/secret)
if [ "$is_root" -eq 1 ]; then
  # The proxy drops root after binding (to 'mtproxy', else 'nobody'); let that user re-read
  # the files on SIGHUP.
  user=mtproxy
  id -u "$user" >/dev/null 2>&1 || user=nobody
  group="$(id -gn "$user")"
  chgrp "$group" run run/secret
  chmod 0750 run
  chmod 0640 run/secret
  args+=(-u "$user")
fi
[ -n "$host" ] && args+=(--public-host "$host")
[ -n "$domain" ] && args+=(-D "$domain")
[ -n "$aes_pwd" ] && args+=(--aes-pwd "$aes_pwd")
if [ -n "$config" ]; then
  mode="middle-ends ($config)"
  args+=("${extra[@]}" "$config")
else
  mode="direct to the Telegram DCs (no run/proxy-multi.conf; see --fetch-telegram-config)"
  args+=(--direct "${extra[@]}")
fi

echo "mode: $mode"
echo "stats: http://127.0.0.1:$stats_port/stats   (Prometheus: /metrics)"
echo "starting: $bin ${args[*]}"
exec "$bin" "${args[@]}"
