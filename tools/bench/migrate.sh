#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tools/bench/migrate.sh — the measuring half of `sluice bench migrate`
# (tools/bench/sluice-bench.py runs it and turns its lines into a table and
# JSON). Two parts:
#
# mirror: a file of SIZE MiB (default 1024, all allocated, random data) served
#   by a source sluiced is mirrored (`sluice dev mirror --json`: time to
#   "synced") to each target over loopback TCP, a fresh empty file each time
#   (both files in /dev/shm where it exists: the disk is not measured);
#   then the raw copy limit: `nbdcopy` of the same file to the same target.
#   Targets: a second sluiced's incoming device (--nbd-listen) and qemu-nbd.
#   Lines:
#     mirror TARGET: B bytes in T ms
#     nbdcopy TARGET: B bytes in T ms
#
# migrate: shared-storage live migration of a TCG guest (QEMU, memfd RAM,
#   1 vCPU, 512 MiB; the guest writes its disk with O_DIRECT throughout)
#   between two QEMUs on the same host, its vhost-user-blk disk served by
#   sluiced (one per side, the same file), then the same with
#   qemu-storage-daemon's vhost-user-blk export instead. QMP `migrate`, then
#   `query-migrate` until completed. Lines:
#     migrate BACKEND: downtime D ms, total T ms, setup S ms, rounds N
#     migrate BACKEND: n/a (REASON)
#
# Usage: tools/bench/migrate.sh [--quick] [--size MIB] [--part mirror|migrate]
#   --quick: 32 MiB and one target (sluiced) for the mirror part; 256 MiB
#   guests, both booted at once, migrated after one pass of writes.
#   SLUICE_BUILD: the build tree; SLUICED: the sluiced binary to measure.
# Exit status: 0 when every part printed its lines, 1 on a failure (a line
# on stderr says which), 77 when a needed program is missing.
set -euo pipefail
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
SLUICED=${SLUICED:-$BUILD/src/sluiced/sluiced}
SLUICE=$BUILD/tools/sluice/sluice
GUESTIO=$BUILD/tests/integration/guestio
GUEST=$SRC/tools/guest
MiB=$((1024 * 1024))
QUICK=
SIZE_MIB=1024
PARTS="mirror migrate"
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; SIZE_MIB=32 ;;
    --size) SIZE_MIB=$2; shift ;;
    --part) PARTS=$2; shift ;;
    *) echo "usage: $0 [--quick] [--size MIB] [--part mirror|migrate]" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "migrate.sh: $*" >&2; }
fail() { echo "migrate.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "migrate.sh: $1 not installed" >&2; exit 77; }; }
need nbdcopy
need qemu-nbd
need jq
[ -x "$SLUICED" ] && [ -x "$SLUICE" ] || fail "sluiced or sluice not built in $BUILD"

# The work folder lives in the build tree: O_DIRECT needs a real file system.
WORK=$(mktemp -d "$BUILD/bench-migrate.XXXXXX")
# The mirror's files live in tmpfs (O_DIRECT since Linux 6.6) where there is
# one: the copy, not the disk, is measured.
MDIR=$WORK
if [ -d /dev/shm ] && d=$(mktemp -d /dev/shm/sluice-bench-migrate.XXXXXX 2>/dev/null); then
    MDIR=$d
fi
PIDS=()
cleanup() {
    local p f
    for f in "${CLEANUP_CMDS[@]}"; do eval "$f"; done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK" "$MDIR"
}
trap cleanup EXIT

# bg LOG CMD...: run CMD in the background (killed at exit); pid in BGPID.
bg() {
    local logf=$1
    shift
    "$@" >>"$logf" 2>&1 &
    BGPID=$!
    PIDS+=("$BGPID")
}

# wait_for TEST SECONDS WHAT
wait_for() {
    local i
    for i in $(seq $(($2 * 10))); do eval "$1" && return 0; sleep 0.1; done
    fail "$3"
}

nready() { cat "$1" 2>/dev/null | grep -c "ready:" || true; }

# sluiced_up LOG ARGS...: a sluiced, ready; pid in BGPID.
sluiced_up() {
    local logf=$1 n0
    shift
    n0=$(nready "$logf")
    bg "$logf" "$SLUICED" "$@"
    wait_for "[ \$(nready '$logf') -gt $n0 ]" 10 "sluiced did not start: $(tail -3 "$logf" 2>/dev/null)"
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# target_up KIND FILE: an NBD target over loopback TCP serving FILE; its
# URI in TURI, its pid in TPID.
target_up() {
    local kind=$1 file=$2 port
    case $kind in
    sluiced)
        sluiced_up "$WORK/dst.log" --control "$WORK/ctl-dst.sock" --nbd-listen 127.0.0.1:0 \
            --blk "socket=$WORK/dst.sock,path=$file,incoming,id=dst"
        TPID=$BGPID
        port=$(grep -o "(port [0-9]*)" "$WORK/dst.log" | tail -1 | tr -dc 0-9)
        TURI=nbd://127.0.0.1:$port/dst
        ;;
    qemu-nbd)
        port=$(free_port)
        bg "$WORK/qemu-nbd.log" qemu-nbd -f raw -b 127.0.0.1 -p "$port" -x disk -t --discard=unmap \
            --cache=none --aio=io_uring "$file"
        TPID=$BGPID
        wait_for "nbdinfo --size nbd://127.0.0.1:$port/disk >/dev/null 2>&1" 10 "qemu-nbd did not start"
        TURI=nbd://127.0.0.1:$port/disk
        ;;
    esac
}

