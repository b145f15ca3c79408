#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Live migration between two sluiced backends (shared storage, same host):
# a source QEMU and a destination QEMU (-incoming), both TCG with memfd
# guest RAM, each attached to its own sluiced; `migrate` over QMP while the
# guest does I/O (QEMU makes about 3 dirty-page rounds). Modes (TEST_MODE):
#   blk     vhost-user-blk, 1 queue: the guest writes a pattern over the disk
#           with O_DIRECT and reads it back, pass after pass, before, during
#           and after the migration; every pass it finished (acknowledged) is
#           verified on the destination, and the host verifies the file;
#           then back to a fresh QEMU on the source's sluiced (a second
#           migration), where the guest verifies again
#   blk-mq  the same with 2 queues
#   blk-local  storage migration, the README recipe end to end: the source
#           sluiced serves a local file, the destination sluiced another file
#           of the same size as an incoming device (--nbd-listen on loopback
#           TCP); `sluice dev mirror` copies it while the guest writes; once
#           synced, QMP migrate to a destination QEMU started with -S; while
#           both are stopped the host compares the two files (equal), then
#           `cont`; the guest verifies and keeps writing on the destination;
#           then back the same way (the source sluiced serves a third file
#           as incoming, the destination mirrors into it, a fresh QEMU on the
#           source side started with -S; compare, cont); the host verifies
#           the last file and that the earlier ones did not change after
#           their switch-over
#   blk-rounds  blk with the migration held at 8 MiB/s and a 1 ms downtime
#           limit until 3 dirty-page rounds happened. NOT in CI: in 2 of 7
#           runs the destination guest's kernel found its memory corrupted
#           (stack canary, page allocator list), an open bug; the same
#           workload on QEMU's own virtio-blk (no sluiced) hung on the
#           destination in 1 of 4 runs, so QEMU's TCG migration is suspect
#           too. blk and blk-mq migrate without limits (about 3 rounds)
#   net     vhost-user-net: both sluiced put their tap on one bridge in a
#           namespace; a TCP stream from the host side to the guest and a
#           ping run across the migration; the stream's checksum matches and
#           at most a few pings are lost
. "$(dirname "$0")/lib.sh"

MODE=${TEST_MODE:?TEST_MODE not set}
MiB=$((1024 * 1024))
need_root
need_cmd python3
need_cmd jq
need_guest_kit
[ -x "$GUESTIO" ] || fail "guestio not built"

QMP="python3 $SLUICE_SRC/tests/integration/qmp.py"
KERNEL=$("$GUEST" path kernel)
APPEND=$("$GUEST" path cmdline)
MIG=$WORK/mig.sock
WRITE_SECONDS=45

# start_qemu NAME [ARGS...]: a guest with the test initramfs, its console in
# $WORK/NAME-console.log and its monitor on $WORK/NAME.qmp; pid in QPID.
start_qemu() {
    local name=$1
    shift
    qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512M \
        -nodefaults -no-user-config -display none -no-reboot \
        -object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem \
        -chardev stdio,id=con,signal=off -serial chardev:con \
        -kernel "$KERNEL" -initrd "$WORK/initrd.img" -append "$APPEND" \
        -qmp unix:"$WORK/$name.qmp",server=on,wait=off "$@" \
        </dev/null >"$WORK/$name-console.log" 2>&1 &
    QPID=$!
    CLEANUP_CMDS+=("kill -KILL $QPID 2>/dev/null")
    local i
    for i in $(seq 100); do [ -S "$WORK/$name.qmp" ] && return 0; sleep 0.1; done
    fail "QEMU $name did not start: $(tail -3 "$WORK/$name-console.log")"
}

# wait_console NAME TEXT SECONDS
wait_console() {
    local i
    for i in $(seq $(($3 * 5))); do
        grep -aq "$2" "$WORK/$1-console.log" 2>/dev/null && return 0
        sleep 0.2
    done
    fail "no '$2' on the $1 console: $(tail -5 "$WORK/$1-console.log")"
}

