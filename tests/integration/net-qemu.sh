#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# virtio-net end to end: QEMU (TCG, `-netdev vhost-user`) boots the guest kit
# against sluiced, whose tap sits on a network built in namespaces this test
# creates (nothing touches the host's own interfaces). Modes (TEST_MODE):
#   bridge    Linux bridge in namespace H with address .1; namespace P on it
#             through a veth (.3). The guest pings both, and moves 4 MiB over
#             TCP each way with checksums compared (offloads on).
#   hostonly  a host-only network made with `sluice net hostonly create`; the
#             guest reaches the host address .1, while namespace P, routed
#             beyond the host (forwarding on in H), is unreachable
#   mq        bridge mode with 2 queue pairs (multi-queue tap, guest with 2
#             vCPUs): the guest sends from each vCPU and both transmit queues
#             carry requests (per-queue counters of the control socket)
#   unpriv    bridge mode with sluiced run as user nobody holding only
#             CAP_NET_ADMIN (setpriv; checked in /proc): the guest pings the
#             host end and the peer
#   packed    bridge mode with packed virtqueues (virtio-net-pci packed=on):
#             ping and the TCP transfers; the guest's negotiated features
#             (sysfs) must have VIRTIO_F_RING_PACKED
#   ovs       a private ovsdb-server + ovs-vswitchd (userspace netdev
#             datapath) in H; the tap is a port of an OVS bridge with
#             external_ids, P is another port; the guest pings P; the port
#             leaves OVSDB when sluiced stops
. "$(dirname "$0")/lib.sh"

MODE=${TEST_MODE:?TEST_MODE not set}
need_root
need_cmd ip
need_guest_kit
ip netns list >/dev/null 2>&1 || skip "no network namespace support"

SOCK=$WORK/net.sock
NET=10.213.$((RANDOM % 200)).
netns_pair slh-$$ slp-$$
if [ "$MODE" = bridge ] || [ "$MODE" = mq ] || [ "$MODE" = unpriv ] || [ "$MODE" = packed ]; then
    inh ip link add br0 type bridge
    inh ip addr add "${NET}1/24" dev br0
    inh ip link set br0 up
    inh ip link set vp master br0
    inp ip addr add "${NET}3/24" dev eth0
    NETSPEC=bridge=br0
elif [ "$MODE" = ovs ]; then
    need_cmd ovsdb-server
    need_cmd ovs-vswitchd
    need_cmd ovs-vsctl
    RUN=$WORK/ovs
    mkdir -p "$RUN"
    export OVS_RUNDIR=$RUN OVS_LOGDIR=$RUN OVS_DBDIR=$RUN
    CLEANUP_CMDS+=("for p in ovs-vswitchd ovsdb-server; do [ -f $RUN/\$p.pid ] && kill \$(cat $RUN/\$p.pid) 2>/dev/null; done; sleep 0.2")
    ovsdb-tool create "$RUN/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$RUN/conf.db" --remote=punix:"$RUN/db.sock" --pidfile="$RUN/ovsdb-server.pid" \
        --unixctl="$RUN/ovsdb-server.ctl" --log-file="$RUN/ovsdb-server.log" --detach
    inh ovs-vswitchd unix:"$RUN/db.sock" --pidfile="$RUN/ovs-vswitchd.pid" \
        --unixctl="$RUN/ovs-vswitchd.ctl" --log-file="$RUN/ovs-vswitchd.log" --detach
    export SLUICE_OVSDB=unix:$RUN/db.sock
    SL=$SLUICE_BUILD/tools/sluice/sluice
    inh "$SL" net ovs create obr --datapath netdev || fail "sluice net ovs create failed"
    inh "$SL" net ovs add-port obr vp --dev peer || fail "sluice net ovs add-port failed"
    inh ip link set obr up 2>/dev/null || true
    inp ip addr add "${NET}3/24" dev eth0
    NETSPEC=ovs=obr
else
    # P sits on another subnet behind H, which routes between them.
    OUT=10.214.$((RANDOM % 200)).
    inh ip addr add "${OUT}1/24" dev vp
    inp ip addr add "${OUT}3/24" dev eth0
    inp ip route add default via "${OUT}1"
    inh sysctl -qw net.ipv4.ip_forward=1
    nsenter --net=/run/netns/"$NS_H" "$SLUICE_BUILD/tools/sluice/sluice" net hostonly create hn \
        --addr "${NET}1/24" || fail "sluice net hostonly create failed"
    NETSPEC=hostonly=hn
fi

