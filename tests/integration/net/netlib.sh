# SPDX-License-Identifier: Apache-2.0
# Helpers of the networking integration tests (sourced after ../lib.sh).
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
[ -x "$SLUICE" ] || fail "sluice CLI not built"
need_root
need_cmd ip
need_cmd bridge
need_cmd python3
[ -e /dev/net/tun ] || skip "no /dev/net/tun"
if command -v ping >/dev/null 2>&1; then PING=(ping); else need_cmd busybox; PING=(busybox ping); fi

# new_ns NAME: a namespace removed on exit (with every link inside it).
new_ns() {
    ip netns add "$1" || skip "cannot create network namespaces"
    CLEANUP_CMDS+=("ip netns del $1 2>/dev/null")
    ip -n "$1" link set lo up
}

# in_ns NS CMD...: run a command inside NS.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# jcheck EXPR: read JSON on stdin as d; fail unless the Python expression holds.
jcheck() {
    local json
    json=$(cat)
    python3 -c 'import json,sys
d = json.loads(sys.argv[2])
ok = eval(sys.argv[1])
sys.exit(0 if ok else 1)' "$1" "$json" || fail "JSON check failed: $1 on: $json"
}

# expect_fail STATUS PATTERN CMD...: CMD must exit with STATUS and print a
# stderr line matching the extended regex PATTERN.
expect_fail() {
    local want=$1 pat=$2 rc=0
    shift 2
    "$@" 2>"$WORK/stderr" >/dev/null || rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want (stderr: $(cat "$WORK/stderr"))"
    grep -Eq "$pat" "$WORK/stderr" || fail "'$*': stderr '$(cat "$WORK/stderr")' does not match '$pat'"
    log "ok: '$*' -> $rc: $(head -1 "$WORK/stderr")"
}

# say TEXT CMD...: CMD succeeds and prints exactly the line TEXT.
say() {
    local want=$1 out
    shift
    out=$("$@") || fail "'$*' failed"
    [ "$out" = "$want" ] || fail "'$*' printed '$out', expected '$want'"
    log "ok: '$*' -> $out"
}

# can_ping NS ADDR: one echo, 1 s timeout.
can_ping() { in_ns "$1" "${PING[@]}" -c 1 -W 1 "$2" >/dev/null 2>&1; }

# wait_ping NS ADDR: up to 30 s (OVS applies changes asynchronously, and
# a loaded CI machine may take its time); returns as soon as one echo works.
wait_ping() {
    local end=$((SECONDS + 30))
    while [ $SECONDS -lt $end ]; do
        can_ping "$1" "$2" && return 0
        sleep 0.5
    done
    return 1
}
