#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/vmm/kit-failure.sh — a guest kit that cannot be built fails the
# lab scripts (exit 1) instead of skipping them (77): a skip would hide a
# broken kit from CI. The kit's cache is put under a plain file, so
# `tools/guest build` fails at once (mkdir), before any download or VM.
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/file"
fails=0
for t in tests/lab/vmm/vmm-boot.sh tools/bench/boot.sh tests/lab/storage/pool-lvm.sh; do
    rc=0
    SLUICE_CACHE=$tmp/file/cache timeout 60 "$SRC/$t" >"$tmp/out" 2>&1 || rc=$?
    if [ "$rc" = 1 ]; then
        echo "ok: $t exits 1 when the guest kit cannot be built"
    else
        echo "FAIL: $t exits $rc when the guest kit cannot be built (want 1): $(tail -n2 "$tmp/out" | tr '\n' ' ')"
        fails=$((fails + 1))
    fi
done
[ "$fails" = 0 ]
