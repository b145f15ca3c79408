#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# virtio-blk on Ceph RBD end to end (sluiced --blk rbd=POOL/IMAGE, librbd's
# asynchronous API): a private one-node cluster (tests/cephlib.sh), one
# image, one QEMU TCG guest boot on it.
#   - the device is added through the control socket after the seccomp
#     filter is on (librados connects and starts its threads under it);
#     bad specs (no such image, no such pool, unreadable conf, unknown cephx
#     user, a monitor that does not answer within client_mount_timeout, an
#     OSD that does not answer rbd_open within twice that, a retry while
#     that open still waits) fail `sluice dev add` with one line and leave
#     the device list alone
#   - the guest writes a pattern over the whole disk with O_DIRECT (two
#     queues), reads it back, discards one whole RBD object (4 MiB) and
#     write-zeroes 64 KiB, each read back as zeroes
#   - `rbd resize` grows the image under the running guest: the header
#     watch tells sluiced, the guest sees the new capacity without any
#     `sluice` command, and fills and verifies the grown part
#   - the device holds the image with lock=exclusive: a second exclusive
#     device on it fails to open and `rbd bench` cannot write (EROFS)
#   - a volume of an rbd pool served by name (volume=POOL/VOL) and one of
#     its snapshots (read-only); `sluice vol resize` reaches the device
#   - afterwards `rbd du` counts exactly the objects written minus the
#     discarded one, and `rbd export` reads back the guest's pattern
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../guestlib.sh"
. "$(dirname "$0")/../cephlib.sh"

need_root
need_guest_kit
need_cmd rbd
[ -x "$GUESTIO" ] || fail "guestio not built"

MiB=$((1024 * 1024))
SIZE=$((32 * MiB))
NEW=$((64 * MiB))
SEED=5151
SOCK=$WORK/blk.sock
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
export SLUICE_CONTROL=$WORK/control.sock
t0=$(date +%s.%N)

ceph_start "$WORK/ceph" || fail "the Ceph cluster did not start"
rbd create "$CEPH_POOL/disk" --size $((SIZE / MiB))M || fail "rbd create"

# --nbd-listen: an incoming device on an rbd volume must be refused (it
# once reached the NBD export with no file and crashed sluiced).
start_sluiced --control "$SLUICE_CONTROL" --nbd-listen 127.0.0.1:0

# Bad specs: exit 1 with a one-line reason each, nothing added.
sed 's/^mon host = .*/mon host = [v2:127.0.0.1:9]/; /^\[global\]/a client mount timeout = 2' \
    "$CEPH_CONF" >"$WORK/dead.conf"
bad() {
    local want=$1 spec=$2 rc=0 out
    out=$("$SLUICE" dev add blk "socket=$WORK/bad.sock,$spec" 2>&1) || rc=$?
    [ $rc = 1 ] || fail "dev add $spec: exit $rc (want 1): $out"
    [ "$(echo "$out" | wc -l)" = 1 ] || fail "dev add $spec: more than one line: $out"
    echo "$out" | grep -q "$want" || fail "dev add $spec: '$out' does not say '$want'"
}
bad "no such image" "rbd=$CEPH_POOL/nosuch,ceph-conf=$CEPH_CONF"
bad "no such pool" "rbd=nopool/disk,ceph-conf=$CEPH_CONF"
bad "cannot read" "rbd=$CEPH_POOL/disk,ceph-conf=$WORK/nonexistent.conf"
bad "client.nobody" "rbd=$CEPH_POOL/disk,ceph-conf=$CEPH_CONF,ceph-id=nobody"
tb=$(date +%s)
bad "timed out" "rbd=$CEPH_POOL/disk,ceph-conf=$WORK/dead.conf"
[ $(($(date +%s) - tb)) -le 6 ] || fail "an unreachable cluster held the control socket $(($(date +%s) - tb)) s"
for spec in "rbd=$CEPH_POOL/disk,direct=off" "rbd=$CEPH_POOL/disk,lock=shared" "rbd=$CEPH_POOL" \
            "rbd=$CEPH_POOL/disk,lock=exclusive,readonly" "path=$WORK/x.img,ceph-id=admin"; do
    rc=0; "$SLUICE" dev add blk "socket=$WORK/bad.sock,$spec" 2>/dev/null || rc=$?
    [ $rc = 2 ] || fail "dev add $spec: exit $rc (want 2, a usage error)"
