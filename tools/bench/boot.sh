#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tools/bench/boot.sh — boot time and VMM memory, sluice-vmm vs QEMU: the
# measuring half of `sluice bench boot` (tools/bench/sluice-bench.py runs it
# and turns its lines into medians, ratios and JSON).
#
# In the lab VM (nested KVM), boots the same Debian kernel and a minimal
# initramfs whose init (rdinit=) prints a marker and powers off, with
# sluice-vmm and with QEMU (-accel kvm, guest RAM from a memfd in both so it
# is accounted the same way), RUNS times each (default 3), alternating, and
# prints one line per run as it ends:
#   run I VMM: boot B ms, total T ms, vmm K KiB
#     boot   time from exec to the marker on the console (guest init running)
#     total  exec to exit (poweroff)
#     vmm    the VMM's own memory when the marker appears: RSS minus guest RAM
#            (RssAnon + RssFile; the guest RAM memfd is RssShmem); "-" when
#            the VMM had exited before the marker line was read (a loaded
#            machine)
#   run I VMM: FAILED (REASON; evidence in DIR)
#     followed by "  console: ..." lines (the tail of the run's console).
# Then the medians of the good runs per VMM, with how many runs failed.
#
# Every boot has its own limit: 10 times (SLUICE_BENCH_BOOT_FACTOR) the
# median of that VMM's good runs so far, at least 30 s, at most
# SLUICE_BENCH_BOOT_LIMIT seconds (default 300: a nested boot took up to 237 s
# on a machine at load 15;
# also the limit of a VMM's first run). A run that hits it is killed; its
# evidence (console, the VMM's threads' kernel stacks and wait channels, for
# sluice-vmm its vCPU states; see lab_evidence in tools/watchdog.sh) goes to
# the output folder under run<I>-<VMM>/, and the bench goes on.
# Nested KVM on the TCG lab VM is not always stable: a benchmark lives with it.
#
# SLUICE_BENCH_BOOT_HANG=VMM:I[,...] (e.g. qemu:2) replaces that run's VMM
# by `sleep 3600`; VMM:I:guest boots it with an init that never powers off
# (a guest that hangs after the marker): forced hangs, to test the above.
#
# Exit status: 0 when each VMM had at least one good run, else 1 (with a line
# saying which VMM had none); 1 also when the guest kit cannot be built; 77
# without QEMU or when the guest kit cannot be had (no kernel package).
# Usage: tools/bench/boot.sh [RUNS [OUTDIR]]
#   (SLUICE_VMM: the sluice-vmm binary, default SLUICE_BUILD/src/sluice-vmm/
#   sluice-vmm; SLUICE_BUILD: build tree; OUTDIR: the lab output folder,
#   where the evidence of failed runs is kept; default: a fresh one, named
#   if kept)
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
VMM=${SLUICE_VMM:-$BUILD/src/sluice-vmm/sluice-vmm}
GUEST=$SRC/tools/guest
RUNS=${1:-3}
MARK=SLUICE-BENCH-INIT
CAP=${SLUICE_BENCH_BOOT_LIMIT:-300}
FACTOR=${SLUICE_BENCH_BOOT_FACTOR:-10}
# shellcheck source=../watchdog.sh
. "$SRC/tools/watchdog.sh"

