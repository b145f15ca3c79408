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

# ovs_rundir: a private folder for Open vSwitch (and OVN) daemons, in /tmp
# because unix socket paths are short (108 bytes): sets RUN, DB (the
# ovsdb-server's unix:PATH, not started yet) and VSCTL (ovs-vsctl on it).
# Every daemon that leaves a pid file in $RUN is stopped on exit (stop_ovs).
ovs_rundir() {
    need_cmd ovsdb-tool
    need_cmd ovsdb-server
    need_cmd ovs-vswitchd
    need_cmd ovs-vsctl
    RUN=$(mktemp -d /tmp/sluice-ovs.XXXXXX)
    DB=unix:$RUN/db.sock
    VSCTL=(ovs-vsctl --db="$DB" --timeout=10)
    export OVS_RUNDIR=$RUN OVS_LOGDIR=$RUN OVS_DBDIR=$RUN OVS_SYSCONFDIR=$RUN
    export OVN_RUNDIR=$RUN OVN_LOGDIR=$RUN OVN_DBDIR=$RUN OVN_SYSCONFDIR=$RUN
    CLEANUP_CMDS+=("stop_ovs")
}

# stop_ovs: SIGTERM to every daemon with a pid file in $RUN, up to 2 s for
# them to go (a daemon removes its pid file as it exits), SIGKILL to those
# left, then the folder goes; the daemons' logs are kept in $WORK (shown
# when the test fails).
stop_ovs() {
    local f i pids=()
    [ -n "${RUN:-}" ] && [ -d "$RUN" ] || return 0
    for f in "$RUN"/*.pid; do
        [ -f "$f" ] && pids+=("$(cat "$f")")
    done
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    for i in $(seq 20); do
        compgen -G "$RUN/*.pid" >/dev/null || break
        sleep 0.1
    done
    for f in "$RUN"/*.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
    done
    for f in "$RUN"/*.log; do
        [ -f "$f" ] && cp "$f" "$WORK/"
    done
    rm -rf "$RUN"
}

# start_ovs NS: ovsdb-server on $DB (a fresh vswitch database) and
# ovs-vswitchd inside namespace NS, so that the ports it opens are NS's.
start_ovs() {
    ovsdb-tool create "$RUN/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$RUN/conf.db" --remote=punix:"$RUN/db.sock" --pidfile="$RUN/ovsdb-server.pid" \
        --unixctl="$RUN/ovsdb-server.ctl" --log-file="$RUN/ovsdb-server.log" --detach
    in_ns "$1" ovs-vswitchd "$DB" --pidfile="$RUN/ovs-vswitchd.pid" --unixctl="$RUN/ovs-vswitchd.ctl" \
        --log-file="$RUN/ovs-vswitchd.log" --detach
}
