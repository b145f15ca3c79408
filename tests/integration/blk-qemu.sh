#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# virtio-blk end to end: QEMU (TCG, memfd-shared RAM, vhost-user-blk-pci with
# 2 queues) boots the guest kit against sluiced. Modes (TEST_MODE):
#   file      backing file on disk (O_DIRECT)
#   blockdev  backing loop block device
#   readonly  readonly device: guest writes fail, the file is unchanged
#   reconnect QEMU is killed mid-write; a new QEMU attaches and is served
#   control   the device is added, inspected and removed at run time through
#             the JSON-RPC control socket with `sluice dev`; a second sluiced
#             on the same control or vhost-user socket is refused (exit 1)
#             and the guest still reaches the first; `dev add` refuses the
#             control socket's path and a live socket of another process
#   resize    the backing file grows under a running guest; `sluice dev
#             refresh` makes the guest see the new capacity (CONFIG_CHANGE_MSG)
#   hostile   a malicious frontend (tests/integration/hostile.c) attacks a
#             second device of the same sluiced while the guest's device
#             keeps serving its full read/write check, and a third device
#             and the control socket are served at once during each attack
#             (memory shrinking under a ring, stalled and dripped messages,
#             an undrained backend channel, non-eventfd kick/call fds);
#             sluiced idle afterwards; no fd leaks after
#   perms     sockets are 0600 and another user cannot connect; with
#             --group nogroup the vhost-user sockets are 0660 and a member of
#             that group can connect, the control socket stays 0600; with
#             --control-group nogroup the control socket is 0660;
#             a frontend that hangs up with messages unread and reconnects
#             at once is served (300 rounds)
#   null      null=SIZE backing: reads return zeroes, writes are dropped
#   packed    as file, with packed virtqueues (packed=on on both sides); the
#             guest's negotiated features (sysfs) must have VIRTIO_F_RING_PACKED
#   packed-restart  packed virtqueues; sluiced is killed (SIGKILL) three times
#             while the guest fills the disk and started again; QEMU
#             reconnects (reconnect=1) and hands back the packed inflight
#             region; the guest verifies every block, and so does the host
#             (the lab's blk-restart PACKED=1 does the same with requests
#             always in flight under dm-delay)
#   qos       I/O limits (one guest boot, --workers 1, five null devices on
#             the one worker): a device limited to bps=2M measures 2 MiB/s
#             +-15 % after its burst (dd-like O_DIRECT 1 MiB writes) while an
#             unlimited neighbour keeps its rate; iops=100 with 4 KiB writes
#             (burst 0.2 s) measures 100/s +-15 %; two devices of a group with bps=4M share
#             4 MiB/s (set by a spec, then by `dev group-set`); `sluice dev
#             set` raises a limit under load (6 MiB/s +-15 % after it); bad
#             `dev set` / `group-set` / `dev add` input exits 2, changes nothing
#   multidev  five null devices (MULTIDEV_N) on one worker, one guest boot:
#             a correct guest is never reported as a guest error. SeaBIOS
#             leaves its rings live and QEMU loads the initrd over those of
#             the 4th and 5th device before Linux resets them; sluiced reads
#             an idle ring only on a kick, so it never sees them
#   volume    a dir-pool volume served by name (volume=POOL/VOL): delete is
#             refused while served; `sluice vol resize` reaches the running
#             guest through sluiced's control socket
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../guestlib.sh"

MODE=${TEST_MODE:?TEST_MODE not set}
SIZE=$((32 * 1024 * 1024))
SEED=4242
MiB=$((1024 * 1024))
need_root
need_guest_kit
[ -x "$GUESTIO" ] || fail "guestio not built"

IMG=$WORK/disk.img
SOCK=$WORK/blk.sock
truncate -s $SIZE "$IMG"

qemu_blk_args() {
    echo -chardev socket,id=vblk0,path="$SOCK" \
         -device vhost-user-blk-pci,chardev=vblk0,num-queues=2
}

# The guest side of the file/blockdev modes: pattern over the whole disk,
# read back, flush, discard and write-zeroes, multi-queue and serial checks.
cat >"$WORK/guest-rw.sh" <<GUEST
set -e
io=/sluice-files/guestio
dev=/dev/vda
[ "\$(\$io size \$dev)" = $SIZE ] || { echo "size mismatch: \$(\$io size \$dev)"; exit 1; }
[ "\$(ls /sys/block/vda/mq | wc -l)" = 2 ] || { echo "expected 2 queues"; ls /sys/block/vda/mq; exit 1; }
[ "\$(cat /sys/block/vda/serial)" = sluice-test ] || { echo "serial: \$(cat /sys/block/vda/serial)"; exit 1; }
[ "\$(cat /sys/block/vda/ro)" = 0 ] || { echo "device is read-only"; exit 1; }
echo "guest: writing pattern"
\$io fill \$dev $SEED
echo "guest: verifying"
\$io verify \$dev $SEED
\$io flush \$dev
echo "guest: discard 1M at 1M"
[ "\$(cat /sys/block/vda/queue/discard_max_bytes)" != 0 ] || { echo "discard not offered"; exit 1; }
\$io discard \$dev $MiB $MiB
\$io zero \$dev $MiB $MiB
echo "guest: write-zeroes 64K at 4M"
[ "\$(cat /sys/block/vda/queue/write_zeroes_max_bytes)" != 0 ] || { echo "write zeroes not offered"; exit 1; }
\$io zeroout \$dev $((4 * MiB)) 65536
\$io zero \$dev $((4 * MiB)) 65536
\$io verify \$dev $SEED 0 $MiB
\$io verify \$dev $SEED $((2 * MiB)) $((2 * MiB))
\$io verify \$dev $SEED $((4 * MiB + 65536)) $((SIZE - 4 * MiB - 65536))
\$io flush \$dev
echo "guest: done"
GUEST