# A TCP peer in namespace H: receives into a file (port 5001) and serves a
# file (port 5002); both report the SHA-256 of what they moved. (sluiced
# runs under nsenter, which execs it, so $SLUICED_PID is sluiced itself.)
head -c $((4 * 1024 * 1024)) /dev/urandom >"$WORK/to-guest.bin"
TO_GUEST_SUM=$(sha256sum <"$WORK/to-guest.bin" | cut -d' ' -f1)
cat >"$WORK/peer.py" <<'PY'
import hashlib, socket, sys, threading
addr, out_file, report = sys.argv[1], sys.argv[2], sys.argv[3]
def recv():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 5001)); s.listen(1); s.settimeout(240)
    c, _ = s.accept(); h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        h.update(b); n += len(b)
    open(report, "w").write(f"{h.hexdigest()} {n}\n")
def send():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 5002)); s.listen(1); s.settimeout(240)
    c, _ = s.accept(); c.sendall(open(out_file, "rb").read()); c.close()
t = [threading.Thread(target=recv), threading.Thread(target=send)]
[x.start() for x in t]; [x.join() for x in t]
PY

GUEST_SCRIPT=$WORK/guest-net.sh
cat >"$GUEST_SCRIPT" <<GUEST
set -e
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
ping -c 2 -W 5 ${NET}1 >/dev/null || ping -c 3 -W 5 ${NET}1
echo "guest: pinged the host end ${NET}1"
GUEST
if [ "$MODE" = ovs ]; then
    cat >"$GUEST_SCRIPT" <<GUEST
set -e
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
i=0
until ping -c 1 -W 1 ${NET}3 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -lt 20 ] || exit 1; done
ping -c 3 -W 5 ${NET}3 >/dev/null
echo "guest: pinged ${NET}3 across the OVS bridge"
GUEST
elif [ "$MODE" = mq ]; then
    cat >>"$GUEST_SCRIPT" <<GUEST
[ "\$(ls -d /sys/class/net/eth0/queues/tx-* | wc -l)" = 2 ] || { echo "guest: not 2 tx queues"; exit 1; }
taskset 1 ping -c 20 -i 0.05 -W 5 ${NET}1 >/dev/null
taskset 2 ping -c 20 -i 0.05 -W 5 ${NET}3 >/dev/null
echo "guest: pinged from vCPU 0 and vCPU 1"
GUEST
elif [ "$MODE" = unpriv ]; then
    cat >>"$GUEST_SCRIPT" <<GUEST
ping -c 3 -W 5 ${NET}3 >/dev/null
echo "guest: pinged the peer namespace ${NET}3"
GUEST
elif [ "$MODE" = bridge ] || [ "$MODE" = packed ]; then
    [ "$MODE" = packed ] && guest_packed_check 0x0001 >>"$GUEST_SCRIPT"
    cat >>"$GUEST_SCRIPT" <<GUEST
ping -c 3 -W 5 ${NET}3 >/dev/null
echo "guest: pinged the peer namespace ${NET}3"
head -c 4194304 /dev/urandom > /tmp/out.bin
echo "guest: sent \$(sha256sum < /tmp/out.bin | cut -d' ' -f1)"
nc ${NET}1 5001 < /tmp/out.bin
nc ${NET}1 5002 > /tmp/in.bin
echo "guest: received \$(sha256sum < /tmp/in.bin | cut -d' ' -f1) \$(wc -c < /tmp/in.bin)"
GUEST
else
    cat >>"$GUEST_SCRIPT" <<GUEST
ip route add default via ${NET}1
if ping -c 2 -W 2 ${OUT}3 >/dev/null 2>&1; then echo "guest: reached ${OUT}3 beyond the host-only network"; exit 1; fi
echo "guest: ${OUT}3 (routed beyond the host) unreachable, as it must be"
GUEST
fi

QP=1; QEMU_MQ=; DEV_MQ=
if [ "$MODE" = mq ]; then QP=2; QEMU_MQ=,queues=2; DEV_MQ=,mq=on; fi
if [ "$MODE" = packed ]; then DEV_MQ=,packed=on; fi
export SLUICE_CONTROL=$WORK/control.sock
AS=()
if [ "$MODE" = unpriv ]; then
    # User nobody with CAP_NET_ADMIN alone (creating the tap and putting it
    # on the bridge): its sockets and its own copy of the binary live in a
    # folder it owns (the build tree may be out of its reach).
    need_cmd setpriv
    chmod 711 "$WORK"
    install -d -o 65534 -g 65534 "$WORK/u"
    install -m 755 "$SLUICED" "$WORK/u/sluiced"
    SLUICED=$WORK/u/sluiced SOCK=$WORK/u/net.sock SLUICE_CONTROL=$WORK/u/control.sock
    AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_admin
        --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin --)
fi
nsenter --net=/run/netns/"$NS_H" "${AS[@]}" "$SLUICED" --control "$SLUICE_CONTROL" \
    --net "socket=$SOCK,$NETSPEC,id=gnet,mac=52:54:00:5e:00:02,queues=$QP" >>"$WORK/sluiced.log" 2>&1 &
