#!/bin/bash
# tests/lab/storage/mirror-thin.sh — storage migration of a thin volume
# between two "hosts" (issue 13 part 2), all inside ONE lab VM boot and ONE
# nested guest boot.
#
# Inside the lab VM (--inside): two thin pools on two loop devices stand for
# the two hosts' storage: thin pool ml/pa (on the first loop device) with
# the 64M thin volume ml/va, thin pool ml/pb (on the second) with a fresh
# 64M thin volume ml/vb (one VG over both: three LVM commands in all).
# Host A: a source sluiced serves ml/va to a QEMU guest (nested KVM, memfd
# RAM, QMP) that writes an 8M region pass after pass with O_DIRECT and
# reads each pass back. Host B: a destination sluiced in its own network
# namespace, --nbd-listen on its end of a veth pair, serves ml/vb as
# `incoming`. One line per check:
#   (q) `sluice dev mirror` to qemu-nbd (a sparse file) while the guest
#       writes; qemu-nbd is killed mid-copy: the mirror fails with one line,
#       the guest keeps writing (a dropped connection, guest unharmed)
#   (m) `sluice dev mirror` to the destination sluiced over TCP on the veth
#       pair syncs while the guest writes
#   (s) QMP migrate to a destination QEMU (-incoming, -S: it never boots)
#       attached to the destination sluiced; at the switch-over (both
#       paused) ml/va and ml/vb are equal; `lvs`: ml/vb is thin (its
#       allocated data close to ml/va's, far below 64M)
#   (h) `cont`: the destination's frontend starts, its NBD export ends and
#       the source's mirror ends by itself as "completed"
#   (g) the guest, now on host B, writes more passes, then verifies the
#       last pass it was acknowledged (after dropping its caches); the lab
#       host reads that pass from ml/vb
# The host tells the guest to stop by writing a marker into ml/vb (the
# guest checks 4K at 60M each pass, with O_DIRECT).
#
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u
. "$(dirname "$(readlink -f "$0")")/../lablib.sh"
MiB=1048576

