#!/usr/bin/env bash
# Builds and starts the proxy with sensible defaults.
#   sudo tools/run.sh [--port N] [--stats-port N] [--host PUBLIC_HOST] [--config proxy-multi.conf]
#                     [--aes-pwd proxy-secret] [-- extra mtproto-proxy options]
# First run generates a client secret in run/secret (kept across runs). Without --config the
# proxy connects clients straight to Telegram's DCs (direct mode); with a proxy-multi.conf and
# the matching proxy-secret (https://core.telegram.org/getProxyConfig, getProxySecret) it relays
# through the middle-ends like the reference, and -P ad tags work.
set -euo pipefail
cd "$(dirname "$0")/.."

port=443
stats_port=8888
host=""
config=""
aes_pwd=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --stats-port) stats_port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --aes-pwd) aes_pwd=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ] && [ "$port" -lt 1024 ]; then
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
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > run/secret
  chmod 600 run/secret
  echo "generated a new client secret in run/secret"
fi
secret=$(cat run/secret)

if [ -z "$host" ]; then
  host=$(hostname -I 2>/dev/null | awk '{print $1}')
  [ -n "$host" ] || host=127.0.0.1
fi

args=(-H "$port" -S "$secret")
if "$bin" --help 2>&1 | grep -q -- '--http-stats'; then
  args+=(-p "$stats_port" --http-stats)
  stats_url="http://127.0.0.1:$stats_port/stats"
else
  stats_url="(this build has no stats endpoint)"
fi
if [ -n "$aes_pwd" ]; then
  args+=(--aes-pwd "$aes_pwd")
fi
if [ -z "$config" ]; then
  args+=(--direct)
fi

echo "client link (padded, recommended): tg://proxy?server=$host&port=$port&secret=dd$secret"
echo "client link (plain):               tg://proxy?server=$host&port=$port&secret=$secret"
echo "                                   https://t.me/proxy?server=$host&port=$port&secret=dd$secret"
echo "stats: $stats_url"
echo "starting: $bin ${args[*]} ${extra[*]} $config"
if [ -n "$config" ]; then
  exec "$bin" "${args[@]}" "${extra[@]}" "$config"
else
  exec "$bin" "${args[@]}" "${extra[@]}"
fi
