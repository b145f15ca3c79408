#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `sluice dev` against a real sluiced (a null= block device, driven for a
# second by sluice-blkbench so the counters and the latency histogram are not
# empty): option errors, the readable `dev stats`, the `dev list` table with
# a long ID, and the one line `dev remove` prints (none with --quiet).
# (It lives with the net CLI tests and their helpers; it makes no links.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/netlib.sh"     # expect_fail, $SLUICE, need_root
BLKBENCH=$SLUICE_BUILD/tools/bench/sluice-blkbench
[ -x "$BLKBENCH" ] || fail "sluice-blkbench not built"
export SLUICE_CONTROL=$WORK/control.sock

ID=disk-with-a-long-name
start_sluiced --control "$SLUICE_CONTROL" --workers 1 \
    --blk "socket=$WORK/a.sock,null=64M,id=$ID" --blk "socket=$WORK/b.sock,null=64M,id=b"

log "a missing value is a usage error naming the option"
expect_fail 2 '^sluice: dev: option --control needs a value$' "$SLUICE" dev list --control
expect_fail 2 '^sluice: dev: option --control needs a value \(got the option .--json.\)$' "$SLUICE" dev list --control --json
expect_fail 2 '^sluice: dev: option --control needs a value \(got the option .--json.\)$' "$SLUICE" dev --control --json list
expect_fail 2 '^sluice: dev: option --control needs a value$' "$SLUICE" dev stats "$ID" --control=
expect_fail 2 '^sluice: dev: unknown option --frob$' "$SLUICE" dev list --frob
# Options before or after the verb.
"$SLUICE" dev --json list >/dev/null
"$SLUICE" dev list --control "$SLUICE_CONTROL" --json >/dev/null

log "I/O for the counters"
timeout 60 "$BLKBENCH" --socket "$WORK/a.sock" --time 1 --warmup 0 --qd 4 >"$WORK/bench.json" ||
    fail "blkbench failed: $(cat "$WORK/bench.json")"

log "dev list: the table widens for a long ID"
"$SLUICE" dev list >"$WORK/list"
python3 - "$WORK/list" "$ID" <<'PY' || fail "dev list not aligned: $(cat "$WORK/list")"
import sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 3, lines
col = lines[0].index("TYPE")
for l in lines[1:]:
    assert l[col - 1] == " " and l[col:col + 4] == "blk ", (col, l)
assert any(l.startswith(sys.argv[2] + " ") for l in lines), lines
PY

log "dev stats: readable lines, no JSON"
"$SLUICE" dev stats "$ID" >"$WORK/stats"
cat "$WORK/stats"
if grep -q '[][{}"]' "$WORK/stats"; then fail "dev stats prints JSON: $(cat "$WORK/stats")"; fi
grep -Eq '^reads +[1-9][0-9]*$' "$WORK/stats" || fail "no reads line"
grep -Eq '^ +INDEX +KICKS +REQUESTS +INTERRUPTS +RING$' "$WORK/stats" || fail "no queue table header"
grep -Eq '^ +0 +[1-9][0-9]* +[1-9][0-9]* +[0-9]+ +(split|packed)$' "$WORK/stats" || fail "no queue 0 row"
grep -q '^latency:$' "$WORK/stats" || fail "no latency section"
# One line per non-empty bucket of the JSON histogram, with its count.
"$SLUICE" dev stats "$ID" --json >"$WORK/stats.json"
python3 - "$WORK/stats" "$WORK/stats.json" <<'PY' || fail "latency lines do not match the histogram"
import json, re, sys
text = open(sys.argv[1]).read().split("latency:\n", 1)[1].splitlines()
hist = json.load(open(sys.argv[2]))["latency"]
assert hist and len(text) == len(hist), (text, hist)
rows = [re.match(r"^  (< 1 us|\d[\d.]* [um]?s - \d[\d.]* [um]?s|>= .*?) +(\d+) +[\d.]+% ", l) for l in text]
assert all(rows), text
# (no I/O between the two calls: the counts are equal)
assert [int(r.group(2)) for r in rows] == [b["count"] for b in hist], (text, hist)
PY
"$SLUICE" dev stats b | grep -q '^latency: -$' || fail "empty histogram: $("$SLUICE" dev stats b)"

log "dev remove says what it did; --quiet / -q silence it"
out=$("$SLUICE" dev remove "$ID")
[ "$out" = "device $ID removed" ] || fail "dev remove printed '$out'"
[ ! -e "$WORK/a.sock" ] || fail "socket left after dev remove"
out=$("$SLUICE" dev remove b --quiet)
[ -z "$out" ] || fail "dev remove --quiet printed '$out'"
"$SLUICE" dev add blk "socket=$WORK/c.sock,null=1M,id=c" >/dev/null
out=$("$SLUICE" dev -q remove c)
[ -z "$out" ] || fail "dev -q remove printed '$out'"
expect_fail 1 'no such device' "$SLUICE" dev remove c
[ "$("$SLUICE" dev list --json | tr -d ' \n')" = "[]" ] || fail "devices left"
log "PASS"
