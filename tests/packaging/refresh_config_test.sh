#!/usr/bin/env bash
# mtproto-proxy-refresh-config against a local HTTP server: valid files are installed (0640,
# no temporary files left), an unchanged download leaves them alone, and an HTML page, a
# proxy secret of the wrong size or a 404 keep the old files and exit 1.
source "$(dirname "$0")/lib.sh"
refresh=$MTP_PACKAGING_BUILD/mtproto-proxy-refresh-config
www=$scratch/www
dir=$scratch/state
mkdir -p "$www" "$dir"
serve_dir "$www"

run() {  # CONFIG_NAME SECRET_NAME: runs the script; output in $scratch/out
  MTPROXY_CONFIG_URL="http://127.0.0.1:$http_port/$1" \
  MTPROXY_SECRET_URL="http://127.0.0.1:$http_port/$2" \
    "$refresh" "$dir" > "$scratch/out" 2>&1
}
expect_kept() {  # what: the state files still hold the first download
  cmp -s "$www/good.conf" "$dir/proxy-multi.conf" || fail "$1: proxy-multi.conf was replaced"
  cmp -s "$www/good.secret" "$dir/proxy-secret" || fail "$1: proxy-secret was replaced"
}

printf '# force_probability 10 10\ndefault 2;\nproxy_for 1 149.154.175.50:8888;\nproxy_for -2 149.154.161.144:8888;\n' \
  > "$www/good.conf"
head -c 128 /dev/urandom > "$www/good.secret"
printf '<html><body>502 Bad Gateway</body></html>\n' > "$www/html.conf"
head -c 10 /dev/urandom > "$www/short.secret"
head -c 300 /dev/urandom > "$www/long.secret"

run good.conf good.secret || { cat "$scratch/out"; fail "a valid download failed"; }
expect_kept "first download"
[ "$(stat -c %a "$dir/proxy-multi.conf")" = 640 ] || fail "proxy-multi.conf is not 0640"
grep -q "proxy-multi.conf: updated" "$scratch/out" || fail "no 'updated' line"

run good.conf good.secret || fail "the second download failed"
grep -q "proxy-multi.conf: unchanged" "$scratch/out" || fail "an identical file was not 'unchanged'"

for bad in "html.conf good.secret" "good.conf short.secret" "good.conf long.secret" \
           "missing.conf good.secret" "good.conf missing.secret"; do
  # shellcheck disable=SC2086
  if run $bad; then
    cat "$scratch/out"
    fail "accepted $bad"
  fi
  grep -q "keeping the current" "$scratch/out" || { cat "$scratch/out"; fail "$bad: no message"; }
  expect_kept "$bad"
done

leftovers=$(find "$dir" -mindepth 1 -name '.refresh.*')
[ -z "$leftovers" ] || fail "temporary files left: $leftovers"
echo "refresh-config: installs valid files, keeps them on 5 kinds of bad download"
