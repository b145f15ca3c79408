#!/bin/bash
# tests/unit/cli-help.sh SLUICE BLKBENCH — the one CLI framework of `sluice`
# (tools/sluice/cli-opt.c): every verb of every noun answers
# `sluice NOUN VERB --help` on stdout with exit 0, with its usage line and an
# options section generated from the table that parses it (each option of
# its usage line described); integer options are checked by the one parser
# (core/opts.h parse_uint) in the CLI and in sluice-blkbench. Nothing here
# needs root or a running sluiced.
set -u
S=$(readlink -f "${1:?usage: cli-help.sh path/to/sluice path/to/sluice-blkbench}")
B=$(readlink -f "${2:?usage: cli-help.sh path/to/sluice path/to/sluice-blkbench}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SLUICE_STATE_DIR=$tmp/state SLUICE_CONTROL=$tmp/no-sluiced.sock
fails=0 n=0
ok() { n=$((n + 1)); echo "ok: $*"; }
bad() { n=$((n + 1)); echo "FAIL: $*"; fails=$((fails + 1)); }

# verbs PATH...: the verbs `sluice PATH --help` lists ("group <verb> ..." too).
# The verb list is the block after the usage line, up to the first blank line.
verbs() { "$S" "$@" --help | awk 'NR > 2 && /^$/ { exit } NR > 2 && /^  [a-z]/ { print $1 }'; }

# check_verb PATH... VERB
check_verb() {
    local what="$*"
    "$S" "$@" --help >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc != 0 ] || [ -s "$tmp/err" ]; then
        bad "sluice $what --help: exit $rc, stderr $(cat "$tmp/err")"; return
    fi
    local usage
    usage=$(head -n1 "$tmp/out")
    case $usage in "usage: sluice $what"*) ;; *) bad "sluice $what --help: first line '$usage'"; return ;; esac
    grep -q '^options:$' "$tmp/out" || { bad "sluice $what --help: no options section"; return; }
    grep -q -- '^  -h, --help ' "$tmp/out" || { bad "sluice $what --help: no --help line"; return; }
    # Each option the usage line shows has its own described line.
    for o in $(grep -o -- '--[a-z][a-z-]*' <<<"$usage" | sort -u); do
        grep -Eq -- "^  $o( [^ ]+)? +[^ ]" "$tmp/out" ||
            { bad "sluice $what --help: option $o not described: $(cat "$tmp/out")"; return; }
    done
    ok "sluice $what --help"
}

count=0
for noun in pool vol net dev bench; do
    for v in $(verbs $noun); do
        if "$S" $noun $v --help | head -n1 | grep -q '<verb>'; then
            for g in $(verbs $noun $v); do check_verb $noun $v $g; count=$((count + 1)); done
        else
            check_verb $noun $v; count=$((count + 1))
        fi
    done
done
[ $count -ge 40 ] && ok "$count verbs checked" || bad "only $count verbs found"

"$S" net bridge create --help | grep -Eq -- '^  --mtu N +MTU \(68-65535\)' &&
    ok "net bridge create --help describes --mtu" || bad "net bridge create --help: $("$S" net bridge create --help)"
"$S" dev list --help | grep -Eq -- '^  --control PATH ' && ok "dev list --help: --control" || bad "dev list --help"
"$S" bench blk --help | grep -Eq -- '^  --backing LIST ' && ok "bench blk --help: --backing" || bad "bench blk --help"

# expect RC REGEX CMD...: exit RC, stderr matching REGEX, nothing on stdout.
expect() {
    local want=$1 re=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc = "$want" ] && grep -Eq -- "$re" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$* -> $rc: $(head -n1 "$tmp/err")"
    else
        bad "$*: exit $rc (want $want), stderr $(head -c 300 "$tmp/err")"
    fi
}
expect 2 '^sluice: bench: --reps must be 1\.\.1000$' "$S" bench blk --reps 0
expect 2 '^sluice: bench: --queues must be 1\.\.64$' "$S" bench blk --queues 2x
expect 2 '^sluice: bench: option --runs does not apply' "$S" bench net --runs 3
expect 2 '^sluice: tap: --queues must be 1\.\.64$' "$S" net tap create t0 --queues 1x
expect 2 '^sluice: dev: unknown verb .frob.' "$S" dev frob
expect 2 "^sluice: nopool: invalid --autoextend '80x'" "$S" pool set nopool --autoextend 80x
expect 2 "^sluice: nopool: invalid --autoextend '80:5y'" "$S" pool set nopool --autoextend 80:5y
expect 2 '^sluice-blkbench: --bs: invalid value .4096x.' "$B" --socket "$tmp/none.sock" --bs 4096x
expect 2 '^sluice-blkbench: --qd: invalid value .1x.' "$B" --socket "$tmp/none.sock" --qd 1x
expect 2 '^sluice-blkbench: --cpu: invalid value .-1.' "$B" --socket "$tmp/none.sock" --cpu -1

echo "cli-help: $n checks, $fails failed"
[ "$fails" = 0 ]
