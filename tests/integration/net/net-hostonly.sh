#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Host-only network: namespace H plays the host, G1/G2 the guests (veth ends
# attached with `sluice net attach`), O a network beyond the host. Guests
# reach the host-only bridge address and each other, not O, although H
# forwards IPv4 between its other interfaces.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/netlib.sh"

H=slho-$$-h G1=slho-$$-g1 G2=slho-$$-g2 O=slho-$$-o
for ns in $H $G1 $G2 $O; do new_ns "$ns"; done
sl() { in_ns "$H" "$SLUICE" net "$@"; }

# The host routes (global IPv4 forwarding on) and has an outside network.
in_ns "$H" sysctl -qw net.ipv4.ip_forward=1
ip -n "$H" link add ho type veth peer name eth0 netns "$O"
ip -n "$H" addr add 10.88.0.1/24 dev ho
ip -n "$H" link set ho up
ip -n "$O" addr add 10.88.0.2/24 dev eth0
ip -n "$O" link set eth0 up
ip -n "$O" route add default via 10.88.0.1

log "create"
say "host-only network lab created (bridge sh-lab, host address 10.77.0.1/24)" sl hostonly create lab --addr 10.77.0.1/24
in_ns "$H" ip -j -d addr show sh-lab | jcheck 'd[0]["linkinfo"]["info_kind"] == "bridge" and "UP" in d[0]["flags"] and [(a["local"], a["prefixlen"]) for a in d[0]["addr_info"]] == [("10.77.0.1", 24)]'
[ "$(in_ns "$H" cat /proc/sys/net/ipv4/conf/sh-lab/forwarding)" = 0 ] || fail "forwarding on"
[ "$(in_ns "$H" cat /proc/sys/net/ipv6/conf/sh-lab/disable_ipv6)" = 1 ] || fail "IPv6 on"
expect_fail 1 '^sluice: lab: cannot create host-only network: already exists$' sl hostonly create lab --addr 10.77.0.1/24

log "refused: overlapping subnets, network and broadcast host addresses"
links() { in_ns "$H" ip -j link show | python3 -c 'import json,sys; print(" ".join(sorted(l["ifname"] for l in json.load(sys.stdin))))'; }
before=$(links)
expect_fail 1 '^sluice: lab2: 10\.77\.0\.0/16 overlaps host-only network lab \(10\.77\.0\.1/24\)$' sl hostonly create lab2 --addr 10.77.5.1/16
expect_fail 1 '^sluice: lab2: 10\.77\.0\.128/25 overlaps host-only network lab' sl hostonly create lab2 --addr 10.77.0.129/25
# Any address on the host counts, not only sluice's networks.
expect_fail 1 '^sluice: lab2: 10\.88\.0\.0/24 overlaps 10\.88\.0\.1/24 on ho$' sl hostonly create lab2 --addr 10.88.0.9/24
expect_fail 2 '^sluice: lab2: 10\.79\.0\.0/24 is the network address of 10\.79\.0\.0/24' sl hostonly create lab2 --addr 10.79.0.0/24
expect_fail 2 '^sluice: lab2: 10\.79\.0\.255/24 is the broadcast address of 10\.79\.0\.0/24' sl hostonly create lab2 --addr 10.79.0.255/24
expect_fail 2 '^sluice: lab2: prefix /32 out of range' sl hostonly create lab2 --addr 10.79.0.1/32
expect_fail 2 '^sluice: lab2: 127\.0\.1\.1/24 is not a unicast host address$' sl hostonly create lab2 --addr 127.0.1.1/24
expect_fail 2 '^sluice: 0123456789abc: invalid name \(at most 12 bytes' sl hostonly create 0123456789abc --addr 10.79.0.1/24
expect_fail 2 '^sluice: 0123456789abc: invalid name \(at most 12 bytes' sl hostonly delete 0123456789abc
expect_fail 2 '^sluice: a/b: invalid name' sl hostonly show a/b
[ "$(links)" = "$before" ] || fail "a refused create left links behind: $(links) (before: $before)"
# A subnet next to lab's is fine.
say "host-only network lab2 created (bridge sh-lab2, host address 10.77.1.1/24)" sl hostonly create lab2 --addr 10.77.1.1/24
sl hostonly delete lab2 --quiet >"$WORK/out"
[ ! -s "$WORK/out" ] || fail "--quiet printed '$(cat "$WORK/out")'"

log "attach two guests"
i=10
for g in $G1 $G2; do
    i=$((i + 1))
    ip -n "$H" link add "hv$i" type veth peer name eth0 netns "$g"
    say "hv$i attached to hostonly=lab" sl attach "hv$i" hostonly=lab
    ip -n "$g" addr add "10.77.0.$i/24" dev eth0
    ip -n "$g" link set eth0 up
    ip -n "$g" route add default via 10.77.0.1
done
in_ns "$H" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "sh-lab") == ["hv11", "hv12"]'
sl hostonly list --json | jcheck 'd[0]["name"] == "lab" and d[0]["bridge"] == "sh-lab" and d[0]["addresses"] == ["10.77.0.1/24"] and [p["name"] for p in d[0]["ports"]] == ["hv11", "hv12"]'
sl hostonly list | grep -Eq '^lab +sh-lab +up +10\.77\.0\.1/24 +hv11,hv12$' || fail "text list: $(sl hostonly list)"

log "guest -> host and guest -> guest"
wait_ping "$G1" 10.77.0.1 || fail "G1 cannot reach the host-only address"
can_ping "$G2" 10.77.0.11 || fail "G2 cannot reach G1"

log "guest -> beyond the host is not forwarded"
can_ping "$G1" 10.88.0.2 && fail "G1 reached the outside network"
# Control: with forwarding switched back on for the bridge, the same ping
# passes, so the failure above is the isolation, not the test set-up.
in_ns "$H" sysctl -qw net.ipv4.conf.sh-lab.forwarding=1
can_ping "$G1" 10.88.0.2 || fail "control: G1 cannot reach outside even with forwarding on"
# Every attach re-asserts isolation (a write of ip_forward resets it).
sl detach hv12 hostonly=lab
sl attach hv12 hostonly=lab
[ "$(in_ns "$H" cat /proc/sys/net/ipv4/conf/sh-lab/forwarding)" = 0 ] || fail "not re-isolated"
can_ping "$G1" 10.88.0.2 && fail "G1 reached the outside network after re-attach"

log "detach, delete"
sl detach hv11 hostonly=lab
in_ns "$H" bridge -j link | jcheck 'sorted(l["ifname"] for l in d if l.get("master") == "sh-lab") == ["hv12"]'
expect_fail 1 'hv11 is not a port of sh-lab' sl detach hv11 hostonly=lab
expect_fail 1 'host-only network nope' sl attach hv11 hostonly=nope
sl bridge create sh-fake
expect_fail 1 '^sluice: fake: bridge sh-fake is not a sluice host-only network$' sl hostonly delete fake
say "host-only network lab deleted" sl hostonly delete lab
in_ns "$H" ip link show sh-lab >/dev/null 2>&1 && fail "bridge still there"
sl hostonly list --json | jcheck 'd == []'
expect_fail 1 '^sluice: lab: cannot delete: no such host-only network$' sl hostonly delete lab
log "PASS"