# Host-side check of the backing store after the guest of guest-rw.sh.
check_backing() {
    local f=$1
    "$GUESTIO" verify "$f" $SEED 0 $MiB || fail "backing: pattern wrong before the discard"
    "$GUESTIO" zero "$f" $MiB $MiB || fail "backing: discarded range not zero"
    "$GUESTIO" verify "$f" $SEED $((2 * MiB)) $((2 * MiB)) || fail "backing: pattern wrong"
    "$GUESTIO" zero "$f" $((4 * MiB)) 65536 || fail "backing: write-zeroes range not zero"
    "$GUESTIO" verify "$f" $SEED $((4 * MiB + 65536)) $((SIZE - 4 * MiB - 65536)) ||
        fail "backing: pattern wrong after the zeroed range"
}

case $MODE in
packed-restart)
    BIG=$WORK/restart.img
    truncate -s $((256 * MiB)) "$BIG"
    { guest_packed_check 0x0002; guest_fill_verify 4711; } >"$WORK/guest-restart.sh"
    spec="socket=$SOCK,path=$BIG,queues=2,packed=on"
    start_sluiced --blk "$spec"
    "$GUEST" run --memfd --mem 512M --cpus 2 --timeout 600 --log "$WORK/guest.log" \
        "$WORK/guest-restart.sh" "$GUESTIO" -- \
        -chardev socket,id=vblk0,path="$SOCK",reconnect=1 \
        -device vhost-user-blk-pci,chardev=vblk0,num-queues=2,packed=on >/dev/null 2>&1 &
    RUNNER=$!
    for i in $(seq 900); do grep -q "guest: filling" "$WORK/guest.log" 2>/dev/null && break; sleep 0.2; done
    grep -q "guest: filling" "$WORK/guest.log" || fail "the guest never started writing"
    kills=0
    for t in 1 2 3; do
        sleep 1
        grep -q "guest: every block\|guest: fill failed" "$WORK/guest.log" && break
        kill -KILL "$SLUICED_PID"; wait "$SLUICED_PID" 2>/dev/null || true
        kills=$((kills + 1))
        sleep 0.3
        start_sluiced --blk "$spec"
    done
    rc=0; wait "$RUNNER" || rc=$?
    log "packed restart: $kills kills; $(grep -c resubmitting "$WORK/sluiced.log") restarts resubmitted $(grep -o 'resubmitting [0-9]*' "$WORK/sluiced.log" | awk '{s+=$2} END {print s+0}') requests"
    [ "$kills" -ge 1 ] || fail "the guest finished before sluiced was killed"
    [ $rc = 0 ] && grep -q "guest: every block verified" "$WORK/guest.log" ||
        fail "guest failed (status $rc): $(tail -5 "$WORK/guest.log")"
    grep -q "ring not packed" "$WORK/guest.log" && fail "the guest negotiated a split ring"
    ! grep -q "inflight region malformed\|guest error" "$WORK/sluiced.log" ||
        fail "$(grep "inflight region malformed\|guest error" "$WORK/sluiced.log" | head -3)"
    stop_sluiced "$SOCK"
    "$GUESTIO" verify "$BIG" 4711 || fail "backing: pattern wrong after the restarts"
    ;;
packed)
    start_sluiced --blk "socket=$SOCK,path=$IMG,queues=2,serial=sluice-test,packed=on"
    { guest_packed_check 0x0002; cat "$WORK/guest-rw.sh"; } >"$WORK/guest-packed.sh"
    run_guest "$WORK/guest-packed.sh" "$WORK/guest.log" $(qemu_blk_args),packed=on ||
        fail "guest script failed"
    grep -q "ring not packed" "$WORK/guest.log" && fail "the guest negotiated a split ring"
    stop_sluiced "$SOCK"
    check_backing "$IMG"
    ;;
file)
    start_sluiced --blk "socket=$SOCK,path=$IMG,queues=2,serial=sluice-test"
    run_guest "$WORK/guest-rw.sh" "$WORK/guest.log" $(qemu_blk_args) ||
        fail "guest script failed"
    stop_sluiced "$SOCK"
    grep -q "O_DIRECT" "$WORK/sluiced.log" || fail "backing file not opened with O_DIRECT"
    check_backing "$IMG"
    ;;
blockdev)
    need_cmd losetup
    LOOP=$(losetup --find --show "$IMG") || skip "no loop device available"
    CLEANUP_CMDS+=("losetup -d $LOOP")
    start_sluiced --blk "socket=$SOCK,path=$LOOP,queues=2,serial=sluice-test"
    run_guest "$WORK/guest-rw.sh" "$WORK/guest.log" $(qemu_blk_args) ||
        fail "guest script failed"
    stop_sluiced "$SOCK"
    check_backing "$LOOP"
    ;;
