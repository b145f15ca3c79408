#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/vmm/bench-boot.sh — boot time and VMM memory, sluice-vmm vs QEMU.
#
# In the lab VM (nested KVM), boots the same Debian kernel and a minimal
# initramfs whose init (rdinit=) prints a marker and powers off, with
# sluice-vmm and with QEMU (-accel kvm, guest RAM from a memfd in both so it
# is accounted the same way), RUNS times each (default 3), and prints per VMM:
#   boot   time from exec to the marker on the console (guest init running)
#   total  exec to exit (poweroff)
#   vmm    the VMM's own memory when the marker appears: RSS minus guest RAM
#          (RssAnon + RssFile; the guest RAM memfd is RssShmem)
# and the ratios QEMU / sluice-vmm. No thresholds: a report, not a test.
# Usage: tests/lab/vmm/bench-boot.sh [RUNS]     (SLUICE_BUILD: build tree)
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
VMM=$BUILD/src/sluice-vmm/sluice-vmm
GUEST=$SRC/tools/guest
RUNS=${1:-3}
MARK=SLUICE-BENCH-INIT

# run_one NAME CMD...: prints "boot total vmm_kib".
run_one() {
    local name=$1; shift
    local t0 tb="" pid line kib=0 fifo
    fifo=$(mktemp -u); mkfifo "$fifo"
    t0=$(date +%s%N)
    "$@" </dev/null >"$fifo" 2>/dev/null &
    pid=$!
    while IFS= read -r line; do
        if [ -z "$tb" ] && [[ $line == *$MARK* ]]; then
            tb=$(date +%s%N)
            kib=$(awk '/^RssAnon|^RssFile/ {s += $2} END {print s}' /proc/$pid/status 2>/dev/null)
        fi
    done <"$fifo"
    wait "$pid"
    local t1; t1=$(date +%s%N)
    rm -f "$fifo"
    [ -n "$tb" ] || { echo "$name: no marker" >&2; echo "0 0 0"; return; }
    echo "$(( (tb - t0) / 1000000 )) $(( (t1 - t0) / 1000000 )) ${kib:-0}"
}

inside() {
    local tmp bz cl
    tmp=$(mktemp -d)
    printf '#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs d /dev\nexec >/dev/console 2>&1\necho %s\n/bin/busybox sleep 1\n/bin/busybox poweroff -f\n' "$MARK" >"$tmp/init.sh"
    "$GUEST" test-initrd "$tmp/init.sh" "$tmp/initrd.img" >/dev/null
    bz=$("$GUEST" path bzimage)
    cl="console=ttyS0 panic=-1 quiet cryptomgr.notests mitigations=off rdinit=/sluice-test"
    declare -A sum
    for k in s_boot s_total s_mem q_boot q_total q_mem; do sum[$k]=0; done
    for i in $(seq "$RUNS"); do
        run_one sluice-vmm "$VMM" --kernel "$bz" --initrd "$tmp/initrd.img" \
            --cmdline "$cl" --cpus 2 --memory 512M >"$tmp/res"
        read -r b t m <"$tmp/res"
        echo "run $i sluice-vmm: boot ${b} ms, total ${t} ms, vmm ${m} KiB"
        sum[s_boot]=$((sum[s_boot] + b)); sum[s_total]=$((sum[s_total] + t)); sum[s_mem]=$((sum[s_mem] + m))
        run_one qemu qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 512M \
            -object memory-backend-memfd,id=mem,size=512M,share=on -machine pc,memory-backend=mem \
            -nodefaults -display none -no-reboot -serial stdio \
            -kernel "$bz" -initrd "$tmp/initrd.img" -append "$cl" >"$tmp/res"
        read -r b t m <"$tmp/res"
        echo "run $i qemu:       boot ${b} ms, total ${t} ms, vmm ${m} KiB"
        sum[q_boot]=$((sum[q_boot] + b)); sum[q_total]=$((sum[q_total] + t)); sum[q_mem]=$((sum[q_mem] + m))
    done
    awk -v r="$RUNS" -v sb="${sum[s_boot]}" -v st="${sum[s_total]}" -v sm="${sum[s_mem]}" \
        -v qb="${sum[q_boot]}" -v qt="${sum[q_total]}" -v qm="${sum[q_mem]}" 'BEGIN {
        printf "%-22s %12s %12s %8s\n", "mean of " r " runs", "sluice-vmm", "qemu", "qemu/sl"
        printf "%-22s %9.0f ms %9.0f ms %8.2f\n", "exec to guest init", sb/r, qb/r, sb ? qb/sb : 0
        printf "%-22s %9.0f ms %9.0f ms %8.2f\n", "exec to exit", st/r, qt/r, st ? qt/st : 0
        printf "%-22s %8.1f MiB %8.1f MiB %8.2f\n", "VMM memory (RSS-RAM)", sm/r/1024, qm/r/1024, sm ? qm/sm : 0
    }'
    rm -rf "$tmp"
}

if [ "${1:-}" = --inside ]; then
    RUNS=${2:-3}
    inside
    exit 0
fi
[ -x "$VMM" ] || { echo "sluice-vmm not built ($VMM)" >&2; exit 77; }
"$GUEST" build >/dev/null || exit 77
exec "$SRC/tools/lab" run --timeout 1500 -- "$SELF" --inside "$RUNS"
