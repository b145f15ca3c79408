#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/vmm/vmm-boot.sh — sluice-vmm boots Linux on nested KVM.
#
# On the host: boots the lab VM (tools/lab) running this script with
# --inside. Inside (a working /dev/kvm):
#   1. sluiced serves a disk (a file, packed=on) and a NIC (a tap on bridge
#      br-vmm, 10.0.77.1/24; packed rings by default); sluice-vmm boots the
#      Debian kernel with 2 vCPUs on them; the guest sees 2 CPUs, both
#      devices with packed virtqueues (sysfs features bit 34), writes a
#      pattern to /dev/vda and reads it back, pings 10.0.77.1 through its
#      NIC, and powers off: sluice-vmm must exit 0; the backing file must
#      hold the pattern.
#   2. the same disk check with qemu-storage-daemon as the backend.
#   3. error paths: a missing backend socket, a non-bzImage kernel.
# Prints one line per check; boot times go to the output folder (timings.txt).
# Exit 0 pass, 1 fail, 77 skip.
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
VMM=$BUILD/src/sluice-vmm/sluice-vmm
SLUICED=$BUILD/src/sluiced/sluiced
GUEST=$SRC/tools/guest
LIMIT=${SLUICE_VMM_BOOT_LIMIT:-360}     # seconds per boot (nested, under TCG)
# shellcheck source=../lablib.sh
. "$SRC/tests/lab/lablib.sh"

