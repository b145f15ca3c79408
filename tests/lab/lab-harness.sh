#!/bin/bash
# tests/lab/lab-harness.sh — the lab VM harness works end to end.
#
# On the host it boots the lab VM five times through tools/lab run:
#   1. `sh -c 'exit 3'` must make tools/lab exit 3 (status propagation);
#   2. this very script with --inside, which checks in the VM that /dev/kvm
#      answers KVM_GET_API_VERSION (12) and creates a VM, that device-mapper
#      has the thin-pool and thin targets, and that LVM thin provisioning works
#      on a loop device (pool, thin volume, data written and read back, thin
#      snapshot), leaving `lvs --reportformat json` in the output folder,
#      and that tools/watchdog.sh's lab_bounded passes a status through,
#      kills at its limit and gives up on a process stuck in the kernel;
#   3. a command that panics the VM's kernel (sysrq crash): retried once in
#      a fresh VM, then status 76 with the panic line, both consoles kept;
#   4. a VM frozen whole while its command runs (its vCPUs stopped through
#      QEMU's monitor, as a TCG lock-up leaves them): no heartbeat comes, so
#      it is stopped after SLUICE_LAB_HANG seconds with status 75 and its
#      vCPUs' registers kept.
# The host side then checks stdout and stderr came back separately, that the
# environment and working directory were passed, and the output folder.
#
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u

# The --config every LVM command uses in the lab VM (no udev there).
LVMCONF='activation{udev_sync=0 udev_rules=0 verify_udev_operations=1} devices{obtain_device_list_from_udev=0}'

# ---------------------------------------------------------------------------
# Inside the lab VM.

