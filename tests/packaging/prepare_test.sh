#!/usr/bin/env bash
# mtproto-proxy-prepare (ExecStartPre): makes a random 32-hex-digit secret file (0600) only when
# there is none, downloads Telegram's files only in middle-end mode when they are missing, and
# never fails the start because of a download.
source "$(dirname "$0")/lib.sh"
prepare=$MTP_PACKAGING_BUILD/mtproto-proxy-prepare
www=$scratch/www
state=$scratch/state
mkdir -p "$www" "$state"
serve_dir "$www"
printf 'proxy_for 1 149.154.175.50:8888;\n' > "$www/getProxyConfig"
head -c 128 /dev/urandom > "$www/getProxySecret"
export STATE_DIRECTORY=$state MTPROXY_SECRET_FILE=$state/secret
export MTPROXY_CONFIG_URL=http://127.0.0.1:$http_port/getProxyConfig
export MTPROXY_SECRET_URL=http://127.0.0.1:$http_port/getProxySecret

# Direct mode: a secret, no download.
MTPROXY_UPSTREAM=--direct "$prepare" || fail "prepare failed in direct mode"
grep -Eqx '[0-9a-f]{32}' "$state/secret" || fail "the secret file is not 32 hex digits"
[ "$(stat -c %a "$state/secret")" = 600 ] || fail "the secret file is not 0600"
[ ! -e "$state/proxy-multi.conf" ] || fail "direct mode downloaded Telegram's files"
first=$(cat "$state/secret")

# Middle-end mode (the unit's default upstream): the files are fetched, the secret stays.
upstream="--aes-pwd $state/proxy-secret $state/proxy-multi.conf"
MTPROXY_UPSTREAM=$upstream "$prepare" || fail "prepare failed in middle-end mode"
[ "$(cat "$state/secret")" = "$first" ] || fail "an existing secret file was replaced"
cmp -s "$www/getProxyConfig" "$state/proxy-multi.conf" || fail "proxy-multi.conf not downloaded"
cmp -s "$www/getProxySecret" "$state/proxy-secret" || fail "proxy-secret not downloaded"

# A failed download does not fail the start (the proxy reports the missing file itself).
rm "$state/proxy-multi.conf" "$state/proxy-secret"
MTPROXY_CONFIG_URL=http://127.0.0.1:$http_port/nothing MTPROXY_UPSTREAM=$upstream "$prepare" \
  || fail "prepare failed because of a download"
[ ! -e "$state/proxy-multi.conf" ] || fail "a failed download left a file"

# Two secrets made on two first starts differ.
rm "$state/secret"
MTPROXY_UPSTREAM=--direct "$prepare" >/dev/null
[ "$(cat "$state/secret")" != "$first" ] || fail "two generated secrets are equal"
echo "prepare: secret made once, Telegram's files only in middle-end mode"