# pass_ms NAME FROM TO: the mean time of a guest pass between passes FROM
# and TO (guest clock, printed by the guest with each pass) in QEMU NAME.
pass_ms() {
    tr -d '\r' <"$WORK/$1-console.log" |
        awk -v a="$2" -v b="$3" '$2 == "pass" && $3 == a { t0 = $5 } $2 == "pass" && $3 == b { t1 = $5 }
            END { if (b > a && t1 > t0) printf "%.0f", (t1 - t0) * 1000 / (b - a); else printf "?" }'
}

mig_field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" | tr -d '"' | head -1; }

# migrate FROM URI: migrate the QEMU whose monitor is $WORK/FROM.qmp to
# URI. With ROUNDS set: at 8 MiB/s with a downtime limit of 1 ms so that it
# cannot converge, until 3 dirty-page rounds happened; then both limits are
# lifted. Logs the figures QEMU reports; query-migrate's last answer is in
# $WORK/query-migrate-FROM.json.
migrate() {
    local from=$1 uri=$2 st status rounds i lifted=
    if [ -n "${ROUNDS:-}" ]; then
        $QMP "$WORK/$from.qmp" migrate-set-parameters '{"max-bandwidth": 8388608, "downtime-limit": 1}' \
            >/dev/null || fail "migrate-set-parameters failed"
    else
        lifted=1
    fi
    $QMP "$WORK/$from.qmp" migrate "{\"uri\": \"$uri\"}" >/dev/null || fail "migrate refused"
    for i in $(seq 600); do
        st=$($QMP "$WORK/$from.qmp" query-migrate)
        status=$(echo "$st" | mig_field status)
        rounds=$(echo "$st" | mig_field dirty-sync-count)
        case $status in
        completed) break ;;
        failed|cancelled) fail "migration $status: $st" ;;
        esac
        if [ "${rounds:-0}" -ge 3 ] && [ -z "$lifted" ]; then
            log "migration: $rounds dirty-page rounds at 8 MiB/s; lifting the limit"
            $QMP "$WORK/$from.qmp" migrate-set-parameters \
                '{"max-bandwidth": 4294967296, "downtime-limit": 300}' >/dev/null
            lifted=1
        fi
        sleep 0.2
    done
    [ "$status" = completed ] || fail "migration did not complete: $st"
    [ -n "$lifted" ] || fail "the migration converged before 3 dirty-page rounds: $st"
    log "migration from $from completed: downtime $(echo "$st" | mig_field downtime) ms," \
        "total $(echo "$st" | mig_field total-time) ms, $(echo "$st" | mig_field dirty-sync-count) rounds"
    echo "$st" >"$WORK/query-migrate-$from.json"
}

# switch_over TO FROM-FILE TO-FILE: after a migration to QEMU TO (started
# with -S), with both guests stopped (the source's device drained: every
# write it completed is on both copies), the files must be equal; then TO
# runs.
switch_over() {
    local i
    for i in $(seq 100); do
        [ "$($QMP "$WORK/$1.qmp" query-status | jq -r .status)" = paused ] && break
        sleep 0.1
    done
    [ "$($QMP "$WORK/$1.qmp" query-status | jq -r .status)" = paused ] || fail "$1 is not paused after the migration"
    cmp "$2" "$3" || fail "$(basename "$2") and $(basename "$3") differ at the switch-over to $1"
    log "at the switch-over to $1: $(basename "$2") and $(basename "$3") equal"
    $QMP "$WORK/$1.qmp" cont >/dev/null || fail "cont in $1 failed"
}

# quit_qemu NAME PID: quit a QEMU that migrated away (paused).
quit_qemu() {
    $QMP "$WORK/$1.qmp" quit >/dev/null 2>&1 || true
    wait "$2" 2>/dev/null || true
}