readonly)
    "$GUESTIO" fill "$IMG" 7
    before=$(sha256sum <"$IMG")
    cat >"$WORK/guest-ro.sh" <<GUEST
io=/sluice-files/guestio
[ "\$(cat /sys/block/vda/ro)" = 1 ] || { echo "device not read-only in the guest"; exit 1; }
\$io verify /dev/vda 7 || exit 1
# The kernel refuses writes to a read-only disk; force them past it.
blockdev --setrw /dev/vda 2>/dev/null
if \$io fill /dev/vda 99 0 1048576; then echo "write succeeded on a read-only disk"; exit 1; fi
\$io verify /dev/vda 7 || exit 1
echo "guest: writes refused"
GUEST
    start_sluiced --blk "socket=$SOCK,path=$IMG,readonly,queues=2"
    run_guest "$WORK/guest-ro.sh" "$WORK/guest.log" $(qemu_blk_args) ||
        fail "guest script failed"
    stop_sluiced "$SOCK"
    [ "$(sha256sum <"$IMG")" = "$before" ] || fail "read-only backing file changed"
    ;;
reconnect)
    cat >"$WORK/guest-loop.sh" <<GUEST
/sluice-files/guestio loop /dev/vda 1000
GUEST
    start_sluiced --blk "socket=$SOCK,path=$IMG,queues=2,serial=sluice-test"
    # First frontend: writes in a loop; killed once I/O is flowing.
    "$GUEST" run --memfd --mem 512M --cpus 2 --timeout 300 --log "$WORK/guest1.log" \
        "$WORK/guest-loop.sh" "$GUESTIO" -- $(qemu_blk_args) >/dev/null 2>&1 &
    RUNNER=$!
    for i in $(seq 600); do
        grep -q "pass 0 written" "$WORK/guest1.log" 2>/dev/null && break
        sleep 0.2
    done
    grep -q "pass 0 written" "$WORK/guest1.log" || fail "first guest never wrote"
    sleep 1
    QPID=$(pgrep -f "^qemu-system-x86_64 .*$SOCK" | head -n1) || fail "no QEMU found"
    log "killing QEMU $QPID mid-write"
    kill -KILL "$QPID"
    wait "$RUNNER" 2>/dev/null || true
    kill -0 "$SLUICED_PID" || fail "sluiced died with its frontend"
    for i in $(seq 50); do
        grep -q "frontend disconnected" "$WORK/sluiced.log" && break
        sleep 0.1
    done
    grep -q "frontend disconnected" "$WORK/sluiced.log" || fail "sluiced did not notice the disconnect"
    # Second frontend: the full read/write check.
    run_guest "$WORK/guest-rw.sh" "$WORK/guest.log" $(qemu_blk_args) ||
        fail "second guest failed"
    stop_sluiced "$SOCK"
    check_backing "$IMG"
    ;;