target_down() {
    kill -TERM "$TPID" 2>/dev/null || true
    wait "$TPID" 2>/dev/null || true
}

part_mirror() {
    local size=$((SIZE_MIB * MiB)) kind t0 ms targets="sluiced qemu-nbd"
    [ -n "$QUICK" ] && targets=sluiced
    log "mirror: writing $SIZE_MIB MiB of random data"
    head -c $size /dev/urandom >"$MDIR/src.img"
    sluiced_up "$WORK/src.log" --control "$WORK/ctl-src.sock" --blk "socket=$WORK/src.sock,path=$MDIR/src.img,id=src"
    for kind in $targets; do
        rm -f "$MDIR/dst.img"
        truncate -s $size "$MDIR/dst.img"
        target_up "$kind" "$MDIR/dst.img"
        SLUICE_CONTROL=$WORK/ctl-src.sock "$SLUICE" dev mirror src --to "$TURI" --json \
            >"$WORK/m.json" 2>"$WORK/err" || fail "mirror to $kind failed: $(cat "$WORK/err")"
        [ "$(jq -r .phase "$WORK/m.json")" = synced ] || fail "mirror to $kind ended $(cat "$WORK/m.json")"
        SLUICE_CONTROL=$WORK/ctl-src.sock "$SLUICE" dev mirror-cancel src >/dev/null
        cmp "$MDIR/src.img" "$MDIR/dst.img" || fail "the mirror's target differs from the source ($kind)"
        echo "mirror $kind: $(jq .bytes_copied "$WORK/m.json") bytes in $(jq .elapsed_ms "$WORK/m.json") ms"
        target_down
        rm -f "$MDIR/dst.img"
        truncate -s $size "$MDIR/dst.img"
        target_up "$kind" "$MDIR/dst.img"
        t0=$(date +%s%N)
        nbdcopy "$MDIR/src.img" "$TURI" || fail "nbdcopy to $kind failed"
        ms=$(ms_since "$t0")
        echo "nbdcopy $kind: $size bytes in $ms ms"
        target_down
    done
    rm -f "$MDIR/src.img" "$MDIR/dst.img"
}

