#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rbd pools (issue 16): a private one-node Ceph cluster (tests/cephlib.sh);
# the pool and volume lifecycle through the CLI (librbd), each result
# checked with the `rbd` command: create, info/list, snapshot, clone (of a
# snapshot and of a volume), rename, resize, import/export (a file and a
# pipe) compared with cmp, delete, a second "host" (another state dir)
# adopting the pool, pool delete. Hostile input gets one line on stderr and
# leaves `rbd ls` (and sizes) unchanged: an unknown Ceph pool, an
# unreachable cluster (fails after its timeout, no hang), bad names, a
# Ceph pool already holding another sluice pool, a taken name, a shrink
# without --force, a snapshot of a snapshot, deleting a volume that has
# clones or a snapshot or that a client has open.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../cephlib.sh"

need_cmd jq
SLUICE=$SLUICE_BUILD/tools/sluice/sluice
T0=$(date +%s.%N)

ceph_start "$WORK/ceph"

# sl ARGS...: a sluice command that may change the images.
# refuse EXIT ARGS...: the CLI fails with exit EXIT and exactly one line
# on stderr, and `rbd ls` is what it was (known from the previous refuse
# when no sl ran since: a cluster call less per refusal).
RBD_LS=none
sl() { RBD_LS=none; "$SLUICE" "$@"; }
refuse() {
    local want=$1 rc=0 before=$RBD_LS after
    shift
    [ "$before" != none ] || before=$(rbd ls | sort | tr '\n' ' ')
    "$SLUICE" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    after=$(rbd ls | sort | tr '\n' ' ')
    RBD_LS=$after
    [ "$rc" = "$want" ] || fail "sluice $*: exit $rc, expected $want: $(cat "$WORK/err")"
    [ "$(wc -l <"$WORK/err")" = 1 ] || fail "sluice $*: expected one line, got: $(cat "$WORK/err")"
    [ "$before" = "$after" ] || fail "sluice $*: rbd ls changed: '$before' -> '$after'"
    log "refused: sluice $* -> $(cat "$WORK/err")"
}
rbd_json() { rbd info --format json "rbd/$1"; }
# The Ceph pool's metadata key sluice.pool (RBD keeps pool metadata in the
# omap of its rbd_info object, as metadata_KEY; the rbd command has no verb
# for it).
meta() {
    rados -p rbd listomapkeys rbd_info 2>/dev/null | grep -qx metadata_sluice.pool || return 0
    rados -p rbd getomapval rbd_info metadata_sluice.pool "$WORK/meta" >/dev/null 2>&1 && tr -d '\0' <"$WORK/meta"
}

# --- hostile pool creation: nothing recorded anywhere ---------------------
refuse 1 pool create rp --type rbd --ceph-pool nope
refuse 2 pool create rp --type rbd --ceph-pool 'a/b'
refuse 2 pool create rp --type rbd --ceph-pool rbd --ceph-id 'client.x y'
refuse 2 pool create rp --type rbd
refuse 2 pool create rp --type rbd --ceph-pool rbd --path /tmp
refuse 1 pool create rp --type rbd --ceph-pool rbd --ceph-conf "$WORK/no-such.conf"
refuse 1 pool create rp --type rbd --ceph-pool rbd --ceph-id nobody     # no key
grep -q "cannot log in to the Ceph cluster" "$WORK/err" || fail "unknown user: $(cat "$WORK/err")"
# A cluster that does not answer: a monitor address nobody listens on.
sed -e "s/^mon host = .*/mon host = [v2:127.0.0.1:$(ceph_free_port)]/" \
    -e 's/^\[global\]/[global]\nclient mount timeout = 1/' "$CEPH_CONF" >"$WORK/dead.conf"
t=$(date +%s)
refuse 1 pool create rp --type rbd --ceph-pool rbd --ceph-conf "$WORK/dead.conf"
[ $(($(date +%s) - t)) -lt 15 ] || fail "an unreachable cluster took $(($(date +%s) - t)) s"
grep -q "cannot reach the Ceph cluster" "$WORK/err" || fail "unreachable: $(cat "$WORK/err")"
[ -z "$("$SLUICE" pool list --json | jq -r '.[].name')" ] || fail "a refused pool was recorded"
[ -z "$(meta)" ] || fail "a refused pool left its key"