control)
    SLUICE=$SLUICE_BUILD/tools/sluice/sluice
    export SLUICE_CONTROL=$WORK/control.sock
    start_sluiced --control "$SLUICE_CONTROL"
    [ "$("$SLUICE" dev list --json | tr -d ' \n')" = "[]" ] || fail "fresh sluiced lists devices"
    id=$("$SLUICE" dev add blk "socket=$SOCK,path=$IMG,queues=2,serial=sluice-test,id=disk0")
    [ "$id" = disk0 ] || fail "dev add printed '$id'"
    # Bad requests fail with a reason and change nothing.
    rc=0; "$SLUICE" dev add blk "socket=$WORK/x.sock,path=$WORK/missing.img" 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "missing.img" "$WORK/err" || fail "adding a missing file: rc=$rc $(cat "$WORK/err")"
    rc=0; "$SLUICE" dev add blk "socket=$SOCK,path=$IMG" 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "the socket of another device" "$WORK/err" || fail "adding a duplicate socket: rc=$rc"
    # One sluiced per socket: a second one is refused and changes nothing.
    for args in "--control $SLUICE_CONTROL --blk socket=$SOCK,null=1G" \
                "--control $SLUICE_CONTROL --blk socket=$WORK/b.sock,null=1G" \
                "--control $WORK/b-ctl.sock --blk socket=$SOCK,null=1G"; do
        rc=0; timeout 10 "$SLUICED" $args >/dev/null 2>"$WORK/err" || rc=$?
        case $args in *"--control $SLUICE_CONTROL "*) busy=$SLUICE_CONTROL ;; *) busy=$SOCK ;; esac
        [ $rc = 1 ] && grep -qx "sluiced: $busy: in use by a running process" "$WORK/err" ||
            fail "a second sluiced $args: rc=$rc $(cat "$WORK/err")"
        [ ! -e "$WORK/b.sock" ] && [ ! -e "$WORK/b-ctl.sock" ] || fail "the refused sluiced left a socket"
    done
    rc=0; "$SLUICE" dev add blk "socket=$SLUICE_CONTROL,null=1G" 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "the control socket" "$WORK/err" || fail "dev add on the control socket: rc=$rc $(cat "$WORK/err")"
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(30)' "$WORK/live.sock" &
    LIVE=$!
    CLEANUP_CMDS+=("kill $LIVE 2>/dev/null")
    for i in $(seq 50); do [ -S "$WORK/live.sock" ] && break; sleep 0.1; done
    rc=0; "$SLUICE" dev add blk "socket=$WORK/live.sock,null=1G" 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "in use by a running process" "$WORK/err" || fail "dev add on a live socket: rc=$rc $(cat "$WORK/err")"
    kill $LIVE
    ! grep -q "serving null" "$WORK/sluiced.log" || fail "sluiced logged serving a refused device"
    [ "$("$SLUICE" dev list --json | tr -d ' \n' | grep -o '"id":"[^"]*"')" = '"id":"disk0"' ] ||
        fail "device list changed: $("$SLUICE" dev list --json)"
    rc=0; "$SLUICE" dev stats nosuch 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "no such device" "$WORK/err" || fail "stats of a missing device: rc=$rc"
    "$SLUICE" dev list | grep -q "disk0.*listening" || fail "device not listed as listening"
    run_guest "$WORK/guest-rw.sh" "$WORK/guest.log" $(qemu_blk_args) || fail "guest script failed"
    "$SLUICE" dev stats disk0 --json >"$WORK/stats.json"
    python3 - "$WORK/stats.json" $SIZE <<'PY' || fail "statistics wrong: $(cat "$WORK/stats.json")"
import json, sys
st, size = json.load(open(sys.argv[1])), int(sys.argv[2])
assert st["bytes_written"] >= size and st["bytes_read"] >= size, st
assert st["writes"] > 0 and st["reads"] > 0 and st["flushes"] > 0, st
assert st["discards"] >= 1 and st["write_zeroes"] >= 1 and st["errors"] == 0, st
PY
    "$SLUICE" dev remove disk0
    [ ! -e "$SOCK" ] || fail "socket left after dev remove"
    [ "$("$SLUICE" dev list --json | tr -d ' \n')" = "[]" ] || fail "device still listed"
    stop_sluiced "$SOCK" "$SLUICE_CONTROL"
    check_backing "$IMG"
    ;;
resize)
    SLUICE=$SLUICE_BUILD/tools/sluice/sluice
    export SLUICE_CONTROL=$WORK/control.sock
    NEW=$((SIZE * 2))
    cat >"$WORK/guest-resize.sh" <<GUEST
io=/sluice-files/guestio
echo "guest: size \$(\$io size /dev/vda)"
i=0
while [ "\$(\$io size /dev/vda)" != $NEW ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
[ "\$(\$io size /dev/vda)" = $NEW ] || { echo "guest: capacity never changed"; exit 1; }
echo "guest: resized to \$(\$io size /dev/vda)"
\$io fill /dev/vda 77 $SIZE $SIZE && \$io verify /dev/vda 77 $SIZE $SIZE && \$io flush /dev/vda
GUEST
    start_sluiced --control "$SLUICE_CONTROL" --blk "socket=$SOCK,path=$IMG,id=disk0,queues=2"
    run_guest "$WORK/guest-resize.sh" "$WORK/guest.log" $(qemu_blk_args) >/dev/null 2>&1 &
    RUNNER=$!
    for i in $(seq 600); do
        grep -q "guest: size" "$WORK/guest.log" 2>/dev/null && break
        sleep 0.2
    done
    grep -q "guest: size $SIZE" "$WORK/guest.log" || fail "guest did not report its size"
    truncate -s $NEW "$IMG"
    [ "$("$SLUICE" dev refresh disk0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["size_bytes"])')" = $NEW ] ||
        fail "refresh did not report the new size"
    wait $RUNNER || fail "guest failed: $(tail -5 "$WORK/guest.log")"
    grep -q "guest: resized to $NEW" "$WORK/guest.log" || fail "guest did not see the new size"
    stop_sluiced "$SOCK"
    "$GUESTIO" verify "$IMG" 77 $SIZE $SIZE || fail "data in the grown area is wrong"
    ;;
hostile)
    # Three devices: the guest's, the victim the hostile frontend attacks,
    # and a bystander it sets up sessions on (verified I/O) during attacks.
    truncate -s $SIZE "$WORK/victim.img" "$WORK/bystander.img"
    start_sluiced --control "$WORK/control.sock" \
        --blk "socket=$SOCK,path=$IMG,queues=2,serial=sluice-test" \
        --blk "socket=$WORK/victim.sock,path=$WORK/victim.img,queues=2,id=victim" \
        --blk "socket=$WORK/bystander.sock,path=$WORK/bystander.img,id=bystander"
    fds_before=$(ls /proc/$SLUICED_PID/fd | wc -l)
    # guest.rc appears when the guest is done: then the hostile frontend
    # measures sluiced's idle CPU.
    ( rc=0; run_guest "$WORK/guest-rw.sh" "$WORK/guest.log" $(qemu_blk_args) >/dev/null 2>&1 || rc=$?
      echo $rc >"$WORK/guest.rc" ) &
    RUNNER=$!
    for i in $(seq 300); do grep -q "guest: writing" "$WORK/guest.log" 2>/dev/null && break; sleep 0.1; done
    "$SLUICE_BUILD/tests/integration/hostile" "$WORK/victim.sock" "$SLUICED_PID" \
        "$WORK/bystander.sock" "$WORK/control.sock" victim "$WORK/victim.img" "$WORK/guest.rc" \
        >"$WORK/hostile.log" 2>&1 || { sed "s/^/  /" "$WORK/hostile.log"; fail "hostile frontend: $(grep FAIL "$WORK/hostile.log")"; }
    sed "s/^/  /" "$WORK/hostile.log"
    log "$(grep -c '^ok:' "$WORK/hostile.log") attacks answered, sluiced alive"
    wait $RUNNER
    [ "$(cat "$WORK/guest.rc")" = 0 ] || fail "the guest's device failed during the attacks"
    sleep 0.5
    fds_after=$(ls /proc/$SLUICED_PID/fd | wc -l)
    [ "$fds_after" = "$fds_before" ] || fail "sluiced fds: $fds_before before, $fds_after after"
    grep -q "needs reset" "$WORK/sluiced.log" || fail "the broken device was not logged"
    grep -q "guest memory shrank" "$WORK/sluiced.log" || fail "the SIGBUS was not logged"
    stop_sluiced "$SOCK" "$WORK/victim.sock" "$WORK/bystander.sock" "$WORK/control.sock"
    check_backing "$IMG"
    ;;
perms)
    need_cmd setpriv
    chmod 755 "$WORK"
    probe() { # connect to $1 as nobody:nogroup; prints ok or the error
        setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("ok")
except OSError as e:
    print(e.strerror)' "$1"
    }
    start_sluiced --control "$WORK/ctl.sock" --blk "socket=$SOCK,path=$IMG"
    [ "$(stat -c %a "$SOCK")" = 600 ] && [ "$(stat -c %a "$WORK/ctl.sock")" = 600 ] || fail "sockets are not 0600"
    [ "$(probe "$SOCK")" = "Permission denied" ] || fail "another user connected to the device socket"
    [ "$(probe "$WORK/ctl.sock")" = "Permission denied" ] || fail "another user connected to the control socket"
    stop_sluiced "$SOCK" "$WORK/ctl.sock"
    start_sluiced --group nogroup --control "$WORK/ctl.sock" --blk "socket=$SOCK,path=$IMG"
    [ "$(stat -c %a:%G "$SOCK")" = 660:nogroup ] || fail "device socket not 0660 nogroup: $(stat -c %a:%G "$SOCK")"
    [ "$(probe "$SOCK")" = ok ] || fail "a member of the group cannot connect"
    # --group is for frontends: the control socket (device.add of any
    # path) stays the owner's.
    [ "$(stat -c %a "$WORK/ctl.sock")" = 600 ] || fail "--group opened the control socket: $(stat -c %a "$WORK/ctl.sock")"
    [ "$(probe "$WORK/ctl.sock")" = "Permission denied" ] || fail "--group let a group member reach the control socket"
    stop_sluiced "$SOCK" "$WORK/ctl.sock"
    start_sluiced --control-group nogroup --control "$WORK/ctl.sock" --blk "socket=$SOCK,path=$IMG"
    [ "$(stat -c %a:%G "$WORK/ctl.sock")" = 660:nogroup ] || fail "control socket not 0660 nogroup: $(stat -c %a:%G "$WORK/ctl.sock")"
    [ "$(probe "$WORK/ctl.sock")" = ok ] || fail "a member of the control group cannot reach the control socket"
    [ "$(stat -c %a "$SOCK")" = 600 ] && [ "$(probe "$SOCK")" = "Permission denied" ] ||
        fail "--control-group opened the device socket"
    stop_sluiced "$SOCK" "$WORK/ctl.sock"
    rc=0; "$SLUICED" --group no-such-group-x --blk "socket=$SOCK,path=$IMG" 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "no such group" "$WORK/err" || fail "unknown group: rc=$rc"
    log "0600 by default, 0660 with --group (devices) and --control-group, strangers refused"
    # A frontend that hangs up with messages still unread and knocks again
    # at once (reconnect=, a restarted VMM) is served, not refused.
    start_sluiced --blk "socket=$SOCK,path=$IMG"
    /usr/bin/python3 - "$SOCK" 300 <<'PY' || fail "a quick reconnect was refused: $(grep -c refusing "$WORK/sluiced.log") refusals"