# finish NAME PID: wait for the guest in QEMU NAME to end; it must report
# success.
finish() {
    local rc=0 i
    for i in $(seq 1200); do kill -0 "$2" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$2" 2>/dev/null && log "the guest in $1 did not finish in time"
    wait "$2" || rc=$?
    grep -aq "^SLUICE-EXIT=0" "$WORK/$1-console.log" ||
        fail "the guest failed in $1 (QEMU status $rc): $(tail -8 "$WORK/$1-console.log")"
}

case $MODE in
blk|blk-mq|blk-rounds|blk-local)
    Q=1
    [ "$MODE" = blk-mq ] && Q=2
    [ "$MODE" = blk-rounds ] && ROUNDS=1
    # blk and blk-mq migrate there and back: the guest must still write
    # after two migrations; blk-local mirrors first (more time before the
    # switch).
    case $MODE in blk|blk-mq|blk-local) WRITE_SECONDS=60 ;; esac
    SEED=777
    LEN=$((8 * MiB))
    IMG=$WORK/disk.img
    DIMG=$IMG
    truncate -s $((16 * MiB)) "$IMG"
    cat >"$WORK/guest.sh" <<GUEST
io=/sluice-files/guestio
dev=/dev/vda
end=\$((\$(date +%s) + $WRITE_SECONDS))
p=0
echo "guest: writing"
while [ \$(date +%s) -lt \$end ]; do
    n=\$((p + 1))
    \$io fill \$dev \$(($SEED + n)) 0 $LEN || { echo "guest: write failed in pass \$n"; exit 1; }
    p=\$n
    echo \$p > /tmp/acked
    \$io verify \$dev \$(($SEED + p)) 0 $LEN || { echo "guest: read back wrong in pass \$p"; exit 1; }
    echo "guest: pass \$p at \$(cut -d" " -f1 /proc/uptime)"