# --- the pool -------------------------------------------------------------
sl pool create rp --type rbd --ceph-pool rbd --ceph-conf "$CEPH_CONF"
[ "$(meta)" = rp ] || fail "no sluice.pool key in the Ceph pool"
"$SLUICE" pool info rp --json | jq -e '.type == "rbd" and .location == "rbd:rbd"' >/dev/null ||
    fail "pool info: $("$SLUICE" pool info rp --json)"
refuse 1 pool create other --type rbd --ceph-pool rbd       # holds rp already
refuse 1 pool create rp --type dir --path "$WORK/d"         # name taken

# --- volumes --------------------------------------------------------------
sl vol create rp/a --size 64M
[ "$(rbd_json a | jq .size)" = $((64 << 20)) ] || fail "rbd info a: $(rbd_json a)"
refuse 1 vol create rp/a --size 1M                          # name taken
refuse 2 vol create rp/a.b/c --size 1M
sl vol resize rp/a --size 96M
[ "$(rbd_json a | jq .size)" = $((96 << 20)) ] || fail "resize: $(rbd_json a)"
refuse 1 vol resize rp/a --size 32M                         # shrink without --force
[ "$(rbd_json a | jq .size)" = $((96 << 20)) ] || fail "a refused shrink changed the size"
sl vol resize rp/a --size 80M --force
[ "$(rbd_json a | jq .size)" = $((80 << 20)) ] || fail "shrink --force: $(rbd_json a)"

# import a file with data and holes; export it back; used_bytes as rbd du
head -c 3M /dev/urandom >"$WORK/in.raw"
truncate -s 9M "$WORK/in.raw"
head -c 1M /dev/urandom >>"$WORK/in.raw"
sl vol import rp/img "$WORK/in.raw"
[ "$(rbd_json img | jq .size)" = $((10 << 20)) ] || fail "import size: $(rbd_json img)"
"$SLUICE" vol export rp/img "$WORK/out.raw"
cmp "$WORK/in.raw" "$WORK/out.raw" || fail "export differs from import"
[ "$(stat -c %b "$WORK/out.raw")" -lt $((6 << 11)) ] || fail "export is not sparse"
du_used=$(rbd du --format json rbd/img | jq '.images[] | select(.name == "img") | .used_size')
[ "$("$SLUICE" vol info rp/img --json | jq .used_bytes)" = "$du_used" ] ||
    fail "used_bytes $("$SLUICE" vol info rp/img --json | jq .used_bytes) != rbd du $du_used"
# a pipe in, a pipe out
sl vol import rp/piped - < <(cat "$WORK/in.raw")     # a pipe
[ "$(rbd_json piped | jq .size)" = $((10 << 20)) ] || fail "piped import size: $(rbd_json piped)"
"$SLUICE" vol export rp/piped - | cmp - "$WORK/in.raw" || fail "piped export differs"
refuse 1 vol import rp/x "$WORK/no-such.raw"
refuse 1 vol import rp/img "$WORK/in.raw"                   # exists, no --force
refuse 1 vol export rp/img "$WORK/out.raw"                  # exists, no --force

# snapshot and clones
sl vol snapshot rp/img s1
rbd snap ls rbd/img --format json | jq -e '[.[].name] == ["s1"]' >/dev/null ||
    fail "rbd snap ls: $(rbd snap ls rbd/img)"
"$SLUICE" vol info rp/s1 --json | jq -e '.readonly and .origin == "img"' >/dev/null ||
    fail "snapshot info: $("$SLUICE" vol info rp/s1 --json)"
refuse 1 vol snapshot rp/s1 s2                              # of a snapshot
refuse 1 vol resize rp/s1 --size 20M                        # read-only
sl vol clone rp/s1 c1
sl vol clone rp/img c2
[ "$(rbd children rbd/img@s1)" = rbd/c1 ] || fail "rbd children s1: $(rbd children rbd/img@s1)"
[ "$(rbd_json c1 | jq -r '.parent.image + "@" + .parent.snapshot')" = img@s1 ] ||
    fail "c1's parent: $(rbd_json c1)"
