#!/bin/sh
# Prints the commit baked into the binary (core/build_info.h), for meson's vcs_tag:
#   build_commit.sh SOURCE_ROOT [COMMIT]
# COMMIT (meson -Dcommit=...) or $MTP_BUILD_COMMIT wins when non-empty; else the HEAD of the git
# checkout SOURCE_ROOT is (not of a repository around it), plus "-dirty" when tracked files
# differ from HEAD. Fails (meson then uses "unknown") when there is no such checkout.
set -eu
root=$1
if [ -n "${2:-}" ]; then echo "$2"; exit 0; fi
if [ -n "${MTP_BUILD_COMMIT:-}" ]; then echo "$MTP_BUILD_COMMIT"; exit 0; fi
command -v git >/dev/null 2>&1 || exit 1
top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null) || exit 1
[ "$(cd "$top" && pwd -P)" = "$(cd "$root" && pwd -P)" ] || exit 1
sha=$(git -C "$root" rev-parse HEAD 2>/dev/null) || exit 1
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  sha="$sha-dirty"
fi
echo "$sha"