import socket, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
answered = 0
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(struct.pack("<III", 1, 1, 0))                 # GET_FEATURES
        answered += len(s.recv(20)) == 20
        s.sendall(struct.pack("<IIIQ", 2, 1, 8, 0) * 64)        # SET_FEATURES x64, no replies
    except OSError:
        pass
    s.close()
print(f"{answered}/{n} quick reconnects answered")
sys.exit(answered != n)
PY
    ! grep -q refusing "$WORK/sluiced.log" || fail "sluiced refused a frontend"
    stop_sluiced "$SOCK"
    ;;
null)
    cat >"$WORK/guest-null.sh" <<GUEST
io=/sluice-files/guestio
[ "\$(\$io size /dev/vda)" = 1073741824 ] || { echo "guest: wrong size"; exit 1; }
\$io fill /dev/vda 5 0 $SIZE || exit 1
\$io zero /dev/vda 0 $SIZE || exit 1
\$io flush /dev/vda && \$io discard /dev/vda 0 $MiB && \$io zeroout /dev/vda 0 $MiB || exit 1
echo "guest: null device took the writes and reads back zeroes"
GUEST
    start_sluiced --blk "socket=$SOCK,null=1G,queues=2"
    run_guest "$WORK/guest-null.sh" "$WORK/guest.log" $(qemu_blk_args) || fail "guest script failed"
    stop_sluiced "$SOCK"
    ;;
