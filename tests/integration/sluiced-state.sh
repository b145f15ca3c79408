#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluiced's state folder (--state-dir): devices added through the control
# socket survive a restart. Modes (TEST_MODE):
#   errors    no guest, null= devices (a few seconds): an add that cannot be
#             recorded (immutable folder) is undone and fails, a remove that
#             cannot be forgotten fails and the device stays; recorded devices come
#             back with their ids after SIGTERM and after SIGKILL; a live
#             limit change (dev set, group-set) is recorded and back after SIGKILL, one
#             that cannot be recorded fails and is undone, one on a
#             command-line device is not recorded; a
#             command-line device with a recorded id and the same spec (items
#             reordered) is one device, with another spec exit 1 and one
#             line naming the id; a command-line device without id= takes a
#             free id; a second sluiced on the same --state-dir exits 1
#             naming the first's pid, and beside it a sluiced on the default
#             folder warns and records nothing, as does an unprivileged
#             sluiced that cannot create the default folder; a corrupt state file (bad
#             JSON, a file with one good and one refused record, and one
#             with a group spec the parser refuses) is
#             reported in one line, left byte for byte, and sluiced serves
#             none of its devices and records nothing until it is gone; a
#             recorded device whose file is gone does not keep the others
#             from starting: it is listed unserved with the reason, its id,
#             socket and record kept until it is removed, served again once
#             its file is back
#   restart   one QEMU guest with a blk and a net device, both added through
#             the control socket (the net device's tap on a bridge in a
#             namespace of the test); the guest fills its disk while sluiced
#             is killed (SIGKILL) and started again with only --control and
#             --state-dir: QEMU reconnects (reconnect=1), the guest verifies
#             every block and pings the bridge again; `sluice dev list
#             --json` shows the same devices before and after; the host
#             verifies the backing file
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../guestlib.sh"

MODE=${TEST_MODE:?TEST_MODE not set}
SL=$SLUICE_BUILD/tools/sluice/sluice
export SLUICE_CONTROL=$WORK/control.sock
ST=$WORK/st/sluiced
MiB=$((1024 * 1024))

# The devices of `sluice dev list --json` as "id type socket spec recorded"
# lines, sorted: what must be the same across a restart.
dev_summary() {
    "$SL" dev list --json |
        jq -r 'sort_by(.id)[] | "\(.id) \(.type) \(.socket) \(.spec) \(.recorded) \(.path) \(.network) \(.tap)"'
}

# expect_exit1 WHAT PATTERN ARGS...: sluiced exits 1 with PATTERN on its one
# line of stderr.
expect_exit1() {
    local what=$1 pat=$2 rc=0
    shift 2
    timeout 20 "$SLUICED" "$@" >"$WORK/out.txt" 2>&1 || rc=$?
    [ $rc = 1 ] || fail "$what: exit $rc, not 1: $(cat "$WORK/out.txt")"
    [ "$(grep -c . "$WORK/out.txt")" = 1 ] && grep -q -- "$pat" "$WORK/out.txt" ||
        fail "$what: expected one line matching '$pat': $(cat "$WORK/out.txt")"
    log "$what: exit 1, $(cat "$WORK/out.txt")"
}

