#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Open vSwitch through `sluice net ovs` (OVSDB JSON-RPC) against a private
# ovsdb-server, with ovs-vswitchd (userspace "netdev" datapath) running in a
# namespace of its own: bridge create, ports with external_ids (checked with
# ovs-vsctl; OVN's iface-id included), two namespaces pinging each other over
# the bridge, port and bridge removal, and the errors for a missing server or
# bridge.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/netlib.sh"
ovs_rundir

SW=slovs-$$-sw A=slovs-$$-a B=slovs-$$-b
for ns in $SW $A $B; do new_ns "$ns"; done
sl() { in_ns "$SW" "$SLUICE" net "$@"; }

log "no ovsdb-server: clear error"
expect_fail 1 "^sluice: ovs: cannot connect to ovsdb-server at $DB: No such file or directory \(is ovsdb-server running\?\)$" \
    sl ovs create sbr --db "$DB"
SLUICE_OVSDB=$DB expect_fail 1 "^sluice: ovs: cannot connect to ovsdb-server at $DB" sl ovs list

log "start private ovsdb-server and ovs-vswitchd"
start_ovs "$SW"
export SLUICE_OVSDB=$DB

log "create a bridge (the database has no Open_vSwitch row yet)"
say "ovs bridge sbr created" sl ovs create sbr --datapath netdev
[ "$("${VSCTL[@]}" list-br)" = sbr ] || fail "list-br: $("${VSCTL[@]}" list-br)"
[ "$("${VSCTL[@]}" get Bridge sbr datapath_type)" = netdev ] || fail "datapath_type"
expect_fail 1 '^sluice: ovs: bridge sbr already exists$' sl ovs create sbr
expect_fail 1 '^sluice: ovs: bridge nobr does not exist$' sl ovs add-port nobr p0
expect_fail 1 '^sluice: ovs: bridge nobr does not exist$' sl attach p0 ovs=nobr
expect_fail 1 '^sluice: ovs: bridge nobr does not exist$' sl ovs delete nobr

log "ports with external_ids: one via attach, one via ovs add-port"
ip -n "$SW" link add oa type veth peer name eth0 netns "$A"
ip -n "$SW" link add ob type veth peer name eth0 netns "$B"
say "oa attached to ovs=sbr,iface-id=lsp-a" sl attach oa ovs=sbr,iface-id=lsp-a --vm vmA --dev net0 --mac 52:54:00:00:00:0a
say "port ob added to ovs bridge sbr" sl ovs add-port sbr ob --vm vmB --dev net1 --iface-id lsp-b
expect_fail 2 '^sluice: ovs: option --vm needs a value \(got the option .--dev.\)$' sl ovs add-port sbr oc --vm --dev net2
expect_fail 2 '^sluice: a/b: invalid name' sl ovs add-port sbr a/b
ip -n "$SW" link set ob up
[ "$("${VSCTL[@]}" list-ports sbr | tr '\n' ' ')" = "oa ob " ] || fail "list-ports: $("${VSCTL[@]}" list-ports sbr)"
ext=$("${VSCTL[@]}" get Interface oa external_ids)
[ "$ext" = '{attached-mac="52:54:00:00:00:0a", iface-id=lsp-a, sluice-dev=net0, sluice-vm=vmA}' ] || fail "external_ids of oa: $ext"
ext=$("${VSCTL[@]}" get Port ob external_ids)
[ "$ext" = '{iface-id=lsp-b, sluice-dev=net1, sluice-vm=vmB}' ] || fail "external_ids of port ob: $ext"
ext=$("${VSCTL[@]}" get Interface ob external_ids:iface-id)
[ "$ext" = lsp-b ] || fail "iface-id of interface ob: $ext"
expect_fail 1 '^sluice: ovs: port oa already exists$' sl ovs add-port sbr oa
sl ovs list --json | jcheck '[(b["name"], b["datapath_type"], [p["name"] for p in b["ports"]]) for b in d] == [("sbr", "netdev", ["oa", "ob", "sbr"])] and d[0]["ports"][0]["external_ids"]["sluice-vm"] == "vmA" and d[0]["ports"][2]["type"] == "internal"'
sl ovs show sbr | grep -q '^  ob iface-id=lsp-b sluice-dev=net1 sluice-vm=vmB$' || fail "show: $(sl ovs show sbr)"
expect_fail 1 '^sluice: ovs: bridge nobr does not exist$' sl ovs show nobr

log "A and B ping each other over the bridge"
ip -n "$A" addr add 10.99.0.1/24 dev eth0
ip -n "$B" addr add 10.99.0.2/24 dev eth0
ip -n "$A" link set eth0 up
ip -n "$B" link set eth0 up
ovs_state() {
    echo "--- ovs-vsctl show"; "${VSCTL[@]}" show
    echo "--- ovs-appctl dpif/show"; ovs-appctl -t "$RUN/ovs-vswitchd.ctl" dpif/show
    echo "--- links"; ip -n "$SW" -br link; ip -n "$A" -br addr; ip -n "$B" -br addr
    echo "--- ovs-vswitchd.log"; tail -20 "$RUN/ovs-vswitchd.log"
} 2>&1
wait_ping "$A" 10.99.0.2 || fail "A cannot ping B
$(ovs_state)"
can_ping "$B" 10.99.0.1 || fail "B cannot ping A"

log "remove ports"
say "oa detached from ovs=sbr" sl detach oa ovs=sbr
[ "$("${VSCTL[@]}" list-ports sbr)" = ob ] || fail "list-ports after detach: $("${VSCTL[@]}" list-ports sbr)"
expect_fail 1 '^sluice: ovs: port oa does not exist$' sl detach oa ovs=sbr
sl ovs create sbr2
expect_fail 1 '^sluice: ovs: port ob is not on bridge sbr2$' sl ovs del-port sbr2 ob
say "port ob removed from ovs bridge sbr" sl ovs del-port sbr ob
[ -z "$("${VSCTL[@]}" list-ports sbr)" ] || fail "ports left"

log "delete bridges"
say "ovs bridge sbr deleted" sl ovs delete sbr
sl ovs delete sbr2 -q >"$WORK/out"
[ ! -s "$WORK/out" ] || fail "-q printed '$(cat "$WORK/out")'"
[ -z "$("${VSCTL[@]}" list-br)" ] || fail "bridges left: $("${VSCTL[@]}" list-br)"
sl ovs list --json | jcheck 'd == []'
expect_fail 1 '^sluice: ovs: bridge sbr does not exist$' sl ovs delete sbr

log "ovsdb-server stopped: clear error"
pid=$(cat "$RUN/ovsdb-server.pid")
kill "$pid"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
expect_fail 1 "^sluice: ovs: cannot connect to ovsdb-server at $DB: .*\(is ovsdb-server running\?\)$" sl ovs list
log "PASS"
