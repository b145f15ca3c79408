# SPDX-License-Identifier: Apache-2.0
# A private one-node Ceph cluster for tests (sourced, bash). No systemd, no
# /etc/ceph, no /var/lib/ceph: everything lives in the folder given to
# ceph_start, and every daemon started here is killed by ceph_stop.
#
#   ceph_start DIR   one monitor on 127.0.0.1 (a free port, msgr2 only), one
#                    OSD on memstore (its objects live in its RAM; no disk),
#                    cephx on with a generated client.admin keyring, pool
#                    size 1, pool deletion allowed, small memory settings.
#                    Waits until the OSD is up and in and the cluster is
#                    HEALTH_OK or HEALTH_WARN, then creates pool $CEPH_POOL
#                    (default "rbd") and runs `rbd pool init` on it.
#                    Exports CEPH_CONF (the cluster's ceph.conf: the `ceph`
#                    and `rbd` commands and librados read it) and
#                    CEPH_KEYRING (the client.admin keyring, also named in
#                    ceph.conf's [client] section). Returns non-zero (after
#                    printing the daemons' log tails) when the cluster does
#                    not come up within $CEPH_START_TIMEOUT seconds (60).
#                    Exits 77 (skip) when Ceph's packages are missing.
#   ceph_stop        kills every daemon ceph_start started (SIGKILL: the
#                    cluster is thrown away); idempotent, safe in an EXIT trap and
#                    after a ceph_start that failed half-way. ceph_start
#                    registers it in the integration tests' CLEANUP_CMDS
#                    (tests/integration/lib.sh) when that array exists, else
#                    chains it in front of the current EXIT trap.
#
# No manager (ceph-mgr) is started: the tests need none (the monitor creates
# the PGs, `rbd` computes du on the client), so the cluster reports
# HEALTH_WARN "no active mgr", which ceph_start accepts.

# Debian 12's librbd 16.2 has a use-after-free race: one librados callback
# thread re-locks an image's ImageState mutex (complete_action_unlock) after
# waking a synchronous caller, whose rbd_close may meanwhile have freed the
# image through the other thread. With meson's random MALLOC_PERTURB_ the
# freed mutex is garbage and a client aborts at random (tpp.c assertion or
# std::system_error; 5 in 58 CLI commands under load), without it the stale
# lock goes unnoticed (0 in 140). One callback thread avoids the race but
# deadlocks rbd_snap_unprotect. Every librbd client has it (QEMU's rbd
# driver and the rbd command too), so the tests that use librbd run without
# MALLOC_PERTURB_; our own code keeps it in every other test, and ASan.
unset MALLOC_PERTURB_

CEPH_DAEMON_PIDS=()
CEPH_DIR=
CEPH_POOL=${CEPH_POOL:-rbd}

ceph_have() {
    local c
    for c in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
}

