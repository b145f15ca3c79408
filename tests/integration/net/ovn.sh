#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Two sluiced NICs as the ports of an OVN logical switch, on a one-node OVN
# the test starts from Debian's packages: private northbound and southbound
# ovsdb-servers, ovn-northd, and ovn-controller (Geneve, encap IP 127.0.0.1)
# on a private ovsdb-server + ovs-vswitchd with the userspace datapath, which
# runs in a namespace of its own with sluiced (the taps live there).
#   - NIC A comes from --net ...,ovs=br-int,iface-id=lsp-a, NIC B from
#     device.add (`sluice dev add net`) with iface-id=lsp-b; both interfaces
#     carry external_ids:iface-id; sluiced restarts on its --state-dir and NIC
#     B comes back with it.
#   - ovn-controller binds both ports: the Port_Bindings have this chassis,
#     `ovn-nbctl lsp-get-up` says up.
#   - one DPDK testpmd drives both NICs (virtio_user0 on A, virtio_user1 on
#     B): each sends a burst to the other's MAC and sends back what it
#     receives (macswap), counting it; between phases testpmd drains its
#     rings (rxonly) and the counters are cleared:
#       1. no ACL: A and B both receive
#       2. ACL to-lport 'outport == "lsp-b"' drop: B receives nothing, A
#          still receives (the pipeline, not a dead path)
#       3. ACL removed: B receives again
# Exit 77 only when a package (OVN, OVS, DPDK) is missing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/netlib.sh"
for c in ovn-northd ovn-controller ovn-nbctl ovn-sbctl dpdk-testpmd; do need_cmd "$c"; done
for f in /usr/share/ovn/ovn-nb.ovsschema /usr/share/ovn/ovn-sb.ovsschema; do
    [ -f "$f" ] || skip "$f missing (ovn-common not installed)"
done
ovs_rundir

NS=slovn-$$
MAC_A=02:00:00:0a:00:01 MAC_B=02:00:00:0a:00:02
NB=unix:$RUN/nb.sock SB=unix:$RUN/sb.sock
NBCTL=(ovn-nbctl --db="$NB" --timeout=30)
SBCTL=(ovn-sbctl --db="$SB" --timeout=30)
export SLUICE_CONTROL=$WORK/control.sock SLUICE_OVSDB=$DB
new_ns "$NS"
# No IPv6 chatter from the taps' own stack: B must receive nothing at all
# while the ACL drops what OVN would deliver to it.
in_ns "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1

ovn_state() {
    echo "--- ovn-nbctl show"; "${NBCTL[@]}" show
    echo "--- ovn-sbctl show"; "${SBCTL[@]}" show
    echo "--- ovs-vsctl show"; "${VSCTL[@]}" show
    for f in ovn-controller ovn-northd ovs-vswitchd; do echo "--- $f.log"; tail -15 "$RUN/$f.log"; done
} 2>&1

log "one-node OVN: NB and SB databases, ovn-northd, ovs-vswitchd (netdev), ovn-controller"
# The daemons' start-up chatter goes to a log (printed if the test fails).
exec 3>&2 2>>"$WORK/daemons.log"
for d in nb sb; do
    ovsdb-tool create "$RUN/$d.db" /usr/share/ovn/ovn-$d.ovsschema
    ovsdb-server "$RUN/$d.db" --remote=punix:"$RUN/$d.sock" --pidfile="$RUN/ovsdb-$d.pid" \
        --unixctl="$RUN/ovsdb-$d.ctl" --log-file="$RUN/ovsdb-$d.log" --detach
done
ovn-northd --ovnnb-db="$NB" --ovnsb-db="$SB" --pidfile="$RUN/ovn-northd.pid" \
    --unixctl="$RUN/ovn-northd.ctl" --log-file="$RUN/ovn-northd.log" --detach
start_ovs "$NS"
"$SLUICE" net ovs create br-int --datapath netdev -q
"${VSCTL[@]}" set Open_vSwitch . external_ids:system-id="sluice-$$" \
    external_ids:ovn-remote="$SB" external_ids:ovn-encap-type=geneve \
    external_ids:ovn-encap-ip=127.0.0.1 external_ids:ovn-bridge=br-int \
    external_ids:ovn-bridge-datapath-type=netdev