# median N...: the median of integers (the mean of the middle two when even).
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# limit_for VMM: this run's limit in seconds (from the good boots so far).
limit_for() {
    local -n good=$1
    local m lim
    [ ${#good[@]} -gt 0 ] || { echo "$CAP"; return; }
    m=$(median "${good[@]}")
    lim=$(( m * FACTOR / 1000 ))
    [ "$lim" -ge 30 ] || lim=30
    [ "$lim" -le "$CAP" ] || lim=$CAP
    echo "$lim"
}

# run_one NAME I LIMIT CMD...: one boot under a watchdog. Prints the run's
# line (and console tail when it failed); appends the good run's boot time
# to the array named <NAME>_boots (dashes as underscores). Returns 0 for a
# good run, 1 for a failed one.
run_one() {
    local name=$1 i=$2 limit=$3
    shift 3
    local t0 tb="" t1 pid wd line kib=0 fifo rc=0 reason dir log
    dir=$EVID/run$i-$name
    log=$W/run$i-$name.log
    fifo=$W/fifo; rm -f "$fifo"; mkfifo "$fifo"
    : >"$log"
    t0=$(date +%s%N)
    "$@" </dev/null >"$fifo" 2>&1 &
    pid=$!
    lab_watchdog "$pid" "$limit" "$dir" "$log" &
    wd=$!
    while IFS= read -r line; do
        printf '%s\n' "$line" >>"$log"
        if [ -z "$tb" ] && [[ $line == *$MARK* ]]; then
            tb=$(date +%s%N)
            kib=$(awk '/^RssAnon|^RssFile/ {s += $2} END {print s}' /proc/$pid/status 2>/dev/null)
        fi
    done <"$fifo"
    wait "$pid" 2>/dev/null || rc=$?
    t1=$(date +%s%N)
    kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null
    if [ -f "$dir/timeout" ]; then
        reason="killed at its ${limit} s limit, $([ -n "$tb" ] && echo after the || echo no) marker"
    elif [ -z "$tb" ]; then
        reason="exit status $rc, no marker"
    elif [ "$rc" != 0 ]; then
        reason="exit status $rc after the marker"
    fi
    if [ -n "${reason:-}" ]; then
        mkdir -p "$dir"
        [ -f "$dir/console.log" ] || tr -d '\r' <"$log" >"$dir/console.log"
        echo "run $i $name: FAILED ($reason; evidence in $dir)"
        tr -d '\r' <"$log" | grep -v '^$' | tail -n 5 | sed 's/^/  console: /'
        return 1
    fi
    local -n boots=${name//-/_}_boots
    boots+=($(( (tb - t0) / 1000000 )))
    printf 'run %s %-11s boot %d ms, total %d ms, vmm %s KiB\n' "$i" "$name:" \
        $(( (tb - t0) / 1000000 )) $(( (t1 - t0) / 1000000 )) "${kib:--}"
}

# hang_or VMM I CMD...: CMD, or `sleep 3600` when SLUICE_BENCH_BOOT_HANG
# names VMM:I.
hang_or() {
    local name=$1 i=$2
    shift 2
    if [[ ,${SLUICE_BENCH_BOOT_HANG:-}, == *,$name:$i,* ]]; then
        echo "sleep 3600"
    else
        printf '%q ' "$@"
    fi
}

inside() {
    local bz cl i lim
    W=$(mktemp -d)
    EVID=${SLUICE_LAB_OUT:-$W}
    printf '#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs d /dev\nexec >/dev/console 2>&1\necho %s\n/bin/busybox sleep 1\n/bin/busybox poweroff -f\n' "$MARK" >"$W/init.sh"
    "$GUEST" test-initrd "$W/init.sh" "$W/initrd.img" >/dev/null || { echo "bench: test-initrd failed"; return 1; }
    if [[ ${SLUICE_BENCH_BOOT_HANG:-} == *:guest* ]]; then
        sed 's/poweroff -f/sleep 3600/' "$W/init.sh" >"$W/hang.sh"
        "$GUEST" test-initrd "$W/hang.sh" "$W/hang.img" >/dev/null || { echo "bench: test-initrd failed"; return 1; }
    fi
    bz=$("$GUEST" path bzimage)
    cl="console=ttyS0 panic=-1 quiet cryptomgr.notests mitigations=off rdinit=/sluice-test"
    sluice_vmm_boots=() qemu_boots=()
    local sfail=0 qfail=0 ird
    for i in $(seq "$RUNS"); do
        ird=$W/initrd.img
        [[ ,${SLUICE_BENCH_BOOT_HANG:-}, != *,sluice-vmm:$i:guest,* ]] || ird=$W/hang.img
        lim=$(limit_for sluice_vmm_boots)
        eval "run_one sluice-vmm $i $lim $(hang_or sluice-vmm "$i" "$VMM" --kernel "$bz" \
            --initrd "$ird" --cmdline "$cl" --cpus 2 --memory 512M)" || sfail=$((sfail + 1))
        ird=$W/initrd.img
        [[ ,${SLUICE_BENCH_BOOT_HANG:-}, != *,qemu:$i:guest,* ]] || ird=$W/hang.img
        lim=$(limit_for qemu_boots)
        eval "run_one qemu $i $lim $(hang_or qemu "$i" qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 512M \
            -object memory-backend-memfd,id=mem,size=512M,share=on -machine pc,memory-backend=mem \
            -nodefaults -display none -no-reboot -serial stdio \
            -kernel "$bz" -initrd "$ird" -append "$cl")" || qfail=$((qfail + 1))
    done
    echo "good runs: sluice-vmm $(( RUNS - sfail )) of $RUNS, qemu $(( RUNS - qfail )) of $RUNS"
    printf '%-24s %12s %12s\n' "median of good runs" sluice-vmm qemu
    printf '%-24s %9s ms %9s ms\n' "exec to guest init" "$(median "${sluice_vmm_boots[@]}")" "$(median "${qemu_boots[@]}")"
    rm -rf "$W"
    local rc=0
    [ "$sfail" -lt "$RUNS" ] || { echo "bench: no good run for sluice-vmm ($sfail of $RUNS failed)"; rc=1; }
    [ "$qfail" -lt "$RUNS" ] || { echo "bench: no good run for qemu ($qfail of $RUNS failed)"; rc=1; }
    return $rc
}

if [ "${1:-}" = --inside ]; then
    RUNS=${2:-3}
    inside
    exit $?
fi
case $RUNS in ''|*[!0-9]*|0) echo "usage: tools/bench/boot.sh [RUNS [OUTDIR]]" >&2; exit 2 ;; esac
[ -x "$VMM" ] || { echo "sluice-vmm not built ($VMM)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64" >&2; exit 77; }
# A kit that cannot be built is a failure (1); one that cannot be had, a skip (77).
"$GUEST" build >/dev/null || exit $?
# The lab VM's own limit: every boot at its cap, plus the VM's boot.
exec "$SRC/tools/lab" run --timeout $(( 300 + RUNS * 2 * (CAP + 20) )) ${2:+--out "$2"} \
    -- "$SELF" --inside "$RUNS"
