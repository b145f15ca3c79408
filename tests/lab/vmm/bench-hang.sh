#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/lab/vmm/bench-hang.sh — `sluice bench boot` lives with hung boots.
#
# Runs `sluice bench boot` (2 runs per VMM) with two forced hangs
# (SLUICE_BENCH_BOOT_HANG): sluice-vmm's run 2 boots a guest that never
# powers off, QEMU's run 2 is `sleep 3600`. Each must be killed at its own
# limit (the median of that VMM's good runs, at least 30 s:
# SLUICE_BENCH_BOOT_FACTOR=1, so a hang costs about one boot), recorded as failed with its console tail, and
# the bench must go on and end with status 0 and the figures of the good
# runs; the JSON marks the failed runs; the evidence folder holds the hung
# runs' threads (kernel stacks, wait channels) and, for sluice-vmm, its
# vCPU states; each run's line is printed as the run ends, not at the end.
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u
SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
BUILD=${SLUICE_BUILD:-$SRC/build}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
"$SRC/tools/guest" build >/dev/null || exit $?
[ -x "$BUILD/src/sluice-vmm/sluice-vmm" ] || { echo "FAIL: sluice-vmm not built"; exit 1; }
[ -x "$BUILD/tools/sluice/sluice" ] || { echo "FAIL: sluice not built"; exit 1; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

t0=$(date +%s)
rc=0
# Each stdout line stamped with the seconds since t0 as it arrives.
SLUICE_BENCH_BOOT_HANG=sluice-vmm:2:guest,qemu:2 SLUICE_BENCH_BOOT_FACTOR=1 \
    SLUICE_BUILD=$BUILD "$BUILD/tools/sluice/sluice" bench boot --runs 2 --output "$W/out" 2>"$W/err" |
    while IFS= read -r l; do echo "$(( $(date +%s) - t0 )) $l"; done >"$W/log"
rc=${PIPESTATUS[0]}
t1=$(date +%s)
cat "$W/log"
sed 's/^/stderr: /' "$W/err" | tail -n 30
total=$((t1 - t0))
echo "bench took $total s"

[ "$rc" = 0 ] && ok "the bench ended with status 0" || bad "the bench ended with status $rc"
grep -Eq '^[0-9]+ run 1 sluice-vmm: +boot [0-9]+ ms' "$W/log" && ok "run 1 sluice-vmm has figures" || bad "no figures for run 1 sluice-vmm"
grep -Eq '^[0-9]+ run 1 qemu: +boot [0-9]+ ms' "$W/log" && ok "run 1 qemu has figures" || bad "no figures for run 1 qemu"
grep -Eq '^[0-9]+ run 2 sluice-vmm: FAILED \(killed at its [0-9]+ s limit, (after the|no) marker; evidence in ' "$W/log" &&
    ok "the hung guest (sluice-vmm run 2) was killed at its limit and reported" || bad "no FAILED line for sluice-vmm run 2"
grep -Eq '^[0-9]+ run 2 qemu: FAILED \(killed at its [0-9]+ s limit, no marker; evidence in ' "$W/log" &&
    ok "the sleeping 'VMM' (qemu run 2) was killed at its limit and reported" || bad "no FAILED line for qemu run 2"
# The console tail follows a FAILED line (the marker, when the hung guest
# got that far within its limit, or the vCPU states).
grep -q "console: " "$W/log" && ok "the hung guest's console tail is shown" || bad "no console tail"
# Progress: run 1's line came out well before the bench ended.
first=$(awk '/ run 1 sluice-vmm: / {print $1; exit}' "$W/log")
[ -n "$first" ] && [ $(( total - first )) -ge 30 ] && ok "run 1's line printed at ${first} s of $total s" ||
    bad "run 1's line came at ${first:-never} s of $total s: no progress"
json=$(ls "$W"/out/*-boot.json 2>/dev/null | head -n1)
if [ -n "$json" ] && python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = {x["system"]: x for x in d["results"]}
assert r["sluice-vmm"]["good_runs"] == 1 and r["sluice-vmm"]["failed_runs"] == 1, r
assert r["qemu"]["good_runs"] == 1 and r["qemu"]["failed_runs"] == 1, r
assert r["qemu"]["boot_ms"] == d["samples"]["qemu"][0]["boot_ms"]
f = d["failed"]["qemu"][0]
assert f["failed"] and f["run"] == 2 and "limit" in f["reason"], f
assert d["failed"]["sluice-vmm"][0]["console_tail"], d["failed"]
PY
then ok "the JSON has the good runs' medians and marks the failed runs"; else bad "JSON ($json)"; fi
ev=$(ls -d "$W"/out/*-boot-evidence 2>/dev/null | head -n1)
if [ -n "$ev" ] && grep -q "^== thread .*vcpu0" "$ev/run2-sluice-vmm/threads.txt" &&
        grep -q "vcpu0 regs: rip=" "$ev/run2-sluice-vmm/console.log" &&
        grep -q "^== thread .*sleep" "$ev/run2-qemu/threads.txt" &&
        grep -q "sleep 3600" "$ev/run2-qemu/info.txt"; then
    ok "evidence kept: threads' stacks and wchan, sluice-vmm's vCPU states"
else
    bad "evidence in ${ev:-nowhere}: $(ls -R "$ev" 2>&1 | tr '\n' ' ')"
fi
# Bounded: far from the hour a `sleep 3600` would take.
[ "$total" -lt 1500 ] && ok "the bench ended in $total s" || bad "the bench took $total s"
[ "$fails" = 0 ]