SLUICED_PID=$!
for i in $(seq 100); do grep -q "ready:" "$WORK/sluiced.log" && break; sleep 0.05; done
grep -q "ready:" "$WORK/sluiced.log" || fail "sluiced did not start: $(tail -3 "$WORK/sluiced.log")"
if [ "$MODE" = unpriv ]; then
    st=/proc/$SLUICED_PID/status
    grep -q "^Uid:[[:space:]]*65534[[:space:]]" "$st" || fail "sluiced is not user nobody: $(grep ^Uid "$st")"
    # CAP_NET_ADMIN is bit 12: effective set 0x1000 and nothing else.
    grep -q "^CapEff:[[:space:]]*0000000000001000$" "$st" || fail "sluiced capabilities: $(grep ^Cap "$st")"
    log "sluiced runs as nobody with CAP_NET_ADMIN only"
fi
if [ "$MODE" = ovs ]; then
    ovs-vsctl --db="$SLUICE_OVSDB" list-ports obr | grep -qx sl-gnet-0 || fail "tap not an OVS port"
    ovs-vsctl --db="$SLUICE_OVSDB" get Interface sl-gnet-0 external_ids | grep -q 'sluice-dev="\?gnet' ||
        fail "external_ids missing: $(ovs-vsctl --db="$SLUICE_OVSDB" get Interface sl-gnet-0 external_ids)"
else
    inh bridge link show | grep -q "sl-gnet-0.*master \(br0\|sh-hn\)" || fail "tap not on the bridge"
fi
if [ "$MODE" = hostonly ]; then
    # Control: the host itself reaches P, so only the isolation stops the guest.
    inh ping -c 1 -W 2 "${OUT}3" >/dev/null 2>&1 || inh busybox ping -c 1 -W 2 "${OUT}3" >/dev/null ||
        fail "control: the host cannot reach ${OUT}3"
fi

if [ "$MODE" = bridge ] || [ "$MODE" = packed ]; then
    inh python3 "$WORK/peer.py" "${NET}1" "$WORK/to-guest.bin" "$WORK/from-guest.txt" &
    PEER=$!
    CLEANUP_CMDS+=("kill $PEER 2>/dev/null")
fi
run_guest "$GUEST_SCRIPT" "$WORK/guest.log" \
    -chardev socket,id=net0,path="$SOCK" \
    -netdev vhost-user,id=n0,chardev=net0$QEMU_MQ \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:02,vectors=0$DEV_MQ ||
    fail "guest script failed"
if [ "$MODE" = mq ]; then
    "$SLUICE_BUILD/tools/sluice/sluice" dev stats gnet --json >"$WORK/stats.json"
    python3 - "$WORK/stats.json" <<'PY' || fail "per-queue counters: $(cat "$WORK/stats.json")"
import json, sys
st = json.load(open(sys.argv[1]))
q = {x["index"]: x["requests"] for x in st["queues"]}
assert len(q) == 4, q
# transmit queues are the odd ones: both vCPUs' traffic went out
assert q[1] > 0 and q[3] > 0, q
assert st["tx_packets"] >= 40 and st["rx_packets"] >= 40, st
PY
    log "both queue pairs carried traffic"
fi
if [ "$MODE" = packed ]; then
    grep -q "features" "$WORK/guest.log" || fail "the guest did not report its features"
    log "the guest negotiated a packed ring"
fi
if [ "$MODE" = bridge ] || [ "$MODE" = packed ]; then
    wait $PEER || fail "TCP peer failed"
    sent=$(sed -n 's/^guest: sent \([0-9a-f]*\).*/\1/p' "$WORK/guest.log" | tr -d '\r')
    read -r got n <"$WORK/from-guest.txt"
    [ "$sent" = "$got" ] && [ "$n" = 4194304 ] || fail "guest->host TCP data differs ($sent vs $got, $n bytes)"
    recv=$(sed -n 's/^guest: received \([0-9a-f]*\) .*/\1/p' "$WORK/guest.log" | tr -d '\r')
    [ "$recv" = "$TO_GUEST_SUM" ] || fail "host->guest TCP data differs"
    log "4 MiB each way over TCP, checksums match"
fi
kill -TERM $SLUICED_PID
wait $SLUICED_PID || fail "sluiced exited with an error"
SLUICED_PID=
inh ip link show sl-gnet-0 >/dev/null 2>&1 && fail "tap left behind after sluiced stopped"
if [ "$MODE" = ovs ]; then
    ovs-vsctl --db="$SLUICE_OVSDB" list-ports obr | grep -qx sl-gnet-0 && fail "port left in OVSDB"
    log "port removed from OVSDB with the device"
fi
log PASS
