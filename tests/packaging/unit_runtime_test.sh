#!/usr/bin/env bash
# Runs the unit's ExecStartPre and ExecStart command lines the way systemd would: as an
# unprivileged user (nobody standing in for mtproxy), under the unit's LimitNOFILE, with the
# unit's default environment (ports 0 instead of 443/8888, the state directory in a scratch
# directory holding a loopback-only proxy-multi.conf). The proxy must start without root,
# without lowering the default -c, and stop with exit code 0 inside TimeoutStopSec.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root to run the proxy as another user"
  exit 77
fi
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
command -v prlimit >/dev/null || fail "prlimit missing (util-linux)"

stage_units "$scratch/units"
unit=$scratch/units/mtproto-proxy.service
nofile=$(unit_value "$unit" LimitNOFILE)
stop=$(unit_value "$unit" TimeoutStopSec)
[[ "$nofile" =~ ^[0-9]+$ ]] || fail "LimitNOFILE '$nofile' is not a number"
default_c=$(sed -n 's/.*kDefaultConnectionLimit = \([0-9]*\);.*/\1/p' "$MTP_SOURCE_ROOT/control/cli.h")
[ -n "$default_c" ] || fail "no kDefaultConnectionLimit in control/cli.h"
reserve=$(sed -n 's/.*kFdLimitReserve = \([0-9]*\);.*/\1/p' "$MTP_SOURCE_ROOT/control/cli.h")
[ "$nofile" -ge $((default_c + reserve)) ] ||
  fail "LimitNOFILE=$nofile is below the default -c $default_c + $reserve"
# A container without CAP_SYS_RESOURCE cannot raise the hard limit to LimitNOFILE: there the
# same relation is checked at the limit we have, with -c (limit - reserve).
limit=$nofile
c_option=()
if ! prlimit --nofile="$nofile:$nofile" true 2>/dev/null; then
  limit=$(ulimit -Hn)
  c_option=(-c $((limit - reserve)))
  echo "note: cannot raise the open-file limit to $nofile here; checking -c $((limit - reserve)) at $limit"
fi

state=$scratch/state
mkdir -p "$state"
chmod 0755 "$scratch"
# One middle-end on loopback (nothing listens there: the proxy just retries) and a
# 128-byte proxy secret, like Telegram's.
echo "proxy_for 2 127.0.0.1:9;" > "$state/proxy-multi.conf"
head -c 128 /dev/urandom > "$state/proxy-secret"
chown -R nobody:nogroup "$state"
chmod 0750 "$state"

# The unit's default environment (Environment= lines), with our ports and paths.
declare -A env
while IFS= read -r line; do
  line=${line#Environment=}
  line=${line#\"}
  line=${line%\"}
  env[${line%%=*}]=${line#*=}
done < <(grep '^Environment=' "$unit")
env[MTPROXY_PORT]=0
env[MTPROXY_STATS_PORT]=0
env[MTPROXY_SECRET_FILE]=$state/secret
env[MTPROXY_UPSTREAM]=${env[MTPROXY_UPSTREAM]//\/var\/lib\/mtproto-proxy/$state}
[ -n "${env[MTPROXY_UPSTREAM]}" ] || fail "no default MTPROXY_UPSTREAM in the unit"

# systemd's expansion: ${VAR} stays one word, $VAR splits on white space.
expand() {
  local words=() w
  for w in $1; do
    if [[ "$w" =~ ^\$\{([A-Z_]+)\}$ ]]; then
      words+=("${env[${BASH_REMATCH[1]}]}")
    elif [[ "$w" =~ ^\$([A-Z_]+)$ ]]; then
      # shellcheck disable=SC2206
      words+=(${env[${BASH_REMATCH[1]}]})
    else
      words+=("$w")
    fi
  done
  printf '%s\n' "${words[@]}"
}
mapfile -t pre < <(expand "$(unit_value "$unit" ExecStartPre)")
mapfile -t cmd < <(expand "$(unit_value "$unit" ExecStart)")
# The unprivileged user may not reach the build tree (a checkout under /root): run copies.
mkdir -p "$scratch/bin"
for p in "${pre[0]}" "$(dirname "${pre[0]}")/mtproto-proxy-refresh-config" "${cmd[0]}"; do
  cp "$p" "$scratch/bin/"
done
chmod -R a+rX "$scratch/bin"
pre[0]=$scratch/bin/$(basename "${pre[0]}")
cmd[0]=$scratch/bin/$(basename "${cmd[0]}")
cmd+=("${c_option[@]}")

as_service() {  # exec: run it in a subshell, whose pid becomes the service's
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin STATE_DIRECTORY="$state" \
    MTPROXY_SECRET_FILE="${env[MTPROXY_SECRET_FILE]}" MTPROXY_UPSTREAM="${env[MTPROXY_UPSTREAM]}" \
    prlimit --nofile="$limit:$limit" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all -- "$@"
}

(as_service "${pre[@]}") || fail "ExecStartPre failed"
grep -Eqx '[0-9a-f]{32}' "$state/secret" || fail "ExecStartPre made no secret file"

log=$scratch/proxy.log
(as_service "${cmd[@]}") > "$log" 2>&1 &
pid=$!
cleanup_hooks+=("kill -KILL $pid 2>/dev/null")
for _ in $(seq 100); do
  grep -q "main loop" "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "main loop" "$log" || { cat "$log"; fail "the proxy did not start as the service would"; }
cat "$log"
if grep -E "open files|running as user|cannot" "$log"; then
  fail "start-up complained (above): the open-file limit $limit or the non-root start is wrong"
fi
[ "$(awk '/^Uid:/{print $2}' "/proc/$pid/status")" = "$(id -u nobody)" ] || fail "the proxy does not run as nobody"

start=$SECONDS
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "exit code $rc after SIGTERM (systemd would count a failure)"
[ $((SECONDS - start)) -lt "$stop" ] || fail "the stop took longer than TimeoutStopSec=$stop"
echo "started unprivileged with $limit open files, stopped with 0 in $((SECONDS - start)) s"
