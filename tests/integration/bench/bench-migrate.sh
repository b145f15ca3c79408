#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `sluice bench migrate --quick --output $WORK`: the table has its two parts
# (mirror vs nbdcopy, live-migration downtime per backend) and the JSON
# written beside it the documented shape: every figure a number where one
# belongs (positive throughputs and times, at least one dirty-page round),
# qemu-storage-daemon either measured or "n/a" with a reason. Figures are
# never compared with thresholds.
. "$(dirname "$0")/../lib.sh"

need_root
need_cmd nbdcopy
need_cmd qemu-nbd
need_cmd jq
need_guest_kit
SLUICE=$SLUICE_BUILD/tools/sluice/sluice

log "sluice bench migrate --quick"
"$SLUICE" bench migrate --quick --output "$WORK" >"$WORK/out.txt" 2>"$WORK/bench.log" ||
    fail "sluice bench migrate failed: $(tail -5 "$WORK/bench.log")"
cat "$WORK/out.txt"
grep -Eq '^  to sluiced \(MiB/s\) +[0-9]+ +[0-9]+ +[0-9.]+$' "$WORK/out.txt" || fail "no mirror line in the table"
grep -Eq '^  sluiced \(ms\) +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$' "$WORK/out.txt" || fail "no sluiced migration line"
grep -Eq '^  qemu-storage-daemon (\(ms\) +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+|  n/a \(.+\))$' "$WORK/out.txt" ||
    fail "no qemu-storage-daemon line"
json=$(ls "$WORK"/*-migrate.json)
python3 - "$json" <<'PY' || fail "JSON check failed"
import json, sys
doc = json.load(open(sys.argv[1]))
def num(v, lo=0):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > lo
assert doc["name"] == "migrate" and doc["quick"] is True and doc["commands"], doc
m = {r["target"]: r for r in doc["mirror"]}
assert "sluiced" in m, m
for r in m.values():
    assert r["bytes"] == 32 << 20, r
    for k in ("mirror_ms", "mirror_mib_s", "nbdcopy_ms", "nbdcopy_mib_s", "mirror_over_nbdcopy"):
        assert num(r[k]), f"{r['target']}: {k}={r[k]!r}"
g = {r["backend"]: r for r in doc["migrate"]}
assert set(g) == {"sluiced", "qemu-storage-daemon"}, g
for b, r in g.items():
    if "na" in r:
        assert b != "sluiced", f"sluiced did not migrate: {r['na']}"
        assert r["na"].strip(), r
        continue
    assert num(r["downtime_ms"], -1) and num(r["total_ms"]) and num(r["setup_ms"], -1), r
    assert num(r["rounds"]) and r["total_ms"] >= r["downtime_ms"], r
print("mirror:", {t: round(r["mirror_over_nbdcopy"], 2) for t, r in m.items()},
      "migrate:", {b: r.get("downtime_ms", r.get("na")) for b, r in g.items()})
PY
log PASS
