#!/usr/bin/env bash
# The logrotate snippet, run for real by logrotate on a scratch copy of the log directory (the
# user in "create" becomes the current one: mtproxy need not exist here): the log is renamed,
# an empty one is created with mode 0640, and the postrotate script succeeds without systemd.
source "$(dirname "$0")/lib.sh"
command -v logrotate >/dev/null || fail "logrotate missing: run tools/deps.sh"
logs=$scratch/log
mkdir -p "$logs"
chmod 0750 "$logs"
sed -e "s|/var/log/mtproto-proxy/|$logs/|" \
    -e "s|create 0640 mtproxy mtproxy|create 0640 $(id -un) $(id -gn)|" \
    "$MTP_SOURCE_ROOT/packaging/mtproto-proxy.logrotate" > "$scratch/logrotate.conf"
grep -q "$logs/\*.log" "$scratch/logrotate.conf" || fail "the snippet does not name /var/log/mtproto-proxy/*.log"
echo "a line" > "$logs/mtproto-proxy.log"
logrotate -v -f -s "$scratch/state" "$scratch/logrotate.conf" > "$scratch/out" 2>&1 ||
  { cat "$scratch/out"; fail "logrotate failed"; }
grep -qi "error" "$scratch/out" && { cat "$scratch/out"; fail "logrotate reported an error"; }
[ -s "$logs/mtproto-proxy.log.1" ] || { cat "$scratch/out"; fail "the log was not rotated"; }
[ -e "$logs/mtproto-proxy.log" ] || fail "no new log file was created"
[ ! -s "$logs/mtproto-proxy.log" ] || fail "the new log file is not empty"
[ "$(stat -c %a "$logs/mtproto-proxy.log")" = 640 ] || fail "the new log file is not 0640"
echo "logrotate: rotated, new 0640 log created"
