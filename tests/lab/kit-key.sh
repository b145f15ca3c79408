#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/kit-key.sh — the guest kit's cache key covers every file the kit
# is built from: tools/guest and the files of tools/guest.d/ it installs into
# the initramfs (each flavour's /init, the module loader). An edit of any of
# them gives another key (so the kit is rebuilt), the same files give the same
# key, and a missing one is an error (exit 1), never a kit without it. Works
# on a copy of the two; no kernel, no VM, no cache: seconds.
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

cp -a "$SRC/tools/guest" "$SRC/tools/guest.d" "$tmp/"
h0=$("$tmp/guest" hash) || { echo "FAIL: tools/guest hash failed"; exit 1; }
[ "${#h0}" = 12 ] && ok "the recipe's hash is $h0" || bad "hash '$h0'"
[ "$("$tmp/guest" hash)" = "$h0" ] && ok "same files, same hash" || bad "the hash is not stable"
n=0
for f in "$tmp"/guest.d/*; do
    n=$((n + 1))
    cp -a "$f" "$tmp/orig"
    echo "# edited" >>"$f"
    h=$("$tmp/guest" hash)
    [ -n "$h" ] && [ "$h" != "$h0" ] && ok "an edit of guest.d/${f##*/} changes the hash" ||
        bad "an edit of guest.d/${f##*/} leaves the hash at $h"
    mv -f "$tmp/orig" "$f"
done
[ "$n" -ge 3 ] && ok "$n files in guest.d" || bad "only $n files in guest.d"
[ "$("$tmp/guest" hash)" = "$h0" ] && ok "restored files, the first hash again" || bad "hash after restoring"
echo "# edited" >>"$tmp/guest"
[ "$("$tmp/guest" hash)" != "$h0" ] && ok "an edit of tools/guest changes the hash" || bad "tools/guest edit not seen"
rm -f "$tmp/guest.d/init-lab"
rc=0
out=$("$tmp/guest" hash 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ $out == *"missing"*init-lab* ]] && ok "a missing guest.d file is an error: $out" ||
    bad "a missing guest.d file: status $rc, '$out'"
rc=0
out=$(SLUICE_CACHE=$tmp/cache "$tmp/guest" build 2>&1) || rc=$?
[ "$rc" = 1 ] && [ ! -e "$tmp/cache/guest/kit" ] && ok "build refuses it before touching the cache" ||
    bad "build with a missing guest.d file: status $rc, '$out'"
[ "$fails" = 0 ]
