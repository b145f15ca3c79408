#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The exit-code table of the README, walked row by row: every program exits
# 0 on success, 1 when a well-formed request fails (a file, volume, group,
# bridge or socket that is missing, busy or refused), 2 on a usage error (an
# unknown option, a missing or malformed value, an invalid name or size, a
# spec with unknown or conflicting keys). Each row: expected status, a piece
# of the one-line error on stderr, the command. A second sluiced on the
# sockets of a running one is refused and leaves them working.
. "$(dirname "$0")/lib.sh"

need_root
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
VMM=$SLUICE_BUILD/src/sluice-vmm/sluice-vmm
export SLUICE_STATE_DIR=$WORK/state SLUICE_CONTROL=$WORK/none.sock
cd "$WORK"
truncate -s 1M img
touch regular
K=$WORK/img    # an existing file that is not a kernel
LONG=$(printf 'n%.0s' $(seq 24))
LONGSOCK=$WORK/$(printf 's%.0s' $(seq 120)).sock
TAP=ec$$
TAP=${TAP:0:9}

# Rows marked "cli" are fixed on the CLI branches (another engineer's work,
# merged separately); until then they are reported, not failed: XFAIL.
ROWS=$(cat <<EOF
2|nothing to serve|sluiced
2|unrecognized option|sluiced --bogus
2|requires an argument|sluiced --workers
2|--workers|sluiced --workers 0 --control c.sock
2|--workers|sluiced --workers x --control c.sock
2|--seccomp|sluiced --seccomp maybe --control c.sock
2|abstract sockets|sluiced --control ''
2|too long|sluiced --control $LONGSOCK
2|unexpected argument|sluiced --control c.sock extra
2|--control-group goes with --control|sluiced --control-group root --blk socket=s.sock,null=1G
1|no such group|sluiced --group no-such-group-x --control c.sock
1|no such group|sluiced --control-group no-such-group-x --control c.sock
2|socket=PATH is required|sluiced --blk path=img
2|socket=PATH is required|sluiced --blk socket=,path=img
2|too long|sluiced --blk socket=$LONGSOCK,path=img
2|option given twice|sluiced --blk socket=s.sock,path=img,path=img
2|empty option name|sluiced --blk socket=s.sock,=x
2|null=SIZE|sluiced --blk socket=s.sock
2|null=SIZE|sluiced --blk socket=s.sock,path=
2|unknown option 'bogus'|sluiced --blk socket=s.sock,null=1G,bogus=1
2|null=SIZE needs a size|sluiced --blk socket=s.sock,null=3
2|null=SIZE needs a size|sluiced --blk socket=s.sock,null=lots
2|queues must be|sluiced --blk socket=s.sock,null=1G,queues=0
2|readonly takes|sluiced --blk socket=s.sock,null=1G,readonly=maybe
2|give one of|sluiced --blk socket=s.sock,path=img,null=1G
2|serial is at most 20|sluiced --blk socket=s.sock,null=1G,serial=123456789012345678901
2|serial is at most 20|sluiced --blk socket=s.sock,path=img,serial=123456789012345678901
2|serial is at most 20|sluiced --blk socket=s.sock,volume=tp/v,serial=123456789012345678901
2|id must be|sluiced --blk socket=s.sock,null=1G,id=a/b
2|the socket of two devices|sluiced --blk socket=s.sock,null=1G --blk socket=s.sock,path=img
2|the id of two devices|sluiced --blk socket=s.sock,null=1G,id=d --blk socket=t.sock,null=1G,id=d
2|also the control socket|sluiced --control c.sock --blk socket=c.sock,null=1G
2|give bridge=BR|sluiced --net socket=s.sock
2|give one of|sluiced --net socket=s.sock,bridge=a,ovs=b
2|tap name must be|sluiced --net socket=s.sock,tap=$LONG
2|mac must look like|sluiced --net socket=s.sock,tap=x,mac=zz
2|mac must look like|sluiced --net socket=s.sock,tap=x,mac=52:54:00:12:34:5
2|mac is a multicast address|sluiced --net socket=s.sock,tap=x,mac=01:00:5e:00:00:01
2|mac is all zeroes|sluiced --net socket=s.sock,tap=x,mac=00:00:00:00:00:00
2|mtu must be|sluiced --net socket=s.sock,tap=x,mtu=10
2|db= goes with ovs=|sluiced --net socket=s.sock,tap=x,db=unix:/x
2|iface-id= goes with ovs=|sluiced --net socket=s.sock,bridge=b,iface-id=lsp
2|iface-id= must name a logical switch port|sluiced --net socket=s.sock,ovs=b,iface-id=
2|--iface-id must name a logical switch port|sluice net ovs add-port b p --iface-id a,b
2|bridge=a/b: invalid network name|sluiced --net socket=s.sock,bridge=a/b
2|hostonly=0123456789abc: network name too long|sluiced --net socket=s.sock,hostonly=0123456789abc
2|db= must be unix:PATH|sluiced --net socket=s.sock,ovs=b,db=tcp:1.2.3.4:6640
2|too long for a tap name|sluiced --net socket=s.sock,bridge=b,id=abcdefghijk
1|No such file or directory|sluiced --blk socket=s.sock,path=missing.img
1|Is a directory|sluiced --blk socket=s.sock,path=$WORK
1|volume nopool/v|sluiced --blk socket=s.sock,volume=nopool/v
1|exists and is not a socket|sluiced --blk socket=regular,null=1G
1|exists and is not a socket|sluiced --control regular
1|No such file or directory|sluiced --blk socket=$WORK/no/such/dir.sock,null=1G
1|attaching|sluiced --net socket=s.sock,bridge=nobr$$,id=$TAP
2|--kernel is required|sluice-vmm
2|requires an argument|sluice-vmm --kernel
2|a file name is required|sluice-vmm --kernel ''
2|a file name is required|sluice-vmm --kernel $K --initrd ''
2|unexpected argument|sluice-vmm --kernel $K extra
2|--cpus|sluice-vmm --kernel $K --cpus 0
2|--memory|sluice-vmm --kernel $K --memory lots
2|too little|sluice-vmm --kernel $K --memory 64M
2|socket=PATH is required|sluice-vmm --kernel $K --disk path=x
2|unknown option|sluice-vmm --kernel $K --disk socket=x,bogus=1
2|bad mac|sluice-vmm --kernel $K --net socket=x,mac=zz
2|bad mac '52:54:0:12:34:56': mac must look like|sluice-vmm --kernel $K --net socket=x,mac=52:54:0:12:34:56
2|mac is a multicast address|sluice-vmm --kernel $K --net socket=x,mac=03:00:00:00:00:01
2|--console|sluice-vmm --kernel $K --console bogus
2|--seccomp|sluice-vmm --kernel $K --seccomp maybe
1|No such file or directory|sluice-vmm --kernel $WORK/missing-bzImage
2|unknown command|sluice frobnicate
2|invalid name|sluice net bridge create a/b
2|$LONG|sluice net bridge create $LONG
2|$LONG|sluice net tap create $LONG
2|$LONG|sluice net hostonly create $LONG --addr 10.213.0.1/24
2|--path|sluice pool create p9 --type dir --path
2|--size|sluice vol create local/x --size
2|--path needs a value|sluice pool create p9 --path --type dir
2|unknown option --frob|sluice vol list --frob
2|does not apply|sluice vol rename local/a b --force
2|expected POOL/VOL FILE|sluice vol export local/a
2|invalid name|sluice vol create 'local/a b' --size 1M
2|invalid size|sluice vol create local/x --size 12X
2|too large|sluice vol resize local/x --size 2P
1|unknown pool|sluice vol info nopool/x
1|unknown pool|sluice vol list nopool
1|unknown pool|sluice pool delete nopool
EOF
)

