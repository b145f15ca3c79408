#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/storage/faults.sh — faults under sluiced (issue #7, "Faults and
# bad input"): device-mapper fault targets under and over LVM thin volumes
# served by one sluiced to one QEMU guest on nested KVM, all inside ONE lab
# VM boot.
#
# Inside the lab VM (--inside): two thin pools (sluice pool create), gp on
# a loop device and fp on the dm device fpv (linear over a loop device), and
# one sluiced (--control) serving four devices to one guest (tools/guest
# run --accel kvm), which finds its disks by serial:
#   good  volume=gp/good                     never faulted
#   top   path=/dev/mapper/ftop, a dm device stacked on the thin volume
#         gp/top (linear, switched to an `error` table and back)
#   vol   volume=fp/vol; the range of fpv holding pool fp's data LV is
#         switched to `flakey` (always down) and back: the fault is UNDER
#         the thin volume, and dm-thin passes it up
#   slow  volume=fp/slow; last, all of fpv is switched to `delay` 300 ms
# The guest and the lab VM take turns: the lab VM watches the guest's
# console log; the guest polls its disks until a fault shows or goes, and
# for the delay reads a mailbox block the lab VM writes into gp/good.
# Checks, one line each ("ok: ..." / "FAIL: ..."):
#   (a) dm-flakey under fp/vol: the guest's reads and writes of vol fail
#       with EIO (VIRTIO_BLK_S_IOERR from sluiced) within seconds, while
#       good writes and verifies 8M; sluiced runs, its control socket
#       answers, vol is not broken, `sluice dev stats vol` counts errors
#       (good: none); the thin pool stays healthy (dmsetup status)
#   (b) the linear table back on fpv: the same guest, same sluiced, reads
#       vol's old data and writes new data
#   (c) dm-error over gp/top: as (a); (d) linear again: as (b)
#   (e) dm-delay 300 ms under fp/slow: the guest writes, flushes and
#       verifies 8M without an error, taking at least the delay (so the
#       delay was really there), and sluiced's latency histogram for slow
#       has requests of 256 ms or more; slow counts no errors
# One lab VM boot, one guest run: 3 to 3.5 minutes on a quiet 2-CPU
# machine (170-195 s inside the lab VM), 5 at a load average of 15.
#
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u
. "$(dirname "$(readlink -f "$0")")/../lablib.sh"
MiB=1048576
DELAY_MS=300