in_ns "$NS" ovn-controller "$DB" --pidfile="$RUN/ovn-controller.pid" \
    --log-file="$RUN/ovn-controller.log" --detach
exec 2>&3 3>&-

"${NBCTL[@]}" ls-add ls0 \
    -- lsp-add ls0 lsp-a -- lsp-set-addresses lsp-a "$MAC_A 10.70.0.1" \
    -- lsp-add ls0 lsp-b -- lsp-set-addresses lsp-b "$MAC_B 10.70.0.2"

# sluiced in the namespace (its taps are ovs-vswitchd's ports there).
run_sluiced() {
    local n0 i
    n0=$(grep -c "ready:" "$WORK/sluiced.log" 2>/dev/null || true)
    nsenter --net=/run/netns/"$NS" "$SLUICED" --control "$SLUICE_CONTROL" --state-dir "$WORK/st" \
        --workers 1 --net "socket=$WORK/a.sock,ovs=br-int,iface-id=lsp-a,mac=$MAC_A,id=ovna" \
        >>"$WORK/sluiced.log" 2>&1 &
    SLUICED_PID=$!
    for i in $(seq 200); do
        [ "$(grep -c "ready:" "$WORK/sluiced.log")" -gt "${n0:-0}" ] && return 0
        kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced exited at start"
        sleep 0.05
    done
    fail "sluiced did not become ready"
}
iface_id() { "${VSCTL[@]}" get Interface "$1" external_ids:iface-id 2>&1; }

log "NIC A from --net, NIC B from device.add, both with iface-id="
run_sluiced
"$SLUICE" dev add net "socket=$WORK/b.sock,ovs=br-int,iface-id=lsp-b,mac=$MAC_B,id=ovnb" -q ||
    fail "device.add with iface-id= failed"
[ "$(iface_id sl-ovna-0)" = lsp-a ] || fail "sl-ovna-0 iface-id: $(iface_id sl-ovna-0)"
[ "$(iface_id sl-ovnb-0)" = lsp-b ] || fail "sl-ovnb-0 iface-id: $(iface_id sl-ovnb-0)"

log "sluiced restarts on its state folder: NIC B comes back bound to lsp-b"
stop_sluiced "$WORK/a.sock" "$WORK/b.sock"
"${VSCTL[@]}" list-ports br-int | grep -q sl-ovn && fail "ports left on br-int: $("${VSCTL[@]}" list-ports br-int)"
run_sluiced
[ "$(iface_id sl-ovnb-0)" = lsp-b ] || fail "after the restart, sl-ovnb-0 iface-id: $(iface_id sl-ovnb-0)"
"$SLUICE" dev list --json | jcheck '[x["network"] for x in d if x["id"] == "ovnb"] == ["ovs=br-int,iface-id=lsp-b"]'

log "ovn-controller binds both logical switch ports"
for p in lsp-a lsp-b; do
    "${NBCTL[@]}" wait-until Logical_Switch_Port "$p" up=true >/dev/null 2>&1 ||
        fail "$p never came up
$(ovn_state)"
    [ "$("${NBCTL[@]}" lsp-get-up "$p")" = up ] || fail "lsp-get-up $p: $("${NBCTL[@]}" lsp-get-up "$p")"
    ch=$("${SBCTL[@]}" --bare --columns=chassis find Port_Binding logical_port="$p")
    [ -n "$ch" ] && [ "$("${SBCTL[@]}" --bare --columns=name list Chassis "$ch")" = "sluice-$$" ] ||
        fail "Port_Binding $p has chassis '$ch', expected sluice-$$"
done
# Flows for the current NB contents are on the switch.
"${NBCTL[@]}" --wait=hv sync

