# SPDX-License-Identifier: Apache-2.0
# Shared by the lab tests that run all their checks in one lab VM boot
# (sourced, bash). Such a test is one script with two halves: the host half
# calls lab_launch, which runs the same script with --inside in the lab VM.

# LVM inside the lab VM: there is no udev.
LVMCONF='activation{udev_sync=0 udev_rules=0 verify_udev_operations=1} devices{obtain_device_list_from_udev=0}'

# ---- the --inside half ------------------------------------------------------
# One line per check, "ok: ..." or "FAIL: ...", stamped with the seconds
# since t0. These use the calling function's locals n, fails, t0 and W
# (bash scoping is dynamic).
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
ok() { n=$((n + 1)); echo "ok: $* [t=$(since)s]"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $* [t=$(since)s]"; }
# check NAME COMMAND...: the command must succeed.
check() {
    local name=$1; shift
    if "$@" >"$W/out" 2>"$W/err"; then ok "$name"; else bad "$name: $(tail -n3 "$W/err" "$W/out" | tr '\n' ' ')"; fi
}
lvm_() { lvm "$@" --config "$LVMCONF"; }
# glog NAME: the guest log $W/NAME.log without the kernel's CRs.
glog() { tr -d '\r' <"$W/$1.log"; }

# ---- the host half ----------------------------------------------------------
# lab_launch NAME TIMEOUT [BINARY...] -- INSIDE-ARGS...: skip (77) without
# QEMU or the guest kit, fail when a BINARY is not built, then run
# "$SELF --inside INSIDE-ARGS..." in the lab VM (TIMEOUT seconds) from a
# scratch folder, print "NAME: status RC, N s" and exit with its status.
# LAB_CPUS=N gives the lab VM N vCPUs (tools/lab's default is 2): a test
# with no nested guest needs one, and leaves the other core to the test
# that runs beside it.
lab_launch() {
    local name=$1 timeout=$2 rc t0
    shift 2
    command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
    "$SRC/tools/guest" build >/dev/null
    rc=$?
    [ "$rc" = 0 ] || { [ "$rc" = 77 ] && echo "SKIP: guest kit unavailable"; exit "$rc"; }
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        [ -x "$1" ] || { echo "FAIL: $1 not built"; exit 1; }
        shift
    done
    shift
    t0=$(date +%s)
    LAB_WORK=$(mktemp -d)
    trap 'rm -rf "$LAB_WORK"' EXIT
    cd "$LAB_WORK" && "$SRC/tools/lab" run --timeout "$timeout" ${LAB_CPUS:+--cpus "$LAB_CPUS"} \
        -- "$SELF" --inside "$@"
    rc=$?
    echo "$name: status $rc, $(( $(date +%s) - t0 )) s"
    exit $rc
}

# ---- bounded nested boots (inside the lab VM) --------------------------------
# Nested KVM on the TCG lab VM is not always stable: a boot may stop making
# progress. Every nested boot runs under a watchdog that, at its limit, keeps
# the evidence and kills the VMM, so one stuck boot costs its limit only.

# lab_evidence, lab_watchdog and lab_bounded (bounded nested boots with
# their evidence kept) live in tools/watchdog.sh: `sluice bench boot` uses
# them too.
# shellcheck source=../../tools/watchdog.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../tools/watchdog.sh"
