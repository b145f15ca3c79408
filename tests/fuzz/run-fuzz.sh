#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run one libFuzzer target for a bounded time from its checked-in seed
# corpus: run-fuzz.sh TARGET SEED-DIR SECONDS. New inputs go to a scratch
# folder (the seeds stay as they are); a crash fails the test and its input
# is copied next to the log as crash-<target>-*. Prints the execution count.
set -euo pipefail
target=$1 seeds=$2 secs=$3
name=$(basename "$target")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rc=0
"$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work" "$seeds" >"$work/log" 2>&1 || rc=$?
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$work/log" || true
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    for f in "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-*; do
        [ -e "$f" ] || continue
        cp "$f" "./${name}-$(basename "$f")" && echo "saved ./${name}-$(basename "$f")"
    done
    exit 1
fi
echo "$name: ok, $(sed -n 's/.*stat::number_of_executed_units: *//p' "$work/log") executions in ${secs} s"