done
# A cluster whose monitor answers but whose OSD does not (stopped):
# rbd_open waits in the opener thread; the control thread gives up after
# twice client_mount_timeout (2 s here) and keeps serving the socket.
sed '/^\[global\]/a client mount timeout = 2' "$CEPH_CONF" >"$WORK/slow.conf"
osd=$(pgrep -f "ceph-osd -c $CEPH_CONF") || fail "no OSD process"
kill -STOP $osd
CLEANUP_CMDS+=("kill -CONT $osd 2>/dev/null")
tb=$(date +%s.%N)
bad "did not answer within 4 s" "rbd=$CEPH_POOL/disk,ceph-conf=$WORK/slow.conf"
"$SLUICE" dev list >/dev/null || fail "the control socket does not answer after an open timed out"
tb=$(echo "$(date +%s.%N) - $tb" | bc)
# A retry while that open still waits is refused at once (each waiting
# open holds a thread and a cluster connection).
tr=$(date +%s.%N)
bad "an earlier open of it still waits" "rbd=$CEPH_POOL/disk,ceph-conf=$WORK/slow.conf"
tr=$(echo "$(date +%s.%N) - $tr" | bc)
[ "$(echo "$tr < 3" | bc)" = 1 ] || fail "a retry beside a waiting open took $tr s (an open gives up after 4)"
kill -CONT $osd
[ "$(echo "$tb < 7" | bc)" = 1 ] || fail "an unanswered open held the control socket $tb s"
[ "$("$SLUICE" dev list --json | jq length)" = 0 ] || fail "a bad spec left a device behind"

# A close the cluster does not answer (the OSD stopped under an open image):
# `dev remove` returns after client_mount_timeout (2 s here) with a warning
# and the close goes on in the background; an open of the same image waits
# for it (and is given up on after 4 s); once the OSD answers, both end and
# the image opens again. (The open given up on above ends first.)
CSPEC="socket=$WORK/c.sock,rbd=$CEPH_POOL/disk,ceph-conf=$WORK/slow.conf,id=c"
add_c() {   # dev add c, retried while an earlier open still waits (up to 30 s)
    local i
    for i in $(seq 150); do
        "$SLUICE" dev add blk "$CSPEC" >/dev/null 2>"$WORK/add-c.err" && return 0
        grep -q "still waits" "$WORK/add-c.err" || break
        sleep 0.2
    done
    fail "dev add c: $(cat "$WORK/add-c.err")"
}
add_c
kill -STOP $osd
tb=$(date +%s.%N)
"$SLUICE" dev remove c >/dev/null || fail "dev remove with the OSD stopped"
"$SLUICE" dev list >/dev/null || fail "the control socket does not answer after a close was left waiting"
tb=$(echo "$(date +%s.%N) - $tb" | bc)
[ "$(echo "$tb < 5" | bc)" = 1 ] || fail "a close the cluster does not answer held the control socket $tb s"
grep -q "rbd image $CEPH_POOL/disk: the cluster did not answer the close within 2 s" "$WORK/sluiced.log" ||
    fail "no warning for the close left waiting: $(tail -3 "$WORK/sluiced.log")"
[ ! -e "$WORK/c.sock" ] || fail "the removed device's socket is still there"
bad "did not answer within 4 s" "rbd=$CEPH_POOL/disk,ceph-conf=$WORK/slow.conf"
kill -CONT $osd
add_c
"$SLUICE" dev remove c >/dev/null || fail "dev remove c"
log "a close with the OSD stopped: dev remove returned in $tb s, the image's next open waited for it"

"$SLUICE" dev add blk "socket=$SOCK,rbd=$CEPH_POOL/disk,ceph-conf=$CEPH_CONF,id=rbd0,queues=2,serial=sluice-rbd,lock=exclusive" \
    >/dev/null || fail "dev add rbd"
