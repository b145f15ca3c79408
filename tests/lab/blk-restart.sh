#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Zero-loss backend restart, inside the lab VM (nested KVM for the guest,
# dm-delay under the disk so requests are always in flight): a guest writes
# a pattern over the whole disk with O_DIRECT while sluiced is killed with
# SIGKILL and started again with the same arguments, TRIALS times. The
# frontend reconnects, hands back the inflight region (INFLIGHT_SHMFD),
# sluiced resubmits what the dead process had taken but not completed, the
# guest's writes finish, and its final verify must find every block it was
# told was written. Last, a clean SIGTERM under the same load: sluiced
# completes the requests it took and exits 0, and its successor finds
# nothing to resubmit. Run once per frontend, in one lab VM boot:
#   qemu  QEMU's vhost-user-blk-pci (`-chardev socket,...,reconnect=1`)
#   vmm   sluice-vmm (its event thread notices the hang-up and reconnects
#         every 200 ms: vuf_reconnect)
#   TRIALS (default 3)       how many kills per frontend; tools/soak-restart
#                            runs this with TRIALS=20 and prints the count.
#   FRONTEND (default both)  qemu, vmm, or "qemu vmm"
#                            (FRONTEND=vmm tools/soak-restart soaks sluice-vmm)
#   PACKED (default 0)       1: packed virtqueues on both sides (sluiced
#                            packed=on, QEMU's device packed=on), so the
#                            packed inflight layout carries the restart; the
#                            guest must show VIRTIO_F_RING_PACKED (bit 34)
# Exit 0 pass, 1 fail, 77 skip.
set -u
TRIALS=${TRIALS:-3}
FRONTEND=${FRONTEND:-qemu vmm}
PACKED=${PACKED:-0}
SRC=${SLUICE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
# shellcheck source=../guestlib.sh
. "$(dirname "$(readlink -f "$0")")/../guestlib.sh"
# shellcheck source=../../tools/watchdog.sh
. "$SRC/tools/watchdog.sh"

# inside FRONTEND: one run with that frontend (qemu or vmm).
inside() {
    set -u
    local fe=$1 w fails=0 size=$((512 * 1024 * 1024)) dm
    w=$(mktemp -d /tmp/restart.XXXXXX)
    dm=sluice-slow-$fe
    ok() { echo "ok: $fe: $*"; }
    bad() { echo "FAIL: $fe: $*"; fails=$((fails + 1)); }
    truncate -s $size "$w/disk.img"
    loop=$(losetup --find --show "$w/disk.img") || { echo "FAIL: losetup"; return 1; }
    # 15 ms on every write and read: requests are in flight at any kill.
    # No udev in the lab VM: --verifyudev makes dmsetup create the node.
    dmsetup create --verifyudev $dm --table "0 $((size / 512)) delay $loop 0 15" ||
        { echo "FAIL: dm-delay"; return 1; }
    dmsetup mknodes $dm
    [ -b /dev/mapper/$dm ] || { echo "FAIL: no /dev/mapper/$dm"; return 1; }
    dev=/dev/mapper/$dm
    local popt= qopt=
    [ "$PACKED" = 1 ] && { popt=,packed=on; qopt=,packed=on; }
    # busy_wait PID N: until PID's CPU time grows within 0.1 s (N tries).
    busy_wait() {
        local a b i
        for ((i = 0; i < $2; i++)); do
            a=$(awk '{print $14 + $15}' /proc/"$1"/stat 2>/dev/null) || return 0
            sleep 0.1
            b=$(awk '{print $14 + $15}' /proc/"$1"/stat 2>/dev/null) || return 0
            [ "$b" != "$a" ] && return 0
        done
    }
    # term_wait SECS: SIGTERM to sluiced, then its exit status; one that
    # has not exited after SECS is a failure with evidence (each thread's
    # kernel wait channel and stack, the log's tail), then SIGKILLed: 124.
    term_wait() {
        local i t
        kill -TERM "$SPID" 2>/dev/null
        for ((i = 0; i < $1 * 10; i++)); do
            kill -0 "$SPID" 2>/dev/null || { wait "$SPID"; return $?; }
            sleep 0.1
        done
        echo "FAIL: $fe: sluiced (pid $SPID) did not exit within $1 s of SIGTERM"
        for t in /proc/"$SPID"/task/*; do
            echo "  thread $(cat "$t/comm" 2>/dev/null): wchan $(cat "$t/wchan" 2>/dev/null);" \
                "$(tr '\n' ' ' <"$t/stack" 2>/dev/null | cut -c1-400)"
        done
        tail -n 20 "$w/sluiced.log"
        kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
        return 124
    }
    # step WHAT: a time-stamped progress line (a run cut short by the lab's
    # time limit shows how far it got).
    step() { echo "restart: $fe: $(( SECONDS - t_inside )) s: $*"; }
    local t_inside=$SECONDS
    start() {
        CONN0=$(grep -c "frontend connected" "$w/sluiced.log" 2>/dev/null)
        "$BUILD/src/sluiced/sluiced" --blk "socket=$w/blk.sock,path=$dev,queues=2$popt" >>"$w/sluiced.log" 2>&1 &
        SPID=$!
    }
    start
    for i in $(seq 50); do [ -S "$w/blk.sock" ] && break; sleep 0.1; done
    [ -S "$w/blk.sock" ] || { echo "FAIL: sluiced did not start: $(cat "$w/sluiced.log")"; return 1; }
    : >"$w/guest.sh"
    # The negotiated ring format, from the guest's sysfs (bit 34 packed).
    [ "$PACKED" = 1 ] && cat >>"$w/guest.sh" <<'G'
for d in /sys/bus/virtio/devices/*; do
    [ "$(cat $d/device)" = 0x0002 ] || continue
    f=$(cat $d/features)
    echo "guest: features $f"
    [ "$(echo "$f" | cut -c35)" = 1 ] && echo "guest: ring packed" || echo "guest: ring not packed"
done
G
    guest_fill_verify 4711 >>"$w/guest.sh"
    if [ "$fe" = qemu ]; then
        "$SRC/tools/guest" run --accel kvm --memfd --mem 512M --cpus 2 --timeout 240 --log "$w/guest.log" \
            "$w/guest.sh" "$BUILD/tests/integration/guestio" -- \
            -chardev socket,id=c0,path="$w/blk.sock",reconnect=1 \
            -device vhost-user-blk-pci,chardev=c0,num-queues=2$qopt >/dev/null 2>&1 &
    else
        # sluice-vmm prints the console and its own log lines to one file;
        # it exits 0 on the guest's poweroff, the script's status is the
        # SLUICE-EXIT line.
        "$SRC/tools/guest" test-initrd "$w/guest.sh" "$w/initrd.img" \
            "$BUILD/tests/integration/guestio" >/dev/null || { echo "FAIL: test-initrd"; return 1; }
        # A guest that does not finish in 240 s is killed by lab_bounded
        # (tools/watchdog.sh) after its evidence is kept in $w/hang (vCPU
        # states in guest.log, threads' kernel stacks, the lab VM's kernel
        # messages; printed below); one that SIGKILL does not end is not
        # waited for (a VMM left alone would leave this test to the lab's
        # 900 s limit with nothing said, as once in CI).
        lab_bounded 240 "$w/hang" "$w/guest.log" "$BUILD/src/sluice-vmm/sluice-vmm" \
            --kernel "$("$SRC/tools/guest" path bzimage)" \
            --initrd "$w/initrd.img" --cmdline "$("$SRC/tools/guest" path cmdline)" \
            --cpus 2 --memory 512M --disk "socket=$w/blk.sock" &
    fi
    local runner=$!
    for i in $(seq 600); do grep -q "guest: filling" "$w/guest.log" 2>/dev/null && break; sleep 0.1; done
    step "the guest writes"
    local kills=0 term_rc=x t
    # TRIALS kills, and up to 3 more while none has yet caught requests in
    # flight (a starved guest leaves sluiced idle at a fixed instant); each
    # kill waits (up to 3 s) for a moment sluiced is using CPU: serving I/O.
    for ((t = 0; t < TRIALS + 3; t++)); do
        [ $t -ge "$TRIALS" ] && grep -q "resubmitting" "$w/sluiced.log" && break
        sleep 1.5
        grep -q "guest: every block\|guest: fill failed" "$w/guest.log" && break
        busy_wait "$SPID" 30
        kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
        kills=$((kills + 1))
        sleep 0.3
        start
    done
    step "$kills kills"
    # Then a clean SIGTERM under the same load: sluiced must complete what
    # it took before exiting 0, so the next one has nothing to resubmit.
    # The last restarted sluiced must have its frontend back first (its
    # rings started: what the kill left is resubmitted then), else that
    # resubmission would come after the SIGTERM and count against it (a
    # CI run's frontend took longer than the fixed 1.5 s that was here).
    for i in $(seq 300); do
        [ "$(grep -c "frontend connected" "$w/sluiced.log")" -gt "${CONN0:-0}" ] && break
        sleep 0.1
    done
    sleep 1.5
    busy_wait "$SPID" 30
    if ! grep -q "guest: every block\|guest: fill failed" "$w/guest.log"; then
        local before
        before=$(grep -c "resubmitting" "$w/sluiced.log")
        step "SIGTERM under load"
        term_wait 60; term_rc=$?
        sleep 0.3
        start
        sleep 1.5
        term_resub=$(( $(grep -c "resubmitting" "$w/sluiced.log") - before ))
    fi
    step "waiting for the guest"
    wait $runner
    local grc=$?
    if [ "$fe" = vmm ] && [ $grc = 0 ] && ! grep -aq "SLUICE-EXIT=0" "$w/guest.log"; then
        grc="$(grep -a SLUICE-EXIT "$w/guest.log" || echo "no SLUICE-EXIT")"
    fi
    local resub
    resub=$(grep -c "resubmitting" "$w/sluiced.log")
    echo "restart: $fe: $kills kills, $resub restarts resubmitted inflight requests ($(grep -o 'resubmitting [0-9]*' "$w/sluiced.log" | awk '{s+=$2} END {print s+0}') requests)"
    [ $kills -ge "$TRIALS" ] && ok "sluiced killed $kills times during the guest's writes" || bad "only $kills kills before the guest finished"
    [ $grc = 0 ] && grep -q "guest: every block verified" "$w/guest.log" && ok "guest verified every block after the restarts" ||
        { bad "guest failed (status $grc)"; tail -n 60 "$w/guest.log"; tail -n 20 "$w/sluiced.log"
          lab_evidence_print "$w/hang"; }
    [ "$resub" -gt 0 ] && ok "inflight requests were resubmitted" || bad "no restart found requests in flight"
    if [ "$PACKED" = 1 ]; then
        grep -q "guest: ring packed" "$w/guest.log" && ! grep -q "guest: ring not packed" "$w/guest.log" &&
            ok "the guest negotiated packed rings (features bit 34)" ||
            bad "the guest did not negotiate packed rings: $(grep 'guest: features' "$w/guest.log")"
        ! grep -q "inflight region malformed\|guest error" "$w/sluiced.log" &&
            ok "every restart took the packed inflight region" ||
            bad "$(grep "inflight region malformed\|guest error" "$w/sluiced.log" | head -3)"
    fi
    [ "$term_rc" = 0 ] && ok "SIGTERM under load: sluiced drained and exited 0" || bad "SIGTERM under load: status $term_rc"
    [ "${term_resub:-1}" = 0 ] && ok "after the clean stop nothing was left to resubmit" ||
        bad "a clean stop left requests in flight (${term_resub:-?})"
    if [ "$fe" = vmm ]; then
        local rec
        rec=$(grep -ac "backend reconnected" "$w/guest.log")
        [ "$rec" = $((kills + 1)) ] && ok "sluice-vmm reconnected $rec times" ||
            bad "sluice-vmm reconnected $rec times, expected $((kills + 1))"
        ! grep -aqi "I/O error\|needs reset" "$w/guest.log" && ok "no I/O error, no device reset" ||
            bad "$(grep -ai "I/O error\|needs reset" "$w/guest.log" | head -3)"
    fi
    ! grep -aq "seccomp: denied" "$w/sluiced.log" "$w/guest.log" && ok "no system call denied by seccomp" ||
        bad "$(grep -ah "seccomp: denied" "$w/sluiced.log" "$w/guest.log" | head -3)"
    kill -0 "$SPID" 2>/dev/null && ok "the last sluiced still runs" || bad "sluiced is gone"
    step "stopping the last sluiced"
    term_wait 60; [ $? != 124 ] || fails=$((fails + 1))
    "$BUILD/tests/integration/guestio" verify "$dev" 4711 && ok "the disk holds the pattern" || bad "disk content wrong"
    dmsetup remove $dm; losetup -d "$loop"
    echo "restart: $fe: $fails failed checks"
    return $((fails > 0))
}

if [ "${1:-}" = --inside ]; then
    rc=0
    for fe in $FRONTEND; do
        start_s=$SECONDS
        inside "$fe" || rc=1
        echo "restart: $fe: $((SECONDS - start_s)) s"
    done
    exit $rc
fi
for fe in $FRONTEND; do
    case $fe in
    qemu) ;;
    vmm) [ -x "$BUILD/src/sluice-vmm/sluice-vmm" ] || { echo "sluice-vmm not built" >&2; exit 1; } ;;
    *) echo "FRONTEND: qemu and/or vmm, not $fe" >&2; exit 2 ;;
    esac
done
[ -x "$BUILD/src/sluiced/sluiced" ] || { echo "sluiced not built" >&2; exit 1; }
exec "$SRC/tools/lab" run --timeout 900 --env TRIALS="$TRIALS" --env FRONTEND="$FRONTEND" \
    --env PACKED="$PACKED" \
    --env SLUICE_SRC="$SRC" --env SLUICE_BUILD="$BUILD" -- "$SRC/tests/lab/blk-restart.sh" --inside