failed=0 xfail=0 n=0
# run STATUS TEXT CMD: one row.
run_row() {
    local want=$1 text=$2 cmd=$3 pending=$4 prog rc=0 out
    prog=${cmd%% *}
    case $prog in
    sluiced) cmd="$SLUICED${cmd#sluiced}" ;;
    sluice-vmm) cmd="$VMM${cmd#sluice-vmm}" ;;
    sluice) cmd="$SLUICE${cmd#sluice}" ;;
    esac
    # A program that starts serving instead of failing is stopped (124).
    eval "timeout 10 $cmd" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    n=$((n + 1))
    out=$(grep -v '^usage:\|^ \|^$' "$WORK/err" | head -n 1 || true)
    if [ "$rc" = "$want" ] && grep -qF -- "$text" "$WORK/err"; then
        [ -z "$pending" ] || log "XPASS (drop the cli mark): $3"
        return 0
    fi
    if [ -n "$pending" ]; then
        log "XFAIL (fixed on the CLI branches): want $want, got $rc: $3 :: $out"
        xfail=$((xfail + 1))
        return 0
    fi
    echo "[$TEST_NAME] FAIL: want $want '$text', got $rc: $3 :: $out" >&2
    failed=$((failed + 1))
}

while IFS='|' read -r want text cmd; do
    [ -n "$want" ] || continue
    pending=
    case $cmd in *"  # cli") pending=1; cmd=${cmd%  # cli} ;; esac
    run_row "$want" "$text" "$cmd" "$pending"
    # Nothing may be left behind by a refused start.
    for f in s.sock t.sock c.sock; do
        [ ! -e "$f" ] || { echo "[$TEST_NAME] FAIL: $f left behind by: $cmd" >&2; failed=$((failed + 1)); rm -f "$f"; }
    done
done <<<"$ROWS"
if ip link show "sl-$TAP-0" >/dev/null 2>&1; then
    ip link del "sl-$TAP-0"
    fail "tap sl-$TAP-0 left behind"
fi

# Sockets another sluiced owns: refused (1), and the owner keeps them.
A_CTL=$WORK/a-ctl.sock A_BLK=$WORK/a-blk.sock
start_sluiced --control "$A_CTL" --blk "socket=$A_BLK,null=1G,id=adisk"
A_PID=$SLUICED_PID
ino_ctl=$(stat -c %i "$A_CTL") ino_blk=$(stat -c %i "$A_BLK")
ROWS=$(cat <<EOF
1|$A_CTL: in use by a running process|sluiced --control $A_CTL --blk socket=$A_BLK,null=1G
1|$A_CTL: in use by a running process|sluiced --control $A_CTL --blk socket=s.sock,null=1G
1|$A_BLK: in use by a running process|sluiced --control c.sock --blk socket=$A_BLK,null=1G
1|$A_BLK: in use by a running process|sluiced --blk socket=s.sock,null=1G --blk socket=$A_BLK,null=1G
EOF
)
# sluice-vmm's console socket follows the same rule; it is made after the
# kernel is read and KVM is set up, so these rows need both.
BZ=$("$GUEST" path bzimage 2>/dev/null || true)
if [ -c /dev/kvm ] && [ -f "$BZ" ]; then
    ROWS+=$'\n'"1|console socket $A_CTL: in use by a running process|sluice-vmm --kernel $BZ --console socket=$A_CTL"
    ROWS+=$'\n'"1|console socket $WORK/regular: exists and is not a socket|sluice-vmm --kernel $BZ --console socket=$WORK/regular"
else
    log "no /dev/kvm or guest kernel: sluice-vmm console rows not run"
fi
while IFS='|' read -r want text cmd; do
    run_row "$want" "$text" "$cmd" ""
    for f in s.sock t.sock c.sock; do
        [ ! -e "$f" ] || { echo "[$TEST_NAME] FAIL: $f left behind by: $cmd" >&2; failed=$((failed + 1)); rm -f "$f"; }
    done
done <<<"$ROWS"
[ "$(stat -c %i "$A_CTL")" = "$ino_ctl" ] && [ "$(stat -c %i "$A_BLK")" = "$ino_blk" ] ||
    fail "the running sluiced's socket files were replaced"
SLUICE_CONTROL=$A_CTL "$SLUICE" dev list --json | grep -q '"adisk"' ||
    fail "the running sluiced no longer answers on its control socket"
kill -0 "$A_PID" || fail "the running sluiced died"

# The same rule for device.add: a JSON-RPC error (sluice: 1), nothing
# replaced, no "serving" line for a device that is not served, and the
# refusal in sluiced's log.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
time.sleep(60)' "$WORK/other.sock" &
OTHER=$!
CLEANUP_CMDS+=("kill $OTHER")
for i in $(seq 50); do [ -S "$WORK/other.sock" ] && break; sleep 0.1; done
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$WORK/stale.sock"
ROWS=$(cat <<EOF
1|$A_CTL: the control socket|sluice dev add blk socket=$A_CTL,null=1G
1|$A_BLK: the socket of another device|sluice dev add blk socket=$A_BLK,null=1G
1|$WORK/other.sock: in use by a running process|sluice dev add blk socket=$WORK/other.sock,null=1G
1|$WORK/regular: exists and is not a socket|sluice dev add blk socket=$WORK/regular,null=1G
2|unknown option 'frob'|sluice dev add blk socket=$WORK/new1.sock,null=1G,frob=1
2|queues must be|sluice dev add blk socket=$WORK/new2.sock,null=1G,queues=0
1|/nonexistent/disk.raw|sluice dev add blk socket=$WORK/new3.sock,path=/nonexistent/disk.raw
EOF
)
while IFS='|' read -r want text cmd; do
    SLUICE_CONTROL=$A_CTL run_row "$want" "$text" "$cmd" ""
done <<<"$ROWS"
[ -S "$WORK/other.sock" ] && [ -f "$WORK/regular" ] || fail "device.add replaced a path it was refused"
kill $OTHER
if grep -E "serving .* on ($WORK/other.sock|$WORK/regular|$A_CTL)" "$WORK/sluiced.log"; then
    fail "sluiced logged serving a device it does not serve"
fi
for p in other.sock regular; do
    grep -q "device.add .*$WORK/$p.*: $WORK/$p: " "$WORK/sluiced.log" || fail "no log line for the refused $p"
done
# A stale socket file is replaced.
SLUICE_CONTROL=$A_CTL "$SLUICE" dev add blk "socket=$WORK/stale.sock,null=1G,id=stale" >/dev/null ||
    fail "a stale socket file was not replaced"
grep -q "stale: serving null on $WORK/stale.sock" "$WORK/sluiced.log" || fail "no serving line for the stale socket"
SLUICE_CONTROL=$A_CTL "$SLUICE" dev remove stale

# A socket file removed by hand and taken by a second sluiced stays the
# second one's when the first one stops.
rm "$A_CTL"
"$SLUICED" --control "$A_CTL" >"$WORK/b.log" 2>&1 &
B_PID=$!
CLEANUP_CMDS+=("kill -KILL $B_PID 2>/dev/null")
for i in $(seq 100); do grep -q "ready:" "$WORK/b.log" && break; sleep 0.05; done
grep -q "ready:" "$WORK/b.log" || fail "the second sluiced did not start: $(cat "$WORK/b.log")"
stop_sluiced "$A_BLK"
[ -S "$A_CTL" ] || fail "the first sluiced removed the second one's control socket on its way out"
[ "$(SLUICE_CONTROL=$A_CTL "$SLUICE" dev list --json | tr -d ' \n')" = "[]" ] ||
    fail "the second sluiced does not answer on its control socket"
kill -TERM "$B_PID"
wait "$B_PID" || fail "the second sluiced exited with $? on SIGTERM"
[ ! -e "$A_CTL" ] || fail "the second sluiced left its control socket behind"

log "$n rows: $((n - failed - xfail)) pass, $xfail XFAIL (cli), $failed FAIL"
[ $failed = 0 ] || exit 1
