#!/usr/bin/env bash
# systemd-analyze verify on the installed units (no running systemd needed): it must exit 0
# and print nothing, since systemd only warns about unknown keys and bad values. A broken copy
# proves that this check can fail here. Then the unit's settings that depend on the proxy's
# options: the stop timeout against --drain-timeout, and the hardening score.
source "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing: run tools/deps.sh"
export SYSTEMD_LOG_LEVEL=info SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=

verify() {  # DIR: exit status 0 and no message
  local out
  if ! out=$(cd "$1" && systemd-analyze verify --man=no --generators=no \
        ./mtproto-proxy.service ./mtproto-proxy-config.service ./mtproto-proxy-config.timer 2>&1); then
    echo "$out"
    return 1
  fi
  [ -z "$out" ] || { echo "$out"; return 1; }
}

stage_units "$scratch/units"
verify "$scratch/units" || fail "systemd-analyze verify reported the messages above"
echo "verify: clean"

# The same check must catch a bad value, an unknown key and a missing executable.
for broken in 's/^Restart=on-failure/Restart=sometimes/' 's/^NoNewPrivileges=/NoNewPrivilegez=/' \
              "s|^ExecReload=/bin/kill|ExecReload=/nonexistent/kill|"; do
  rm -rf "$scratch/broken" && cp -r "$scratch/units" "$scratch/broken"
  sed -i "$broken" "$scratch/broken/mtproto-proxy.service"
  if verify "$scratch/broken" >/dev/null; then
    fail "verify did not notice: $broken"
  fi
done
echo "verify: catches broken units"

unit=$scratch/units/mtproto-proxy.service
help=$("$MTP_PROXY" --help 2>&1 || true)  # --help exits 2, as in the C proxy
drain=$(sed -n 's/.*--drain-timeout .*(default \([0-9][0-9]*\)).*/\1/p' <<< "$help")
[ -n "$drain" ] || fail "no --drain-timeout default in --help"
stop=$(unit_value "$unit" TimeoutStopSec)
[[ "$stop" =~ ^[0-9]+$ ]] || fail "TimeoutStopSec '$stop' is not plain seconds"
[ "$stop" -gt "$drain" ] ||
  fail "TimeoutStopSec=$stop would cut the --drain-timeout default ($drain s) short"
echo "TimeoutStopSec=$stop > drain timeout $drain"

for key in "User=mtproxy" "AmbientCapabilities=CAP_NET_BIND_SERVICE" \
           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "NoNewPrivileges=yes" \
           "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
           "ExecReload=/bin/kill -HUP \$MAINPID" "Restart=on-failure"; do
  grep -qxF "$key" "$unit" || fail "mtproto-proxy.service lacks $key"
done

# Exposure score (0 = locked down, 10 = unprotected; --threshold counts tenths): 1.7 when this
# test was written.
out=$(systemd-analyze security --offline=true --threshold=25 --no-pager "$unit" 2>&1) || {
  echo "$out" | tail -n 30
  fail "mtproto-proxy.service exposure is above 2.5 (systemd-analyze security)"
}
echo "$out" | tail -n 1
