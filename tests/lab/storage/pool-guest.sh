#!/bin/bash
# tests/lab/storage/pool-guest.sh — LVM thin pools and volumes under a real
# guest: sluiced serves pool volumes by name (--blk ...,volume=POOL/VOL) to
# QEMU guests running on nested KVM, all inside ONE lab VM boot.
#
# Inside the lab VM (--inside): a thin pool "gp" (sluice pool create, on a
# loop device over a sparse file) with a 64M volume "disk", and one sluiced
# (--control) for the whole run. Guests (tools/guest run --accel kvm) find
# their disks by serial. Checks, one line each ("ok: ..." / "FAIL: ..."):
#   (a) snapshot   guest A fills disk; `sluice vol snapshot` after it; guest
#                  B overwrites part of disk; the snapshot still reads A's
#                  pattern (guestio verify on the lab host)
#   (b) clone      `sluice vol clone` of disk, served as a second device;
#                  guest B writes the clone; disk and snapshot are unchanged
#   (d) resize     guest B waits for its capacity to change while the host
#                  runs `sluice vol resize` (which tells sluiced); it then
#                  writes the grown area
#   (c) discard    guest CE discards the 64M B wrote after the snapshot and
#                  clone; the pool's data use falls (lvs --reportformat json
#                  data_percent, and `sluice pool info --json` used_bytes)
#   (e) full pool  a 64M pool "small" with a 256M volume "big": guest CE then
#                  writes big until it gets I/O errors, within seconds (sluice
#                  creates pools with --errorwhenfull y; queueing would take
#                  dm-thin's 60 s no_space_timeout); sluiced stays up and
#                  answers; `lvextend -L +256M small/small`; guest E2 reads
#                  back every block CE reported written and writes new ones
# Four guest runs (A, B, CE, E2); about 3.5 minutes on an idle machine.
#
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u
. "$(dirname "$(readlink -f "$0")")/../lablib.sh"
MiB=1048576

