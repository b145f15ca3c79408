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
sl bridge create br0 --mtu 1400 --addr 10.50.0.1/24
in_ns "$NS" ip -j -d link show br0 | jcheck 'd[0]["mtu"] == 1400 and "UP" in d[0]["flags"] and d[0]["linkinfo"]["info_kind"] == "bridge"'
in_ns "$NS" ip -j addr show br0 | jcheck 'any(a["local"] == "10.50.0.1" and a["prefixlen"] == 24 for a in d[0]["addr_info"])'
expect_fail 1 '^sluice: br0: cannot create bridge: already exists$' sl bridge create br0

log "enslave a veth"
in_ns "$NS" ip link add v0 type veth peer name v1
sl bridge add-port br0 v0
in_ns "$NS" bridge -j link | jcheck '[l["master"] for l in d if l["ifname"] == "v0"] == ["br0"]'
in_ns "$NS" ip -j link show v0 | jcheck '"UP" in d[0]["flags"]'
sl bridge add-port br0 v0     # idempotent
expect_fail 1 '^sluice: nosuch: no such interface$' sl bridge add-port br0 nosuch
expect_fail 1 '^sluice: v0: cannot delete: not a bridge$' sl bridge delete v0

log "list and show"
sl bridge list | grep -Eq '^br0 +up +1400 +10\.50\.0\.1/24' || fail "text list: $(sl bridge list)"
sl bridge list --json | jcheck '[(b["name"], b["mtu"], [p["name"] for p in b["ports"]]) for b in d] == [("br0", 1400, ["v0"])] and "10.50.0.1/24" in d[0]["addresses"]'
sl bridge show br0 --json | jcheck 'd["name"] == "br0" and d["up"] and d["ports"][0]["name"] == "v0"'
expect_fail 1 '^sluice: nobr: no such bridge$' sl bridge show nobr

log "a persistent multi-queue tap, attached and detached"
sl tap create sl-t0-0 --queues 2 --up
in_ns "$NS" ip -j -d link show sl-t0-0 | jcheck 'd[0]["linkinfo"]["info_kind"] == "tun" and d[0]["linkinfo"]["info_data"]["type"] == "tap" and d[0]["linkinfo"]["info_data"]["multi_queue"] and d[0]["linkinfo"]["info_data"]["vnet_hdr"] and d[0]["linkinfo"]["info_data"]["persist"]'
sl attach sl-t0-0 bridge=br0
in_ns "$NS" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "br0") == ["sl-t0-0", "v0"]'
sl detach sl-t0-0 bridge=br0
in_ns "$NS" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "br0") == ["v0"]'
expect_fail 1 'not a port of br0' sl detach sl-t0-0 bridge=br0
sl tap delete sl-t0-0
in_ns "$NS" ip link show sl-t0-0 >/dev/null 2>&1 && fail "tap still there"
expect_fail 1 '^sluice: v1: cannot delete: not a tap$' sl tap delete v1

log "set MTU, down, address; release the port"
sl bridge set br0 --mtu 1300 --down --del-addr 10.50.0.1/24 --addr 10.51.0.1/24
in_ns "$NS" ip -j addr show br0 | jcheck 'd[0]["mtu"] == 1300 and "UP" not in d[0]["flags"] and [a["local"] for a in d[0]["addr_info"] if a["family"] == "inet"] == ["10.51.0.1"]'
sl bridge del-port br0 v0
in_ns "$NS" bridge -j link | jcheck 'not any(l.get("master") == "br0" for l in d)'

log "delete"
sl bridge delete br0
in_ns "$NS" ip link show br0 >/dev/null 2>&1 && fail "bridge still there"
sl bridge list --json | jcheck 'd == []'
expect_fail 1 '^sluice: br0: cannot delete: no such bridge$' sl bridge delete br0
log "PASS"
