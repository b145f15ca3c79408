#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# NIC rate limits (--net rx-rate=,tx-rate=,burst=; sluice dev set) measured
# with a guest's own TCP stream: one QEMU TCG guest
# whose NIC is a sluiced net device on a bridge in a namespace H this test
# creates; the guest runs `guestio serve`, the host side `guestio stream`
# in H (the receiver of each stream measures it):
#   guest --virtio-net-- sluiced --tap sl-qn-0-- br0 (H, .1)
# What the guest sends (tx-rate) enters through the tap's ingress (ifb +
# tbf), what it receives (rx-rate) leaves through the tap's egress (tbf).
# One boot serves every check: both limits set with --net, measured each
# way; changed live with `sluice dev set`, measured again; removed, and the
# rate rises. Meanwhile, without a stream: the tc objects (`tc -j`) after
# each change, bad input refused with nothing changed, a device that cannot
# be limited or is removed leaving nothing behind, nothing left at exit.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd ip
need_cmd tc
need_cmd jq
need_guest_kit
H=slqh-$$
TAP=sl-qn-0
NET=10.215.$((RANDOM % 200)).
PORT=5201
SOCK=$WORK/net.sock
export SLUICE_CONTROL=$WORK/control.sock
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
# The limits in bit/s: the TCG guest's stream reaches 450-1000 Mbit/s
# unlimited on this path, far above them.
LIM1=20000000 LIM2=10000000
CLEANUP_CMDS+=("ip netns del $H 2>/dev/null")
ip netns add "$H" || skip "cannot create network namespaces"
inh() { ip netns exec "$H" "$@"; }
inh ip link set lo up
inh sysctl -qw net.ipv6.conf.all.disable_ipv6=1
inh ip link add br0 type bridge
inh ip addr add "${NET}1/24" dev br0
inh ip link set br0 up

# Buckets of 100 ms at 20M: a busy host's scheduling delays do not waste
# tokens (README: shorter buckets undershoot on a loaded machine).
nsenter --net=/run/netns/"$H" "$SLUICED" --control "$SLUICE_CONTROL" \
    --net "socket=$SOCK,bridge=br0,id=qn,mac=52:54:00:5e:00:05,tx-rate=20M,rx-rate=20M,burst=256K" \
    >>"$WORK/sluiced.log" 2>&1 &
SLUICED_PID=$!
for i in $(seq 100); do grep -q "ready:" "$WORK/sluiced.log" && break; sleep 0.05; done
grep -q "ready:" "$WORK/sluiced.log" || fail "sluiced did not start: $(tail -3 "$WORK/sluiced.log")"

# ---- tc state, read back with tc -j --------------------------------------
# tc_state TAP: "egress=RATE ingress=RATE" in bytes per second of the tbf at
# the tap's root and of the tbf behind its ingress redirect (0: none); fails
# when the redirect does not lead to the ifb named for the tap.
tc_state() {
    local q to e i=0
    q=$(inh tc -j qdisc show)
    tbf_rate() { jq -r --arg d "$1" '[.[] | select(.dev == $d and .root and .kind == "tbf") | .options.rate] | first // 0' <<<"$q"; }
    e=$(tbf_rate "$1")
    if jq -e --arg d "$1" 'any(.[]; .dev == $d and .kind == "ingress")' <<<"$q" >/dev/null; then
        to=$(inh tc -j filter show dev "$1" ingress |
             jq -r '[.[] | .options.actions[]? | select(.kind == "mirred") | .to_dev] | join(" ")')
        case "$to" in
        sl-ifb-*[!\ ]) [ "$to" = "${to%% *}" ] || { echo "ingress of $1 redirects to '$to'"; return 1; } ;;
        *) echo "ingress of $1 redirects to '$to'"; return 1 ;;
        esac
        i=$(tbf_rate "$to")
    fi
    echo "egress=$e ingress=$i"
}
expect_tc() { # TAP STATE WHAT
    local got
    got=$(tc_state "$1") || fail "$3: $got"
    [ "$got" = "$2" ] || fail "$3: $1 has '$got', expected '$2'"
    log "$3: $1 $got"
}
ifbs() { inh ip -br link show type ifb | awk '{print $1}' | tr '\n' ' '; }

