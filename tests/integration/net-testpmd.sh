#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# DPDK testpmd as a second, userspace vhost-user-net frontend
# (`--vdev virtio_user0,path=SOCK`, no hugepages) against sluiced, whose tap
# lives in a namespace this test creates:
#   guest -> tap: testpmd in txonly mode; the tap's RX counter must equal
#                 testpmd's TX-packets exactly
#   tap -> guest: N frames written to the tap (AF_PACKET); testpmd in rxonly
#                 mode must count exactly what the tap handed to sluiced (its
#                 TX counter), and TX + TX-dropped must be N
# TEST_MODE=packed: the same with packed virtqueues (virtio_user packed_vq=1);
# sluiced's per-queue stats must say both queues run packed rings.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd ip
need_cmd dpdk-testpmd
NS=sltp-$$
SOCK=$WORK/net.sock
TAP=sl-tpmd-0
N=2000
VDEV_EXTRA=
if [ "${TEST_MODE:-}" = packed ]; then VDEV_EXTRA=,packed_vq=1; fi
export SLUICE_CONTROL=$WORK/control.sock
CLEANUP_CMDS+=("ip netns del $NS 2>/dev/null")
ip netns add "$NS" || skip "cannot create network namespaces"
ip -n "$NS" link set lo up

nsenter --net=/run/netns/"$NS" "$SLUICED" --control "$SLUICE_CONTROL" --net "socket=$SOCK,tap=$TAP,id=tpmd" >>"$WORK/sluiced.log" 2>&1 &
SLUICED_PID=$!
for i in $(seq 100); do grep -q "ready:" "$WORK/sluiced.log" && break; sleep 0.05; done
grep -q "ready:" "$WORK/sluiced.log" || fail "sluiced did not start"
# No IPv6 chatter from the host stack: the counts below must be exact.
ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1"

tap_counter() { # rx|tx packets of the tap
    ip -n "$NS" -j -s link show "$TAP" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['$1']['packets'])"
}

# testpmd MODE SECONDS [HOOK]: run testpmd interactively, forwarding in MODE;
# HOOK runs once it is forwarding. Output in $WORK/testpmd-MODE.log.
testpmd() {
    local mode=$1 secs=$2 hook=${3:-true}
    {
        for i in $(seq 100); do grep -q "Forwarding\|Start automatic" "$WORK/testpmd-$mode.log" 2>/dev/null && break; sleep 0.1; done
        $hook
        sleep "$secs"
        # Stop forwarding first and give sluiced a second to take what is
        # already on the rings: quitting at once races the last burst with
        # the port's stop (GET_VRING_BASE), and the counts must be exact.
        echo stop
        sleep 1
        echo "show port stats all"
        echo quit
    } | timeout --foreground 120 dpdk-testpmd -l 0-1 --no-huge -m 512 --no-pci \
        --file-prefix="sluice$$" --vdev="virtio_user0,path=$SOCK,queues=1$VDEV_EXTRA" -- \
        -i --total-num-mbufs=32768 --forward-mode="$mode" --auto-start >"$WORK/testpmd-$mode.log" 2>&1 ||
        fail "testpmd ($mode) failed: $(tail -5 "$WORK/testpmd-$mode.log")"
}
forward_stat() { # MODE FIELD: the last "FIELD: n" of the forward statistics
    sed -n "s/.*$2: *\([0-9]*\).*/\1/p" "$WORK/testpmd-$1.log" | tail -n 1
}

# While testpmd runs: the ring format sluiced's queues started with.
ring_check() {
    "$SLUICE_BUILD/tools/sluice/sluice" dev stats tpmd --json >"$WORK/stats.json" 2>&1 || return 0
    python3 -c "import json,sys; print(' '.join(q['ring'] for q in json.load(open(sys.argv[1]))['queues']))" \
        "$WORK/stats.json" >"$WORK/rings.txt" 2>&1
}

log "guest -> tap (testpmd txonly)"
before=$(tap_counter rx)
testpmd txonly 2 ring_check
want=split; [ -n "$VDEV_EXTRA" ] && want=packed
[ "$(cat "$WORK/rings.txt")" = "$want $want" ] ||
    fail "sluiced's queues: '$(cat "$WORK/rings.txt")', expected $want rings ($(cat "$WORK/stats.json"))"
log "both queues run $want rings"
sent=$(forward_stat txonly TX-packets)
got=$(( $(tap_counter rx) - before ))
log "testpmd sent $sent packets, the tap received $got"
[ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "testpmd sent nothing"
[ "$got" = "$sent" ] || fail "tap RX ($got) differs from testpmd TX ($sent)"

log "tap -> guest ($N frames into the tap, testpmd rxonly)"
send_frames() {
    ip netns exec "$NS" python3 - "$TAP" "$N" <<'PY'
import socket, struct, sys
tap, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((tap, 0))
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", 0x88b5) + bytes(50)
import time
for i in range(n):
    s.send(frame)
    if i % 50 == 49:
        time.sleep(0.002)   # paced: the tap queue holds 1000 frames
PY
}
tx0=$(tap_counter tx)
drop0=$(ip -n "$NS" -j -s link show "$TAP" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['tx']['dropped'])")
testpmd rxonly 2 send_frames
rx=$(forward_stat rxonly RX-packets)
tx=$(( $(tap_counter tx) - tx0 ))
drop=$(( $(ip -n "$NS" -j -s link show "$TAP" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['tx']['dropped'])") - drop0 ))
log "tap passed $tx of $N frames to sluiced ($drop dropped at the tap), testpmd received $rx"
[ $((tx + drop)) = "$N" ] || fail "tap counters do not add up to $N"
[ "$rx" = "$tx" ] || fail "testpmd received $rx frames, the tap handed over $tx"
[ "$rx" -gt 0 ] || fail "nothing reached testpmd"

kill -TERM "$SLUICED_PID"
wait "$SLUICED_PID" || fail "sluiced exited with an error"
SLUICED_PID=
log PASS