inside() {
    local out=$1 fails=0 loop="" vg=sluicelab
    ok() { echo "ok: $*"; }
    bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
    lvm_() { "$@" --config "$LVMCONF"; }

    echo "stderr-check" >&2
    echo "env-check=${SLUICE_TEST_TOKEN:-unset} cwd-check=$(pwd -P) lab=${SLUICE_LAB:-0}"
    touch vm-write-probe    # lands in the overlay, never on the host

    # KVM: the ioctl numbers are _IO(0xAE, 0x00) and _IO(0xAE, 0x01).
    # Debian's python3 (a pyenv shim on PATH costs 7 s under TCG).
    local py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    if [ -c /dev/kvm ]; then
        api=$("$py" -c '
import fcntl, os
fd = os.open("/dev/kvm", os.O_RDWR)
api = fcntl.ioctl(fd, 0xAE00)
vm = fcntl.ioctl(fd, 0xAE01, 0)
print(api, "vm-fd" if vm >= 0 else "no-vm")' 2>&1)
        [ "$api" = "12 vm-fd" ] && ok "KVM_GET_API_VERSION=12, KVM_CREATE_VM works" ||
            bad "/dev/kvm: $api"
    else
        bad "no /dev/kvm"
    fi

    # device-mapper targets.
    targets=$(dmsetup targets 2>&1)
    for t in thin-pool thin snapshot flakey delay; do
        echo "$targets" | grep -q "^$t " && ok "dm target $t" || bad "dm target $t missing: $targets"
    done

    # LVM thin provisioning on a loop device over a sparse file.
    tmp=$(mktemp -d)
    truncate -s 1G "$tmp/pv.img"
    if loop=$(losetup -f --show "$tmp/pv.img"); then
        ok "loop device $loop"
    else
        bad "losetup"; return 1
    fi
    step() { if "$@" >"$tmp/log" 2>&1; then ok "$*"; else bad "$*: $(tail -n3 "$tmp/log")"; fi; }
    step lvm_ pvcreate -q "$loop"
    step lvm_ vgcreate -q "$vg" "$loop"
    step lvm_ lvcreate -q --type thin-pool -L 256M -n pool "$vg"
    step lvm_ lvcreate -q -V 2G --thinpool pool -n thin1 "$vg"
    if [ -b "/dev/$vg/thin1" ]; then
        dd if=/dev/urandom of="$tmp/data" bs=1M count=16 status=none
        step dd if="$tmp/data" of="/dev/$vg/thin1" bs=1M oflag=direct status=none
        if cmp -n $((16 << 20)) "$tmp/data" "/dev/$vg/thin1"; then ok "data read back"; else bad "data differs"; fi
    else
        bad "/dev/$vg/thin1 does not exist"
    fi
    step lvm_ lvcreate -q -s -n snap1 "$vg/thin1"
    step lvm_ lvchange -q -ay -K "$vg/snap1"
    if lvm_ lvs --reportformat json -o lv_name,lv_attr,pool_lv,origin,data_percent "$vg" >"$out/lvs.json" 2>"$tmp/log" &&
        grep -q '"lv_name":"thin1"' "$out/lvs.json" && grep -q '"origin":"thin1"' "$out/lvs.json"; then
        ok "lvs --reportformat json"
    else
        bad "lvs json: $(cat "$out/lvs.json" "$tmp/log")"
    fi
    lvm_ vgchange -q -an "$vg" >/dev/null 2>&1
    losetup -d "$loop"

    # tools/watchdog.sh's lab_bounded (nested boots, the demo): a status
    # passes through; a command past its limit is killed with its evidence
    # kept; one that SIGKILL cannot end (a read from a suspended dm device:
    # state D) is given up on after LAB_KILL_GRACE seconds, not waited for.
    . "$(dirname "$(readlink -f "$0")")/../../tools/watchdog.sh"
    local r t dm=sluice-wd-$$
    lab_bounded 10 "$tmp/a" "$tmp/a.log" sh -c 'echo hi; exit 5'; r=$?
    [ $r = 5 ] && grep -qx hi "$tmp/a.log" && [ ! -e "$tmp/a/timeout" ] &&
        ok "lab_bounded: status 5 and the output pass through" || bad "lab_bounded: status $r, $(cat "$tmp/a.log")"
    t=$SECONDS
    lab_bounded 2 "$tmp/b" "$tmp/b.log" sleep 60; r=$?
    [ $r = 124 ] && grep -q "^== thread .* sleep" "$tmp/b/threads.txt" && [ $((SECONDS - t)) -lt 30 ] &&
        ok "lab_bounded: killed at its limit, threads kept ($((SECONDS - t)) s)" ||
        bad "lab_bounded at its limit: status $r, $((SECONDS - t)) s, $(cat "$tmp/b/threads.txt" 2>&1)"
    if dmsetup create --verifyudev "$dm" --table "0 2048 error" && dmsetup mknodes "$dm" &&
        dmsetup suspend "$dm"; then
        t=$SECONDS
        LAB_KILL_GRACE=3 lab_bounded 2 "$tmp/c" "$tmp/c.log" \
            dd if="/dev/mapper/$dm" of=/dev/null bs=4096 count=1 iflag=direct; r=$?
        [ $r = 124 ] && [ -s "$tmp/c/unkillable" ] && grep -q "still running" "$tmp/c/threads.txt" &&
            grep -q "state=D" "$tmp/c/threads.txt" && [ $((SECONDS - t)) -lt 40 ] &&
            lab_evidence_print "$tmp/c" | grep -q "did not end on SIGKILL" &&
            ok "lab_bounded: a process stuck in the kernel is given up on ($((SECONDS - t)) s)" ||
            bad "lab_bounded, state D: status $r, $((SECONDS - t)) s, $(cat "$tmp/c/threads.txt" 2>&1)"
        dmsetup resume "$dm"
        [ -s "$tmp/c/unkillable" ] && wait "$(cat "$tmp/c/unkillable")" 2>/dev/null
        dmsetup remove "$dm"
    else
        bad "dm error device $dm"
    fi
    rm -rf "$tmp"
    [ "$fails" = 0 ] && echo "inside: all checks passed"
    return $((fails > 0))
}

if [ "${1:-}" = --inside ]; then
    inside "$2"
    exit $?
fi

# ---------------------------------------------------------------------------
# On the host.

SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../.." && pwd)}
LAB=$SRC/tools/lab
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
"$SRC/tools/guest" build >/dev/null
rc=$?
[ "$rc" = 0 ] || { [ "$rc" = 77 ] && echo "SKIP: guest kit unavailable"; exit "$rc"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi; }
t0=$(date +%s)

# 1. Exit status.
"$LAB" run --quiet --timeout 300 -- sh -c 'exit 3'
check "exit status 3 propagates" '[ $? = 3 ]'

# 2. The checks inside, from a working directory of our own.
mkdir "$work/out" "$work/cwd"
(cd "$work/cwd" && SLUICE_TEST_TOKEN=token-42 "$LAB" run --timeout 300 --out "$work/out" -- \
    "$SELF" --inside "$work/out" >"$work/stdout" 2>"$work/stderr")
rc=$?
sed 's/^/  vm: /' "$work/stdout"
sed 's/^/  vm stderr: /' "$work/stderr"
check "checks inside the VM pass" "[ $rc = 0 ] && grep -q '^inside: all checks passed' '$work/stdout'"
check "stderr comes back on stderr" "grep -qx stderr-check '$work/stderr' && ! grep -q stderr-check '$work/stdout'"
check "environment is passed" "grep -q 'env-check=token-42 ' '$work/stdout'"
check "working directory is kept" "grep -q 'cwd-check=$work/cwd ' '$work/stdout'"
check "output folder comes back" "grep -q '\"lv_name\":\"thin1\"' '$work/out/lvs.json'"
check "VM writes stay in the VM" "[ ! -e '$work/cwd/vm-write-probe' ]"

# 3. A kernel panic in the lab VM (sysrq crash) is retried once in a fresh
# VM, then reported as status 76 with the panic line; both consoles kept.
mkdir "$work/panic"
"$LAB" run --timeout 300 --out "$work/panic" -- sh -c 'echo c > /proc/sysrq-trigger; sleep 60' \
    >"$work/panic.out" 2>"$work/panic.err"
rc=$?
sed 's/^/  panic run: /' "$work/panic.err" | grep -v '^  panic run: \[' | head -n 20
check "a panicking lab VM gives status 76" "[ $rc = 76 ]"
check "the panic is retried once, in a fresh VM" \
    "[ \$(grep -c 'panicked; running the command again in a fresh VM' '$work/panic.err') = 1 ] &&
     [ \$(grep -c 'Kernel panic - not syncing' '$work/panic.err') -ge 2 ]"
check "both consoles are kept" "[ -s '$work/panic/lab-console-1.log' ] && [ -s '$work/panic/lab-console-2.log' ]"

# A bad SLUICE_LAB_HANG is refused before any VM boots.
SLUICE_LAB_HANG=9x "$LAB" run --timeout 300 -- true 2>"$work/hang-bad.err"
rc=$?
check "SLUICE_LAB_HANG=9x is refused (status $rc)" \
    "[ $rc = 1 ] && grep -q \"SLUICE_LAB_HANG takes whole seconds (> 0), not '9x'\" '$work/hang-bad.err'"

# 4. A frozen VM. The test stops the vCPUs of the VM's QEMU (found by its
# output folder on the kernel command line) through its QMP socket.
mkdir "$work/frozen"
SLUICE_LAB_HANG=20 SLUICE_LAB_RETRY=0 "$LAB" run --timeout 300 --out "$work/frozen" -- \
    sh -c 'touch "$SLUICE_LAB_OUT/started"; sleep 250; echo not-frozen' \
    >"$work/frozen.out" 2>"$work/frozen.err" &
lab_pid=$!
for _ in $(seq 600); do [ -e "$work/frozen/started" ] && break; sleep 0.5; done
qpid=$(pgrep -n -f "sluice.out=$work/frozen ")
qmp=$(tr '\0' '\n' <"/proc/${qpid:-0}/cmdline" 2>/dev/null | sed -n 's/^unix:\(.*qmp\.sock\),.*/\1/p')
python3 "$SRC/tools/qmp.py" "$qmp" stop >/dev/null && echo "  frozen run: the VM's vCPUs are stopped"
t1=$(date +%s)
wait "$lab_pid"
rc=$?
t2=$(date +%s)
grep -v '^\[' "$work/frozen.err" | sed 's/^/  frozen run: /' | head -n 5
check "a frozen lab VM gives status 75 (qemu $qpid, $qmp)" "[ $rc = 75 ]"
check "it is stopped after SLUICE_LAB_HANG seconds ($((t2 - t1)) s)" \
    "[ $((t2 - t1)) -lt 120 ] && grep -q 'the VM froze (no heartbeat from it for' '$work/frozen.err'"
check "its vCPUs' registers are kept" "grep -q 'RIP=' '$work/frozen/lab-vcpus-1.log'"
check "the command did not go on" "! grep -q not-frozen '$work/frozen.out'"

echo "lab-harness: $fails failed checks, $(( $(date +%s) - t0 )) s"
[ "$fails" = 0 ]