inside() {
    local SRC=$1 BUILD=$2
    local S=$BUILD/tools/sluice/sluice SLUICED=$BUILD/src/sluiced/sluiced
    local GIO=$BUILD/tests/integration/guestio GUEST=$SRC/tools/guest
    local W fails=0 n=0 t0 sp
    t0=$(date +%s.%N)
    W=$(mktemp -d)
    export SLUICE_CONTROL=$W/control.sock
    # Data bytes used in thin pool VG/LV, from LVM's own report.
    lvs_used() {
        lvm_ lvs --reportformat json --units b --nosuffix -o data_percent,lv_size "$1" 2>/dev/null |
            jq -r '.report[0].lv[0] | (.data_percent | tonumber) * (.lv_size | tonumber) / 100 | floor'
    }
    sluice_used() { "$S" pool info "$1" --json | jq -r .used_bytes; }
    # grun NAME TIMEOUT SCRIPT QEMU-ARGS...: one guest on nested KVM.
    grun() {
        local name=$1 to=$2 script=$3; shift 3
        "$GUEST" run --accel kvm --memfd --mem 512M --cpus 2 --timeout "$to" --log "$W/$name.log" \
            "$script" "$GIO" -- "$@" >/dev/null 2>"$W/$name.err"
    }
    blkargs() { echo "-chardev socket,id=c$2,path=$W/$2.sock -device vhost-user-blk-pci,chardev=c$2,num-queues=2"; }
    # The guest scripts' common head: find a disk by its serial.
    cat >"$W/head.sh" <<'EOF'
io=/sluice-files/guestio
M=1048576
dev_of() { for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$1" ] && echo /dev/${b##*/}; done; }
up() { cut -d' ' -f1 /proc/uptime; }
EOF
    gscript() { { cat "$W/head.sh"; cat; } >"$W/$1.sh"; }
    cleanup_inside() {
        [ -n "${SPID:-}" ] && kill -KILL "$SPID" 2>/dev/null
    }
    trap cleanup_inside EXIT

    local l1 l2
    truncate -s 2G "$W/pv1.img"
    truncate -s 1G "$W/pv2.img"
    l1=$(losetup -f --show "$W/pv1.img") && l2=$(losetup -f --show "$W/pv2.img") || { bad losetup; return 1; }
    [ -c /dev/kvm ] && ok "/dev/kvm present (nested SVM)" || { bad "no /dev/kvm"; return 1; }

    # --- pool, volume, sluiced ---------------------------------------------
    check "sluice pool create gp --type lvm-thin --pv $l1 --size 512M" \
        "$S" pool create gp --type lvm-thin --pv "$l1" --size 512M
    local wf
    wf=$(lvm_ lvs --reportformat json -o lv_when_full gp/gp 2>/dev/null | jq -r '.report[0].lv[0].lv_when_full')
    [ "$wf" = error ] && ok "lvs: pool gp/gp has lv_when_full=error (--errorwhenfull y)" || bad "lv_when_full of gp/gp: '$wf'"
    check "sluice vol create gp/disk --size 64M" "$S" vol create gp/disk --size 64M

    SPID=
    "$SLUICED" --control "$SLUICE_CONTROL" \
        --blk "socket=$W/disk.sock,volume=gp/disk,id=disk,serial=disk,queues=2" >"$W/sluiced.log" 2>&1 &
    SPID=$!
    for _ in $(seq 200); do grep -q "ready:" "$W/sluiced.log" && break; sleep 0.05; done
    if grep -q "ready:" "$W/sluiced.log"; then
        ok "sluiced serves volume=gp/disk"
    else
        bad "sluiced did not start: $(tail -n3 "$W/sluiced.log")"; return 1
    fi
    "$S" dev list --json | jq -e '.[] | select(.id == "disk" and .volume == "gp/disk")' >/dev/null &&
        ok "sluice dev list: device disk names volume gp/disk" || bad "dev list: $("$S" dev list --json)"

    # --- (a) guest A writes; snapshot; (b) clone --------------------------
    gscript A <<'EOF'
d=$(dev_of disk); [ -n "$d" ] || { echo "guest: no disk"; exit 1; }
[ "$($io size $d)" = $((64 * M)) ] || { echo "guest: size $($io size $d)"; exit 1; }
$io fill $d 11 && $io verify $d 11 && $io flush $d || exit 1
echo "guest: A wrote 64M"
EOF
    local ts=$SECONDS
    if grun A 240 "$W/A.sh" $(blkargs disk disk) && glog A | grep -q "guest: A wrote 64M"; then
        ok "(a) guest A (-accel kvm) filled gp/disk through sluiced (64M, pattern 11, $((SECONDS - ts)) s)"
    else
        bad "(a) guest A: $(tail -n5 "$W/A.err"; glog A | tail -n8)"
    fi
    check "(a) sluice vol snapshot gp/disk snap" "$S" vol snapshot gp/disk snap
    check "(b) sluice vol clone gp/disk clone" "$S" vol clone gp/disk clone
    check "(b) sluice dev add blk volume=gp/clone" "$S" dev add blk "socket=$W/clone.sock,volume=gp/clone,id=clone,serial=clone,queues=2"

    # --- guest B: overwrite disk, write clone, wait for the resize ---------
    gscript B <<'EOF'
d=$(dev_of disk); c=$(dev_of clone)
[ -n "$d" ] && [ -n "$c" ] || { echo "guest: disks missing: '$d' '$c'"; exit 1; }
$io fill $d 12 0 $((16 * M)) || exit 1
$io fill $c 14 $((16 * M)) $((16 * M)) || exit 1
$io flush $d && $io flush $c || exit 1
$io verify $d 12 0 $((16 * M)) && $io verify $d 11 $((16 * M)) $((48 * M)) || { echo "guest: disk wrong"; exit 1; }
$io verify $c 11 0 $((16 * M)) && $io verify $c 14 $((16 * M)) $((16 * M)) &&
    $io verify $c 11 $((32 * M)) $((32 * M)) || { echo "guest: clone wrong"; exit 1; }
echo "guest: B wrote disk and clone"
echo "guest: size $($io size $d)"
t=$(up); i=0
while [ "$($io size $d)" != $((128 * M)) ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
[ "$($io size $d)" = $((128 * M)) ] || { echo "guest: capacity never changed"; exit 1; }
echo "guest: resized to $($io size $d) after waiting $(awk -v a=$t -v b=$(up) 'BEGIN{printf "%.1f", b-a}') s"
$io fill $d 13 $((64 * M)) $((64 * M)) && $io verify $d 13 $((64 * M)) $((64 * M)) && $io flush $d || exit 1
echo "guest: B wrote the grown area"
EOF
    ts=$SECONDS
    grun B 300 "$W/B.sh" $(blkargs disk disk) $(blkargs clone clone) &
    local runner=$!
    for _ in $(seq 600); do
        grep -q "guest: size" "$W/B.log" 2>/dev/null && break
        kill -0 $runner 2>/dev/null || break
        sleep 0.2
    done
    if glog B | grep -q "guest: size $((64 * MiB))"; then
        if "$S" vol resize gp/disk --size 128M >"$W/out" 2>"$W/err"; then
            ok "(d) sluice vol resize gp/disk --size 128M while the guest runs"
        else
            bad "(d) vol resize: $(cat "$W/err")"
        fi
        wait $runner; local rc=$?
        if [ $rc = 0 ] && glog B | grep -q "guest: resized to $((128 * MiB))"; then
            ok "(d) running guest saw the new capacity ($(glog B | sed -n 's/^guest: resized to [0-9]* \(after .*\)/\1/p')) and wrote the grown 64M"
        else
            bad "(d) guest B after resize: rc=$rc $(glog B | grep -a '^guest' | tail -n4)"
        fi
    else
        wait $runner
        bad "(b)/(d) guest B did not get to the resize: $(tail -n3 "$W/B.err"); $(glog B | tail -n8)"
    fi
    glog B | grep -q "guest: B wrote disk and clone" &&
        ok "(b) guest B wrote 16M of disk (pattern 12) and 16M of clone (pattern 14), read both back" ||
        bad "(b) guest B writes"
    [ "$(lvm_ lvs --reportformat json --units b --nosuffix -o lv_size gp/disk 2>/dev/null | jq -r '.report[0].lv[0].lv_size')" = $((128 * MiB)) ] &&
        ok "(d) lvs: gp/disk is 128M" || bad "(d) lvs size of gp/disk"

    # Host-side reads of the LVs.
    local snap clone disk
    snap=$("$S" vol info gp/snap --json | jq -r .path)
    [ -b "$snap" ] || lvm_ lvchange -q -ay -K gp/snap >/dev/null 2>&1
    if "$GIO" verify "$snap" 11 2>"$W/err"; then
        ok "(a) snapshot $snap still holds guest A's 64M (pattern 11) after guest B overwrote disk"
    else
        bad "(a) snapshot content: $(cat "$W/err")"
    fi
    disk=$("$S" vol info gp/disk --json | jq -r .path)
    { "$GIO" verify "$disk" 12 0 $((16 * MiB)) && "$GIO" verify "$disk" 11 $((16 * MiB)) $((48 * MiB)) &&
        "$GIO" verify "$disk" 13 $((64 * MiB)) $((64 * MiB)); } 2>"$W/err" &&
        ok "(a) disk holds B's overwrite, A's data elsewhere, the grown area" || bad "(a) disk content: $(cat "$W/err")"
    clone=$("$S" vol info gp/clone --json | jq -r .path)
    { "$GIO" verify "$clone" 11 0 $((16 * MiB)) && "$GIO" verify "$clone" 14 $((16 * MiB)) $((16 * MiB)) &&
        "$GIO" verify "$clone" 11 $((32 * MiB)) $((32 * MiB)); } 2>"$W/err" &&
        ok "(b) clone diverged: its own 16M (pattern 14), origin's data elsewhere, not disk's overwrite" ||
        bad "(b) clone content: $(cat "$W/err")"
    [ "$("$S" vol info gp/clone --json | jq -r .origin)" = disk ] && ok "(b) vol info: clone's origin is disk" ||
        bad "(b) clone origin: $("$S" vol info gp/clone --json)"

    # --- (e) setup: a 64M pool with a 256M volume (guest CE uses both) ----
    check "(e) sluice pool create small --type lvm-thin --pv $l2 --size 64M" \
        "$S" pool create small --type lvm-thin --pv "$l2" --size 64M
    check "(e) sluice vol create small/big --size 256M" "$S" vol create small/big --size 256M
    local st
    st=$(dmsetup status 2>&1 | grep '^small-small.*thin-pool')
    grep -q error_if_no_space <<<"$st" && ok "(e) dm-thin pool small runs with error_if_no_space" ||
        bad "(e) dmsetup status of pool small: $st"
    check "(e) sluice dev add blk volume=small/big" "$S" dev add blk "socket=$W/big.sock,volume=small/big,id=big,serial=big,queues=2"

    # --- (c) discard lowers the pool's data use ----------------------------
    local u1 s1 u2 s2
    u1=$(lvs_used gp/gp); s1=$(sluice_used gp)
    # Guest CE: (c) discards on disk, then (e) fills big until its pool is full.
    gscript CE <<'EOF'
d=$(dev_of disk)
if [ "$(cat /sys/block/${d#/dev/}/queue/discard_max_bytes)" = 0 ]; then echo "guest: discard not offered"
elif ! { $io discard $d $((64 * M)) $((64 * M)) && $io flush $d; }; then echo "guest: discard failed"
elif ! $io zero $d $((64 * M)) $((64 * M)); then echo "guest: discarded range not zero"
elif $io verify $d 12 0 $((16 * M)); then echo "guest: C discarded 64M"
fi
d=$(dev_of big); [ -n "$d" ] || { echo "guest: no disk big"; exit 1; }
t=$(up)
$io fill $d 21 2>/tmp/err; rc=$?
echo "guest: fill rc=$rc after $(awk -v a=$t -v b=$(up) 'BEGIN{printf "%.1f", b-a}') s: $(cat /tmp/err)"
pos=$(sed -n 's/^guestio: write at \([0-9]*\):.*/\1/p' /tmp/err)
echo "guest: written-until ${pos:-none}"
[ $rc != 0 ] && [ -n "$pos" ] || exit 1
t=$(up)
if $io fill $d 23 $((192 * M)) $M 2>/tmp/err; then echo "guest: write to a new block succeeded on a full pool"; exit 1; fi
echo "guest: second write refused after $(awk -v a=$t -v b=$(up) 'BEGIN{printf "%.1f", b-a}') s: $(cat /tmp/err)"
$io verify $d 21 0 $pos || exit 1
echo "guest: CE done"
EOF
    ts=$SECONDS
    grun CE 240 "$W/CE.sh" $(blkargs disk disk) $(blkargs big big); local rc=$? trun=$((SECONDS - ts))
    glog CE | grep -q "guest: C discarded 64M" &&
        ok "(c) guest CE discarded [64M,128M) of disk, reads zeroes" ||
        bad "(c) guest CE discard: $(tail -n3 "$W/CE.err"); $(glog CE | grep -a '^guest' | head -n3)"
    for _ in $(seq 20); do
        u2=$(lvs_used gp/gp)
        [ "$u2" -le $((u1 - 48 * MiB)) ] 2>/dev/null && break
        sleep 0.5
    done
    s2=$(sluice_used gp)
    [ "$u2" -le $((u1 - 48 * MiB)) ] 2>/dev/null &&
        ok "(c) lvs data_percent x size of gp/gp fell from $u1 to $u2 bytes (-$(((u1 - u2) / MiB))M)" ||
        bad "(c) lvs data use: before $u1, after $u2"
    [ "$s2" -le $((s1 - 48 * MiB)) ] 2>/dev/null &&
        ok "(c) sluice pool info gp used_bytes fell from $s1 to $s2" || bad "(c) sluice used_bytes: before $s1, after $s2"

    local pos
    pos=$(glog CE | sed -n 's/^guest: written-until \([0-9]*\)$/\1/p')
    # Queueing (LVM's default) would hold the failing write for dm-thin's
    # no_space_timeout (60 s) and then fail it: "within seconds" is < 20 s.
    local f1 f2
    f1=$(glog CE | sed -n 's/^guest: fill rc=[0-9]* after \([0-9]*\)\..*/\1/p')
    f2=$(glog CE | sed -n 's/^guest: second write refused after \([0-9]*\)\..*/\1/p')
    if [ $rc = 0 ] && [ -n "$pos" ] && [ "${f1:-99}" -lt 20 ] && [ "${f2:-99}" -lt 20 ]; then
        ok "(e) guest CE: $(glog CE | grep -a '^guest: fill rc' | cut -c1-140)"
        ok "(e) guest CE: $(glog CE | grep -a '^guest: second write' | cut -c1-140); blocks before the error read back; whole guest run $trun s"
    elif [ $rc = 0 ] && [ -n "$pos" ]; then
        bad "(e) guest CE got its errors only after a wait (queued, not errored): $(glog CE | grep -a '^guest' | tail -n4)"
    elif [ $rc = 124 ]; then
        bad "(e) guest CE hung on the full pool (timed out after 240 s): $(glog CE | grep -a '^guest' | tail -n3)"
    else
        bad "(e) guest CE rc=$rc: $(tail -n3 "$W/CE.err"); $(glog CE | grep -a '^guest\|error' | tail -n8)"
    fi
    local pct
    pct=$(lvm_ lvs --reportformat json -o data_percent small/small 2>/dev/null | jq -r '.report[0].lv[0].data_percent')
    ok "(e) lvs data_percent of small/small after guest CE: $pct"
    kill -0 "$SPID" 2>/dev/null && ok "(e) sluiced still running after the pool filled" || bad "(e) sluiced died"
    local dl
    if dl=$("$S" dev list --json 2>&1) && jq -e '.[] | select(.id == "big") | .broken == false' <<<"$dl" >/dev/null; then
        ok "(e) sluice dev list answers; device big not broken"
    else
        bad "(e) dev list: $dl"
    fi
    local errs
    errs=$("$S" dev stats big --json 2>/dev/null | jq -r .errors)
    [ "${errs:-0}" -gt 0 ] 2>/dev/null && ok "(e) sluice dev stats big: $errs errors counted" || bad "(e) dev stats errors: '$errs'"
    check "(e) lvm lvextend -L +256M small/small" lvm_ lvextend -q -L +256M small/small
    st=$(dmsetup status 2>&1 | grep '^small-small.*thin-pool')
    grep -q out_of_data_space <<<"$st" && bad "(e) pool still out of data space: $st" || ok "(e) pool back in write mode: $(cut -d' ' -f4-9 <<<"$st")"
    if [ -n "$pos" ]; then
        { echo "pos=$pos"; cat; } <<'EOF' | gscript E2
d=$(dev_of big)
$io verify $d 21 0 $pos || { echo "guest: blocks written before the pool filled are wrong"; exit 1; }
echo "guest: verified $pos bytes written before the pool filled"
$io fill $d 22 $pos $((64 * M)) && $io verify $d 22 $pos $((64 * M)) && $io flush $d || exit 1
echo "guest: E2 wrote 64M past the old end"
EOF
        ts=$SECONDS
        if grun E2 240 "$W/E2.sh" $(blkargs big big) && glog E2 | grep -q "guest: E2 wrote 64M"; then
            ok "(e) guest E2 after lvextend: $(glog E2 | grep -a '^guest: verified') and wrote 64M more ($((SECONDS - ts)) s)"
        else
            bad "(e) guest E2: $(tail -n3 "$W/E2.err"); $(glog E2 | grep -a '^guest\|error' | tail -n8)"
        fi
        { "$GIO" verify /dev/small/big 21 0 "$pos" && "$GIO" verify /dev/small/big 22 "$pos" $((64 * MiB)); } 2>"$W/err" &&
            ok "(e) lab host reads back CE's and E2's data from small/big" || bad "(e) host verify: $(cat "$W/err")"
    fi

    # --- sluiced stops cleanly --------------------------------------------
    kill -TERM "$SPID"
    wait "$SPID"; local src=$?
    SPID=
    [ $src = 0 ] && ok "sluiced stopped cleanly (SIGTERM, exit 0)" || bad "sluiced exit $src: $(tail -n5 "$W/sluiced.log")"
    grep -ai "error\|warn" "$W/sluiced.log" | head -n5 | sed 's/^/  sluiced: /'
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
lab_launch pool-guest 1200 "$BUILD/tools/sluice/sluice" "$BUILD/src/sluiced/sluiced" "$BUILD/tests/integration/guestio" -- "$SRC" "$BUILD"