# migrate_start BACKEND: the backend's two daemons (source and destination
# side, the same file) and two QEMUs: the source boots a guest that writes
# 4 MiB passes with O_DIRECT until it is killed, the destination waits
# (-incoming).
migrate_start() {
    local be=$1 img=$WORK/disk-$1.img side
    truncate -s $((64 * MiB)) "$img"
    case $be in
    sluiced)
        for side in a b; do
            sluiced_up "$WORK/$be-$side.log" --control "$WORK/ctl-$side.sock" \
                --blk "socket=$WORK/$be-$side.sock,path=$img,id=$side"
        done
        ;;
    qemu-storage-daemon)
        # Both daemons open the same file (shared storage): no image locks.
        for side in a b; do
            bg "$WORK/$be-$side.log" qemu-storage-daemon \
                --blockdev "driver=file,node-name=f0,filename=$img,cache.direct=on,aio=io_uring,locking=off" \
                --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$WORK/$be-$side.sock,writable=on"
            wait_for "[ -S '$WORK/$be-$side.sock' ]" 10 "qemu-storage-daemon did not start: $(tail -3 "$WORK/$be-$side.log")"
        done
        ;;
    esac
    start_qemu "src-$be" -chardev socket,id=vblk0,path="$WORK/$be-a.sock" -device vhost-user-blk-pci,chardev=vblk0
    start_qemu "dst-$be" -chardev socket,id=vblk0,path="$WORK/$be-b.sock" -device vhost-user-blk-pci,chardev=vblk0 \
        -incoming "unix:$WORK/mig-$be.sock"
}

# migrate_run BACKEND: once the guest wrote, QMP migrate; one line.
migrate_run() {
    local be=$1 st err
    wait_console "src-$be" "guest: pass ${PASSES:-2} " 180
    if (migrate "src-$be" "unix:$WORK/mig-$be.sock") >/dev/null 2>"$WORK/mig.err"; then
        st=$WORK/query-migrate-src-$be.json
        echo "migrate $be: downtime $(jq .downtime "$st") ms, total $(jq '."total-time"' "$st") ms," \
            "setup $(jq '."setup-time"' "$st") ms, rounds $(jq '.ram."dirty-sync-count"' "$st")"
    else
        err=$(grep -m1 "^qmp: " "$WORK/mig.err" || tail -1 "$WORK/mig.err")
        echo "migrate $be: n/a (${err:-the migration failed})"
    fi
}

# Everything the migrate part started ends.
migrate_stop() {
    local f p
    for f in "${CLEANUP_CMDS[@]}"; do eval "$f"; done
    CLEANUP_CMDS=()
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

part_migrate() {
    local be bes=sluiced
    need qemu-system-x86_64
    "$GUEST" build >/dev/null 2>&1 || { log "no guest kit (tools/guest build)"; exit 77; }
    KERNEL=$("$GUEST" path kernel)
    APPEND=$("$GUEST" path cmdline)
    export SLUICE_SRC=$SRC
    MEM=524280K   # 512 MiB less 8 KiB: tests/migratelib.sh says why
    [ -n "$QUICK" ] && MEM=262136K PASSES=1
    # shellcheck source=../../tests/migratelib.sh
    . "$SRC/tests/migratelib.sh"
    cat >"$WORK/guest.sh" <<GUEST
io=/sluice-files/guestio
p=0
echo "guest: writing"
while true; do
    p=\$((p + 1))
    \$io fill /dev/vda \$p 0 $((4 * MiB)) || { echo "guest: write failed"; exit 1; }
    echo "guest: pass \$p "
done
GUEST
    "$GUEST" test-initrd "$WORK/guest.sh" "$WORK/initrd.img" "$GUESTIO" >/dev/null ||
        fail "cannot build the guest's initramfs"
    if command -v qemu-storage-daemon >/dev/null; then
        bes="sluiced qemu-storage-daemon"
    fi
    if [ -n "$QUICK" ]; then
        # Quick: both guests boot at once (the figures only have to come out).
        for be in $bes; do migrate_start "$be"; done
        for be in $bes; do migrate_run "$be"; done
        migrate_stop
    else
        for be in $bes; do
            migrate_start "$be"
            migrate_run "$be"
            migrate_stop
        done
    fi
    [ "$bes" != sluiced ] || echo "migrate qemu-storage-daemon: n/a (qemu-storage-daemon not installed)"
}

CLEANUP_CMDS=()
for p in $PARTS; do
    case $p in
    mirror) part_mirror ;;
    migrate) part_migrate ;;
    *) fail "unknown part $p" ;;
    esac
done
