# SPDX-License-Identifier: Apache-2.0
# tools/watchdog.sh — bounded runs of a process that may hang (nested boots in
# the lab VM), with the evidence of a hang kept (sourced, bash). Used by
# `sluice bench boot` (tools/bench/boot.sh) and the lab tests
# (tests/lab/lablib.sh).

# lab_evidence_threads PID: per thread of PID, its name, state, wait channel
# and kernel stack (/proc/PID/task/TID/).
lab_evidence_threads() {
    local t
    for t in /proc/"$1"/task/*; do
        [ -d "$t" ] || continue
        echo "== thread ${t##*/} $(cat "$t/comm" 2>/dev/null) state=$(awk '{print $3}' "$t/stat" 2>/dev/null)" \
             "wchan=$(cat "$t/wchan" 2>/dev/null)"
        cat "$t/stack" 2>/dev/null
    done
}

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
    lab_evidence_threads "$pid" >>"$dir/threads.txt"
    if [ "$comm" = sluice-vmm ]; then
        kill -USR2 "$pid" 2>/dev/null && sleep 3
    fi
    [ -z "$log" ] || tr -d '\r' <"$log" >"$dir/console.log" 2>/dev/null
    dmesg 2>/dev/null | tail -n 200 >"$dir/dmesg.txt"
}

# lab_evidence_print DIR: what lab_bounded kept in DIR when it hit its limit
# (nothing otherwise): whether SIGKILL ended the process, its threads and
# the lab VM's last kernel messages.
lab_evidence_print() {
    [ -f "$1/timeout" ] || return 0
    [ ! -f "$1/unkillable" ] || echo "it did not end on SIGKILL (stuck in the kernel)"
    echo "its threads (state, wait channel, kernel stack):"
    cat "$1/threads.txt"
    echo "the lab VM's last kernel messages:"
    tail -n 40 "$1/dmesg.txt"
}

# lab_running PID: PID exists and has not ended (a zombie has).
lab_running() {
    kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# lab_watchdog PID LIMIT DIR [LOG]: run in the background (&) next to a boot.
# When PID still runs after LIMIT seconds: lab_evidence PID DIR LOG, then
# SIGKILL; DIR/timeout then holds the limit. A PID that SIGKILL does not end
# within LAB_KILL_GRACE seconds (default 30: stuck in the kernel, state D)
# gets its threads' stacks appended to DIR/threads.txt and DIR/unkillable.
# Ends when PID ends or is found unkillable.
lab_watchdog() {
    local pid=$1 limit=$2 dir=$3 log=${4:-} end i
    end=$(( $(date +%s) + limit ))
    while lab_running "$pid"; do
        if [ "$(date +%s)" -ge "$end" ]; then
            lab_evidence "$pid" "$dir" "$log"
            echo "$limit" >"$dir/timeout"
            kill -KILL "$pid" 2>/dev/null
            for ((i = 0; i < ${LAB_KILL_GRACE:-30} * 10; i++)); do
                lab_running "$pid" || return 0
                sleep 0.1
            done
            echo "== ${LAB_KILL_GRACE:-30} s after SIGKILL, still running:" >>"$dir/threads.txt"
            lab_evidence_threads "$pid" >>"$dir/threads.txt"
            echo "$pid" >"$dir/unkillable"
            return 0
        fi
        sleep 1
    done
}

# lab_bounded LIMIT DIR LOG CMD...: run CMD (stdin /dev/null, stdout and
# stderr to LOG) with a watchdog; its status, or 124 when the watchdog hit
# the limit (the evidence is then in DIR). Returns even when CMD could not
# be killed (DIR/unkillable; the process is left behind).
lab_bounded() {
    local limit=$1 dir=$2 log=$3 pid wd rc=0 first=""
    shift 3
    "$@" </dev/null >"$log" 2>&1 &
    pid=$!
    lab_watchdog "$pid" "$limit" "$dir" "$log" &
    wd=$!
    wait -n -p first "$pid" "$wd" || rc=$?
    if [ "$first" = "$pid" ]; then
        kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null
    else
        # The watchdog ended first: CMD ended (it is waited for now), was
        # killed at the limit, or could not be killed.
        [ -f "$dir/unkillable" ] && return 124
        rc=0
        wait "$pid" || rc=$?
    fi
    [ -f "$dir/timeout" ] && return 124
    return "$rc"
}