inside() {
    local SRC=$1 BUILD=$2
    local S=$BUILD/tools/sluice/sluice SLUICED=$BUILD/src/sluiced/sluiced
    local GIO=$BUILD/tests/integration/guestio GUEST=$SRC/tools/guest
    local W fails=0 n=0 t0
    t0=$(date +%s.%N)
    W=$(mktemp -d)
    export SLUICE_CONTROL=$W/control.sock
    # No udev in the lab VM: dmsetup makes its own nodes, and must not wait
    # for udev cookies.
    dm_swap() {   # dm_swap NAME TABLE: load TABLE into NAME and switch to it
        dmsetup reload --noudevsync "$1" --table "$2" && dmsetup resume --noudevsync "$1"
    }
    blkargs() { echo "-chardev socket,id=c$1,path=$W/$1.sock -device vhost-user-blk-pci,chardev=c$1,num-queues=2"; }
    stat_of() { "$S" dev stats "$1" --json 2>/dev/null | jq -r ".$2"; }
    cleanup_inside() {
        [ -n "${SPID:-}" ] && kill -KILL "$SPID" 2>/dev/null
    }
    trap cleanup_inside EXIT

    [ -c /dev/kvm ] && ok "/dev/kvm present (nested SVM)" || { bad "no /dev/kvm"; return 1; }
    local l1 l2
    truncate -s 1G "$W/pv1.img" "$W/pv2.img"
    l1=$(losetup -f --show "$W/pv1.img") && l2=$(losetup -f --show "$W/pv2.img") || { bad losetup; return 1; }
    # Pool fp's PV: a dm device whose table the test swaps later. It starts
    # 1M into its loop device, so LVM finds the PV label on the dm device
    # only (the same label on the loop device too would make LVM refuse
    # the VG: "duplicate PV devices").
    local off=2048 sz=$(((1024 * MiB / 512) - 2048))
    dmsetup create --verifyudev fpv --table "0 $sz linear $l2 $off" && dmsetup mknodes fpv &&
        [ -b /dev/mapper/fpv ] || { bad "dmsetup create fpv (linear over $l2)"; return 1; }

    # --- pools and volumes -------------------------------------------------
    check "sluice pool create gp --pv $l1" "$S" pool create gp --type lvm-thin --pv "$l1" --size 256M
    check "sluice pool create fp --pv /dev/mapper/fpv" "$S" pool create fp --type lvm-thin --pv /dev/mapper/fpv --size 256M
    check "sluice vol create gp/good, gp/top, fp/vol, fp/slow" sh -c \
        "'$S' vol create gp/good --size 20M && '$S' vol create gp/top --size 8M &&
         '$S' vol create fp/vol --size 8M && '$S' vol create fp/slow --size 8M"
    local top topsz good
    top=$("$S" vol info gp/top --json | jq -r .path)
    good=$("$S" vol info gp/good --json | jq -r .path)
    topsz=$(blockdev --getsz "$top" 2>/dev/null)
    if [ -b "$top" ] && dmsetup create --verifyudev ftop --table "0 $topsz linear $top 0" && dmsetup mknodes ftop &&
        [ -b /dev/mapper/ftop ]; then
        ok "dm device ftop stacked on gp/top ($top, $topsz sectors)"
    else
        bad "dmsetup create ftop over '$top'"; return 1
    fi

    # Where pool fp's data LV lies on fpv: LVM's own report (one segment
    # of extents), in sectors.
    local segs dstart dlen
    segs=$(lvm_ pvs --segments -a --reportformat json --units s --nosuffix \
        -o lv_name,pe_start,pvseg_start,pvseg_size,vg_extent_size /dev/mapper/fpv 2>"$W/err" |
        jq -r '[.report[0].pvseg[] | select(.lv_name == "[fp_tdata]")] | if length == 1 then .[0] |
            "\((.pe_start | tonumber) + (.pvseg_start | tonumber) * (.vg_extent_size | tonumber)) \((.pvseg_size | tonumber) * (.vg_extent_size | tonumber))"
            else "segments: \(length)" end')
    read -r dstart dlen <<<"$segs"
    if [ "$dstart" -gt 0 ] 2>/dev/null && [ "$dlen" -gt 0 ] 2>/dev/null; then
        ok "pvs --segments: fp's data LV lies at sectors $dstart+$dlen of fpv"
    else
        bad "pvs --segments: where fp_tdata lies: '$segs' $(cat "$W/err")"; return 1
    fi
    local fpv_good="0 $sz linear $l2 $off"
    local fpv_flaky="0 $dstart linear $l2 $off
$dstart $dlen flakey $l2 $((off + dstart)) 0 3600
$((dstart + dlen)) $((sz - dstart - dlen)) linear $l2 $((off + dstart + dlen))"

    SPID=
    "$SLUICED" --control "$SLUICE_CONTROL" \
        --blk "socket=$W/good.sock,volume=gp/good,id=good,serial=good,queues=2" \
        --blk "socket=$W/top.sock,path=/dev/mapper/ftop,id=top,serial=top,queues=2" \
        --blk "socket=$W/vol.sock,volume=fp/vol,id=vol,serial=vol,queues=2" \
        --blk "socket=$W/slow.sock,volume=fp/slow,id=slow,serial=slow,queues=2" >"$W/sluiced.log" 2>&1 &
    SPID=$!
    for _ in $(seq 200); do grep -q "ready:" "$W/sluiced.log" && break; sleep 0.05; done
    if grep -q "ready:" "$W/sluiced.log"; then
        ok "sluiced serves good, top (dm over gp/top), vol (fp/vol), slow (fp/slow)"
    else
        bad "sluiced did not start: $(tail -n3 "$W/sluiced.log")"; return 1
    fi

    # --- the guest ---------------------------------------------------------
    cat >"$W/G.sh" <<'EOF'
io=/sluice-files/guestio
M=1048576
dev_of() { for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$1" ] && echo /dev/${b##*/}; done; }
up() { cut -d' ' -f1 /proc/uptime; }
el() { awk -v a=$1 -v b=$(up) 'BEGIN{printf "%.1f", b-a}'; }
# Kernel messages ("I/O error, dev vdc ...") on the console would split
# the lines the lab VM waits for: keep them in dmesg only.
echo 1 >/proc/sys/kernel/printk
g=$(dev_of good); v=$(dev_of vol); t=$(dev_of top); s=$(dev_of slow)
[ -n "$g" ] && [ -n "$v" ] && [ -n "$t" ] && [ -n "$s" ] || { echo "guest: disks missing: '$g' '$v' '$t' '$s'"; exit 1; }
echo "guest: disks found at $(up) s"
$io fill $v 31 && $io fill $t 41 && $io fill $g 51 0 $((8 * M)) &&
    $io flush $v && $io flush $t && $io flush $g || { echo "guest: baseline writes failed"; exit 1; }
echo "guest: baseline written at $(up) s"
# faults NAME DEV SEED GOODSEED: wait until the host turns DEV's errors on,
# check its reads and writes fail, good still works; then wait until the
# host turns them off and check DEV's old data and new writes.
faults() {
    local n=$1 d=$2 seed=$3 gs=$4 tt i=0 sz
    while $io verify $d $seed 0 4096 2>/dev/null; do
        i=$((i + 1)); [ $i -ge 900 ] && { echo "guest: $n never failed"; return 1; }; sleep 0.1
    done
    echo "guest: $n failing after $i polls"
    tt=$(up)
    if $io verify $d $seed 2>/tmp/e; then echo "guest: $n read succeeded"; return 1; fi
    echo "guest: $n read error after $(el $tt) s: $(cat /tmp/e)"
    tt=$(up)
    if $io fill $d 99 $M $M 2>/tmp/e; then echo "guest: $n write succeeded"; return 1; fi
    echo "guest: $n write error after $(el $tt) s: $(cat /tmp/e)"
    echo "guest: $n kernel log: $(dmesg | grep -c "I/O error, dev ${d#/dev/},") I/O errors on ${d#/dev/}"
    tt=$(up)
    $io fill $g $gs $((8 * M)) $((8 * M)) && $io flush $g && $io verify $g $gs $((8 * M)) $((8 * M)) &&
        $io verify $g 51 0 $((8 * M)) || { echo "guest: good failed during $n errors"; return 1; }
    echo "guest: good wrote, flushed and verified 8M (and read 8M older) during $n errors ($(el $tt) s)"
    echo "guest: $n errors checked"
    i=0
    while ! $io verify $d $seed 0 4096 2>/dev/null; do
        i=$((i + 1)); [ $i -ge 900 ] && { echo "guest: $n never recovered"; return 1; }; sleep 0.1
    done
    sz=$($io size $d)
    $io verify $d $seed 0 $M && $io verify $d $seed $((2 * M)) $((sz - 2 * M)) ||
        { echo "guest: $n old data wrong after recovery"; return 1; }
    $io fill $d $((seed + 1)) $M $M && $io flush $d && $io verify $d $((seed + 1)) $M $M ||
        { echo "guest: $n write after recovery failed"; return 1; }
    echo "guest: $n recovered: old data read back, 1M written and verified"
}
faults vol $v 31 52 || exit 1
faults top $t 41 53 || exit 1
# The host writes the mailbox block (good at 16M, pattern 77) once
# dm-delay is under slow.
echo "guest: waiting for the delay"
i=0
while ! $io verify $g 77 $((16 * M)) 4096 2>/dev/null; do
    i=$((i + 1)); [ $i -ge 900 ] && { echo "guest: no word from the host"; exit 1; }; sleep 0.1
done
tt=$(up)
$io fill $s 61 && $io flush $s && $io verify $s 61 || { echo "guest: slow failed"; exit 1; }
echo "guest: slow wrote, flushed and verified 8M in $(el $tt) s"
echo "guest: done"
EOF
    local ts=$SECONDS
    "$GUEST" run --accel kvm --memfd --mem 512M --cpus 2 --timeout 420 --log "$W/G.log" \
        "$W/G.sh" "$GIO" -- $(blkargs good) $(blkargs top) $(blkargs vol) $(blkargs slow) >/dev/null 2>"$W/G.err" &
    local runner=$!
    # await PATTERN SECONDS: wait for a line in the guest's log (one grep
    # every half second: the lab VM is short of CPU while the guest runs).
    await() {
        local i
        for i in $(seq $(($2 * 2))); do
            grep -aq "$1" "$W/G.log" 2>/dev/null && return 0
            kill -0 $runner 2>/dev/null || break
            sleep 0.5
        done
        grep -aq "$1" "$W/G.log" 2>/dev/null
    }
    gline() { glog G | grep -a "^guest: $1" | head -n1 | cut -c8-170; }
    sluiced_ok() {   # sluiced_ok DEV PHASE: sluiced is up and answers, DEV not broken
        local dl
        kill -0 "$SPID" 2>/dev/null && ok "$2 sluiced still running (pid $SPID)" || bad "$2 sluiced died: $(tail -n5 "$W/sluiced.log")"
        if dl=$("$S" dev list --json 2>&1) && [ "$(jq -r "[.[] | select(.broken == false)] | length" <<<"$dl")" = 4 ]; then
            ok "$2 control socket answers: 4 devices, none broken"
        else
            bad "$2 dev list: $dl"
        fi
    }
    # phase DEVICE DM LABEL ERRTABLE GOODTABLE: one fault on device DEVICE
    # (sluiced's id and the guest's serial), injected by loading ERRTABLE
    # into dm device DM, and its repair (GOODTABLE).
    phase() {
        local name=$1 dm=$2 label=$3 bad_t=$4 good_t=$5 e0 e1 eg0 eg1
        if ! await "guest: $([ "$name" = vol ] && echo baseline written || echo "vol recovered")" 150; then
            bad "$label guest did not get ready: $(tail -n3 "$W/G.err"); $(glog G | grep -a '^guest\|rror' | tail -n6)"
            return 1
        fi
        e0=$(stat_of "$name" errors) eg0=$(stat_of good errors)
        if dm_swap "$dm" "$bad_t" 2>"$W/err"; then
            ok "$label $dm: $(dmsetup table "$dm" | awk '{print $3}' | sort | uniq -c | xargs)"
        else
            bad "$label dmsetup reload $dm: $(cat "$W/err")"; return 1
        fi
        if ! await "guest: $name errors checked\|guest: $name .*succeeded\|guest: .*failed\|guest: $name never" 120; then
            bad "$label guest: $(tail -n3 "$W/G.err"); $(glog G | grep -a '^guest\|rror' | tail -n6)"
            dm_swap "$dm" "$good_t"; return 1
        fi
        local r w
        r=$(gline "$name read error") w=$(gline "$name write error")
        # "within seconds": a queued or retried request would take far longer.
        if grep -q "Input/output error" <<<"$r" && [ "$(sed -n 's/.*after \([0-9]*\)\..*/\1/p' <<<"$r")" -lt 10 ] 2>/dev/null; then
            ok "$label guest: $r"
        else
            bad "$label guest read on $name: '$r' $(glog G | grep -a "^guest: $name" | tail -n2)"
        fi
        if grep -q "Input/output error" <<<"$w" && [ "$(sed -n 's/.*after \([0-9]*\)\..*/\1/p' <<<"$w")" -lt 10 ] 2>/dev/null; then
            ok "$label guest: $w"
        else
            bad "$label guest write on $name: '$w'"
        fi
        local kl
        kl=$(gline "$name kernel log")
        [ "$(awk '{print $4}' <<<"$kl")" -gt 0 ] 2>/dev/null &&
            ok "$label guest $kl (the virtio-blk driver got IOERR)" || bad "$label guest kernel log: '$kl'"
        glog G | grep -q "guest: $name errors checked" &&
            ok "$label other device: $(gline "good wrote.*$name errors")" ||
            bad "$label other device during the errors: $(glog G | grep -a '^guest' | tail -n2)"
        sluiced_ok "$name" "$label"
        e1=$(stat_of "$name" errors) eg1=$(stat_of good errors)
        [ "$e1" -gt "${e0:-0}" ] 2>/dev/null && ok "$label sluice dev stats $name: errors $e0 -> $e1" ||
            bad "$label dev stats $name errors: '$e0' -> '$e1'"
        [ "$eg1" = 0 ] && [ "$eg0" = 0 ] && ok "$label sluice dev stats good: 0 errors" || bad "$label good errors: '$eg0' -> '$eg1'"
        if dm_swap "$dm" "$good_t" 2>"$W/err"; then
            ok "$label $dm back to its linear table"
        else
            bad "$label dmsetup reload $dm: $(cat "$W/err")"; return 1
        fi
        if await "guest: $name recovered\|guest: $name never\|guest: $name .*wrong\|guest: $name write after" 120 &&
            glog G | grep -q "guest: $name recovered"; then
            ok "$label guest: $(gline "$name recovered") (same sluiced, pid $SPID)"
        else
            bad "$label guest after repair: $(glog G | grep -a "^guest\|rror" | tail -n4)"
        fi
    }
    phase vol fpv "(a)/(b) dm-flakey under fp/vol:" "$fpv_flaky" "$fpv_good"
    local st
    st=$(dmsetup status fp-fp-tpool 2>&1)
    if grep -q " rw " <<<"$st" && ! grep -qi "fail\|out_of_data_space\| ro \|needs_check" <<<"$st"; then
        ok "(a) thin pool fp still healthy after the data errors: $(cut -d' ' -f4-8 <<<"$st")"
    else
        bad "(a) thin pool fp state: $st"
    fi
    phase top ftop "(c)/(d) dm-error over gp/top:" "0 $topsz error" "0 $topsz linear $top 0"
    if dm_swap fpv "0 $sz delay $l2 $off $DELAY_MS"; then
        ok "(e) fpv (fp's PV) switched to dm-delay $DELAY_MS ms: $(dmsetup table fpv)"
    else
        bad "(e) dm-delay on fpv"
    fi
    # Tell the guest (it reads with O_DIRECT, through sluiced's O_DIRECT).
    await "guest: waiting for the delay" 200 && "$GIO" fill "$good" 77 $((16 * MiB)) 4096 ||
        bad "(e) mailbox: $(glog G | grep -a '^guest' | tail -n2)"

    # --- (e) dm-delay ------------------------------------------------------
    wait $runner; local rc=$? trun=$((SECONDS - ts))
    local sl secs
    sl=$(gline "slow wrote")
    secs=$(sed -n 's/.* in \([0-9]*\)\..*/\1/p' <<<"$sl")
    # 8 sequential 1M writes and 8 reads, each held DELAY_MS by dm-delay.
    if [ $rc = 0 ] && [ -n "$sl" ] && [ "${secs:-0}" -ge $((16 * DELAY_MS / 1000)) ]; then
        ok "(e) dm-delay under fp/slow: guest: $sl (>= 16 x $DELAY_MS ms, no error)"
    elif [ -n "$sl" ]; then
        bad "(e) slow I/O took ${secs:-?} s: dm-delay not in effect? $sl"
    else
        bad "(e) guest rc=$rc: $(tail -n3 "$W/G.err"); $(glog G | grep -a '^guest\|rror' | tail -n6)"
    fi
    local slat serr
    slat=$("$S" dev stats slow --json 2>/dev/null | jq -r '[.latency[] | select(.lt_us == null or .lt_us > 262144) | .count] | add // 0')
    serr=$(stat_of slow errors)
    [ "${slat:-0}" -gt 0 ] 2>/dev/null && ok "(e) sluice dev stats slow: $slat requests took 256 ms or more" ||
        bad "(e) slow latency histogram: $("$S" dev stats slow --json | jq -c .latency)"
    [ "$serr" = 0 ] && ok "(e) sluice dev stats slow: 0 errors" || bad "(e) slow errors: '$serr'"
    [ $rc = 0 ] && glog G | grep -q "guest: done" && ok "guest run finished ($trun s)" ||
        bad "guest rc=$rc ($trun s): $(glog G | grep -a '^guest' | tail -n3)"
    if dm_swap fpv "$fpv_good" && "$GIO" verify "$("$S" vol info fp/slow --json | jq -r .path)" 61 2>"$W/err" &&
        "$GIO" verify /dev/mapper/ftop 41 0 $MiB && "$GIO" verify /dev/mapper/ftop 42 $MiB $MiB &&
        "$GIO" verify "$("$S" vol info fp/vol --json | jq -r .path)" 32 $MiB $MiB 2>>"$W/err"; then
        ok "lab host reads the guest's data back from fp/slow, gp/top (via ftop) and fp/vol"
    else
        bad "host verify: $(cat "$W/err")"
    fi

    echo "guest's own lines (uptime in the guest):"
    glog G | grep -a '^guest:' | sed 's/^/  /'
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
lab_launch faults 840 "$BUILD/tools/sluice/sluice" "$BUILD/src/sluiced/sluiced" "$BUILD/tests/integration/guestio" -- "$SRC" "$BUILD"
