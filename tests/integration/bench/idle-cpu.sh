#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluiced's CPU use while a frontend is connected but idle, right after it
# did I/O (so the workers' polling windows are open): read /proc/PID/stat
# (utime + stime) before and after 10 s of idleness. A measurement with a
# generous bound (5 % of one CPU; the target is under 1 %), not a speed test.
. "$(dirname "$0")/../lib.sh"

BLKBENCH=$SLUICE_BUILD/tools/bench/sluice-blkbench
IDLE=10
SOCK=$WORK/idle.sock

cpu_ticks() {   # utime + stime of process $1, in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

start_sluiced --workers 1 --blk "socket=$SOCK,null=64M,queues=2"
log "QD1 random reads for 1 s, then $IDLE s connected and idle"
"$BLKBENCH" --socket "$SOCK" --rw randread --qd 1 --queues 2 --time 1 --warmup 0.2 \
    --idle $((IDLE + 2)) --backend-pid "$SLUICED_PID" >"$WORK/out.json" 2>"$WORK/blkbench.log" &
BB=$!
for i in $(seq 200); do
    grep -q "idle for" "$WORK/blkbench.log" && break
    kill -0 $BB 2>/dev/null || fail "sluice-blkbench exited early: $(cat "$WORK/blkbench.log")"
    sleep 0.05
done
grep -q "idle for" "$WORK/blkbench.log" || fail "sluice-blkbench did not reach its idle phase"
sleep 1
t0=$(cpu_ticks "$SLUICED_PID")
sleep $IDLE
t1=$(cpu_ticks "$SLUICED_PID")
wait $BB || fail "sluice-blkbench failed: $(cat "$WORK/blkbench.log")"
hz=$(getconf CLK_TCK)
pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s=$IDLE 'BEGIN { printf "%.2f", 100 * d / hz / s }')
iops=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["iops"]))' "$WORK/out.json")
log "I/O phase: $iops IOPS; idle: $((t1 - t0)) ticks in $IDLE s = $pct % of a CPU"
[ "$iops" -gt 0 ] || fail "no I/O was done"
awk -v p="$pct" 'BEGIN { exit !(p < 5) }' || fail "sluiced used $pct % of a CPU while idle (bound 5 %)"
stop_sluiced "$SOCK"
log PASS
