#!/bin/bash
# tests/unit/storage/cli-pool.sh SLUICE — `sluice pool` / `sluice vol` on dir
# pools, the hardening of issue 10: option values, exit codes (2 usage, 1
# failure), read-only snapshots, volumes in use, export over an existing
# file, stale origins and registry entries, thin overcommit, the one line
# each verb prints, --quiet, --json and table layout. Each check prints
# "ok: ..." or "FAIL: ...". State lives in a temporary SLUICE_STATE_DIR; no
# LVM, no sluiced. Under the ASan build (meson test -C build-asan) SLUICE is
# that build's binary, and any sanitizer report fails the check it shows in.
set -u
S=$(readlink -f "${1:?usage: cli-pool.sh path/to/sluice}")
tmp=$(mktemp -d)
cleanup() {
    [ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export SLUICE_STATE_DIR=$tmp/state
export SLUICE_CONTROL=$tmp/no-sluiced.sock      # never a live sluiced
cd "$tmp" || exit 1
fails=0 n=0
ok() { n=$((n + 1)); echo "ok: $*"; }
bad() { n=$((n + 1)); echo "FAIL: $*"; fails=$((fails + 1)); }
sanitized() { grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/err"; }
# run COMMAND...: into $tmp/out, $tmp/err; sets rc.
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
# check NAME COMMAND...: exit 0, no sanitizer report.
check() {
    local name=$1; shift
    run "$@"
    if [ $rc = 0 ] && ! sanitized; then ok "$name"; else bad "$name: exit $rc: $(cat "$tmp/err" "$tmp/out")"; fi
}
# expect NAME RC REGEX COMMAND...: exit RC, stderr exactly one line
# `sluice: OBJECT: REASON` matching REGEX, nothing on stdout.
expect() {
    local name=$1 want=$2 re=$3; shift 3
    run "$@"
    if [ "$rc" = "$want" ] && ! sanitized && [ "$(wc -l <"$tmp/err")" = 1 ] &&
        grep -Eq "^sluice: [^ ].*: .*$re" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$name (exit $rc: $(cat "$tmp/err"))"
    else
        bad "$name: exit $rc (want $want), stderr: $(cat "$tmp/err") stdout: $(head -c 300 "$tmp/out")"
    fi
}
jfield() { sed -n "s/^ *\"$2\": \(.*\)$/\1/p" <<<"$1" | head -n1 | sed 's/,$//; s/^"//; s/"$//'; }
sum() { md5sum <"$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# The sanitizer pass must test its own, instrumented binary.
case ${SLUICE_SANITIZE:-none} in
*address*) grep -qa __asan_init "$S" && ok "$S is ASan-instrumented (build $SLUICE_SANITIZE)" ||
               bad "$S is not the ASan build's binary" ;;
esac

P=$tmp/p1
check "setup: pool create d1" $S pool create d1 --type dir --path "$P"
check "setup: vol create d1/v --size 16M" $S vol create d1/v --size 16M
head -c 4M /dev/urandom >"$tmp/data"
dd if="$tmp/data" of="$P/v.raw" bs=1M seek=2 conv=notrunc status=none
check "setup: vol snapshot d1/v s" $S vol snapshot d1/v s

# --- 1. an option without its value is a usage error naming it -----------
nothing_made() { [ ! -e "$tmp/--" ] && [ ! -e "$P/--" ] && [ "$(ls "$SLUICE_STATE_DIR/pools")" = d1 ]; }
missing() {
    local opt=$1; shift
    expect "missing value: $* (at the end)" 2 "option $opt needs a value" "$@"
    nothing_made || bad "  ... but it created something: $(ls -a "$tmp" "$SLUICE_STATE_DIR/pools")"
}
missing --path $S pool create p9 --type dir --path
missing --type $S pool create p9 --path "$tmp/p9" --type
missing --pv $S pool create p9 --type lvm-thin --pv
missing --vg $S pool create p9 --type lvm-thin --vg
missing --size $S pool create p9 --type lvm-thin --vg vg0 --size
missing --autoextend $S pool create p9 --type lvm-thin --vg vg0 --autoextend
missing --autoextend $S pool set d1 --autoextend
missing --size $S vol create d1/x --size
missing --size $S vol resize d1/v --size
expect "missing value: --path followed by another option" 2 "option --path needs a value" \
    $S pool create p9 --path --type dir
nothing_made || bad "  ... created something"
expect "missing value: --size followed by --force" 2 "option --size needs a value" $S vol resize d1/v --size --force
[ "$(size "$P/v.raw")" = 16777216 ] && ok "v unchanged" || bad "v resized"
check "--path=VALUE form" $S pool create p9 --type dir --path="$tmp/p9"
check "options before positionals" $S vol create --size 1M d1/early
check "'--' ends the options" $S vol create --size 1M -- d1/late
check "cleanup" $S pool delete p9

# --- 2. vol list of an unknown pool: one clean error line, no table ---------
expect "vol list nope" 1 "unknown pool" $S vol list nope
grep -q '^sluice: nope: unknown pool' "$tmp/err" && ok "error names the pool" || bad "error line: $(cat -v "$tmp/err")"

# --- 3. read-only snapshots stay unchanged --------------------------------
before=$(sum "$P/s.raw")
expect "vol resize of a read-only snapshot" 1 "read-only" $S vol resize d1/s --size 32M
expect "vol resize --force (shrink) of a read-only snapshot" 1 "read-only" $S vol resize d1/s --size 1M --force
head -c 1M /dev/urandom >"$tmp/other"
expect "vol import --force over a read-only snapshot" 1 "read-only" $S vol import d1/s "$tmp/other" --force
[ "$(sum "$P/s.raw")" = "$before" ] && [ "$(size "$P/s.raw")" = 16777216 ] && ok "snapshot content and size unchanged" || bad "snapshot changed"
check "vol rename of a snapshot (metadata only) is allowed" $S vol rename d1/s s2
[ "$(jfield "$($S vol info d1/s2 --json)" readonly)" = true ] && ok "renamed snapshot still read-only" || bad "s2 not read-only"
check "vol clone of a snapshot" $S vol clone d1/s2 fromsnap
[ "$(jfield "$($S vol info d1/fromsnap --json)" readonly)" = false ] && ok "its clone is writable" || bad "clone read-only"

# --- 4. volumes in use: rename refused, resize warns that nobody was told ---
exec 8<"$P/v.raw"
flock -s 8
expect "vol rename of a volume in use" 1 "in use" $S vol rename d1/v v9
[ -f "$P/v.raw" ] && [ ! -e "$P/v9.raw" ] && ok "still named v" || bad "renamed while in use"
expect "vol rename --force is not an option" 2 "does not apply" $S vol rename d1/v v9 --force
run $S vol resize d1/v --size 20M
if [ $rc = 0 ] && grep -q '^sluice: d1/v: warning: .*in use.*not told' "$tmp/err" && [ "$(size "$P/v.raw")" = 20971520 ]; then
    ok "vol resize in use, no sluiced: exit 0, warning ($(cat "$tmp/err"))"
else
    bad "vol resize in use: exit $rc, stderr: $(cat "$tmp/err")"
fi
exec 8<&-
run $S vol resize d1/v --size 16M --force
[ $rc = 0 ] && [ ! -s "$tmp/err" ] && ok "vol resize not in use: no warning" || bad "resize: $(cat "$tmp/err")"

# --- 5. vol export never overwrites without --force -----------------------
echo precious >"$tmp/exists"
expect "vol export onto an existing file" 1 "exists.*--force" $S vol export d1/v "$tmp/exists"
[ "$(cat "$tmp/exists")" = precious ] && ok "existing file untouched" || bad "file overwritten"
check "vol export --force" $S vol export d1/v "$tmp/exists" --force
cmp -s "$tmp/exists" "$P/v.raw" && ok "exported over it with --force" || bad "export --force content"

# --- 6. origins follow the origin; stale pools show and can be deleted -----
check "vol snapshot d1/v o1" $S vol snapshot d1/v o1
check "vol rename d1/v v2" $S vol rename d1/v v2
[ "$(jfield "$($S vol info d1/o1 --json)" origin)" = v2 ] && ok "origin follows a rename" || bad "origin after rename: $($S vol info d1/o1 --json)"
check "vol clone d1/v2 c1" $S vol clone d1/v2 c1
check "vol delete d1/v2" $S vol delete d1/v2
[ "$(jfield "$($S vol info d1/o1 --json)" origin)" = null ] && [ "$(jfield "$($S vol info d1/c1 --json)" origin)" = null ] &&
    ok "origin cleared when the origin is deleted" || bad "origin after delete: $($S vol info d1/o1 --json)"
[ "$(jfield "$($S vol info d1/o1 --json)" snapshot)" = true ] && ok "o1 is still a snapshot" || bad "o1 not a snapshot: $($S vol info d1/o1 --json)"
check "vol import d1/v2 (a new volume, the old name)" $S vol import d1/v2 "$tmp/other"
[ "$(jfield "$($S vol info d1/o1 --json)" origin)" = null ] && ok "a new volume under the old name is no origin" || bad "origin after re-import: $($S vol info d1/o1 --json)"
check "vol snapshot d1/v2 o2" $S vol snapshot d1/v2 o2
check "vol import --force d1/v2 (re-import)" $S vol import d1/v2 "$tmp/data" --force
[ "$(jfield "$($S vol info d1/o2 --json)" origin)" = null ] && ok "origin cleared when the origin is re-imported" || bad "origin after import --force: $($S vol info d1/o2 --json)"
# Hand-made staleness (files changed behind sluice's back): read-time check.
check "vol snapshot d1/v2 o3" $S vol snapshot d1/v2 o3
rm "$P/v2.raw"
[ "$(jfield "$($S vol info d1/o3 --json)" origin)" = null ] && ok "origin whose file is gone shows null" || bad "origin of removed file: $($S vol info d1/o3 --json)"

check "pool create gone --path DIR" $S pool create gone --type dir --path "$tmp/gone"
rm -rf "$tmp/gone"
check "pool create nomark --path DIR" $S pool create nomark --type dir --path "$tmp/nomark"
rm "$tmp/nomark/.sluice-pool"
run $S pool list
if [ $rc = 0 ] && grep -q '^sluice: gone: warning: .*gone' "$tmp/err" && grep -q '^sluice: nomark: warning: ' "$tmp/err" &&
    grep -Eq '^gone +dir .*missing' "$tmp/out" && grep -Eq '^nomark +dir .*missing' "$tmp/out" && grep -q '^d1 ' "$tmp/out"; then
    ok "pool list: broken pools listed as missing, with a warning each"
else
    bad "pool list: exit $rc, stderr: $(cat "$tmp/err"), stdout: $(cat "$tmp/out")"
fi
j=$($S pool list --json 2>/dev/null)
python3 -c 'import json,sys; p={x["name"]:x for x in json.loads(sys.argv[1])}; assert p["gone"]["state"]=="missing" and p["gone"]["problem"]; assert p["d1"]["state"]=="ok" and p["d1"]["problem"] is None' "$j" 2>/dev/null &&
    ok "pool list --json: state missing / ok, problem" || bad "pool list --json: $j"
check "pool delete of a stale entry (directory gone)" $S pool delete gone
check "pool delete of a stale entry (marker gone)" $S pool delete nomark
[ ! -e "$SLUICE_STATE_DIR/pools/gone" ] && [ ! -L "$SLUICE_STATE_DIR/pools/nomark" ] && [ -d "$tmp/nomark" ] && ok "registry entries removed, directory left" || bad "entries: $(ls "$SLUICE_STATE_DIR/pools")"
run $S pool list
[ $rc = 0 ] && [ ! -s "$tmp/err" ] && ok "pool list clean again" || bad "pool list: $(cat "$tmp/err")"
expect "pool delete of an unknown pool" 1 "unknown pool" $S pool delete gone

: >"$tmp/notadir"
expect "pool create with a broken registry" 1 "registry" env SLUICE_STATE_DIR="$tmp/notadir/x" $S pool create p5 --type dir --path "$tmp/p5"
[ ! -e "$tmp/p5" ] && ok "failed pool create: the directory it made is gone" || bad "left: $(ls -a "$tmp/p5")"
mkdir "$tmp/p6"
expect "pool create on an existing directory, broken registry" 1 "registry" env SLUICE_STATE_DIR="$tmp/notadir/x" $S pool create p6 --type dir --path "$tmp/p6"
[ -d "$tmp/p6" ] && [ ! -e "$tmp/p6/.sluice-pool" ] && ok "failed pool create: no marker left, directory kept" || bad "left: $(ls -a "$tmp/p6")"

# --- 7. thin overcommit on dir pools ------------------------------------------
fs=$(df -B1 --output=size "$P" | tail -n1 | tr -d ' ')
big=$(( (fs / 1073741824 + 2) * 1073741824 ))
run $S vol create d1/big --size $big
if [ $rc = 0 ] && grep -q '^sluice: d1: warning: .*provisioned.*capacity' "$tmp/err" && [ "$(size "$P/big.raw")" = $big ] &&
    [ "$(stat -c %b "$P/big.raw")" = 0 ]; then
    ok "vol create past the file system's size: sparse, with a warning ($(cat "$tmp/err"))"
else
    bad "overcommit: exit $rc, stderr: $(cat "$tmp/err")"
fi
check "vol resize past the file system's size" $S vol resize d1/big --size $((big + 1073741824))
grep -q 'warning: .*provisioned' "$tmp/err" && ok "  ... warns" || bad "resize: no warning"
check "vol delete d1/big" $S vol delete d1/big
if [ "$(id -u)" = 0 ] && mkdir "$tmp/small" && mount -t tmpfs -o size=8m sluice-test "$tmp/small" 2>/dev/null; then
    MNT=$tmp/small
    check "pool create small (8M tmpfs)" $S pool create small --type dir --path "$MNT/pool"
    head -c 12M /dev/urandom >"$tmp/12m"
    expect "vol import of more data than the pool holds" 1 "out of space" $S vol import small/i "$tmp/12m"
    [ ! -e "$MNT/pool/i.raw" ] && ok "nothing left behind" || bad "left: $(ls -a "$MNT/pool")"
    check "vol create small/v --size 1G (overcommit)" $S vol create small/v --size 1G
    dd if="$tmp/12m" of="$MNT/pool/v.raw" bs=1M count=5 conv=notrunc status=none
    expect "vol clone with no room for the copy" 1 "out of space" $S vol clone small/v c
    run script -qec "$S vol export small/v $MNT/exp.raw" /dev/null
    if grep -q '^sluice: small/v: ' "$tmp/out" && grep -q 'export \[' "$tmp/out"; then
        ok "progress bar ends its line before the error"
    else
        bad "progress then error: $(cat -v "$tmp/out")"
    fi
    [ ! -e "$MNT/exp.raw" ] && ok "failed export removes the file it created" || bad "exp.raw left behind"
    rm -f "$MNT/exp.raw"
    check "pool delete small --force" $S pool delete small --force
    umount "$MNT" && MNT=
else
    echo "skip: the tmpfs checks need root"
fi

# --- 8. one line on success; --quiet; --json; tables ----------------------------
oneline() {
    local name=$1; shift
    run "$@"
    if [ $rc = 0 ] && [ "$(wc -l <"$tmp/out")" = 1 ] && grep -q "$name" "$tmp/out"; then ok "prints one line: $(cat "$tmp/out")"; else bad "$*: exit $rc, stdout: $(cat "$tmp/out"), stderr: $(cat "$tmp/err")"; fi
}
check "vol create d1/w" $S vol create d1/w --size 8M
oneline resized $S vol resize d1/w --size 12M
oneline snapshot $S vol snapshot d1/w ws
oneline clone $S vol clone d1/w wc
oneline renamed $S vol rename d1/wc wc2
oneline imported $S vol import d1/wi "$tmp/other"
oneline exported $S vol export d1/wi "$tmp/wi.raw"
oneline deleted $S vol delete d1/wc2
quiet() {
    run "$@"
    [ $rc = 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && ok "quiet: $*" || bad "quiet $*: exit $rc, $(cat "$tmp/out" "$tmp/err")"
}
quiet $S -q vol resize d1/w --size 16M
quiet $S vol snapshot d1/w ws2 --quiet
quiet $S vol clone -q d1/w wc3
quiet $S --quiet vol rename d1/wc3 wc4
quiet $S vol import -q d1/wi2 "$tmp/other"
quiet $S vol export -q d1/wi2 "$tmp/wi.raw" --force
quiet $S vol delete -q d1/wc4
quiet $S -q pool create q1 --type dir --path "$tmp/q1"
j=$($S pool info q1 --json)
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["volume_names"] == []' "$j" 2>/dev/null &&
    ok "pool info --json of an empty pool: volume_names []" || bad "pool info --json: $j"
quiet $S -q pool delete q1

long=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv    # 64
lp=pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp
check "vol create with a 64-character name" $S vol create d1/$long --size 3M
check "pool create with a 64-character name" $S pool create $lp --type dir --path "$tmp/lp"
# aligned COLUMN FILE: the right-aligned COLUMN ends at the same place in the
# header and in every row.
aligned() {
    awk -v col="$1" 'NR == 1 { e = index($0, col) + length(col) - 1; next }
        substr($0, e, 1) == " " || (substr($0, e + 1, 1) != " " && substr($0, e + 1, 1) != "") { bad = 1 }
        END { exit bad }' "$2"
}
$S vol list d1 >"$tmp/vl"
aligned SIZE "$tmp/vl" && aligned USED "$tmp/vl" && ok "vol list: columns aligned with a long name" || bad "vol list: $(cat "$tmp/vl")"
$S pool list >"$tmp/pl"
aligned SIZE "$tmp/pl" && aligned VOLS "$tmp/pl" && ok "pool list: columns aligned with a long name" || bad "pool list: $(cat "$tmp/pl")"
check "cleanup" $S pool delete $lp
$S vol --help | grep -q 'FLAGS' && $S vol --help | grep -q "r read-only" && ok "vol --help explains the FLAGS column" || bad "vol --help: no FLAGS legend"

# --- 9. exit codes: 2 usage (and invalid names and sizes), 1 failure --------
while IFS='|' read -r want re args; do
    [ -n "$want" ] || continue
    # shellcheck disable=SC2086
    expect "exit $want: sluice $args" "$want" "$re" $S $args
done <<'EOF'
2|unknown pool verb|pool frob
2|unknown vol verb|vol frob
2|unknown option --frob|vol list --frob
2|unknown option -x|vol list -x
2|does not apply|vol list --size 1G
2|does not apply|pool delete d1 --size 1G
2|expected|pool create
2|expected|pool info
2|expected|pool info d1 d2
2|expected|vol create
2|expected|vol info
2|expected|vol snapshot d1/w
2|expected|vol import d1/w
2|expected|vol export d1/w
2|expected|vol list d1 d2
2|--size|vol create d1/n
2|--size|vol resize d1/w
2|--autoextend|pool set d1
2|--type|pool create n --path /tmp/n
2|unknown pool type|pool create n --type zfs
2|invalid name|pool create bad@name --type dir --path /tmp/n
2|invalid name|pool info bad@name
2|invalid name|vol list bad@name
2|invalid name|vol create d1/bad@name --size 1M
2|invalid name|vol snapshot d1/w bad@name
2|invalid name|vol clone d1/w .dot
2|invalid name|vol rename d1/w -- -dash
2|invalid name|vol import d1/bad@name /dev/null
2|invalid name|vol export d1/bad@name /tmp/x
2|expected POOL/VOL|vol info noslash
2|expected POOL/VOL|vol delete a/b/c
2|invalid size|vol create d1/n --size 12X
2|invalid size|vol create d1/n --size 0
2|too large|vol create d1/n --size 2P
2|invalid size|vol resize d1/w --size=-5
2|autoextend|pool set d1 --autoextend 20
2|dir pool|pool create n --type dir
2|lvm-thin pools|pool create n --type dir --path /tmp/n --size 1G
1|unknown pool|pool info nosuch
1|unknown pool|vol create nosuch/n --size 1M
1|unknown volume|vol info d1/nosuch
1|unknown volume|vol resize d1/nosuch --size 1M
1|unknown volume|vol export d1/nosuch /nonexistent/x
1|name taken|vol create d1/w --size 1M
1|name taken|vol snapshot d1/w ws
1|name taken|vol import d1/w /bin/sh
1|shrinking|vol resize d1/w --size 1M
1|read-only|vol resize d1/ws --size 64M
1|lvm-thin|pool set d1 --autoextend 80
1|not empty|pool delete d1
EOF

check "pool delete d1 --force" $S pool delete d1 --force
echo "cli-pool: $n checks, $fails failed"
[ "$fails" = 0 ]
