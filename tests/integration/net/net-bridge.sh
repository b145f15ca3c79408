#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Linux bridges and taps through `sluice net`, inside a private namespace,
# checked independently with `ip -j` and `bridge -j`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/netlib.sh"

NS=slbr-$$
new_ns "$NS"
sl() { in_ns "$NS" "$SLUICE" net "$@"; }

log "create, with MTU and address"
say "bridge br0 created" sl bridge create br0 --mtu 1400 --addr 10.50.0.1/24
in_ns "$NS" ip -j -d link show br0 | jcheck 'd[0]["mtu"] == 1400 and "UP" in d[0]["flags"] and d[0]["linkinfo"]["info_kind"] == "bridge"'
in_ns "$NS" ip -j addr show br0 | jcheck 'any(a["local"] == "10.50.0.1" and a["prefixlen"] == 24 for a in d[0]["addr_info"])'
expect_fail 1 '^sluice: br0: cannot create bridge: already exists$' sl bridge create br0

log "invalid names are usage errors (exit 2), for bridges and taps alike"
expect_fail 2 '^sluice: a/b: invalid name \(' sl bridge create a/b
expect_fail 2 '^sluice: 0123456789abcdef: invalid name \(at most 15 bytes\)$' sl bridge create 0123456789abcdef
expect_fail 2 '^sluice: 0123456789abcdef: invalid name \(at most 15 bytes\)$' sl tap create 0123456789abcdef
expect_fail 2 '^sluice: a:b: invalid name \(' sl tap create a:b
expect_fail 2 '^sluice: a/b: invalid name \(' sl bridge delete a/b
in_ns "$NS" ip -j link show | jcheck 'sorted(l["ifname"] for l in d) == ["br0", "lo"]'

log "a missing value is a usage error naming the option, and changes nothing"
expect_fail 2 '^sluice: bridge: option --mtu needs a value \(got the option .--down.\)$' sl bridge create br9 --mtu --down
expect_fail 2 '^sluice: bridge: option --addr needs a value$' sl bridge create br9 --addr
expect_fail 2 '^sluice: tap: option --user needs a value' sl tap create sl-t9-0 --user --up
in_ns "$NS" ip -j link show | jcheck 'sorted(l["ifname"] for l in d) == ["br0", "lo"]'

log "enslave a veth"
in_ns "$NS" ip link add v0 type veth peer name v1
say "port v0 added to bridge br0" sl bridge add-port br0 v0
in_ns "$NS" bridge -j link | jcheck '[l["master"] for l in d if l["ifname"] == "v0"] == ["br0"]'
in_ns "$NS" ip -j link show v0 | jcheck '"UP" in d[0]["flags"]'
sl bridge add-port br0 v0 -q >"$WORK/out"     # idempotent
[ ! -s "$WORK/out" ] || fail "-q printed '$(cat "$WORK/out")'"
expect_fail 1 '^sluice: nosuch: no such interface$' sl bridge add-port br0 nosuch
expect_fail 1 '^sluice: v0: cannot delete: not a bridge$' sl bridge delete v0

log "list and show; the table widens for long names and addresses"
sl bridge create br-0123456789ab --addr 10.52.0.1/24 --quiet >"$WORK/out"
[ ! -s "$WORK/out" ] || fail "--quiet printed '$(cat "$WORK/out")'"
in_ns "$NS" ip addr add fd00:5100::1/64 dev br-0123456789ab
in_ns "$NS" ip addr add fd00:5200:1234:5678::1/64 dev br0
# Every column starts where its header does: the PORTS column (the last
# word) is aligned in every row.
sl bridge list | python3 -c 'import sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 3, lines
col = lines[0].index("PORTS")
for l in lines[1:]:
    assert l[col - 1] == " " and l[col] != " " and " " not in l[col:], (col, l)' || fail "bridge list columns not aligned: $(sl bridge list)"
sl -q bridge delete br-0123456789ab >"$WORK/out"
[ ! -s "$WORK/out" ] || fail "net -q printed '$(cat "$WORK/out")'"
in_ns "$NS" ip addr del fd00:5200:1234:5678::1/64 dev br0
sl bridge list | grep -Eq '^br0 +up +1400 +10\.50\.0\.1/24' || fail "text list: $(sl bridge list)"
sl bridge list --json | jcheck '[(b["name"], b["mtu"], [p["name"] for p in b["ports"]]) for b in d] == [("br0", 1400, ["v0"])] and "10.50.0.1/24" in d[0]["addresses"]'
sl bridge show br0 --json | jcheck 'd["name"] == "br0" and d["up"] and d["ports"][0]["name"] == "v0"'
expect_fail 1 '^sluice: nobr: no such bridge$' sl bridge show nobr

log "a persistent multi-queue tap, attached and detached"
say "tap sl-t0-0 created (2 queues)" sl tap create sl-t0-0 --queues 2 --up
in_ns "$NS" ip -j -d link show sl-t0-0 | jcheck 'd[0]["linkinfo"]["info_kind"] == "tun" and d[0]["linkinfo"]["info_data"]["type"] == "tap" and d[0]["linkinfo"]["info_data"]["multi_queue"] and d[0]["linkinfo"]["info_data"]["vnet_hdr"] and d[0]["linkinfo"]["info_data"]["persist"]'
say "sl-t0-0 attached to bridge=br0" sl attach sl-t0-0 bridge=br0
in_ns "$NS" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "br0") == ["sl-t0-0", "v0"]'
say "sl-t0-0 detached from bridge=br0" sl detach sl-t0-0 bridge=br0
in_ns "$NS" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "br0") == ["v0"]'
expect_fail 1 'not a port of br0' sl detach sl-t0-0 bridge=br0
say "tap sl-t0-0 deleted" sl tap delete sl-t0-0
in_ns "$NS" ip link show sl-t0-0 >/dev/null 2>&1 && fail "tap still there"
expect_fail 1 '^sluice: v1: cannot delete: not a tap$' sl tap delete v1

log "set MTU, down, address; release the port"
# A bad value is refused before anything changes (the MTU stays 1400).
expect_fail 2 '^sluice: br0: --addr wants ADDR/PREFIX' sl bridge set br0 --mtu 1300 --addr 10.51.0.1
in_ns "$NS" ip -j link show br0 | jcheck 'd[0]["mtu"] == 1400'
say "bridge br0 updated" sl bridge set br0 --mtu 1300 --down --del-addr 10.50.0.1/24 --addr 10.51.0.1/24
in_ns "$NS" ip -j addr show br0 | jcheck 'd[0]["mtu"] == 1300 and "UP" not in d[0]["flags"] and [a["local"] for a in d[0]["addr_info"] if a["family"] == "inet"] == ["10.51.0.1"]'
say "port v0 removed from bridge br0" sl bridge del-port br0 v0
in_ns "$NS" bridge -j link | jcheck 'not any(l.get("master") == "br0" for l in d)'

log "delete"
say "bridge br0 deleted" sl bridge delete br0
in_ns "$NS" ip link show br0 >/dev/null 2>&1 && fail "bridge still there"
sl bridge list --json | jcheck 'd == []'
expect_fail 1 '^sluice: br0: cannot delete: no such bridge$' sl bridge delete br0
log "PASS"