[ "$(rbd_json c2 | jq -r .parent.image)" = img ] || fail "c2's parent: $(rbd_json c2)"
"$SLUICE" vol info rp/c2 --json | jq -e '.origin == "img"' >/dev/null || fail "c2's origin"
"$SLUICE" vol export rp/c1 "$WORK/c1.raw"
cmp "$WORK/in.raw" "$WORK/c1.raw" || fail "the clone's data differs"
refuse 1 vol delete rp/img                                  # has clones
refuse 1 vol delete rp/s1                                   # has a clone
sl vol rename rp/c1 c1b
sl vol rename rp/s1 s1b
[ "$(rbd children rbd/img@s1b)" = rbd/c1b ] || fail "after renames: $(rbd children rbd/img@s1b)"
# a second clone named like the first, renamed, one
sl vol rename rp/c2 c2b
sl vol clone rp/img c2
[ "$(rbd_json c2 | jq -r .parent.image)" = img ] || fail "c2 again: $(rbd_json c2)"
sl vol delete rp/c2
sl vol delete rp/c2b
rbd snap ls rbd/img --all --format json | jq -e '[.[].name] == ["s1b"]' >/dev/null ||
    fail "hidden snapshots of c2 stayed: $(rbd snap ls --all rbd/img)"
sl vol delete rp/c1b
refuse 1 vol delete rp/img                                  # has snapshot s1b
sl vol delete rp/s1b
[ -z "$(rbd snap ls rbd/img)" ] || fail "snapshot left: $(rbd snap ls rbd/img)"

# in use: a client watching the image (`rbd watch` ends when its standard
# input does: a fifo held open by fd 9)
mkfifo "$WORK/watch"
rbd watch rbd/img <"$WORK/watch" >/dev/null 2>&1 &
WPID=$!
exec 9>"$WORK/watch"
CLEANUP_CMDS+=("kill $WPID 2>/dev/null")
for _ in $(seq 50); do
    [ "$(rbd status --format json rbd/img | jq '.watchers | length')" -gt 0 ] && break
    sleep 0.1
done
"$SLUICE" vol info rp/img --json | jq -e .in_use >/dev/null || fail "a watched image is not in use"
refuse 1 vol delete rp/img
refuse 1 vol rename rp/img img2
exec 9>&-
wait $WPID 2>/dev/null || true

# import --force over a larger volume: the data, zeroes where the file has
# holes, the size kept
sl vol import rp/a "$WORK/in.raw" --force
[ "$(rbd_json a | jq .size)" = $((80 << 20)) ] || fail "import --force resized: $(rbd_json a)"
"$SLUICE" vol export rp/a "$WORK/a.raw"
cmp -n $((10 << 20)) "$WORK/a.raw" "$WORK/in.raw" || fail "import --force: other data"
rm "$WORK/a.raw"

