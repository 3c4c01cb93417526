#!/usr/bin/env bash
# Makes sure the Debian 12 packages the build and the tests need are installed.
# As root, installs what is missing with apt-get; otherwise prints the exact command and fails.
set -euo pipefail

PACKAGES=(g++ meson ninja-build pkg-config liburing-dev libssl-dev libabsl-dev libgtest-dev
          libbenchmark-dev openssl curl iproute2 util-linux procps python3 gnuplot-nox
          systemd logrotate groff-base
          libqrencode-dev libtomlplusplus-dev  # --link QR codes, --config TOML
          libcurl4-openssl-dev microsocks  # --config-refresh-interval; its SOCKS5 e2e test
          prometheus)  # promtool check metrics/rules and a real scrape in the e2e tests
# tools/test.sh --clang and the fuzz campaign: clang with its sanitizer and libFuzzer runtimes.
PACKAGES+=(clang libclang-rt-14-dev)
# PROXY protocol e2e (issue 13): HAProxy in front of the proxy with send-proxy-v2.
PACKAGES+=(haproxy)
# Upstream SOCKS5 e2e: ME links through Dante (danted reports its bound address; microsocks,
# above, does not, so it carries the direct-mode cases).
PACKAGES+=(dante-server)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || apt-get update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "missing packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