inside() {
    local SRC=$1 BUILD=$2
    local S=$BUILD/tools/sluice/sluice SLUICED=$BUILD/src/sluiced/sluiced
    local GIO=$BUILD/tests/integration/guestio GUEST=$SRC/tools/guest
    local QMP="python3 $SRC/tools/qmp.py"
    local W fails=0 n=0 t0 NS=mlab$$ SEED=500 REGION=$((8 * MiB)) MARK=$((60 * MiB))
    t0=$(date +%s.%N)
    W=$(mktemp -d)
    export SLUICE_CONTROL=$W/ctl-a.sock
    sb() { SLUICE_CONTROL=$W/ctl-b.sock "$S" "$@"; }
    phase() { "$S" dev mirror-status src --json 2>/dev/null | jq -r .phase; }
    # Allocated data bytes of thin volume LV in $W/lvs.json (data_percent x size).
    alloc() {
        jq -r --arg n "$1" '.report[0].lv[] | select(.lv_name == $n) |
            (.data_percent | tonumber) * (.lv_size | tonumber) / 100 | floor' "$W/lvs.json" 2>/dev/null
    }
    passes() { tr -d '\r' <"$W/$1-console.log" | grep -c "^guest: pass"; }
    # wait_for SECONDS COMMAND...: poll every 0.2 s.
    wait_for() {
        local i lim=$(($1 * 5)); shift
        for ((i = 0; i < lim; i++)); do "$@" && return 0; sleep 0.2; done
        return 1
    }
    local PIDS=()
    cleanup_inside() {
        local p
        for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$NS" 2>/dev/null
    }
    trap cleanup_inside EXIT
    # start_qemu NAME ARGS...: the guest (nested KVM), console in
    # $W/NAME-console.log, QMP on $W/NAME.qmp; pid in QPID.
    start_qemu() {
        local name=$1; shift
        qemu-system-x86_64 -accel kvm -cpu max -smp 1 -m 128M \
            -nodefaults -no-user-config -display none -no-reboot \
            -object memory-backend-memfd,id=mem,size=128M,share=on -machine memory-backend=mem \
            -chardev stdio,id=con,signal=off -serial chardev:con \
            -kernel "$("$GUEST" path kernel)" -initrd "$W/initrd.img" -append "$("$GUEST" path cmdline)" \
            -qmp unix:"$W/$name.qmp",server=on,wait=off "$@" \
            </dev/null >"$W/$name-console.log" 2>&1 &
        QPID=$!
        PIDS+=("$QPID")
        wait_for 20 test -S "$W/$name.qmp"
    }
    blkdev() { echo "-chardev socket,id=c0,path=$1 -device vhost-user-blk-pci,chardev=c0"; }

    # The guest: passes over REGION until the marker at MARK is not zero.
    cat >"$W/guest.sh" <<GUEST
io=/sluice-files/guestio
dev=/dev/vda
p=0
echo "guest: writing"
while \$io zero \$dev $MARK 4096 2>/dev/null && [ \$p -lt 2000 ]; do
    n=\$((p + 1))
    \$io fill \$dev \$(($SEED + n)) 0 $REGION || { echo "guest: write failed in pass \$n"; exit 1; }
    p=\$n
    \$io verify \$dev \$(($SEED + p)) 0 $REGION || { echo "guest: read back wrong in pass \$p"; exit 1; }
    echo "guest: pass \$p"
done
\$io flush \$dev || exit 1
echo 3 > /proc/sys/vm/drop_caches
\$io verify \$dev \$(($SEED + p)) 0 $REGION || { echo "guest: final verify of pass \$p failed"; exit 1; }
echo "guest: last pass \$p verified"
GUEST
    "$GUEST" test-initrd "$W/guest.sh" "$W/initrd.img" "$GIO" >/dev/null ||
        { bad "tools/guest test-initrd"; return 1; }
    [ -c /dev/kvm ] || { bad "no /dev/kvm"; return 1; }

    # --- two pools, two volumes, two sluiced --------------------------------
    # Three LVM commands in all (each costs seconds here): one VG over both
    # loop devices, then per "host" one lvcreate that makes the thin pool on
    # its own PV and the thin volume in it. Pool B is made while the guest
    # boots.
    local l1 l2 ts=$SECONDS
    truncate -s 160M "$W/pv1.img" "$W/pv2.img"
    l1=$(losetup -f --show "$W/pv1.img") && l2=$(losetup -f --show "$W/pv2.img") || { bad losetup; return 1; }
    check "VG ml on $l1 and $l2; thin pool ml/pa on $l1 with the 64M thin volume ml/va" \
        eval "lvm_ vgcreate -q ml $l1 $l2 && lvm_ lvcreate -q -L 96M -T ml/pa -V 64M -n va $l1"
    ( lvm_ lvcreate -q -L 96M -T ml/pb -V 64M -n vb "$l2" >"$W/lvcreate-b.log" 2>&1 ) &
    local LVB=$!
    local VA=/dev/ml/va VB=/dev/ml/vb
    "$SLUICED" --control "$W/ctl-a.sock" --blk "socket=$W/a.sock,path=$VA,id=src" >"$W/sluiced-a.log" 2>&1 &
    PIDS+=($!)
    wait_for 20 grep -q "ready:" "$W/sluiced-a.log" || { bad "sluiced A: $(tail -n2 "$W/sluiced-a.log")"; return 1; }

    # --- the guest on host A -------------------------------------------------
    start_qemu src $(blkdev "$W/a.sock") || { bad "source QEMU did not start"; return 1; }
    local SRCQ=$QPID
    if wait $LVB; then
        ok "thin pool ml/pb on $l2 with the 64M thin volume ml/vb (while the guest boots) [$((SECONDS - ts)) s for LVM]"
    else
        bad "lvcreate ml/pb: $(cat "$W/lvcreate-b.log")"; return 1
    fi
    ip netns add "$NS" && ip link add "ma$$" type veth peer name "mb$$" netns "$NS" &&
        ip addr add 10.77.0.1/24 dev "ma$$" && ip link set "ma$$" up &&
        ip -n "$NS" addr add 10.77.0.2/24 dev "mb$$" && ip -n "$NS" link set "mb$$" up &&
        ip -n "$NS" link set lo up || { bad "veth pair into namespace $NS"; return 1; }
    ip netns exec "$NS" "$SLUICED" --control "$W/ctl-b.sock" --nbd-listen 10.77.0.2:10809 \
        --blk "socket=$W/b.sock,path=$VB,incoming,id=dst" >"$W/sluiced-b.log" 2>&1 &
    local SB=$!
    PIDS+=($SB)
    if wait_for 20 grep -q "ready:" "$W/sluiced-b.log"; then
        ok "sluiced A serves ml/va; sluiced B (namespace $NS) serves ml/vb incoming, NBD on 10.77.0.2:10809"
    else
        bad "sluiced B: $(tail -n2 "$W/sluiced-b.log")"; return 1
    fi
    # --- the guest on host A -------------------------------------------------
    if wait_for 300 grep -aq "guest: pass 3$" "$W/src-console.log"; then
        ok "guest (nested KVM) boots on host A and writes ($((SECONDS - ts)) s from the start of LVM to its third pass)"
    else
        bad "guest: $(tail -n5 "$W/src-console.log")"; return 1
    fi

    # --- (q) qemu-nbd target, then a dropped connection ----------------------
    truncate -s 64M "$W/q.img"
    qemu-nbd -f raw -k "$W/q.sock" -x disk -t "$W/q.img" >"$W/qemu-nbd.log" 2>&1 &
    local QN=$!
    PIDS+=($QN)
    wait_for 10 test -S "$W/q.sock"
    "$S" dev mirror src --to "nbd+unix:///disk?socket=$W/q.sock" --detach >/dev/null 2>"$W/err" ||
        bad "(q) mirror to qemu-nbd did not start: $(cat "$W/err")"
    # Killed as soon as it has copied something: mid-copy.
    local p0 qst=
    for _ in $(seq 300); do
        qst=$("$S" dev mirror-status src --json)
        [ "$(jq .bytes_copied <<<"$qst")" -gt 0 ] 2>/dev/null && break
        sleep 0.2
    done
    kill -KILL $QN
    p0=$(passes src)
    case $(jq -r .phase <<<"$qst") in
    copy|catch-up) ok "(q) mirror to qemu-nbd killed mid-copy while the guest writes: $(jq -c '{phase, bytes_copied, bytes_total}' <<<"$qst")" ;;
    *) bad "(q) mirror to qemu-nbd at the kill: $qst" ;;
    esac
    if wait_for 20 eval '[ "$(phase)" = failed ]'; then
        ok "(q) qemu-nbd killed: the mirror failed ($("$S" dev mirror-status src --json | jq -r .error))"
    else
        bad "(q) mirror after its target was killed: $(phase)"
    fi
    if wait_for 60 eval '[ "$(passes src)" -ge $((p0 + 2)) ]'; then
        ok "(q) the guest wrote on: pass $(passes src) (was $p0 at the kill)"
    else
        bad "(q) the guest stopped after the kill: $(tail -n3 "$W/src-console.log")"
    fi

    # --- (m) mirror to the destination sluiced over TCP ----------------------
    local a1 b1
    if "$S" dev mirror src --to nbd://10.77.0.2:10809/dst --json >"$W/m.json" 2>"$W/err" &&
        [ "$(jq -r .phase "$W/m.json")" = synced ]; then
        ok "(m) mirror over TCP (veth) to sluiced B synced while the guest writes: $(jq -c '{bytes_copied, bytes_total, round, rate_bytes_per_s, elapsed_ms}' "$W/m.json")"
    else
        bad "(m) mirror to sluiced B: $(cat "$W/err" "$W/m.json")"; return 1
    fi
    p0=$(passes src)
    wait_for 60 eval '[ "$(passes src)" -ge $((p0 + 1)) ]' &&
        ok "(m) a pass finished while synchronous" || bad "(m) no pass while synchronous"

    # --- (s) migrate; both copies equal at the switch-over; thin -------------
    start_qemu dst $(blkdev "$W/b.sock") -incoming "unix:$W/mig.sock" -S ||
        { bad "destination QEMU did not start"; return 1; }
    local DSTQ=$QPID st status
    ts=$SECONDS
    # The guest keeps writing and the nested guest's dirty pages move slowly
    # in the TCG lab VM: a 5 s downtime limit lets the migration converge.
    $QMP "$W/src.qmp" migrate-set-parameters '{"downtime-limit": 5000}' >/dev/null ||
        bad "(s) migrate-set-parameters refused"
    $QMP "$W/src.qmp" migrate "{\"uri\": \"unix:$W/mig.sock\"}" >/dev/null || bad "(s) migrate refused"
    for _ in $(seq 600); do
        st=$($QMP "$W/src.qmp" query-migrate)
        status=$(jq -r .status <<<"$st")
        case $status in completed|failed|cancelled) break ;; esac
        sleep 0.2
    done
    if [ "$status" = completed ]; then
        ok "(s) QMP migration completed in $((SECONDS - ts)) s: downtime $(jq -r .downtime <<<"$st") ms, total $(jq -r '.["total-time"]' <<<"$st") ms"
    else
        bad "(s) migration: $st"; return 1
    fi
    wait_for 20 eval '[ "$($QMP "$W/dst.qmp" query-status | jq -r .status)" = paused ]'
    if cmp $VA $VB 2>"$W/err"; then
        ok "(s) at the switch-over (both guests paused) ml/va and ml/vb are equal"
    else
        bad "(s) ml/va and ml/vb differ at the switch-over: $(cat "$W/err")"
    fi
    [ "$(phase)" = synced ] && ok "(s) the source's mirror is still synced while the destination is paused" ||
        bad "(s) source mirror at the switch-over: $(phase)"
    lvm_ lvs --reportformat json --units b --nosuffix -o lv_name,data_percent,lv_size ml/va ml/vb \
        >"$W/lvs.json" 2>"$W/err"
    a1=$(alloc va); b1=$(alloc vb)
    if [ -n "$b1" ] && [ "$b1" -le $((a1 + 2 * MiB)) ] && [ "$b1" -lt $((32 * MiB)) ]; then
        ok "(s) lvs: ml/vb is thin: $((b1 / 1024))K allocated (ml/va $((a1 / 1024))K; size 65536K)"
    else
        bad "(s) lvs: ml/vb allocated '$b1', ml/va '$a1' (size $((64 * MiB)))"
    fi

    # --- (h) the destination runs: its export ends, the mirror completes -----
    $QMP "$W/dst.qmp" cont >/dev/null || bad "(h) cont failed"
    if wait_for 20 grep -q "dst: the frontend started the device: its NBD export ended" "$W/sluiced-b.log"; then
        ok "(h) the destination's export ended when its guest started there"
    else
        bad "(h) the destination kept its export: $(tail -n3 "$W/sluiced-b.log")"
    fi
    if wait_for 20 eval '[ "$(phase)" = completed ]'; then
        ok "(h) the source's mirror ended by itself: completed"
    else
        bad "(h) the source's mirror after the switch-over: $(phase)"
    fi
    $QMP "$W/src.qmp" quit >/dev/null 2>&1
    wait $SRCQ 2>/dev/null

    # --- (g) the guest goes on at B, then verifies ---------------------------
    local pm
    pm=$(tr -d '\r' <"$W/src-console.log" | grep "^guest: pass" | tail -n1 | tr -dc 0-9)
    if wait_for 120 eval '[ "$(passes dst)" -ge 2 ]'; then
        ok "(g) the guest writes on host B (passes $((pm + 1))..., after $pm on A)"
    else
        bad "(g) no pass on host B: $(tail -n5 "$W/dst-console.log")"
    fi
    "$GIO" fill $VB 9 $MARK 4096 || bad "(g) cannot write the stop marker"
    for _ in $(seq 600); do kill -0 $DSTQ 2>/dev/null || break; sleep 0.2; done
    local last
    last=$(tr -d '\r' <"$W/dst-console.log" | sed -n 's/^guest: last pass \([0-9]*\) verified$/\1/p')
    if grep -aq "^SLUICE-EXIT=0" "$W/dst-console.log" && [ -n "$last" ]; then
        ok "(g) the guest verified its last acknowledged pass ($last) on host B"
    else
        bad "(g) guest on host B: $(tr -d '\r' <"$W/dst-console.log" | tail -n5)"
    fi
    if [ -n "$last" ] && "$GIO" verify $VB $((SEED + last)) 0 $REGION 2>"$W/err"; then
        ok "(g) the lab host reads pass $last from ml/vb"
    else
        bad "(g) ml/vb content: $(cat "$W/err")"
    fi
    kill -TERM $SB; wait $SB && ok "sluiced B stopped cleanly" || bad "sluiced B exit: $(tail -n3 "$W/sluiced-b.log")"
    grep -ai "warn\|error" "$W/sluiced-a.log" "$W/sluiced-b.log" | head -n6 | sed 's/^/  sluiced: /'
    echo "inside: $n checks, $fails failed, $(since) s"
    [ "$fails" = 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside "$2" "$3"
    exit $?
fi

SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
BUILD=${SLUICE_BUILD:?SLUICE_BUILD must name the build directory}
lab_launch mirror-thin 1200 "$BUILD/tools/sluice/sluice" "$BUILD/src/sluiced/sluiced" "$BUILD/tests/integration/guestio" -- "$SRC" "$BUILD"