[ "$("$SLUICE" dev list --json | jq -r '.[0].path')" = "rbd:$CEPH_POOL/disk" ] ||
    fail "dev list: $("$SLUICE" dev list --json)"

cat >"$WORK/guest-rbd.sh" <<GUEST
set -e
io=/sluice-files/guestio
dev=/dev/vda
[ "\$(\$io size \$dev)" = $SIZE ] || { echo "size mismatch: \$(\$io size \$dev)"; exit 1; }
[ "\$(ls /sys/block/vda/mq | wc -l)" = 2 ] || { echo "expected 2 queues"; exit 1; }
[ "\$(cat /sys/block/vda/serial)" = sluice-rbd ] || { echo "serial: \$(cat /sys/block/vda/serial)"; exit 1; }
echo "guest: writing pattern"
\$io fill \$dev $SEED
\$io flush \$dev
echo 3 > /proc/sys/vm/drop_caches
\$io verify \$dev $SEED
echo "guest: discard one object (4M at 4M), write-zeroes 64K at 12M"
\$io discard \$dev $((4 * MiB)) $((4 * MiB))
\$io zero \$dev $((4 * MiB)) $((4 * MiB))
\$io zeroout \$dev $((12 * MiB)) 65536
\$io zero \$dev $((12 * MiB)) 65536
\$io flush \$dev
echo "guest: waiting for the resize"
i=0
while [ "\$(\$io size \$dev)" != $NEW ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
[ "\$(\$io size \$dev)" = $NEW ] || { echo "guest: capacity never changed"; exit 1; }
echo "guest: resized to \$(\$io size \$dev)"
\$io fill \$dev $((SEED + 1)) $SIZE $((NEW - SIZE))
\$io flush \$dev
\$io verify \$dev $((SEED + 1)) $SIZE $((NEW - SIZE))
\$io verify \$dev $SEED 0 $((4 * MiB))
echo "guest: done"
GUEST

tg=$(date +%s.%N)
run_guest "$WORK/guest-rbd.sh" "$WORK/guest.log" \
    -chardev socket,id=vblk0,path="$SOCK" \
    -device vhost-user-blk-pci,chardev=vblk0,num-queues=2 >/dev/null 2>&1 &
RUNNER=$!
for i in $(seq 1500); do
    grep -q "guest: waiting for the resize" "$WORK/guest.log" 2>/dev/null && break
    kill -0 $RUNNER 2>/dev/null || break
    sleep 0.2
done
grep -q "guest: waiting for the resize" "$WORK/guest.log" ||
    { wait $RUNNER || true; fail "guest: $(tail -5 "$WORK/guest.log")"; }
# Another RBD client (the CLI) grows the image: nobody tells sluiced.
rbd resize "$CEPH_POOL/disk" --size $((NEW / MiB))M >/dev/null 2>&1 || fail "rbd resize"
wait $RUNNER || fail "guest failed: $(tail -5 "$WORK/guest.log")"
tg=$(echo "$(date +%s.%N) - $tg" | bc)
grep -q "guest: resized to $NEW" "$WORK/guest.log" || fail "the guest did not see the new size"
grep -q "guest: done" "$WORK/guest.log" || fail "guest: $(tail -5 "$WORK/guest.log")"
grep -q "rbd0: capacity $SIZE -> $NEW bytes" "$WORK/sluiced.log" || fail "sluiced did not log the resize"
[ "$("$SLUICE" dev list --json | jq '.[0].size_bytes')" = $NEW ] || fail "dev list size"

# lock=exclusive: another writer is refused, not handed the lock (librbd's
# default hands it over): a second exclusive device on the image cannot
# open, and the rbd CLI's writes fail.
bad "held by another client" "rbd=$CEPH_POOL/disk,ceph-conf=$CEPH_CONF,lock=exclusive"
rc=0; out=$(timeout 60 rbd bench --io-type write --io-total 4096 "$CEPH_POOL/disk" 2>&1) || rc=$?
[ $rc != 0 ] && echo "$out" | grep -q "Read-only file system" ||
    fail "another client wrote to an image held with lock=exclusive (rbd bench: exit $rc)"

# A volume of an rbd pool by name (volume=POOL/VOL: the pool driver's
# "rbd:..." target): served through librbd, in use for `vol delete`, and
# `sluice vol resize` reaches the device; a snapshot is served read-only.
"$SLUICE" pool create rp --type rbd --ceph-pool "$CEPH_POOL" --ceph-conf "$CEPH_CONF" >/dev/null ||
    fail "pool create --type rbd"
"$SLUICE" vol create rp/v1 --size 8M >/dev/null || fail "vol create"
bad "not an rbd volume" "volume=rp/v1,incoming"
"$SLUICE" dev add blk "socket=$WORK/v1.sock,volume=rp/v1,id=v1" >/dev/null || fail "dev add volume=rp/v1"
"$SLUICE" vol snapshot rp/v1 s1 >/dev/null || fail "vol snapshot"
"$SLUICE" dev add blk "socket=$WORK/s1.sock,volume=rp/s1,id=s1" >/dev/null || fail "dev add volume=rp/s1"
[ "$("$SLUICE" dev list --json | jq -c '[.[] | select(.id == "v1" or .id == "s1") | [.path, .readonly]]')" = \
  "[[\"rbd:$CEPH_POOL/v1\",false],[\"rbd:$CEPH_POOL/v1@s1\",true]]" ] ||
    fail "volume devices: $("$SLUICE" dev list --json | jq -c '.[] | [.id, .path, .readonly]')"
rc=0; "$SLUICE" vol delete rp/v1 2>/dev/null || rc=$?
[ $rc = 1 ] || fail "vol delete of a served rbd volume: exit $rc (want 1)"
"$SLUICE" vol resize rp/v1 --size 16M | grep -q "1 sluiced device told" || fail "vol resize did not tell sluiced"
[ "$("$SLUICE" dev list --json | jq '.[] | select(.id == "v1") | .size_bytes')" = $((16 * MiB)) ] ||
    fail "the volume device did not take the new size"
"$SLUICE" dev remove s1 >/dev/null && "$SLUICE" dev remove v1 >/dev/null || fail "dev remove"

# Guest-visible errors: none.
errs=$("$SLUICE" dev stats rbd0 --json | jq .errors)
[ "$errs" = 0 ] || fail "$errs requests failed"
stop_sluiced "$SOCK" "$SLUICE_CONTROL"

# The cluster's view: every object written but the discarded one.
used=$(rbd du "$CEPH_POOL/disk" --format json | jq '.images[0].used_size')
[ "$used" = $((NEW - 4 * MiB)) ] || fail "rbd du: used $used bytes, want $((NEW - 4 * MiB))"
rbd export "$CEPH_POOL/disk" "$WORK/export.img" >/dev/null 2>&1 || fail "rbd export"
"$GUESTIO" verify "$WORK/export.img" $SEED 0 $((4 * MiB)) || fail "export: pattern wrong"
"$GUESTIO" zero "$WORK/export.img" $((4 * MiB)) $((4 * MiB)) || fail "export: discarded object not zero"
"$GUESTIO" verify "$WORK/export.img" $SEED $((8 * MiB)) $((4 * MiB)) || fail "export: pattern wrong"
"$GUESTIO" zero "$WORK/export.img" $((12 * MiB)) 65536 || fail "export: write-zeroes range not zero"
"$GUESTIO" verify "$WORK/export.img" $SEED $((12 * MiB + 65536)) $((SIZE - 12 * MiB - 65536)) ||
    fail "export: pattern wrong after the zeroed range"
"$GUESTIO" verify "$WORK/export.img" $((SEED + 1)) $SIZE $((NEW - SIZE)) || fail "export: grown part wrong"
rm -f "$WORK/export.img"
grep -q "rbd image $CEPH_POOL/disk: opened after the control thread gave up: closed again" "$WORK/sluiced.log" ||
    fail "the abandoned open was not closed"
log "cluster up in ${CEPH_START_SECONDS%??????} s, guest ${tg%??????} s, total $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s"