multidev)
    # N (default 5) null devices with one queue each on one worker; a
    # correct guest (firmware probe, kernel driver, a write and read per
    # device) must never be reported as a guest error.
    N=${MULTIDEV_N:-5}
    cat >"$WORK/guest-multi.sh" <<GUEST
io=/sluice-files/guestio
n=0
for b in /sys/block/vd*; do
    d=/dev/\${b##*/}
    \$io fill \$d 7 0 $MiB && \$io zero \$d 0 $MiB || { echo "guest: I/O on \$d failed"; exit 1; }
    n=\$((n + 1))
done
[ \$n = $N ] || { echo "guest: \$n devices, expected $N"; ls /sys/block; exit 1; }
dmesg | grep -i "virtio_blk\\|e820\\|RAMDISK"
echo "guest: $N devices served"
GUEST
    sargs=() qargs=()
    for i in $(seq $N); do
        sargs+=(--blk "socket=$WORK/d$i.sock,null=1G,serial=d$i,id=d$i")
        qargs+=(-chardev "socket,id=c$i,path=$WORK/d$i.sock" -device "vhost-user-blk-pci,chardev=c$i,num-queues=1")
    done
    # --verbose: the vhost-user message sequence of each device is in the log.
    start_sluiced --workers 1 --verbose "${sargs[@]}"
    run_guest "$WORK/guest-multi.sh" "$WORK/guest.log" "${qargs[@]}" >/dev/null 2>&1 ||
        fail "guest script failed: $(grep '^guest' "$WORK/guest.log" | tail -3)"
    # Where the firmware's rings were (guest-physical; one region at 0).
    base=$(grep -o 'ADD_MEM_REG guest 0x0 .* uva 0x[0-9a-f]*' "$WORK/sluiced.log" | head -1 | awk '{print $NF}')
    rings=$(grep -o 'SET_VRING_ADDR queue 0 desc 0x[0-9a-f]*' "$WORK/sluiced.log" | head -$N |
        while read -r _ _ _ _ d; do printf '0x%x ' $((d - ${base:-0})); done)
    log "$(grep -o 'RAMDISK: \[mem [^]]*\]' "$WORK/guest.log" | head -1); firmware rings at: $rings"
    ! grep -q "guest error" "$WORK/sluiced.log" ||
        fail "a correct guest was reported malformed: $(grep "guest error" "$WORK/sluiced.log" | head -3)"
    stop_sluiced "$WORK/d1.sock"
    ;;
qos)
    SLUICE=$SLUICE_BUILD/tools/sluice/sluice
    export SLUICE_CONTROL=$WORK/control.sock
    # Writers of a phase run at once; `guestio rate DEV BS SECS WARM` prints
    # the rate of its last SECS seconds, after WARM seconds that use up the
    # burst (1 s of the rate). Lines "guest: R TAG rate DEV: bytes/s=..".
    cat >"$WORK/guest-qos.sh" <<GUEST