expect_tc "$TAP" "egress=2500000 ingress=2500000" "--net tx-rate=20M,rx-rate=20M"

# ---- the guest: guestio serve on its NIC --------------------------------
cat >"$WORK/guest-qos.sh" <<GUEST
set -e
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
/sluice-files/guestio serve $PORT 60
GUEST
GUEST_TIMEOUT=120 run_guest "$WORK/guest-qos.sh" "$WORK/guest.log" \
    -chardev socket,id=net0,path="$SOCK" \
    -netdev vhost-user,id=n0,chardev=net0 \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:05,vectors=0 >/dev/null 2>&1 &
RUNNER=$!
# The QEMU of this test, found by its socket (the runner's exit does not
# stop it).
CLEANUP_CMDS+=("kill $RUNNER 2>/dev/null; q=\$(pgrep -f '^qemu-system-x86_64 .*$SOCK') && kill \$q 2>/dev/null")
wait_guest_line "guestio: listening" "$WORK/guest.log" $RUNNER 60 || fail "the guest did not start its server: $(tail -5 "$WORK/guest.log")"
log "guest up after $SECONDS s"

# stream tx|rx SECS WARM: the rate in bit/s of a TCP stream the guest sends
# (tx) or receives (rx), SECS after WARM seconds of warm-up (slow start,
# the bucket's burst).
stream() {
    local out
    out=$(inh "$GUESTIO" stream "${NET}2" $PORT "$1" "$2" "$3" 2>&1) || fail "stream $1 failed: $out"
    sed -n 's/^stream .*bits\/s=\([0-9]*\) .*/\1/p' <<<"$out"
}
mbit() { echo "$(( $1 / 1000000 )).$(( $1 / 100000 % 10 )) Mbit/s"; }
# A loaded machine can only slow the path down (the TCG guest and sluiced
# share the CPUs with everything else), never make a shaper pass more: so
# every stream must stay below LIMIT + 15 %, and the first within
# LIMIT +- 15 % passes; one below -15 % is measured again, at most 4 times.
limited() { # DIR LIMIT WHAT
    local r i
    for i in 1 2 3 4; do
        r=$(stream "$1" 2 1)
        log "$3: $(mbit "$r")"
        [ $(( r * 100 )) -le $(( $2 * 115 )) ] || fail "$3: $(mbit "$r"), over the limit + 15 %"
        [ $(( r * 100 )) -lt $(( $2 * 85 )) ] || return 0
        log "$3: under the limit - 15 %: the path was slow, measuring again"
    done
    fail "$3: under the limit - 15 % four times"
}
# unlimited DIR WHAT: the limits gone, a stream of at least twice the first
# limit (else the path is too slow to tell; measured again, at most three
# times). No shaper: no burst to skip, a short stream tells.
unlimited() {
    local r i
    for i in 1 2 3; do
        r=$(stream "$1" 1 0.5)
        log "$2: $(mbit "$r")"
        [ "$r" -lt $(( LIM1 * 2 )) ] || return 0
    done
    fail "$2: under twice $(mbit $LIM1) three times: too slow to tell the limit"
}

limited tx $LIM1 "guest sends, --net tx-rate=20M"
limited rx $LIM1 "guest receives, --net rx-rate=20M"

# ---- live change ----------------------------------------------------------
"$SLUICE" dev set qn tx-rate=10M rx-rate=10M >/dev/null || fail "dev set qn tx-rate=10M rx-rate=10M"
expect_tc "$TAP" "egress=1250000 ingress=1250000" "dev set tx-rate=10M rx-rate=10M (live)"
limited tx $LIM2 "guest sends, dev set tx-rate=10M"
limited rx $LIM2 "guest receives, dev set rx-rate=10M"