guest_script() {
    cat <<'G'
#!/bin/sh
echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
fails=0
# The ring format each virtio device negotiated (bit 34: packed).
for d in /sys/bus/virtio/devices/*; do
    echo "guest: ring $(cat $d/device) packed=$(cut -c35 $d/features)"
done
if [ -b /dev/vda ]; then
    i=0; : >/tmp/pat
    while [ $i -lt 4096 ]; do echo "sluice-vmm block $i ................................................" >>/tmp/pat; i=$((i+1)); done
    head -c 262144 /tmp/pat >/tmp/pat2
    dd if=/tmp/pat2 of=/dev/vda bs=4096 oflag=direct conv=fsync 2>/dev/null
    dd if=/dev/vda of=/tmp/back bs=4096 count=64 iflag=direct 2>/dev/null
    if cmp -s /tmp/pat2 /tmp/back; then echo "guest: disk-ok"; else echo "guest: disk-BAD"; fails=1; fi
else
    echo "guest: no /dev/vda"; fails=1
fi
if grep -q sluice.net /proc/cmdline; then
    ip link set eth0 up && ip addr add 10.0.77.2/24 dev eth0
    if ping -c 3 -W 5 10.0.77.1 >/tmp/ping 2>&1; then echo "guest: ping-ok"; else echo "guest: ping-BAD"; cat /tmp/ping; fails=1; fi
fi
exit $fails
G
}

inside() {
    local out=$1 fails=0 tmp
    ok() { echo "ok: $*"; }
    bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
    tmp=$(mktemp -d)
    [ -c /dev/kvm ] || { echo "no /dev/kvm"; return 1; }
    guest_script >"$tmp/t.sh"
    "$GUEST" test-initrd "$tmp/t.sh" "$tmp/initrd.img" >/dev/null || { echo "test-initrd failed"; return 1; }
    local bz cl
    bz=$("$GUEST" path bzimage); cl=$("$GUEST" path cmdline)

    # run_vmm LOG BACKEND-LOG ARGS...: one sluice-vmm run under a watchdog
    # of $LIMIT s. A boot that has not ended by then is killed after its
    # evidence is kept in the output folder (hang-NAME/: console with
    # sluice-vmm's vCPU states, kernel stacks and wait channels of its
    # threads, the lab VM's dmesg, the backend's log) and fails the test.
    # There is no retry: the one "hang" ever caught with evidence was a slow
    # boot killed at the old 180 s limit while it progressed (vmm/README.md).
    run_vmm() {
        local log=$1 blog=$2 r=0 dir
        shift 2
        dir=$out/hang-$(basename "$log" .log)
        lab_bounded "$LIMIT" "$dir" "$log" "$VMM" "$@" || r=$?
        [ $r -eq 124 ] || return $r
        cp "$blog" "$dir/backend.log" 2>/dev/null
        echo "note: sluice-vmm did not finish in $LIMIT s; evidence kept in $dir:"
        grep -a "vcpu.*state\|regs:\|did not answer" "$dir/console.log" | sed 's/^/  /'
        awk '/^== thread/ {print "  " $0}' "$dir/threads.txt"
        return $r
    }

    # 1. sluiced disk + NIC.
    truncate -s 64M "$tmp/disk.img"
    ip link add br-vmm type bridge && ip addr add 10.0.77.1/24 dev br-vmm && ip link set br-vmm up
    "$SLUICED" --blk "socket=$tmp/blk.sock,path=$tmp/disk.img,packed=on" \
        --net "socket=$tmp/net.sock,bridge=br-vmm,id=vmnet" >"$tmp/sluiced.log" 2>&1 &
    local spid=$!
    for _ in $(seq 100); do grep -q ready: "$tmp/sluiced.log" && break; sleep 0.1; done
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    run_vmm "$tmp/console1.log" "$tmp/sluiced.log" --kernel "$bz" --initrd "$tmp/initrd.img" --cmdline "$cl sluice.net" \
        --cpus 2 --memory 512M --disk "socket=$tmp/blk.sock" \
        --net "socket=$tmp/net.sock,mac=52:54:00:12:34:56" || rc=$?
    t1=$(date +%s.%N)
    cp "$tmp/console1.log" "$out/" 2>/dev/null
    echo "sluiced run: $(echo "$t1 - $t0" | bc) s" >>"$out/timings.txt"
    [ $rc -eq 0 ] && ok "sluice-vmm exited 0 after poweroff" || bad "sluice-vmm exit status $rc"
    grep -q "^cpus=2" "$tmp/console1.log" && ok "guest sees 2 vCPUs" || bad "guest CPUs: $(grep -a cpus= "$tmp/console1.log")"
    grep -q "guest: disk-ok" "$tmp/console1.log" && ok "guest wrote and read back its sluiced disk" || bad "disk check in the guest"
    grep -q "guest: ping-ok" "$tmp/console1.log" && ok "guest pinged the bridge through sluiced" || bad "ping from the guest"
    grep -q "guest: ring 0x0002 packed=1" "$tmp/console1.log" && grep -q "guest: ring 0x0001 packed=1" "$tmp/console1.log" &&
        ok "disk and NIC run packed virtqueues (features bit 34)" ||
        bad "ring formats: $(grep -a 'guest: ring' "$tmp/console1.log" | tr '\n' ' ')"
    grep -aq "SLUICE-EXIT=0" "$tmp/console1.log" && ok "guest script passed" || bad "guest script: $(grep -a SLUICE-EXIT "$tmp/console1.log")"
    # Both daemons ran under their seccomp allowlists: nothing was denied.
    if grep -ah "seccomp: denied" "$tmp/console1.log" "$tmp/sluiced.log"; then
        bad "a system call outside the seccomp allowlist (above)"
    else
        ok "no system call denied by seccomp (sluice-vmm, sluiced)"
    fi
    guest_script >/dev/null
    sh -c 'i=0; while [ $i -lt 4096 ]; do echo "sluice-vmm block $i ................................................"; i=$((i+1)); done' | head -c 262144 >"$tmp/pat"
    cmp -s -n 262144 "$tmp/pat" "$tmp/disk.img" && ok "backing file holds the guest's data" || bad "backing file differs"
    kill "$spid"; wait "$spid"

    # 2. qemu-storage-daemon as the disk backend.
    if command -v qemu-storage-daemon >/dev/null; then
        truncate -s 64M "$tmp/disk2.img"
        qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$tmp/disk2.img" \
            --export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$tmp/qsd.sock,writable=on" \
            >"$tmp/qsd.log" 2>&1 &
        local qpid=$!
        for _ in $(seq 100); do [ -S "$tmp/qsd.sock" ] && break; sleep 0.1; done
        rc=0
        t0=$(date +%s.%N)
        run_vmm "$tmp/console2.log" "$tmp/qsd.log" --kernel "$bz" --initrd "$tmp/initrd.img" --cmdline "$cl" \
            --cpus 2 --memory 512M --disk "socket=$tmp/qsd.sock" || rc=$?
        t1=$(date +%s.%N)
        cp "$tmp/console2.log" "$out/" 2>/dev/null
        echo "qemu-storage-daemon run: $(echo "$t1 - $t0" | bc) s" >>"$out/timings.txt"
        [ $rc -eq 0 ] && ok "qsd: sluice-vmm exited 0" || bad "qsd: sluice-vmm exit status $rc"
        grep -q "guest: disk-ok" "$tmp/console2.log" && ok "qsd: guest wrote and read back its disk" || bad "qsd: disk check"
        cmp -s -n 262144 "$tmp/pat" "$tmp/disk2.img" && ok "qsd: backing file holds the guest's data" || bad "qsd: backing file differs"
        kill "$qpid"; wait "$qpid"
    else
        bad "qemu-storage-daemon not installed"
    fi

    # 3. Errors.
    local msg
    msg=$("$VMM" --kernel "$bz" --disk "socket=$tmp/none.sock" 2>&1); rc=$?
    [ $rc -eq 1 ] && echo "$msg" | grep -q "none.sock" && ok "unreachable backend: $msg" || bad "unreachable backend: $rc $msg"
    msg=$("$VMM" --kernel /etc/os-release 2>&1); rc=$?
    [ $rc -eq 1 ] && echo "$msg" | grep -q "not a bzImage" && ok "non-bzImage kernel: $msg" || bad "non-bzImage: $rc $msg"
    echo "$fails check(s) failed"
    [ $fails -eq 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside "$2"
    exit $?
fi

[ -x "$VMM" ] || { echo "FAIL: sluice-vmm not built" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
# A kit that cannot be built is a failure (1); one that cannot be had, a skip (77).
"$GUEST" build >/dev/null || exit $?
OUT=$(mktemp -d)
rc=0
"$SRC/tools/lab" run --timeout $(( 300 + 4 * LIMIT )) --out "$OUT" -- "$SELF" --inside "$OUT" || rc=$?
cat "$OUT/timings.txt" 2>/dev/null
[ $rc -eq 0 ] || { for f in "$OUT"/console*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; }
if compgen -G "$OUT/hang-*" >/dev/null; then
    # The evidence of a hung boot outlives the run (CI keeps the log).
    keep=${TMPDIR:-/tmp}/sluice-vmm-hang-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$keep" && cp -r "$OUT"/hang-* "$keep/" && echo "evidence of the hung boot(s) kept in $keep"
fi
rm -rf "$OUT"
exit $rc