io=/sluice-files/guestio
dev() { for b in /sys/block/vd*; do [ "\$(cat \$b/serial)" = \$1 ] && echo /dev/\${b##*/}; done; }
LIM=\$(dev lim) FREE=\$(dev free) G1=\$(dev g1) G2=\$(dev g2) IOPS=\$(dev iops)
[ -n "\$LIM" ] && [ -n "\$FREE" ] && [ -n "\$G1" ] && [ -n "\$G2" ] && [ -n "\$IOPS" ] || { echo "guest: devices missing"; ls /sys/block; exit 1; }
r() { tag=\$1; shift; \$io rate "\$@" >/tmp/\$tag.out || { echo "guest: rate \$tag failed"; exit 1; }; sed "s/^/guest: R \$tag /" /tmp/\$tag.out; }
r alone \$FREE 1048576 1.5 0.5
r pair-lim \$LIM 1048576 3.5 1.5 &
r pair-free \$FREE 1048576 3.5 1.5
wait \$! || exit 1
# iops: four writers at once (a TCG guest on a busy host may not reach
# 100 writes a second one at a time); the rates add up.
for j in 1 2 3; do r iops\$j \$IOPS 4096 2.5 0.5 & done
r iops0 \$IOPS 4096 2.5 0.5
wait || exit 1
r g1 \$G1 1048576 3.5 1.5 &
r g2 \$G2 1048576 3.5 1.5
wait \$! || exit 1
# Writes at 2 MiB/s in windows of 1 s (after 0.5 s: no burst) until the host's dev set bps=6M shows,
# then the new rate.
echo "guest: change-load"
i=0
while [ \$i -lt 15 ]; do
    \$io rate \$LIM 1048576 1 0.5 >/tmp/w.out || exit 1
    [ "\$(grep -o 'bytes/s=[0-9]*' /tmp/w.out | cut -d= -f2)" -gt 4194304 ] && break
    i=\$((i + 1))
done
echo "guest: change seen after \$i windows"
r change \$LIM 1048576 2.5 0.3
echo "guest: qos done"
GUEST
    start_sluiced --workers 1 --control "$SLUICE_CONTROL" \
        --blk "socket=$WORK/lim.sock,null=1G,serial=lim,id=lim,bps=2M" \
        --blk "socket=$WORK/free.sock,null=1G,serial=free,id=free" \
        --blk "socket=$WORK/g1.sock,null=1G,serial=g1,id=g1,group=grp,bps=1M" \
        --blk "socket=$WORK/g2.sock,null=1G,serial=g2,id=g2,group=grp" \
        --blk "socket=$WORK/iops.sock,null=1G,serial=iops,id=iops,iops=100,burst=0.2"
    qargs=()
    for d in lim free g1 g2 iops; do
        qargs+=(-chardev "socket,id=c$d,path=$WORK/$d.sock" -device "vhost-user-blk-pci,chardev=c$d,num-queues=1")
    done
    # Bad input: one line, exit 2, nothing changed.
    limits() { "$SLUICE" dev stats "$1" --json | python3 -c 'import json,sys; l=json.load(sys.stdin)["limits"]; print(l["bps"], l["iops"], l["burst_s"])'; }
    for bad in "bps=-1" "bps=12Q" "iops=1.5" "burst=0" "colour=red" "group=other" "bps=4M colour=red"; do
        rc=0; "$SLUICE" dev set lim $bad 2>"$WORK/err" || rc=$?
        [ $rc = 2 ] && [ "$(wc -l <"$WORK/err")" = 1 ] || fail "dev set lim $bad: exit $rc, $(cat "$WORK/err")"
    done
    rc=0; "$SLUICE" dev set nosuch bps=1M 2>/dev/null || rc=$?
    [ $rc = 1 ] || fail "dev set on a missing device: exit $rc"
    [ "$(limits lim)" = "2097152 None 1.0" ] || fail "limits changed by bad input: $(limits lim)"
    # The group's limits: from g1's spec, then from group-set.
    [ "$(limits g2)" = "1048576 None 1.0" ] || fail "g2 does not have its group's limits: $(limits g2)"
    "$SLUICE" dev group-set grp bps=4M >/dev/null || fail "dev group-set failed"
    [ "$(limits g2)" = "4194304 None 1.0" ] || fail "group-set did not reach g2: $(limits g2)"
    "$SLUICE" dev groups | grep -q "^grp: bps=4194304 burst_s=1.0  members: g1 g2$" || fail "dev groups: $("$SLUICE" dev groups)"
    rc=0; "$SLUICE" dev group-set grp bps=4M iops=x 2>/dev/null || rc=$?
    [ $rc = 2 ] && [ "$(limits g2)" = "4194304 None 1.0" ] || fail "bad group-set: exit $rc, $(limits g2)"
    # Limits through the control socket's device.add.
    "$SLUICE" dev add blk "socket=$WORK/extra.sock,null=1M,id=extra,iops-write=7,bps-read=1M,burst=0.25" >/dev/null ||
        fail "dev add with limits failed"
    "$SLUICE" dev stats extra --json | python3 -c 'import json,sys; l=json.load(sys.stdin)["limits"]; sys.exit(0 if (l["iops-write"], l["bps-read"], l["burst_s"], l["bps"]) == (7, 1048576, 0.25, None) else 1)' ||
        fail "dev add limits: $("$SLUICE" dev stats extra --json | tr -d '\n ')"
    rc=0; "$SLUICE" dev add blk "socket=$WORK/bad.sock,null=1M,iops=many" 2>/dev/null || rc=$?
    [ $rc = 2 ] && [ ! -e "$WORK/bad.sock" ] || fail "dev add with a bad limit: exit $rc"
    "$SLUICE" dev remove extra >/dev/null
    GUEST_TIMEOUT=120 run_guest "$WORK/guest-qos.sh" "$WORK/guest.log" "${qargs[@]}" >/dev/null 2>&1 &
    RUNNER=$!
    for i in $(seq 900); do grep -q "guest: change-load" "$WORK/guest.log" 2>/dev/null && break; sleep 0.1; done
    grep -q "guest: change-load" "$WORK/guest.log" || { wait $RUNNER; fail "guest never reached the live change: $(tail -5 "$WORK/guest.log")"; }
    # Under load at 2 MiB/s, raise the limit to 6M.
    sleep 1.5
    "$SLUICE" dev set lim bps=6M >/dev/null || fail "dev set lim bps=6M failed"
    wait $RUNNER || fail "guest script failed: $(grep '^guest' "$WORK/guest.log" | tail -5)"
    grep "^guest: R" "$WORK/guest.log" | sed 's/^/  /'
    # val TAG KEY: the value of KEY= on the guest's line of TAG.
    val() { grep "^guest: R $1 " "$WORK/guest.log" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
    within() {   # within WHAT VALUE TARGET PCT
        python3 -c "import sys; v,t,p=float('$2'),float('$3'),float('$4'); sys.exit(0 if abs(v-t)<=t*p/100 else 1)" ||
            fail "$1: $2, not within $4 % of $3"
        log "$1: $2 (target $3 +-$4 %)"
    }
    at_least() {   # at_least WHAT VALUE MIN
        python3 -c "import sys; sys.exit(0 if float('$2')>=float('$3') else 1)" || fail "$1: $2, below $3"
        log "$1: $2 (at least $3)"
    }
    within "bps=2M device, 1 MiB writes (bytes/s)" "$(val pair-lim bytes/s)" $((2 * MiB)) 15
    # The unlimited neighbour on the same worker, while the limited device
    # has requests waiting: a worker held up by the limited device would
    # drag it towards 2 MiB/s; it must stay far above (25x). Against its
    # rate alone it is logged, not asserted: on a TCG guest with a shared,
    # loaded host the ratio ranged 0.42-0.91 from run to run.
    at_least "unlimited neighbour at once (bytes/s)" "$(val pair-free bytes/s)" $((25 * 2 * MiB))
    log "unlimited neighbour: $(python3 -c "print('%.2f' % ($(val pair-free bytes/s) / $(val alone bytes/s)))") of its rate alone ($(val alone bytes/s) bytes/s)"
    within "iops=100 device, 4 KiB writes, 4 writers (sum, ops/s)" \
        "$(python3 -c "print($(val iops0 ops/s) + $(val iops1 ops/s) + $(val iops2 ops/s) + $(val iops3 ops/s))")" 100 15
    within "group bps=4M, two devices (sum, bytes/s)" \
        "$(python3 -c "print($(val g1 bytes/s) + $(val g2 bytes/s))")" $((4 * MiB)) 15
    at_least "group member g1 (bytes/s)" "$(val g1 bytes/s)" $MiB
    at_least "group member g2 (bytes/s)" "$(val g2 bytes/s)" $MiB
    grep "^guest: change seen" "$WORK/guest.log" | sed 's/^/  /'
    within "after dev set bps=6M under load (bytes/s)" "$(val change bytes/s)" $((6 * MiB)) 15
    st=$("$SLUICE" dev stats lim --json)
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["throttled_ms"] > 1000 and s["waiting"] == 0, s' "$st" ||
        fail "stats: throttled_ms / waiting wrong: $st"
    log "lim: throttled $(echo "$st" | python3 -c 'import json,sys; print(json.load(sys.stdin)["throttled_ms"])') ms"
    # Five devices: SeaBIOS's rings of the 4th and 5th lie under the initrd (multidev).
    ! grep -q "guest error" "$WORK/sluiced.log" ||
        fail "a correct guest was reported malformed: $(grep "guest error" "$WORK/sluiced.log" | head -3)"
    stop_sluiced "$WORK/lim.sock"
    ;;
volume)
    SLUICE=$SLUICE_BUILD/tools/sluice/sluice
    export SLUICE_CONTROL=$WORK/control.sock SLUICE_STATE_DIR=$WORK/state
    NEW=$((SIZE * 2))
    mkdir -p "$WORK/pool"
    "$SLUICE" pool create tp --type dir --path "$WORK/pool" >/dev/null
    "$SLUICE" vol create tp/disk --size $SIZE >/dev/null
    cat >"$WORK/guest-vol.sh" <<GUEST
io=/sluice-files/guestio
\$io fill /dev/vda 31 || exit 1
echo "guest: size \$(\$io size /dev/vda)"
i=0
while [ "\$(\$io size /dev/vda)" != $NEW ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
[ "\$(\$io size /dev/vda)" = $NEW ] || { echo "guest: capacity never changed"; exit 1; }
echo "guest: resized to \$(\$io size /dev/vda)"
\$io fill /dev/vda 32 $SIZE $SIZE && \$io verify /dev/vda 31 0 $SIZE && \$io flush /dev/vda
GUEST
    start_sluiced --control "$SLUICE_CONTROL" --blk "socket=$SOCK,volume=tp/disk,id=vol0,queues=2"
    "$SLUICE" dev list --json | grep -q '"volume":"tp\\/disk"' || fail "device does not name its volume"
    rc=0; "$SLUICE" vol delete tp/disk 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "in use" "$WORK/err" || fail "deleting a served volume: rc=$rc $(cat "$WORK/err")"
    # sluiced serves it by name: a rename would leave it serving a ghost.
    rc=0; "$SLUICE" vol rename tp/disk other 2>"$WORK/err" || rc=$?
    [ $rc = 1 ] && grep -q "in use" "$WORK/err" || fail "renaming a served volume: rc=$rc $(cat "$WORK/err")"
    run_guest "$WORK/guest-vol.sh" "$WORK/guest.log" $(qemu_blk_args) >/dev/null 2>&1 &
    RUNNER=$!
    for i in $(seq 600); do
        grep -q "guest: size" "$WORK/guest.log" 2>/dev/null && break
        sleep 0.2
    done
    grep -q "guest: size $SIZE" "$WORK/guest.log" || fail "guest did not report its size"
    "$SLUICE" vol resize tp/disk --size $((NEW / 1048576))M >"$WORK/out" 2>"$WORK/err" || fail "vol resize failed: $(cat "$WORK/err")"
    grep -q "resized to .*(1 sluiced device told)" "$WORK/out" && [ ! -s "$WORK/err" ] ||
        fail "vol resize of a served volume: $(cat "$WORK/out" "$WORK/err")"
    wait $RUNNER || fail "guest failed: $(tail -5 "$WORK/guest.log")"
    grep -q "guest: resized to $NEW" "$WORK/guest.log" || fail "guest did not see the new size"
    stop_sluiced "$SOCK" "$SLUICE_CONTROL"
    VOLPATH=$("$SLUICE" vol info tp/disk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])')
    "$GUESTIO" verify "$VOLPATH" 31 0 $SIZE || fail "volume data wrong"
    "$GUESTIO" verify "$VOLPATH" 32 $SIZE $SIZE || fail "data in the grown area wrong"
    "$SLUICE" vol delete tp/disk || fail "delete after sluiced stopped failed"
    ;;
*)
    fail "unknown mode $MODE"
    ;;
esac
log "PASS"
