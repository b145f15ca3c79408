#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `sluice bench $TEST_MODE --quick --json` (blk: with --output $WORK): the JSON
# has the documented shape, one result per system and workload, and every
# figure is a positive number; blk also has the noisy-neighbour section. Figures are never compared with thresholds.
. "$(dirname "$0")/../lib.sh"

need_root
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
MODE=${TEST_MODE:-blk}
case $MODE in
blk)
    need_cmd qemu-storage-daemon
    need_cmd fio
    args=(--output "$WORK")
    ;;
net)
    need_cmd dpdk-testpmd
    need_cmd ip
    args=(--output "$WORK")
    ;;
*) fail "unknown TEST_MODE $MODE" ;;
esac

log "sluice bench $MODE --quick --json"
"$SLUICE" bench "$MODE" --quick --json "${args[@]}" >"$WORK/out.json" 2>"$WORK/bench.log" ||
    fail "sluice bench $MODE failed: $(tail -5 "$WORK/bench.log")"

python3 - "$MODE" "$WORK/out.json" "$WORK" <<'PY' || fail "JSON check failed"
import json, os, sys
mode, path, work = sys.argv[1], sys.argv[2], sys.argv[3]
doc = json.load(open(path))
def positive(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
fields = {"blk": ["iops", "lat_p50_us", "lat_p99_us", "backend_cpu_s"],
          "net": ["mpps", "gbps"]}[mode]
systems = {"blk": {"sluiced", "sluiced-packed", "qemu-storage-daemon", "direct"},
           "net": {"sluiced", "dpdk-vhost"}}[mode]
res = doc["results"]
assert isinstance(res, list) and res, "no results"
seen = {}
for r in res:
    assert r["system"] in systems, f"unknown system {r['system']}"
    assert isinstance(r["workload"], str) and r["workload"], r
    for f in fields:
        assert positive(r.get(f)), f"{r['system']} {r['workload']}: {f}={r.get(f)!r}"
    seen.setdefault((r.get("backing"), r["workload"]), set()).add(r["system"])
for k, s in seen.items():
    assert s == systems, f"{k}: systems {s}"
if mode == "blk":
    # A latency longer than the whole run is a measuring error (a request
    # stamped used before its submit time wraps around), not a figure.
    span_us = (doc["config"]["seconds"] + doc["config"]["warmup_s"] + 10) * 1e6
    for r in res:
        for f in ("lat_p50_us", "lat_p99_us", "lat_p999_us"):
            assert r[f] is None or r[f] <= span_us, f"{r['system']} {r['workload']}: {f}={r[f]!r}"
for k in ("machine", "versions", "commands", "samples", "ratios"):
    assert doc.get(k), f"missing {k}"
for ra in doc["ratios"]:
    for k, v in ra.items():
        if k.startswith("sluiced_") or k == "packed_vs_split":
            assert positive(v), f"ratio {k}={v!r}"
if mode == "blk":
    assert all("packed_vs_split" in ra for ra in doc["ratios"]), "no packed/split ratio"
    # fio runs O_DIRECT on every file backing that takes it (tmpfs since 6.6)
    fio = [c for c in doc["commands"] if " fio " in f" {c} " or c.split()[3:4] == ["fio"]]
    for b, dio in doc["config"]["fio_direct"].items():
        if b == "null":
            assert dio is False, "fio on /dev/zero cannot be O_DIRECT"
    tmpfs_dio = doc["config"]["fio_direct"].get("tmpfs")
    if tmpfs_dio:
        assert any("--direct=1" in c and "/dev/shm/" in c for c in fio), "tmpfs fio not O_DIRECT"
    # noisy neighbour (null backing): A alone and with B, B against its limit
    if "null" in doc["config"]["backings"]:
        n = doc.get("noisy")
        assert n and doc["config"]["noisy"], "no noisy-neighbour section"
        assert n["workers"] == 1 and n["backing"] == "null", n
        for k in ("iops_alone", "iops_with_b", "with_b_vs_alone"):
            assert positive(n["a"].get(k)), f"noisy a {k}={n['a'].get(k)!r}"
        for k in ("iops", "limit_iops", "vs_limit"):
            assert positive(n["b"].get(k)), f"noisy b {k}={n['b'].get(k)!r}"
        assert n["b"]["limit"].startswith("iops="), n["b"]["limit"]
        assert {(s["device"], s["phase"]) for s in n["samples"]} == \
            {("a", "alone"), ("a", "with-b"), ("b", "with-b")}, "noisy samples"
assert os.path.exists(doc["json"]) and os.path.dirname(doc["json"]) == work, doc["json"]
if doc.get("chart"):
    assert os.path.getsize(doc["chart"]) > 0
print(f"{len(res)} results, {len(seen)} workloads, all positive")
PY
log PASS
