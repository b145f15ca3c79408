# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the integration tests (sourced, bash).
#   SLUICE_SRC    source tree (set by meson)
#   SLUICE_BUILD  build tree  (set by meson)
# A test exits 0 pass, 1 fail, 77 skip.

set -euo pipefail

SLUICE_SRC=${SLUICE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SLUICE_BUILD=${SLUICE_BUILD:-$SLUICE_SRC/build}
# SLUICED_WRAP: run sluiced through a wrapper (valgrind, strace) when set.
SLUICED=${SLUICED_WRAP:-$SLUICE_BUILD/src/sluiced/sluiced}
GUESTIO=$SLUICE_BUILD/tests/integration/guestio
GUEST=$SLUICE_SRC/tools/guest

TEST_NAME=$(basename "$0" .sh)${TEST_MODE:+-$TEST_MODE}
# Backing files need a file system with O_DIRECT, so not /tmp if it is tmpfs:
# the work folder lives in the build tree.
WORK=$(mktemp -d "$SLUICE_BUILD/test-$TEST_NAME.XXXXXX")
SLUICED_PID=
# sluice's state (dir-pool registry, sluiced's default --state-dir) in the
# test's own folder, never the host's /var/lib/sluice.
export SLUICE_STATE_DIR=$WORK/state

log() { echo "[$TEST_NAME] $*"; }
fail() { echo "[$TEST_NAME] FAIL: $*" >&2; exit 1; }
skip() { echo "[$TEST_NAME] SKIP: $*" >&2; exit 77; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$SLUICED_PID" ] && kill -0 "$SLUICED_PID" 2>/dev/null; then
        kill -KILL "$SLUICED_PID" 2>/dev/null
        wait "$SLUICED_PID" 2>/dev/null
    fi
    for f in "${CLEANUP_CMDS[@]}"; do eval "$f"; done
    # sluiced runs under its seccomp allowlist (enforce mode): a call the
    # list lacks is logged and fails, so any such line fails the test.
    if [ $rc -eq 0 ] && grep -h "seccomp: denied" "$WORK"/*.log 2>/dev/null; then
        echo "[$TEST_NAME] FAIL: sluiced made a system call outside its seccomp allowlist" >&2
        rc=1
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $(basename "$f") (last 40 lines)"
            tail -n 40 "$f"
        done
    fi
    # A test that sets KEEP_WORK_ON_FAIL=1 leaves its work dir for a
    # post-mortem (without disk images: they can be large).
    if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "${KEEP_WORK_ON_FAIL:-0}" = 1 ]; then
        rm -f "$WORK"/*.img
        echo "[$TEST_NAME] work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
CLEANUP_CMDS=()
trap cleanup EXIT

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed"; }

# netns_pair H P: network namespaces H (the "host" side: sluiced, its tap,
# a bridge) and P (a peer), removed on exit, lo up in both, joined by a veth
# (vp in H, eth0 in P; both up, no addresses). inh/inp run a command in H/P.
netns_pair() {
    NS_H=$1 NS_P=$2
    CLEANUP_CMDS+=("ip netns del $NS_H 2>/dev/null" "ip netns del $NS_P 2>/dev/null")
    ip netns add "$NS_H"
    ip netns add "$NS_P"
    inh ip link set lo up
    inp ip link set lo up
    inh ip link add vp type veth peer name eth0 netns "$NS_P"
    inh ip link set vp up
    inp ip link set eth0 up
}
inh() { ip netns exec "$NS_H" "$@"; }
inp() { ip netns exec "$NS_P" "$@"; }

# Build (or find cached) the guest kit; skip when it cannot be had.
need_guest_kit() {
    need_cmd qemu-system-x86_64
    local rc=0
    "$GUEST" build >/dev/null || rc=$?
    [ $rc -eq 0 ] || { [ $rc -eq 77 ] && skip "guest kit unavailable"; fail "guest kit build failed"; }
}

# start_sluiced ARGS...: run sluiced in the background, wait for its sockets.
start_sluiced() {
    local i n0
    n0=$(grep -c "ready:" "$WORK/sluiced.log" 2>/dev/null || true)
    "$SLUICED" "$@" >>"$WORK/sluiced.log" 2>&1 &
    SLUICED_PID=$!
    for i in $(seq 100); do
        local n
        n=$(grep -c "ready:" "$WORK/sluiced.log" 2>/dev/null || true)
        if [ "${n:-0}" -gt "${n0:-0}" ]; then
            # Every thread of sluiced is under the filter (mode 2), unless
            # the test turned it off or wraps sluiced in another program.
            case " $* " in *" --seccomp off "*) return 0 ;; esac
            [ -n "${SLUICED_WRAP:-}" ] && return 0
            grep -q "seccomp filter off (the default in sanitizer builds)" "$WORK/sluiced.log" && return 0
            local t
            for t in /proc/"$SLUICED_PID"/task/*; do
                grep -q "^Seccomp:[[:space:]]*2$" "$t/status" || fail "sluiced thread $t is not under the seccomp filter"
            done
            return 0
        fi
        kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced exited at start: $(tail -3 "$WORK/sluiced.log")"
        sleep 0.05
    done
    fail "sluiced did not become ready"
}

# stop_sluiced SOCKET...: SIGTERM, expect exit 0 and the sockets removed.
stop_sluiced() {
    kill -0 "$SLUICED_PID" 2>/dev/null || fail "sluiced is not running any more"
    kill -TERM "$SLUICED_PID"
    local rc=0
    wait "$SLUICED_PID" || rc=$?
    SLUICED_PID=
    [ $rc -eq 0 ] || fail "sluiced exited with $rc on SIGTERM"
    local s
    for s in "$@"; do
        [ ! -e "$s" ] || fail "socket $s left behind"
    done
    grep -q "stopped" "$WORK/sluiced.log" || fail "no clean-stop message"
}

# run_guest SCRIPT LOG [QEMU-ARGS...]: boot the guest kit with SCRIPT and
# guestio, QEMU as the vhost-user frontend; returns the script's status.
run_guest() {
    local script=$1 logf=$2
    shift 2
    "$GUEST" run --memfd --mem 512M --cpus 2 --timeout "${GUEST_TIMEOUT:-300}" --log "$logf" \
        "$script" "$GUESTIO" -- "$@"
}

# wait_guest_line PATTERN LOG PID SECONDS: wait until the console log LOG
# of a guest run in the background (its runner's PID) has a line matching
# PATTERN (grep); 1 when it does not within SECONDS, or the guest ended
# (the runner exited, the guest reported its status or panicked) without it.
wait_guest_line() {
    local i
    for i in $(seq $(($4 * 10))); do
        grep -aq "$1" "$2" 2>/dev/null && return 0
        grep -aq "SLUICE-EXIT=\|Kernel panic" "$2" 2>/dev/null && break
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    grep -aq "$1" "$2" 2>/dev/null
}

# Guest script prelude (printed into the script): every virtio device of type
# $1 negotiated VIRTIO_F_RING_PACKED (bit 34: the sysfs features string has
# one character per bit).
guest_packed_check() {
    cat <<GUEST
found=
for d in /sys/bus/virtio/devices/*; do
    [ "\$(cat \$d/device)" = $1 ] || continue
    f=\$(cat \$d/features)
    echo "guest: \$d features \$f"
    [ "\$(echo "\$f" | cut -c35)" = 1 ] || { echo "guest: ring not packed"; exit 1; }
    found=1
done
[ -n "\$found" ] || { echo "guest: no virtio device of type $1"; exit 1; }
GUEST
}
