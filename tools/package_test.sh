#!/usr/bin/env bash
# Builds the Debian package from the tree (dpkg-buildpackage -b, benchmarks and tests off),
# runs lintian on it (errors fail, warnings are listed), installs it with dpkg -i, checks the
# installed proxy, unit, user and directories, then purges it. Needs root (CI: a fresh
# Debian 12 machine). Usage: tools/package_test.sh [--keep]   (--keep: leave it installed)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1
if [ "$(id -u)" -ne 0 ]; then
  echo "tools/package_test.sh installs a package: run it as root" >&2
  exit 1
fi
tools/deps.sh
TOOLS=(debhelper dpkg-dev lintian)
missing=()
for p in "${TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if dpkg-query -W -f='${Status}' mtproto-proxy 2>/dev/null | grep -q "install ok installed"; then
  echo "mtproto-proxy is already installed; purge it first (dpkg --purge mtproto-proxy)" >&2
  exit 1
fi

start=$SECONDS
work=$(mktemp -d /tmp/mtproxy-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The tree as git sees it (tracked and new files, not build directories), so the build never
# writes into the checkout; the commit for --version comes from here, as there is no .git.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi  # not deleted-but-tracked
  done |
  tar --null -T - -cf - | tar -xf - -C "$work/src"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)

echo "== dpkg-buildpackage (log: $work/build.log)"
if ! (cd "$work/src" && MTP_BUILD_COMMIT=$commit DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
      dpkg-buildpackage -b -us -uc -Pnocheck > "$work/build.log" 2>&1); then
  tail -n 60 "$work/build.log"
  echo "FAIL: dpkg-buildpackage" >&2
  exit 1
fi
deb=$(ls "$work"/mtproto-proxy_*.deb)
echo "built $(basename "$deb") in $((SECONDS - start)) s"
dpkg-deb -c "$deb" | awk '{print $1, $6}'

echo "== lintian"
lintian_start=$SECONDS
lintian_rc=0
lintian --fail-on error --display-info "$work"/*.changes > "$work/lintian.txt" 2>&1 || lintian_rc=$?
cat "$work/lintian.txt"
[ "$lintian_rc" -eq 0 ] || { echo "FAIL: lintian reports errors" >&2; exit 1; }
echo "lintian: no errors, $(grep -c '^W:' "$work/lintian.txt" || true) warning(s)" \
     "($((SECONDS - lintian_start)) s)"

echo "== dpkg -i"
dpkg -i "$deb"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[ -x /usr/bin/mtproto-proxy ] || fail "/usr/bin/mtproto-proxy missing"
version=$(/usr/bin/mtproto-proxy --version) || fail "mtproto-proxy --version failed"
echo "$version"
if [ "$commit" != unknown ]; then
  grep -q "commit $commit" <<< "$version" || fail "--version does not name commit $commit"
fi
unit=/lib/systemd/system/mtproto-proxy.service
for f in "$unit" /lib/systemd/system/mtproto-proxy-config.service \
         /lib/systemd/system/mtproto-proxy-config.timer /usr/lib/sysusers.d/mtproto-proxy.conf \
         /usr/lib/tmpfiles.d/mtproto-proxy.conf /etc/default/mtproto-proxy \
         /etc/logrotate.d/mtproto-proxy /usr/share/man/man8/mtproto-proxy.8.gz \
         /usr/libexec/mtproto-proxy/mtproto-proxy-prepare \
         /usr/libexec/mtproto-proxy/mtproto-proxy-refresh-config \
         /usr/share/doc/mtproto-proxy/operators; do
  [ -e "$f" ] || fail "$f is not installed"
done
grep -qx "ExecStart=/usr/bin/mtproto-proxy .*" "$unit" || fail "the unit does not run /usr/bin"
out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$unit" \
      /lib/systemd/system/mtproto-proxy-config.service \
      /lib/systemd/system/mtproto-proxy-config.timer 2>&1) || { echo "$out"; fail "verify"; }
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify warns about the installed units"; }
# What the generated maintainer scripts did: the user, the directories, nothing enabled.
id mtproxy >/dev/null || fail "user mtproxy was not created (sysusers)"
[ "$(stat -c '%U:%G %a' /var/lib/mtproto-proxy)" = "mtproxy:mtproxy 750" ] ||
  fail "/var/lib/mtproto-proxy: $(stat -c '%U:%G %a' /var/lib/mtproto-proxy) (tmpfiles)"
[ "$(stat -c '%U:%G %a' /etc/mtproto-proxy)" = "root:mtproxy 750" ] ||
  fail "/etc/mtproto-proxy: $(stat -c '%U:%G %a' /etc/mtproto-proxy) (tmpfiles)"
[ ! -e /etc/systemd/system/multi-user.target.wants/mtproto-proxy.service ] ||
  fail "the package enabled the service"
dpkg-query -W -f='${Conffiles}\n' mtproto-proxy | grep -q /etc/default/mtproto-proxy ||
  fail "/etc/default/mtproto-proxy is not a conffile"
echo "installed: binary, units, user, directories in place"

if [ "$keep" -eq 0 ]; then
  echo "== dpkg --purge"
  dpkg --purge mtproto-proxy
  [ ! -e /usr/bin/mtproto-proxy ] || fail "/usr/bin/mtproto-proxy left after purge"
  [ ! -e /etc/default/mtproto-proxy ] || fail "/etc/default/mtproto-proxy left after purge"
fi
echo "package test passed in $((SECONDS - start)) s"