done
\$io flush \$dev || exit 1
echo 3 > /proc/sys/vm/drop_caches
\$io verify \$dev \$(($SEED + \$(cat /tmp/acked))) 0 $LEN || { echo "guest: final verify failed"; exit 1; }
echo "guest: last pass \$p verified"
GUEST
    "$GUEST" test-initrd "$WORK/guest.sh" "$WORK/initrd.img" "$GUESTIO" >/dev/null
    A_ARGS=()
    # blk-local: the source sluiced listens for NBD too, for the way back.
    [ "$MODE" = blk-local ] && A_ARGS=(--nbd-listen 127.0.0.1:0)
    start_sluiced --control "$WORK/ctl-a.sock" "${A_ARGS[@]}" --blk "socket=$WORK/a.sock,path=$IMG,queues=$Q,id=src"
    SLUICED_A=$SLUICED_PID
    CLEANUP_CMDS+=("kill -KILL $SLUICED_A 2>/dev/null")
    DST_ARGS=()
    if [ "$MODE" = blk-local ]; then
        # The destination sluiced serves another file of the same size,
        # incoming: the source mirrors into it over NBD on loopback TCP.
        PORT_A=$(grep -o "(port [0-9]*)" "$WORK/sluiced.log" | tail -1 | tr -dc 0-9)
        DIMG=$WORK/dst.img
        truncate -s $((16 * MiB)) "$DIMG"
        start_sluiced --control "$WORK/ctl-b.sock" --nbd-listen 127.0.0.1:0 \
            --blk "socket=$WORK/b.sock,path=$DIMG,queues=$Q,incoming,id=dst"
        PORT=$(grep -o "(port [0-9]*)" "$WORK/sluiced.log" | tail -1 | tr -dc 0-9)
        [ -n "$PORT" ] || fail "no NBD port in the log"
        # -S: the destination stays paused after the migration (as libvirt
        # starts it), so the host can compare both copies at the switch-over.
        DST_ARGS=(-S)
    else
        start_sluiced --control "$WORK/ctl-b.sock" --blk "socket=$WORK/b.sock,path=$IMG,queues=$Q,id=dst"
    fi
    blkdev() { echo -chardev socket,id=vblk0,path="$1" -device vhost-user-blk-pci,chardev=vblk0,num-queues=$Q; }
    start_qemu src $(blkdev "$WORK/a.sock")
    SRC_QEMU=$QPID
    start_qemu dst $(blkdev "$WORK/b.sock") -incoming "unix:$MIG" "${DST_ARGS[@]}"
    DST_QEMU=$QPID
    if [ "$MODE" = blk-local ]; then
        # 5 passes before the mirror give the guest's pace without it.
        wait_console src "guest: pass 6 " 120
        sluice_a() { SLUICE_CONTROL=$WORK/ctl-a.sock "$SLUICE_BUILD/tools/sluice/sluice" "$@"; }
        sluice_b() { SLUICE_CONTROL=$WORK/ctl-b.sock "$SLUICE_BUILD/tools/sluice/sluice" "$@"; }
        sluice_a dev mirror src --to "nbd://127.0.0.1:$PORT/dst" --json \
            >"$WORK/mirror.json" 2>"$WORK/err" || fail "mirror failed: $(cat "$WORK/err")"
        [ "$(jq -r .phase "$WORK/mirror.json")" = synced ] || fail "mirror ended $(cat "$WORK/mirror.json")"
        ! grep -aq "guest: last pass" "$WORK/src-console.log" || fail "the guest stopped writing before the mirror synced"
        log "mirror synced while the guest writes:" \
            "$(jq -c '{bytes_copied, bytes_total, round, rate_bytes_per_s, elapsed_ms}' "$WORK/mirror.json")"
        # The passes the guest finished before the mirror synced, and before
        # the migration started: the passes between ran against both copies.
        P_SYNC=$(grep -ac "guest: pass" "$WORK/src-console.log" || true)
        sleep 2
        P_MIG=$(grep -ac "guest: pass" "$WORK/src-console.log" || true)
        [ "$(sluice_a dev mirror-status src --json | jq -r .phase)" = synced ] || fail "the mirror left synced"
    else
        wait_console src "guest: pass 2 " 120
    fi
    migrate src "unix:$MIG"
    if [ "$MODE" = blk-local ]; then
        switch_over dst "$IMG" "$DIMG"
        SWITCH_SUM=$(sha256sum <"$IMG")
    fi
    quit_qemu src "$SRC_QEMU"
    LAST=dst
    if [ "$MODE" = blk ] || [ "$MODE" = blk-mq ]; then
        # And back: a fresh QEMU on the source's sluiced takes the guest
        # over once it finished a pass on the destination.
        wait_console dst "guest: pass" 60
        start_qemu back $(blkdev "$WORK/a.sock") -incoming "unix:$WORK/mig-back.sock"
        BACK_QEMU=$QPID
        migrate dst "unix:$WORK/mig-back.sock"
        quit_qemu dst "$DST_QEMU"
        finish back "$BACK_QEMU"
        LAST=back
    elif [ "$MODE" = blk-local ]; then
        # And back the same way: the source sluiced serves a third file as
        # an incoming device, the destination mirrors into it, a fresh QEMU
        # on the source side takes the guest over.
        wait_console dst "guest: pass" 60
        BIMG=$WORK/back.img
        truncate -s $((16 * MiB)) "$BIMG"
        sluice_a dev add blk "socket=$WORK/back.sock,path=$BIMG,queues=$Q,incoming,id=back" >/dev/null ||
            fail "cannot add the incoming device on the source side"
        start_qemu back $(blkdev "$WORK/back.sock") -incoming "unix:$WORK/mig-back.sock" -S
        BACK_QEMU=$QPID
        sluice_b dev mirror dst --to "nbd://127.0.0.1:$PORT_A/back" --json \
            >"$WORK/mirror-back.json" 2>"$WORK/err" || fail "mirror back failed: $(cat "$WORK/err")"
        [ "$(jq -r .phase "$WORK/mirror-back.json")" = synced ] || fail "mirror back ended $(cat "$WORK/mirror-back.json")"
        ! grep -aq "guest: last pass" "$WORK/dst-console.log" || fail "the guest stopped writing before the mirror back synced"
        log "mirror back synced while the guest writes:" \
            "$(jq -c '{bytes_copied, bytes_total, round, rate_bytes_per_s, elapsed_ms}' "$WORK/mirror-back.json")"
        migrate dst "unix:$WORK/mig-back.sock"
        switch_over back "$DIMG" "$BIMG"
        BACK_SUM=$(sha256sum <"$DIMG")
        quit_qemu dst "$DST_QEMU"
        finish back "$BACK_QEMU"
        LAST=back
        DIMG_FINAL=$BIMG
    else
        finish dst "$DST_QEMU"
    fi
    grep -aq "guest: pass" "$WORK/$LAST-console.log" || fail "no write pass finished in $LAST"
    last=$(tr -d '\r' <"$WORK/$LAST-console.log" | sed -n 's/^guest: last pass \([0-9]*\) verified$/\1/p')
    [ -n "$last" ] || fail "no final pass reported"
    log "guest: passes on the source $(grep -ac 'guest: pass' "$WORK/src-console.log")," \
        "on the destination $(grep -ac 'guest: pass' "$WORK/dst-console.log")," \
        "${BACK_QEMU:+back on the source $(grep -ac 'guest: pass' "$WORK/back-console.log"), }last $last verified"
    if [ "$MODE" = blk-local ]; then
        log "guest pass ($((LEN / MiB)) MiB written and read back): $(pass_ms src 1 6) ms before" \
            "the mirror, $(pass_ms src "$P_SYNC" "$P_MIG") ms while it was synchronous," \
            "$(pass_ms back "$(( $(grep -a "guest: pass" "$WORK/back-console.log" | head -1 | awk '{print $3}') + 10 ))" "$last")" \
            "ms after both moves"
        # The destination's export ended when its guest started there: the
        # source's mirror saw it and completed on its own.
        log "mirror at the end: $(sluice_a dev mirror-status src --json |
            jq -c '{phase, bytes_copied, round, elapsed_ms}')"
        [ "$(sluice_a dev mirror-status src --json | jq -r .phase)" = completed ] ||
            fail "the source's mirror did not complete at the switch-over"
        sluice_a dev remove src >/dev/null || fail "removing the source device"
        sluice_b dev remove dst >/dev/null || fail "removing the destination device"
        [ "$(sha256sum <"$IMG")" = "$SWITCH_SUM" ] || fail "the source file changed after the switch-over"
        [ "$(sha256sum <"$DIMG")" = "$BACK_SUM" ] || fail "the destination file changed after the switch-over back"
        DIMG=$DIMG_FINAL
    fi
    kill -TERM "$SLUICED_A"; wait "$SLUICED_A" || fail "source sluiced exited with an error"
    stop_sluiced "$WORK/b.sock"
    "$GUESTIO" verify "$DIMG" $((SEED + last)) 0 $LEN || fail "backing: pass $last not in $DIMG"
    grep -q "guest error\|needs reset" "$WORK/sluiced.log" && fail "$(grep "guest error\|needs reset" "$WORK/sluiced.log" | head -3)"
    ;;
