#!/bin/bash
# tests/unit/completion.sh SLUICE SLUICED COMPLETION — the bash completion
# (tools/sluice/sluice.bash) driven as bash drives it: COMP_WORDS and
# COMP_CWORD set, _sluice called, COMPREPLY checked. Nouns, verbs of a group,
# a verb's own options (not another verb's), live names from the CLI's own
# listings (a dir pool and volume made here, a device of a sluiced started
# here, a bridge in a network namespace made here), paths for DIR values;
# and every verb each noun's --help lists is offered (no drift).
set -u
S=$(readlink -f "${1:?usage: completion.sh SLUICE SLUICED COMPLETION}")
D=$(readlink -f "${2:?}")
C=$(readlink -f "${3:?}")
tmp=$(mktemp -d)
spid=
ns=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export SLUICE_STATE_DIR=$tmp/state SLUICE_CONTROL=$tmp/none.sock
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

. "$C"
complete -p sluice | grep -q -- '-F _sluice sluice$' && ok "complete -F _sluice sluice" ||
    bad "the script does not register _sluice"

# comp WORD... : COMPREPLY for the command line "sluice WORD...", the last
# word being completed, as one sorted space-separated line.
comp() {
    COMP_WORDS=("$S" "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    _sluice
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect "WANT" WORD...
expect() {
    local want=$1 got
    shift
    got=$(comp "$@")
    [ "$got" = "$want" ] && ok "sluice $* <TAB>: $got" || bad "sluice $* <TAB>: got '$got', want '$want'"
}

expect "bench dev net pool vol" ""
expect "vol" v
expect "bridge" net b
expect "create" net bridge cr
expect "--force --help --quiet --size" vol resize p1/v1 --
expect "--addr --down --help --mtu --quiet" net bridge create br0 --
expect "blk net" dev add ""
expect "dir lvm-thin rbd" pool create x --type ""
mkdir -p "$tmp/pooldir"
expect "$tmp/pooldir" pool create x --type dir --path "$tmp/pool"

# Live names: pools and volumes from `sluice pool|vol list --json`.
"$S" -q pool create p1 --type dir --path "$tmp/pooldir" && "$S" -q vol create p1/v1 --size 1M &&
    "$S" -q vol create p1/v2 --size 1M || bad "cannot make a dir pool"
expect "p1" pool info ""
expect "p1/v1 p1/v2" vol info ""
expect "p1/v2" vol resize p1/v2
expect "p1" vol list ""

# Devices of a running sluiced (its --control given on the line).
"$D" --control "$tmp/ctl.sock" --workers 1 --blk "socket=$tmp/d.sock,null=16M,id=disk7" 2>"$tmp/sluiced.log" &
spid=$!
for _ in $(seq 100); do [ -S "$tmp/ctl.sock" ] && "$S" dev list --control "$tmp/ctl.sock" >/dev/null 2>&1 && break; sleep 0.1; done
expect "disk7" dev --control "$tmp/ctl.sock" remove ""
expect "disk7" dev stats --control "$tmp/ctl.sock" d
expect "" dev stats --control "$tmp/none.sock" ""

# Bridges, in a namespace of our own (root only).
if [ "$(id -u)" = 0 ] && ip netns add "sl-cmp-$$" 2>/dev/null; then
    ns=sl-cmp-$$
    ip -n "$ns" link add brc$$ type bridge
    got=$(ip netns exec "$ns" bash -c ". '$C'; COMP_WORDS=('$S' net bridge delete ''); COMP_CWORD=4; _sluice; echo \"\${COMPREPLY[*]}\"")
    [ "$got" = "brc$$" ] && ok "sluice net bridge delete <TAB> in a namespace: $got" ||
        bad "net bridge delete <TAB>: got '$got', want brc$$"
else
    echo "note: not root, bridge names not checked"
fi

# No drift: every verb `sluice NOUN --help` lists is offered.
for noun in pool vol net dev bench; do
    want=$("$S" $noun --help | awk 'NR > 2 && /^$/ { exit } NR > 2 && /^  [a-z]/ { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
    expect "$want" $noun ""
done
[ $fails = 0 ] || exit 1