# ---- bad input: one-line error, exit 2, nothing changed ---------------------
bad_set() { # ARGS...
    local rc=0
    "$SLUICE" dev set qn "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ $rc = 2 ] || fail "dev set qn $*: exit $rc, expected 2 ($(cat "$WORK/err"))"
    [ "$(wc -l <"$WORK/err")" = 1 ] || fail "dev set qn $*: not one line: $(cat "$WORK/err")"
    log "dev set qn $*: $(cat "$WORK/err")"
}
bad_set tx-rate=fast
bad_set tx-rate=20Mbps
bad_set rx-rate=17G
bad_set tx-rate=1K
bad_set burst=100
bad_set burst=1G
bad_set iops=100
bad_set tx-rate
expect_tc "$TAP" "egress=1250000 ingress=1250000" "after the refused changes"
# One key changes one direction; the others keep their value.
"$SLUICE" dev set qn rx-rate=0 >/dev/null || fail "dev set qn rx-rate=0"
expect_tc "$TAP" "egress=0 ingress=1250000" "dev set rx-rate=0"
[ -n "$(ifbs)" ] || fail "no ifb for $TAP"
"$SLUICE" dev set qn tx-rate=0 >/dev/null || fail "dev set qn tx-rate=0"
expect_tc "$TAP" "egress=0 ingress=0" "dev set tx-rate=0"
[ -z "$(ifbs)" ] || fail "ifb left behind: $(ifbs)"

# ---- limits removed: the rate rises -----------------------------------------
unlimited tx "guest sends, limits removed"
unlimited rx "guest receives, limits removed"
inh "$GUESTIO" stream "${NET}2" $PORT quit || fail "cannot stop the guest's server"
wait $RUNNER || fail "guest script failed: $(tail -5 "$WORK/guest.log")"
log "guest done after $SECONDS s"

# ---- devices: a limit that cannot be set, removal ---------------------------
rc=0
"$SLUICE" dev add net "socket=$WORK/c.sock,tap=sl-qc-0,id=qc,tx-rate=fast" >/dev/null 2>"$WORK/err" || rc=$?
[ $rc = 2 ] || fail "dev add with tx-rate=fast: exit $rc"
log "dev add tx-rate=fast: $(cat "$WORK/err")"
# Valid as spec, refused by the shaper once the tap exists (a 9000-byte
# frame does not fit a 4K bucket): the device must not be created, its tap
# and ifb gone.
rc=0
"$SLUICE" dev add net "socket=$WORK/c.sock,tap=sl-qc-0,id=qc,mtu=9000,tx-rate=10M,burst=4K" >/dev/null 2>"$WORK/err" || rc=$?
[ $rc = 1 ] || fail "dev add with a bucket below the MTU: exit $rc"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "dev add: not one line: $(cat "$WORK/err")"
log "dev add burst=4K mtu=9000: $(cat "$WORK/err")"
! inh ip link show sl-qc-0 >/dev/null 2>&1 || fail "the tap of a refused device is left"
[ -z "$(ifbs)" ] || fail "ifb left behind by a refused device: $(ifbs)"
"$SLUICE" dev list --json | grep -q '"qc"' && fail "the refused device is listed"

"$SLUICE" dev add net "socket=$WORK/c.sock,tap=sl-qc-0,id=qc" >/dev/null || fail "dev add qc"
"$SLUICE" dev set qc tx-rate=30M rx-rate=40M burst=128K >/dev/null || fail "dev set qc (three keys)"
expect_tc sl-qc-0 "egress=5000000 ingress=3750000" "dev set, three keys"
[ "$("$SLUICE" dev list --json | jq -c '.[] | select(.id == "qc") | [.rx_rate, .tx_rate, .burst]')" = "[40000000,30000000,131072]" ] ||
    fail "dev list does not show qc's limits"
"$SLUICE" dev remove qc >/dev/null || fail "dev remove qc"
[ -z "$(ifbs)" ] || fail "ifb left behind by a removed device: $(ifbs)"
! inh ip link show sl-qc-0 >/dev/null 2>&1 || fail "sl-qc-0 left behind"

# A limit still set when sluiced stops goes with it.
"$SLUICE" dev set qn tx-rate=5M >/dev/null || fail "dev set qn tx-rate=5M"
expect_tc "$TAP" "egress=0 ingress=625000" "dev set tx-rate=5M"
kill -TERM "$SLUICED_PID"
wait "$SLUICED_PID" || fail "sluiced exited with an error"
SLUICED_PID=
[ -z "$(ifbs)" ] || fail "ifb left behind at exit: $(ifbs)"
log "PASS in $SECONDS s"
