#!/usr/bin/env bash
# mtproto-proxy(8) describes every option "mtproto-proxy --help" lists (long and short form),
# and groff formats it without a warning.
source "$(dirname "$0")/lib.sh"
page=$MTP_SOURCE_ROOT/packaging/mtproto-proxy.8
help=$("$MTP_PROXY" --help 2>&1 || true)  # --help exits 2, as in the C proxy

# Option lines look like "\t--long-name/-x <arg> \tdescription" or "\t--long-name ...".
mapfile -t longs < <(sed -n 's/^[[:space:]]*--\([a-z0-9][a-z0-9-]*\).*/\1/p' <<< "$help")
mapfile -t shorts < <(sed -n 's/^[[:space:]]*--[a-z0-9-]*\/-\([[:alnum:]]\).*/\1/p' <<< "$help")
# Guard against a --help format this test no longer understands (the proxy has 50+ options).
[ "${#longs[@]}" -ge 50 ] || fail "only ${#longs[@]} options found in --help"
[ "${#shorts[@]}" -ge 15 ] || fail "only ${#shorts[@]} short options found in --help"

missing=()
for o in "${longs[@]}"; do
  # In troff source a hyphen in an option is written \- ; the name must be a whole word.
  pattern="\\\\-\\\\-${o//-/\\\\-}([^a-z0-9\\\\]|\\\\[^-]|$)"
  grep -Eq -- "$pattern" "$page" || missing+=("--$o")
done
for o in "${shorts[@]}"; do
  grep -Eq -- "(^|[^-a-z])\\\\-$o([^a-z0-9]|$)" "$page" || missing+=("-$o")
done
[ ${#missing[@]} -eq 0 ] ||
  fail "packaging/mtproto-proxy.8 does not describe: ${missing[*]} (add them to the man page)"
echo "man page covers ${#longs[@]} long and ${#shorts[@]} short options"

if command -v groff >/dev/null; then
  warnings=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
  [ -z "$warnings" ] || { echo "$warnings"; fail "groff warns about the man page"; }
  echo "groff: no warnings"
else
  echo "note: groff missing, formatting not checked"
fi
