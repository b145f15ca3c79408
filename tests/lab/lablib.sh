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
    cd "$LAB_WORK" && "$SRC/tools/lab" run --timeout "$timeout" -- "$SELF" --inside "$@"
    rc=$?
    echo "$name: status $rc, $(( $(date +%s) - t0 )) s"
    exit $rc
}

# ---- bounded nested boots (inside the lab VM) --------------------------------
# Nested KVM on the TCG lab VM is not always stable: a boot may stop making
# progress. Every nested boot runs under a watchdog that, at its limit, keeps
# the evidence and kills the VMM, so one stuck boot costs its limit only.

# lab_evidence PID DIR [LOG]: keep what shows where PID is stuck in DIR:
# info.txt (command line, time), threads.txt (per thread: name, state, wchan
# and the kernel stack from /proc/PID/task/TID/), for sluice-vmm its vCPU
# states (SIGUSR2 makes it print them to its stderr, which should be LOG),
# console.log (LOG, last) and dmesg.txt (the lab VM's kernel messages).
lab_evidence() {
    local pid=$1 dir=$2 log=${3:-} t comm
    mkdir -p "$dir"
    comm=$(cat "/proc/$pid/comm" 2>/dev/null)
    { echo "pid $pid ($comm): $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
      echo "seen stuck at $(date -u +%FT%TZ), uptime $(cut -d' ' -f1 /proc/uptime) s"; } >"$dir/info.txt"
    for t in /proc/"$pid"/task/*; do
        [ -d "$t" ] || continue
        { echo "== thread ${t##*/} $(cat "$t/comm" 2>/dev/null) state=$(awk '{print $3}' "$t/stat" 2>/dev/null)" \
               "wchan=$(cat "$t/wchan" 2>/dev/null)"
          cat "$t/stack" 2>/dev/null; } >>"$dir/threads.txt"
    done
    if [ "$comm" = sluice-vmm ]; then
        kill -USR2 "$pid" 2>/dev/null && sleep 3
    fi
    [ -z "$log" ] || tr -d '\r' <"$log" >"$dir/console.log" 2>/dev/null
    dmesg 2>/dev/null | tail -n 200 >"$dir/dmesg.txt"
}

# lab_watchdog PID LIMIT DIR [LOG]: run in the background (&) next to a boot.
# When PID still runs after LIMIT seconds: lab_evidence PID DIR LOG, then
# SIGKILL; DIR/timeout then holds the limit. Ends when PID ends.
lab_watchdog() {
    local pid=$1 limit=$2 dir=$3 log=${4:-} end
    end=$(( $(date +%s) + limit ))
    while kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
        if [ "$(date +%s)" -ge "$end" ]; then
            lab_evidence "$pid" "$dir" "$log"
            echo "$limit" >"$dir/timeout"
            kill -KILL "$pid" 2>/dev/null
            return 0
        fi
        sleep 1
    done
}

# lab_bounded LIMIT DIR LOG CMD...: run CMD (stdin /dev/null, stdout and
# stderr to LOG) with a watchdog; its status, or 124 when the watchdog hit
# the limit (the evidence is then in DIR).
lab_bounded() {
    local limit=$1 dir=$2 log=$3 pid wd rc=0
    shift 3
    "$@" </dev/null >"$log" 2>&1 &
    pid=$!
    lab_watchdog "$pid" "$limit" "$dir" "$log" &
    wd=$!
    wait "$pid" || rc=$?
    kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null
    [ -f "$dir/timeout" ] && return 124
    return "$rc"
}