errors_mode() {
    local A=$WORK/a.sock B=$WORK/b.sock C=$WORK/c.sock
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1
    "$SL" dev add blk "socket=$A,null=1M,id=a" >/dev/null || fail "dev add a"
    "$SL" dev add blk "socket=$B,null=2M,readonly" >/dev/null || fail "dev add b"
    "$SL" dev add blk "socket=$WORK/t.sock,null=1M,id=t" >/dev/null || fail "dev add t"
    grep -q '"id":"t"' "$ST/devices.json" || fail "t not recorded: $(cat "$ST/devices.json")"
    "$SL" dev remove t >/dev/null || fail "dev remove t"
    dev_summary >"$WORK/before.txt"
    [ "$(grep -c " true " "$WORK/before.txt")" = 2 ] || fail "devices not recorded: $(cat "$WORK/before.txt")"
    jq -e '[.devices[].id] == ["a", "blk1"]' "$ST/devices.json" >/dev/null || fail "state file: $(cat "$ST/devices.json")"
    [ ! -e "$ST/devices.json.tmp" ] || fail "temporary file left"
    [ "$(stat -c %a "$ST")" = 700 ] && [ "$(stat -c %a "$ST/devices.json")" = 600 ] ||
        fail "modes: $(stat -c '%a %n' "$ST" "$ST/devices.json")"

    # A state folder that cannot be written (immutable, even for root): an
    # add is undone and fails, a remove fails and the device stays.
    if [ "$(id -u)" = 0 ] && chattr +i "$ST" 2>/dev/null; then
        CLEANUP_CMDS+=("chattr -i '$ST' 2>/dev/null")
        local rc=0
        "$SL" dev add blk "socket=$WORK/i.sock,null=1M,id=i" >"$WORK/out.txt" 2>&1 || rc=$?
        [ $rc = 1 ] && grep -q "cannot record the device" "$WORK/out.txt" ||
            { chattr -i "$ST"; fail "add with an immutable state: exit $rc: $(cat "$WORK/out.txt")"; }
        rc=0
        "$SL" dev remove a >"$WORK/out2.txt" 2>&1 || rc=$?
        chattr -i "$ST"
        [ $rc = 1 ] && grep -q "cannot remove it from the state" "$WORK/out2.txt" ||
            fail "remove with an immutable state: exit $rc: $(cat "$WORK/out2.txt")"
        [ ! -e "$WORK/i.sock" ] && [ -S "$A" ] || fail "an unrecorded add left its socket, or a was removed"
        dev_summary | diff "$WORK/before.txt" - || fail "devices changed by the failed add and remove"
        log "state not writable: $(cat "$WORK/out.txt"); $(cat "$WORK/out2.txt")"
    fi

    # A second sluiced on the same folder: refused, naming the first.
    expect_exit1 "second sluiced, same --state-dir" "in use by another sluiced (pid $SLUICED_PID)" \
        --control "$WORK/c2.sock" --state-dir "$ST"
    # Without --state-dir, the default ($SLUICE_STATE_DIR/sluiced) is held:
    # a warning, and its devices are not recorded.
    SLUICE_STATE_DIR=$WORK/st "$SLUICED" --control "$WORK/c2.sock" --workers 1 >"$WORK/second.log" 2>&1 &
    local second=$!
    CLEANUP_CMDS+=("kill $second 2>/dev/null")
    for i in $(seq 100); do grep -q "ready:" "$WORK/second.log" && break; sleep 0.05; done
    grep -q "warning: state: $ST: in use by another sluiced" "$WORK/second.log" ||
        fail "no warning from the second sluiced: $(cat "$WORK/second.log")"
    "$SL" dev add --control "$WORK/c2.sock" blk "socket=$WORK/x.sock,null=1M" >/dev/null ||
        fail "dev add on the second sluiced"
    kill -TERM $second; wait $second || fail "second sluiced: exit $?"
    jq -e '.devices | length == 2' "$ST/devices.json" >/dev/null || fail "the second sluiced wrote the first's state"
    log "default state folder held: the second sluiced warned and recorded nothing"

    # Unprivileged, the default folder out of reach: a warning, no state.
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        chmod 711 "$WORK"
        install -d -o 65534 -g 65534 "$WORK/u"
        install -d -m 700 "$WORK/rootonly"
        install -m 755 "$SLUICED" "$WORK/u/sluiced"
        SLUICE_STATE_DIR=$WORK/rootonly setpriv --reuid=65534 --regid=65534 --clear-groups -- \
            "$WORK/u/sluiced" --control "$WORK/u/c.sock" --workers 1 >"$WORK/unpriv.log" 2>&1 &
        local unpriv=$!
        CLEANUP_CMDS+=("kill $unpriv 2>/dev/null")
        for i in $(seq 100); do grep -q "ready:" "$WORK/unpriv.log" && break; sleep 0.05; done
        grep -q "warning: state: $WORK/rootonly/sluiced: cannot create it: Permission denied; devices added at run time will not survive a restart" \
            "$WORK/unpriv.log" || fail "unprivileged sluiced: $(cat "$WORK/unpriv.log")"
        [ "$("$SL" dev add --control "$WORK/u/c.sock" blk "socket=$WORK/u/x.sock,null=1M" --json | jq .recorded)" = false ] ||
            fail "unprivileged sluiced: dev add"
        kill -TERM $unpriv; wait $unpriv || fail "unprivileged sluiced: exit $?"
        log "unprivileged, default folder out of reach: a warning, devices served unrecorded"
    fi

    # SIGTERM and SIGKILL: both come back, the same.
    stop_sluiced "$A" "$B"
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1
    dev_summary >"$WORK/after.txt"
    diff "$WORK/before.txt" "$WORK/after.txt" || fail "devices differ after SIGTERM and a start"
    kill -KILL "$SLUICED_PID"; wait "$SLUICED_PID" 2>/dev/null || true
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1
    dev_summary >"$WORK/after.txt"
    diff "$WORK/before.txt" "$WORK/after.txt" || fail "devices differ after SIGKILL and a start"
    grep -q "2 recorded devices restored" "$WORK/sluiced.log" || fail "no restore line"
    log "recorded devices back after SIGTERM and SIGKILL: $(cut -d' ' -f1 "$WORK/after.txt" | tr '\n' ' ')"

    # A live limit change (dev set) on a recorded device is recorded: after
    # SIGKILL and a start the device has the limits in force. One the state
    # folder cannot take fails and is undone.
    local Q=$WORK/q.sock
    "$SL" dev add blk "socket=$Q,null=1M,id=q,iops=100" >/dev/null || fail "dev add q"
    "$SL" dev set q iops=50,bps=1M || fail "dev set q"
    # A group set through group.set is recorded with the limits in force
    # (a member's set included) and wins over its member's spec at a start.
    local R=$WORK/r.sock
    "$SL" dev add blk "socket=$R,null=1M,id=r,group=gq,iops=100" >/dev/null || fail "dev add r"
    "$SL" dev group-set gq iops=30 >/dev/null && "$SL" dev set r bps=2M >/dev/null || fail "set gq"
    limits_gq() { "$SL" dev groups --json | jq -c '.[] | select(.name == "gq") | [.limits.iops, .limits.bps]'; }
    [ "$(limits_gq)" = "[30,2097152]" ] || fail "group gq: limits $(limits_gq)"
    limits_q() { "$SL" dev stats q --json | jq -c '[.limits.iops, .limits.bps]'; }
    [ "$(limits_q)" = "[50,1048576]" ] || fail "dev set q: limits $(limits_q)"
    if [ "$(id -u)" = 0 ] && chattr +i "$ST" 2>/dev/null; then
        local rc=0
        "$SL" dev set q iops=7 >"$WORK/out.txt" 2>&1 || rc=$?
        local rc2=0
        "$SL" dev group-set gq iops=7 >"$WORK/out2.txt" 2>&1 || rc2=$?
        chattr -i "$ST"
        [ $rc = 1 ] && grep -q "cannot record the change" "$WORK/out.txt" ||
            fail "set with an immutable state: exit $rc: $(cat "$WORK/out.txt")"
        [ $rc2 = 1 ] && grep -q "cannot record the change" "$WORK/out2.txt" ||
            fail "group-set with an immutable state: exit $rc2: $(cat "$WORK/out2.txt")"
        [ "$(limits_q)" = "[50,1048576]" ] && [ "$(limits_gq)" = "[30,2097152]" ] ||
            fail "unrecorded set not undone: limits $(limits_q) $(limits_gq)"
        log "set with an immutable state: undone, $(cat "$WORK/out.txt")"
    fi
    kill -KILL "$SLUICED_PID"; wait "$SLUICED_PID" 2>/dev/null || true
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1
    [ "$(limits_q)" = "[50,1048576]" ] ||
        fail "dev set lost at a restart: limits $(limits_q), state $(cat "$ST/devices.json")"
    [ "$(limits_gq)" = "[30,2097152]" ] ||
        fail "group.set lost at a restart: limits $(limits_gq), state $(cat "$ST/devices.json")"
    log "group.set recorded: gq back with $(jq -r '.groups[] | select(.name == "gq") | .spec' "$ST/devices.json")"
    log "dev set recorded: q back with iops=50,bps=1M ($(jq -r '.devices[] | select(.id == "q") | .spec' "$ST/devices.json"))"
    "$SL" dev remove q >/dev/null && "$SL" dev remove r >/dev/null || fail "dev remove q, r"
    stop_sluiced "$A" "$B" "$Q" "$R"

    # The command line: a, same spec reordered (one device), and C without
    # id= (a free id, not recorded).
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1 \
        --blk "id=a,null=1M,socket=$A" --blk "socket=$C,null=1M"
    dev_summary >"$WORK/merged.txt"
    [ "$(wc -l <"$WORK/merged.txt")" = 3 ] && grep -q "^a blk $A id=a,null=1M,socket=$A true" "$WORK/merged.txt" &&
        grep -q "^blk1 blk $B socket=$B,null=2M,readonly true" "$WORK/merged.txt" &&
        grep -q "^blk2 blk $C socket=$C,null=1M false" "$WORK/merged.txt" ||
        fail "merged devices: $(cat "$WORK/merged.txt")"
    log "command line and state merged: $(cut -d' ' -f1,5 "$WORK/merged.txt" | tr '\n' ' ')"
    # A command-line device's live changes are not recorded (its spec is the
    # command line, which must still match at the next start).
    cp "$ST/devices.json" "$WORK/state-before-set.json"
    "$SL" dev set a iops=10 && "$SL" dev set blk2 iops=10 || fail "dev set on command-line devices"
    cmp -s "$ST/devices.json" "$WORK/state-before-set.json" || fail "a command-line device's set was recorded"
    stop_sluiced "$A" "$B" "$C"
    expect_exit1 "recorded id, another spec" "^sluiced: a: --blk socket=$A,null=2M,id=a differs from the device recorded in $ST/devices.json" \
        --control "$SLUICE_CONTROL" --state-dir "$ST" --blk "socket=$A,null=2M,id=a"
    expect_exit1 "recorded id, another type" "^sluiced: blk1: --net" \
        --control "$SLUICE_CONTROL" --state-dir "$ST" --net "socket=$B,tap=x,id=blk1"
    [ ! -e "$A" ] && [ ! -e "$B" ] || fail "a refused start left sockets"

    # Corrupt files: reported, kept byte for byte, none of their devices
    # served, nothing recorded.
    local n=0
    for content in '{"version":1,"devices":[{"id":"a","type":"blk","spec":"socket=/x' \
        "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\",\"spec\":\"socket=$A,null=1M\"},{\"id\":\"z\",\"type\":\"blk\",\"spec\":\"socket=$B,bogus=1\"}]}" \
        "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\",\"spec\":\"socket=$A,null=1M\"}],\"groups\":[{\"name\":\"g\",\"spec\":\"bogus=1\"}]}"; do
        n=$((n + 1))
        printf '%s' "$content" >"$ST/devices.json"
        cp "$ST/devices.json" "$WORK/corrupt.json"
        start_sluiced --control "$SLUICE_CONTROL" --state-dir "$ST" --workers 1
        [ "$(grep -c "is corrupt (" "$WORK/sluiced.log")" = $n ] || fail "corrupt file $n not reported once"
        [ "$("$SL" dev list --json | jq length)" = 0 ] ||
            fail "corrupt file $n: devices served: $("$SL" dev list)"
        [ ! -e "$A" ] || fail "corrupt file $n: a is served"
        "$SL" dev add blk "socket=$C,null=1M,id=c" >/dev/null || fail "dev add with a corrupt state"
        "$SL" dev remove c >/dev/null || fail "dev remove with a corrupt state"
        cmp -s "$ST/devices.json" "$WORK/corrupt.json" || fail "corrupt file $n was rewritten"
        stop_sluiced "$C"
        cmp -s "$ST/devices.json" "$WORK/corrupt.json" || fail "corrupt file $n was rewritten at stop"
        log "corrupt file $n: $(grep "is corrupt (" "$WORK/sluiced.log" | tail -1 | cut -c1-160)"
    done
    grep -q "not recorded (does not survive a restart)" "$WORK/sluiced.log" || fail "no 'not recorded' warning"
    unserved_checks
}

# A recorded device that cannot start (its file gone): the others are
# served; it is listed "unserved" with the reason, its id and socket stay
# taken, other commands on it fail with one line, and its record stays in
# the state file through other changes, until it is removed; back once its
# file is.
unserved_checks() {
    local S2=$WORK/st2/sluiced G=$WORK/gone.img A=$WORK/a.sock GS=$WORK/g.sock out
    truncate -s 1M "$G"
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$S2" --workers 1
    "$SL" dev add blk "socket=$A,null=1M,id=a" >/dev/null || fail "dev add a (st2)"
    "$SL" dev add blk "socket=$GS,path=$G,id=g" >/dev/null || fail "dev add g"
    stop_sluiced "$A" "$GS"
    mv "$G" "$G.away"
    cp "$S2/devices.json" "$WORK/s2.json"
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$S2" --workers 1
    [ -S "$A" ] || fail "a is not served beside a recorded device that cannot start"
    [ ! -e "$GS" ] || fail "the unserved device's socket exists"
    grep -q "error: g (recorded in $S2/devices.json): .*gone.img.*; not served until it is fixed" "$WORK/sluiced.log" ||
        fail "no error line for g: $(tail -3 "$WORK/sluiced.log")"
    grep -q "state: $S2, 1 recorded device restored, 1 not served" "$WORK/sluiced.log" || fail "no restore line"
    "$SL" dev list | grep -q "^g  *blk  *unserved  *$GS\$" || fail "dev list: $("$SL" dev list)"
    "$SL" dev list --json | jq -e '.[] | select(.id == "g") | .unavailable | contains("gone.img")' >/dev/null ||
        fail "dev list --json: $("$SL" dev list --json)"
    for verb in "stats g" "set g iops=10" "mirror g --to nbd://127.0.0.1:1/x" "refresh g"; do
        out=$("$SL" dev $verb 2>&1) && fail "dev $verb on an unserved device succeeded"
        [ "$(echo "$out" | grep -c .)" = 1 ] && echo "$out" | grep -q "not served: .*gone.img" ||
            fail "dev $verb: $out"
    done
    log "unserved device: $out"
    out=$("$SL" dev add blk "socket=$WORK/g2.sock,null=1M,id=g" 2>&1) && fail "its id was taken again"
    echo "$out" | grep -q "exists" || fail "dev add with its id: $out"
    out=$("$SL" dev add blk "socket=$GS,null=1M" 2>&1) && fail "its socket was taken again"
    cmp -s "$S2/devices.json" "$WORK/s2.json" || fail "the state file changed: $(cat "$S2/devices.json")"
    "$SL" dev add blk "socket=$WORK/c2.sock,null=1M,id=c" >/dev/null || fail "dev add c (st2)"
    jq -e '[.devices[].id] == ["a", "g", "c"]' "$S2/devices.json" >/dev/null ||
        fail "another add lost the unserved record: $(cat "$S2/devices.json")"
    "$SL" dev remove c >/dev/null || fail "dev remove c (st2)"
    stop_sluiced "$A"
    # Its file back: served again, with its id.
    mv "$G.away" "$G"
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$S2" --workers 1
    [ -S "$GS" ] || fail "g is not served once its file is back"
    "$SL" dev stats g >/dev/null || fail "dev stats g once served"
    stop_sluiced "$A" "$GS"
    # Removed while unserved: forgotten.
    rm "$G"
    start_sluiced --control "$SLUICE_CONTROL" --state-dir "$S2" --workers 1
    "$SL" dev remove g >/dev/null || fail "dev remove of an unserved device"
    jq -e '[.devices[].id] == ["a"]' "$S2/devices.json" >/dev/null || fail "g not forgotten: $(cat "$S2/devices.json")"
    [ "$("$SL" dev list --json | jq length)" = 1 ] || fail "g still listed"
    stop_sluiced "$A"
    log "a recorded device whose file is gone: others served, listed unserved, kept until removed, back with its file"
}

restart_mode() {
    need_root
    need_cmd ip
    need_guest_kit
    [ -x "$GUESTIO" ] || fail "guestio not built"
    ip netns list >/dev/null 2>&1 || skip "no network namespace support"
    local NS=slst-$$ NET=10.215.$((RANDOM % 200)). IMG=$WORK/disk.img
    local BSOCK=$WORK/blk.sock NSOCK=$WORK/net.sock
    CLEANUP_CMDS+=("ip netns del $NS 2>/dev/null")
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip link add br0 type bridge
    ip netns exec "$NS" ip addr add "${NET}1/24" dev br0
    ip netns exec "$NS" ip link set br0 up
    truncate -s $((128 * MiB)) "$IMG"

    # sluiced in the namespace (nsenter execs it: $SLUICED_PID is sluiced).
    SLUICED_NS=(nsenter --net=/run/netns/"$NS" "$SLUICED")
    start_ns() {
        local n0
        n0=$(grep -c "ready:" "$WORK/sluiced.log" 2>/dev/null || true)
        "${SLUICED_NS[@]}" --control "$SLUICE_CONTROL" --state-dir "$ST" >>"$WORK/sluiced.log" 2>&1 &
        SLUICED_PID=$!
        for i in $(seq 200); do
            [ "$(grep -c "ready:" "$WORK/sluiced.log")" -gt "${n0:-0}" ] && return 0
            kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced exited at start: $(tail -3 "$WORK/sluiced.log")"
            sleep 0.05
        done
        fail "sluiced did not become ready"
    }
    start_ns
    "$SL" dev add blk "socket=$BSOCK,path=$IMG,queues=2,serial=kept,id=gblk" >/dev/null || fail "dev add blk"
    "$SL" dev add net "socket=$NSOCK,bridge=br0,mac=52:54:00:5e:00:07,id=gnet" >/dev/null || fail "dev add net"
    dev_summary >"$WORK/before.txt"

    {
        cat <<GUEST
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
i=0
until ping -c 1 -W 1 ${NET}1 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -lt 20 ] || { echo "guest: no ping"; exit 1; }; done
echo "guest: pinged ${NET}1"
[ "\$(cat /sys/block/vda/serial)" = kept ] || { echo "guest: serial \$(cat /sys/block/vda/serial)"; exit 1; }
GUEST
        guest_fill_verify 5150
        cat <<GUEST
i=0
until ping -c 1 -W 1 ${NET}1 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -lt 30 ] || { echo "guest: no ping after the restart"; exit 1; }; done
ping -c 3 -W 5 ${NET}1 >/dev/null || { echo "guest: pings lost after the restart"; exit 1; }
echo "guest: pinged ${NET}1 again"
GUEST
    } >"$WORK/guest.sh"
    "$GUEST" run --memfd --mem 512M --cpus 2 --timeout 300 --log "$WORK/guest.log" \
        "$WORK/guest.sh" "$GUESTIO" -- \
        -chardev socket,id=vblk0,path="$BSOCK",reconnect=1 \
        -device vhost-user-blk-pci,chardev=vblk0,num-queues=2 \
        -chardev socket,id=vnet0,path="$NSOCK",reconnect=1 \
        -netdev vhost-user,id=n0,chardev=vnet0 \
        -device virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:07,vectors=0 >/dev/null 2>&1 &
    local runner=$!
    CLEANUP_CMDS+=("kill $runner 2>/dev/null")
    wait_guest_line "guest: filling" "$WORK/guest.log" $runner 150 || fail "the guest never started writing: $(tail -5 "$WORK/guest.log")"
    sleep 0.3
    grep -q "guest: every block\|guest: fill failed" "$WORK/guest.log" && fail "the guest finished before the kill"
    kill -KILL "$SLUICED_PID"; wait "$SLUICED_PID" 2>/dev/null || true
    local t0=$SECONDS
    sleep 0.3
    start_ns
    dev_summary >"$WORK/after.txt"
    diff "$WORK/before.txt" "$WORK/after.txt" || fail "devices differ after the restart"
    ip netns exec "$NS" bridge link show | grep -q "sl-gnet-0.*master br0" || fail "tap not back on the bridge"
    log "sluiced killed mid-fill and started again with only --control and --state-dir ($((SECONDS - t0)) s)"
    local rc=0
    wait "$runner" || rc=$?
    [ $rc = 0 ] && grep -q "guest: every block verified" "$WORK/guest.log" &&
        grep -q "guest: pinged ${NET}1 again" "$WORK/guest.log" ||
        fail "guest failed (status $rc): $(tail -5 "$WORK/guest.log")"
    grep -q "state: $ST, 2 recorded devices restored" "$WORK/sluiced.log" || fail "no restore line in the log"
    log "the restarted sluiced resubmitted $(grep -o 'resubmitting [0-9]*' "$WORK/sluiced.log" | awk '{s+=$2} END {print s+0}') in-flight requests"
    stop_sluiced "$BSOCK" "$NSOCK"
    "$GUESTIO" verify "$IMG" 5150 || fail "backing: pattern wrong after the restart"
    log "guest I/O verified and pings resumed after the restart; dev list the same"
}

case $MODE in
errors) errors_mode ;;
restart) restart_mode ;;
*) fail "unknown mode $MODE" ;;
esac
log PASS