ceph_stop() {
    local pid
    [ ${#CEPH_DAEMON_PIDS[@]} -gt 0 ] || return 0
    # SIGKILL at once: the store is memory and the cluster thrown away
    # (the OSD takes seconds to stop on SIGTERM).
    for pid in "${CEPH_DAEMON_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${CEPH_DAEMON_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    CEPH_DAEMON_PIDS=()
}

# A TCP port on 127.0.0.1 that nobody listens on right now.
ceph_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ceph_logs() {
    local f
    for f in "$CEPH_DIR"/log/*.log "$CEPH_DIR"/*.out; do
        [ -f "$f" ] || continue
        echo "----- ceph: $(basename "$f") (last 20 lines)" >&2
        tail -n 20 "$f" >&2
    done
}

# ceph_run NAME CMD...: start a daemon in the foreground of a background job
# (its pid is recorded before anything can fail). Daemons never see
# CEPH_KEYRING: Ceph honours it over the keyring of their own section.
ceph_run() {
    local name=$1
    shift
    env -u CEPH_KEYRING "$@" >"$CEPH_DIR/$name.out" 2>&1 &
    CEPH_DAEMON_PIDS+=($!)
}

ceph_start() {
    local dir=$1 port fsid osd_uuid osd_id deadline t0 st
    if ! ceph_have; then
        echo "ceph: packages missing (ceph-mon ceph-osd ceph-common)" >&2
        exit 77
    fi
    t0=$(date +%s.%N)
    mkdir -p "$dir"
    CEPH_DIR=$(cd "$dir" && pwd)
    # A test stopped by a signal (meson's timeout) still runs its EXIT trap.
    [ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
    [ -n "$(trap -p INT)" ] || trap 'exit 130' INT
    if declare -p CLEANUP_CMDS >/dev/null 2>&1; then
        CLEANUP_CMDS+=("ceph_stop")
    else
        # shellcheck disable=SC2064
        trap "ceph_stop; $(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\\1/")" EXIT
    fi
    mkdir -p "$CEPH_DIR"/{mon,osd,log,run}
    port=$(ceph_free_port)
    fsid=$(cat /proc/sys/kernel/random/uuid)
    export CEPH_CONF=$CEPH_DIR/ceph.conf
    export CEPH_KEYRING=$CEPH_DIR/admin.keyring
    cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $CEPH_DIR/run
crash dir = $CEPH_DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
auth allow insecure global id reclaim = false
ms async op threads = 1
rbd default features = layering, exclusive-lock, object-map, fast-diff, deep-flatten
[mon]
mon data = $CEPH_DIR/mon
keyring = $CEPH_DIR/mon.keyring
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
mon data avail warn = 1
mon data avail crit = 0
[osd]
osd data = $CEPH_DIR/osd
keyring = $CEPH_DIR/osd/keyring
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
osd objectstore = memstore
memstore device bytes = 1073741824
osd memory target = 268435456
osd memory cache min = 67108864
osd op num shards = 1
osd op num threads per shard = 1
osd max object name len = 460
osd max object namespace len = 64
[client]
keyring = $CEPH_KEYRING
log file = /dev/null
EOF
    ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$CEPH_KEYRING" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_KEYRING" >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" \
        "$CEPH_DIR/monmap" >/dev/null
    env -u CEPH_KEYRING ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
        --keyring "$CEPH_DIR/mon.keyring" >"$CEPH_DIR/mon-mkfs.out" 2>&1 ||
        { ceph_logs; return 1; }
    ceph_run mon.a ceph-mon -c "$CEPH_CONF" -f -i a

    # The OSD: registered with the monitor, then its store made and keyed.
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    osd_id=$(timeout 30 ceph --connect-timeout 20 osd new "$osd_uuid") ||
        { ceph_logs; return 1; }
    env -u CEPH_KEYRING ceph-osd -c "$CEPH_CONF" -i "$osd_id" --no-mon-config --mkfs --mkkey --osd-uuid "$osd_uuid" \
        >"$CEPH_DIR/osd-mkfs.out" 2>&1 || { ceph_logs; return 1; }
    timeout 30 ceph auth add "osd.$osd_id" osd 'allow *' mon 'allow profile osd' \
        mgr 'allow profile osd' -i "$CEPH_DIR/osd/keyring" >/dev/null 2>&1 ||
        { ceph_logs; return 1; }
    ceph_run "osd.$osd_id" ceph-osd -c "$CEPH_CONF" -f -i "$osd_id"

    deadline=$(($(date +%s) + ${CEPH_START_TIMEOUT:-60}))
    until [ "$(ceph osd dump -f json 2>/dev/null |
               jq -r '[.osds[] | select(.up == 1 and .in == 1)] | length')" = 1 ]; do
        [ "$(date +%s)" -lt "$deadline" ] || {
            echo "ceph: the OSD did not come up" >&2; ceph_logs; return 1; }
        sleep 0.2
    done
    timeout 30 ceph osd pool create "$CEPH_POOL" 8 8 >/dev/null 2>&1 ||
        { echo "ceph: pool create failed" >&2; ceph_logs; return 1; }
    timeout 30 rbd pool init "$CEPH_POOL" || { ceph_logs; return 1; }
    until st=$(timeout 10 ceph health 2>/dev/null) && [[ $st == HEALTH_OK* || $st == HEALTH_WARN* ]]; do
        [ "$(date +%s)" -lt "$deadline" ] || {
            echo "ceph: cluster not healthy: $st" >&2; ceph_logs; return 1; }
        sleep 0.2
    done
    CEPH_START_SECONDS=$(echo "$(date +%s.%N) - $t0" | bc)
    echo "ceph: cluster up in ${CEPH_START_SECONDS%??????} s (mon 127.0.0.1:$port, pool $CEPH_POOL)"
}