# what sluiced gets for a volume and a snapshot (storage/pool.h)
RBDSPEC=$SLUICE_BUILD/tests/integration/rbdspec
"$RBDSPEC" rp/img >"$WORK/spec"
[ "$(cat "$WORK/spec")" = "conf=$CEPH_CONF
id=
pool=rbd
image=img
snap=
target=rbd:rbd/img:conf=$CEPH_CONF" ] || fail "rbdspec rp/img: $(cat "$WORK/spec")"
sl vol snapshot rp/img snap1
"$RBDSPEC" rp/snap1 | grep -qx "snap=snap1" || fail "rbdspec rp/snap1: $("$RBDSPEC" rp/snap1)"
"$RBDSPEC" rp/snap1 | grep -qx "target=rbd:rbd/img@snap1:conf=$CEPH_CONF" ||
    fail "rbdspec rp/snap1: $("$RBDSPEC" rp/snap1)"
sl vol delete rp/snap1
"$RBDSPEC" rp/nope 2>/dev/null && fail "rbdspec of an unknown volume"

# beside a dir pool: every listing holds both
sl pool create loc --type dir --path "$WORK/loc"
sl vol create loc/v --size 1M
[ "$("$SLUICE" pool list --json | jq -r '[.[] | .name + ":" + .type] | join(" ")')" = \
  "loc:dir rp:rbd" ] || fail "pool list: $("$SLUICE" pool list --json)"
[ "$("$SLUICE" vol list --json | jq -r '[.[] | .pool + "/" + .name] | join(" ")')" = \
  "loc/v rp/a rp/img rp/piped" ] || fail "vol list: $("$SLUICE" vol list)"
refuse 1 vol export loc/v -                                 # standard output: rbd only
out=$("$RBDSPEC" loc/v 2>&1) && fail "rbdspec of a dir volume: $out"
[[ $out == *"not on an rbd pool"* ]] || fail "rbdspec of a dir volume: $out"
refuse 2 vol create rp/v --size 1Q

# a second host (its own state dir) adopts the pool, volumes and all
SLUICE_STATE_DIR=$WORK/state2 sl pool create rp --type rbd --ceph-pool rbd \
    --ceph-conf "$CEPH_CONF"
[ "$(SLUICE_STATE_DIR=$WORK/state2 "$SLUICE" vol list rp --json | jq -r '[.[].name] | join(" ")')" = \
  "a img piped" ] || fail "the second host sees: $(SLUICE_STATE_DIR=$WORK/state2 "$SLUICE" vol list rp)"

# ... and then loses the cluster (its record points at a dead monitor):
# listed as missing, with the reason, after the timeout; volumes refused
jq --arg c "$WORK/dead.conf" '.ceph_conf = $c' "$WORK/state2/rbd-pools/rp" >"$WORK/rec"
cp "$WORK/rec" "$WORK/state2/rbd-pools/rp"
SLUICE_STATE_DIR=$WORK/state2 "$SLUICE" pool list --json >"$WORK/list" 2>/dev/null
jq -e '.[0].state == "missing" and (.[0].problem | test("cannot reach the Ceph cluster"))' \
    "$WORK/list" >/dev/null || fail "an unreachable pool in pool list: $(cat "$WORK/list")"
SLUICE_STATE_DIR=$WORK/state2 refuse 1 vol info rp/a

# the pool goes with its volumes; the Ceph pool stays, empty, without the key
refuse 1 pool delete rp
sl pool delete rp --force
[ -z "$(rbd ls)" ] || fail "images left: $(rbd ls)"
[ -z "$(meta)" ] || fail "the sluice.pool key stayed"
# the other host's record (back on the live cluster) is now broken:
# listed as such, then forgotten
jq --arg c "$CEPH_CONF" '.ceph_conf = $c' "$WORK/state2/rbd-pools/rp" >"$WORK/rec"
cp "$WORK/rec" "$WORK/state2/rbd-pools/rp"
SLUICE_STATE_DIR=$WORK/state2 "$SLUICE" pool list --json |
    jq -e '.[0].state == "missing" and (.[0].problem | test("no longer holds"))' >/dev/null ||
    fail "the second host: $(SLUICE_STATE_DIR=$WORK/state2 "$SLUICE" pool list --json)"
SLUICE_STATE_DIR=$WORK/state2 sl pool delete rp
[ ! -e "$WORK/state2/rbd-pools/rp" ] || fail "the broken pool's record stayed"
# An image sluice does not list (a name it refuses) still keeps the pool
# without --force: `pool delete` once counted only the listed volumes and
# then removed every image of the Ceph pool.
rbd create rbd/.foreign --size 1M || fail "rbd create .foreign"
sl pool create rp2 --type rbd --ceph-pool rbd --ceph-conf "$CEPH_CONF"
[ "$("$SLUICE" vol list rp2 --json | jq length)" = 0 ] || fail "rp2 lists: $("$SLUICE" vol list rp2)"
refuse 1 pool delete rp2
sl pool delete rp2 --force
[ -z "$(rbd ls)" ] || fail "images left after pool delete --force: $(rbd ls)"
log "PASS ($(echo "$(date +%s.%N) - $T0" | bc | cut -c1-5) s, of which the cluster start ${CEPH_START_SECONDS%??????} s)"
