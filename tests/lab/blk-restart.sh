#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Zero-loss backend restart, inside the lab VM (nested KVM for the guest,
# dm-delay under the disk so requests are always in flight): a QEMU guest
# (vhost-user-blk, `-chardev socket,...,reconnect=1`) writes a pattern over
# the whole disk with O_DIRECT while sluiced is killed with SIGKILL and
# started again with the same arguments, TRIALS times. QEMU reconnects,
# hands back the inflight region (INFLIGHT_SHMFD), sluiced resubmits what the
# dead process had taken but not completed, the guest's writes finish, and
# its final verify must find every block it was told was written. Last, a
# clean SIGTERM under the same load: sluiced completes the requests it took
# and exits 0, and its successor finds nothing to resubmit.
#   TRIALS (default 3)   how many kills in one run; tools/soak-restart runs
#                        this with TRIALS=20 and prints the count.
# Exit 0 pass, 1 fail, 77 skip.
set -u
TRIALS=${TRIALS:-3}
SRC=${SLUICE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}

inside() {
    set -u
    local w fails=0 size=$((512 * 1024 * 1024))
    w=$(mktemp -d /tmp/restart.XXXXXX)
    ok() { echo "ok: $*"; }
    bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
    truncate -s $size "$w/disk.img"
    loop=$(losetup --find --show "$w/disk.img") || { echo "FAIL: losetup"; return 1; }
    # 15 ms on every write and read: requests are in flight at any kill.
    # No udev in the lab VM: --verifyudev makes dmsetup create the node.
    dmsetup create --verifyudev sluice-slow --table "0 $((size / 512)) delay $loop 0 15" ||
        { echo "FAIL: dm-delay"; return 1; }
    dmsetup mknodes sluice-slow
    [ -b /dev/mapper/sluice-slow ] || { echo "FAIL: no /dev/mapper/sluice-slow"; return 1; }
    dev=/dev/mapper/sluice-slow
    start() { "$BUILD/src/sluiced/sluiced" --blk "socket=$w/blk.sock,path=$dev,queues=2" >>"$w/sluiced.log" 2>&1 & SPID=$!; }
    start
    for i in $(seq 50); do [ -S "$w/blk.sock" ] && break; sleep 0.1; done
    [ -S "$w/blk.sock" ] || { echo "FAIL: sluiced did not start: $(cat "$w/sluiced.log")"; return 1; }
    cat >"$w/guest.sh" <<'G'
io=/sluice-files/guestio
echo "guest: filling"
$io fill /dev/vda 4711 || { echo "guest: fill failed"; exit 1; }
$io flush /dev/vda || exit 1
echo 3 > /proc/sys/vm/drop_caches
$io verify /dev/vda 4711 || { echo "guest: verify failed"; exit 1; }
echo "guest: every block verified"
G
    "$SRC/tools/guest" run --accel kvm --memfd --mem 512M --cpus 2 --timeout 240 --log "$w/guest.log" \
        "$w/guest.sh" "$BUILD/tests/integration/guestio" -- \
        -chardev socket,id=c0,path="$w/blk.sock",reconnect=1 \
        -device vhost-user-blk-pci,chardev=c0,num-queues=2 >/dev/null 2>&1 &
    local runner=$!
    for i in $(seq 600); do grep -q "guest: filling" "$w/guest.log" 2>/dev/null && break; sleep 0.1; done
    local kills=0 term_rc=x
    for t in $(seq "$TRIALS"); do
        sleep 1.5
        grep -q "guest: every block\|guest: fill failed" "$w/guest.log" && break
        kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
        kills=$((kills + 1))
        sleep 0.3
        start
    done
    # Then a clean SIGTERM under the same load: sluiced must complete what
    # it took before exiting 0, so the next one has nothing to resubmit.
    sleep 1.5
    if ! grep -q "guest: every block\|guest: fill failed" "$w/guest.log"; then
        local before
        before=$(grep -c "resubmitting" "$w/sluiced.log")
        kill -TERM "$SPID"; wait "$SPID"; term_rc=$?
        sleep 0.3
        start
        sleep 1.5
        term_resub=$(( $(grep -c "resubmitting" "$w/sluiced.log") - before ))
    fi
    wait $runner
    local grc=$?
    local resub
    resub=$(grep -c "resubmitting" "$w/sluiced.log")
    echo "restart: $kills kills, $resub restarts resubmitted inflight requests ($(grep -o 'resubmitting [0-9]*' "$w/sluiced.log" | awk '{s+=$2} END {print s+0}') requests)"
    [ $kills = "$TRIALS" ] && ok "sluiced killed $kills times during the guest's writes" || bad "only $kills kills before the guest finished"
    [ $grc = 0 ] && grep -q "guest: every block verified" "$w/guest.log" && ok "guest verified every block after the restarts" ||
        { bad "guest failed (status $grc)"; tail -5 "$w/guest.log"; tail -20 "$w/sluiced.log"; }
    [ "$resub" -gt 0 ] && ok "inflight requests were resubmitted" || bad "no restart found requests in flight"
    [ "$term_rc" = 0 ] && ok "SIGTERM under load: sluiced drained and exited 0" || bad "SIGTERM under load: status $term_rc"
    [ "${term_resub:-1}" = 0 ] && ok "after the clean stop nothing was left to resubmit" ||
        bad "a clean stop left requests in flight (${term_resub:-?})"
    kill -0 "$SPID" 2>/dev/null && ok "the last sluiced still runs" || bad "sluiced is gone"
    kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
    "$BUILD/tests/integration/guestio" verify "$dev" 4711 && ok "the disk holds the pattern" || bad "disk content wrong"
    dmsetup remove sluice-slow; losetup -d "$loop"
    echo "restart: $fails failed checks"
    return $((fails > 0))
}

if [ "${1:-}" = --inside ]; then
    inside
    exit $?
fi
[ -x "$BUILD/src/sluiced/sluiced" ] || { echo "sluiced not built" >&2; exit 1; }
exec "$SRC/tools/lab" run --timeout 700 --env TRIALS="$TRIALS" --env SLUICE_SRC="$SRC" \
    --env SLUICE_BUILD="$BUILD" -- "$SRC/tests/lab/blk-restart.sh" --inside