# One testpmd, both NICs, in macswap mode with each port looped to itself:
# `start tx_first` sends one burst from each port (A to B's MAC, B to A's);
# every frame received goes back out of the port it came in on with its MACs
# swapped, so while the path works the frames go round between A and B
# through OVN. Between phases forwarding stops, what is still on its way is
# drained (rxonly) and counted, and the hook changes the ACLs.
PHASES=3
acl_hook() {
    case $1 in
    1) "${NBCTL[@]}" --wait=hv acl-add ls0 to-lport 1000 'outport == "lsp-b"' drop ;;
    2) "${NBCTL[@]}" --wait=hv acl-del ls0 ;;
    esac >>"$WORK/acl.log" 2>&1 || echo "phase $1: ovn-nbctl failed" >>"$WORK/acl.log"
    # --wait=hv: the OpenFlow tables have it; the datapath flows cached from
    # before are checked against them at the next revalidator cycle.
    ovs-appctl -t "$RUN/ovs-vswitchd.ctl" revalidator/wait >>"$WORK/acl.log" 2>&1 ||
        echo "phase $1: revalidator/wait failed" >>"$WORK/acl.log"
}
testpmd_run() {
    local i
    {
        for i in $(seq 150); do grep -q "Checking link statuses" "$WORK/testpmd.log" 2>/dev/null && break; sleep 0.1; done
        for i in $(seq $PHASES); do
            echo "set fwd macswap"; echo "start tx_first"
            sleep 2
            echo stop; echo "set fwd rxonly"; echo start
            sleep 1
            echo stop; echo "show port stats all"; echo "clear port stats all"
            sleep 0.5
            acl_hook "$i"
        done
        echo quit
    } | timeout --foreground 120 dpdk-testpmd -l 0-1 --no-huge -m 512 --no-pci --file-prefix="sluice-ovn$$" \
        --vdev="virtio_user0,path=$WORK/a.sock,queues=1,mac=$MAC_A" \
        --vdev="virtio_user1,path=$WORK/b.sock,queues=1,mac=$MAC_B" -- \
        -i --total-num-mbufs=32768 --port-topology=loop --eth-peer=0,"$MAC_B" --eth-peer=1,"$MAC_A" \
        >"$WORK/testpmd.log" 2>&1 || fail "testpmd failed: $(tail -5 "$WORK/testpmd.log")"
}
log "traffic between the NICs through the logical switch, then an ACL drops it, then not"
testpmd_run
# "RX-packets" of port 0 and port 1 per "show port stats all": one line per phase.
counts=$(python3 - "$WORK/testpmd.log" <<'PY'
import re, sys
port, rx, tx, out = None, {}, {}, []
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"#+ NIC statistics for port (\d+) +#+", line)
    if m:
        port = int(m.group(1))
        continue
    m = re.search(r"RX-packets: *(\d+)", line)
    if m and port is not None:
        rx[port] = int(m.group(1))
    m = re.search(r"TX-packets: *(\d+)", line)
    if m and port is not None:
        tx[port] = int(m.group(1))
        if port == 1:
            out.append(f"{rx[0]} {rx[1]} {tx[0]} {tx[1]}")
        port = None
print("\n".join(out))
PY
)
log "per phase: rx A, rx B, tx A, tx B: $(echo "$counts" | tr '\n' '/')"
[ "$(echo "$counts" | wc -l)" = $PHASES ] || fail "testpmd printed no stats for every phase:
$(tail -30 "$WORK/testpmd.log")"
cat "$WORK/acl.log" 2>/dev/null
grep -q failed "$WORK/acl.log" 2>/dev/null && fail "ovn-nbctl failed: $(cat "$WORK/acl.log")"
phase() { echo "$counts" | sed -n "${1}p"; }
read -r a b ta tb <<<"$(phase 1)"
[ "$ta" -gt 0 ] && [ "$tb" -gt 0 ] || fail "phase 1: testpmd sent nothing ($ta, $tb)"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || fail "phase 1: no traffic through OVN (A got $a, B got $b)
$(ovn_state)"
read -r a b ta tb <<<"$(phase 2)"
[ "$b" = 0 ] || fail "phase 2: the ACL did not drop: B got $b packets"
[ "$a" -gt 0 ] || fail "phase 2: A got nothing either: the path died, not the ACL ($ta, $tb sent)"
read -r a b ta tb <<<"$(phase 3)"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || fail "phase 3: ACL removed but A got $a, B got $b"

stop_sluiced "$WORK/a.sock" "$WORK/b.sock"
log PASS