net)
    need_cmd ip
    ip netns list >/dev/null 2>&1 || skip "no network namespace support"
    NS_H=slmh-$$
    NET=10.215.$((RANDOM % 200)).
    MAC=52:54:00:5e:00:07
    CLEANUP_CMDS+=("ip netns del $NS_H 2>/dev/null")
    ip netns add "$NS_H"
    inh() { ip netns exec "$NS_H" "$@"; }
    inh ip link set lo up
    inh ip link add br0 type bridge
    inh ip addr add "${NET}1/24" dev br0
    inh ip link set br0 up
    # The host side streams 12 MiB to the guest at about 1 MiB/s, so the
    # stream runs across the migration.
    head -c $((12 * MiB)) /dev/urandom >"$WORK/to-guest.bin"
    SUM=$(sha256sum <"$WORK/to-guest.bin" | cut -d' ' -f1)
    cat >"$WORK/peer.py" <<'PY'
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5002)); s.listen(1); s.settimeout(200)
c, _ = s.accept(); data = open(sys.argv[2], "rb").read()
for i in range(0, len(data), 65536):
    c.sendall(data[i:i + 65536]); time.sleep(0.06)
c.close()
PY
    cat >"$WORK/guest.sh" <<GUEST
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
i=0
until ping -c 1 -W 1 ${NET}1 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -lt 20 ] || exit 1; done
ping -c 60 -i 0.5 -W 1 ${NET}1 > /tmp/ping.txt 2>&1 &
echo "guest: streaming"
nc ${NET}1 5002 > /tmp/in.bin
echo "guest: received \$(sha256sum < /tmp/in.bin | cut -d' ' -f1) \$(wc -c < /tmp/in.bin)"
wait
echo "guest: ping \$(grep -o '[0-9]* packets received' /tmp/ping.txt)"
GUEST
    "$GUEST" test-initrd "$WORK/guest.sh" "$WORK/initrd.img" >/dev/null
    nsenter --net=/run/netns/"$NS_H" "$SLUICED" --control "$WORK/ctl-a.sock" \
        --net "socket=$WORK/a.sock,bridge=br0,id=msrc,mac=$MAC" >>"$WORK/sluiced.log" 2>&1 &
    SLUICED_A=$!
    CLEANUP_CMDS+=("kill -KILL $SLUICED_A 2>/dev/null")
    nsenter --net=/run/netns/"$NS_H" "$SLUICED" --control "$WORK/ctl-b.sock" \
        --net "socket=$WORK/b.sock,bridge=br0,id=mdst,mac=$MAC" >>"$WORK/sluiced.log" 2>&1 &
    SLUICED_PID=$!
    for i in $(seq 100); do [ "$(grep -c "ready:" "$WORK/sluiced.log")" = 2 ] && break; sleep 0.05; done
    [ "$(grep -c "ready:" "$WORK/sluiced.log")" = 2 ] || fail "sluiced did not start: $(tail -3 "$WORK/sluiced.log")"
    inh python3 "$WORK/peer.py" "${NET}1" "$WORK/to-guest.bin" &
    PEER=$!
    CLEANUP_CMDS+=("kill $PEER 2>/dev/null")
    netdev() {
        echo -chardev socket,id=net0,path="$1" -netdev vhost-user,id=n0,chardev=net0 \
             -device virtio-net-pci,netdev=n0,mac=$MAC,vectors=0
    }
    start_qemu src $(netdev "$WORK/a.sock")
    SRC_QEMU=$QPID
    start_qemu dst $(netdev "$WORK/b.sock") -incoming "unix:$MIG"
    DST_QEMU=$QPID
    wait_console src "guest: streaming" 120
    sleep 2
    migrate src "unix:$MIG"
    quit_qemu src "$SRC_QEMU"
    finish dst "$DST_QEMU"
    wait $PEER || fail "the TCP peer failed"
    got=$(tr -d '\r' <"$WORK/dst-console.log" | sed -n 's/^guest: received \([0-9a-f]*\) \([0-9]*\)$/\1 \2/p')
    [ "$got" = "$SUM $((12 * MiB))" ] || fail "TCP stream differs: got '$got', want '$SUM $((12 * MiB))'"
    recv=$(tr -d '\r' <"$WORK/dst-console.log" | sed -n 's/^guest: ping \([0-9]*\) packets received$/\1/p')
    [ -n "$recv" ] && [ "$recv" -ge 55 ] || fail "pings lost across the migration: $recv of 60 answered"
    log "12 MiB TCP stream across the migration, checksum matches; $recv of 60 pings answered"
    kill -TERM "$SLUICED_A"; wait "$SLUICED_A" || fail "source sluiced exited with an error"
    kill -TERM "$SLUICED_PID"; wait "$SLUICED_PID" || fail "destination sluiced exited with an error"
    SLUICED_PID=
    ;;
*)
    fail "unknown mode $MODE"
    ;;
esac
log PASS
