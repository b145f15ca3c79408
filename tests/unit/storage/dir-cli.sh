#!/bin/bash
# tests/unit/storage/dir-cli.sh SLUICE — the dir pool driver through the CLI
# on this host (no LVM needed): lifecycle, import/export, registry recovery
# and the CLI errors. State lives in a temporary SLUICE_STATE_DIR.
set -u
S=${1:?usage: dir-cli.sh path/to/sluice}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SLUICE_STATE_DIR=$tmp/state
fails=0 n=0
ok() { n=$((n + 1)); echo "ok: $*"; }
bad() { n=$((n + 1)); echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local name=$1; shift; if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$name"; else bad "$name: $(cat "$tmp/err" "$tmp/out")"; fi; }
expect() {
    local name=$1 rc=$2 re=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
    if [ "$got" = "$rc" ] && grep -Eq "^sluice: [^ ].*: .*$re" "$tmp/err"; then
        ok "$name (exit $got: $(head -n1 "$tmp/err"))"
    else
        bad "$name: exit $got (want $rc), stderr: $(cat "$tmp/err")"
    fi
}
jfield() { sed -n "s/^ *\"$2\": \(.*\)$/\1/p" <<<"$1" | head -n1 | sed 's/,$//; s/^"//; s/"$//'; }

P=$tmp/pool1
check "pool create d1 --type dir --path DIR" $S pool create d1 --type dir --path "$P"
[ -f "$P/.sluice-pool" ] && [ -L "$SLUICE_STATE_DIR/pools/d1" ] && ok "marker and registry entry" || bad "marker/registry"
# an empty pool lists nothing (it once failed: "Cannot allocate memory")
j=$($S vol list d1 --json 2>&1) && [ "$(tr -d ' \n' <<<"$j")" = "[]" ] && ok "vol list of an empty pool: []" || bad "vol list of an empty pool: $j"
check "vol list of an empty pool (table)" $S vol list d1
check "vol create d1/disk0 --size 64M" $S vol create d1/disk0 --size 64M
[ "$(stat -c %s "$P/disk0.raw")" = 67108864 ] && [ "$(stat -c %b "$P/disk0.raw")" = 0 ] && ok "disk0.raw: 64M, sparse" || bad "disk0.raw"
info=$($S vol info d1/disk0 --json)
[ "$(jfield "$info" name)" = disk0 ] && [ "$(jfield "$info" pool)" = d1 ] && [ "$(jfield "$info" size_bytes)" = 67108864 ] &&
    [ "$(jfield "$info" used_bytes)" = 0 ] && [ "$(jfield "$info" origin)" = null ] && [ "$(jfield "$info" path)" = "$P/disk0.raw" ] &&
    ok "vol info --json" || bad "vol info: $info"
head -c 4M /dev/urandom >"$tmp/data"
dd if="$tmp/data" of="$P/disk0.raw" bs=1M seek=8 conv=notrunc status=none
check "vol snapshot d1/disk0 snap0" $S vol snapshot d1/disk0 snap0
info=$($S vol info d1/snap0 --json)
[ "$(jfield "$info" origin)" = disk0 ] && [ "$(jfield "$info" readonly)" = true ] && [ ! -w "$P/snap0.raw" -o "$(stat -c %a "$P/snap0.raw")" = 400 ] &&
    ok "snap0: origin disk0, read-only (mode 0400)" || bad "snap0: $info"
check "vol clone d1/snap0 c0" $S vol clone d1/snap0 c0
cmp -s "$P/c0.raw" "$P/disk0.raw" && ok "clone content" || bad "clone content"
[ "$(stat -c %b "$P/c0.raw")" -le 8200 ] && ok "clone is sparse" || bad "clone allocated $(stat -c %b "$P/c0.raw") blocks"
check "vol resize d1/disk0 --size 128M" $S vol resize d1/disk0 --size 128M
[ "$(stat -c %s "$P/disk0.raw")" = 134217728 ] && ok "grown to 128M" || bad "grow"
expect "shrink without --force" 1 "shrinking" $S vol resize d1/disk0 --size 32M
check "shrink with --force" $S vol resize d1/disk0 --size 64M --force
check "vol rename d1/c0 c1" $S vol rename d1/c0 c1
[ -f "$P/c1.raw" ] && [ ! -e "$P/c0.raw" ] && ok "renamed" || bad "rename"
j=$($S vol list d1 --json)
[ "$(grep -c '"name":' <<<"$j")" = 3 ] && ok "vol list d1 --json: 3 volumes" || bad "vol list: $j"
j=$($S pool info d1 --json)
[ "$(jfield "$j" type)" = dir ] && [ "$(jfield "$j" metadata_used_bytes)" = null ] && [ "$(jfield "$j" volumes)" = 3 ] &&
    [ "$(jfield "$j" used_bytes)" -ge $((8 << 20)) ] && ok "pool info --json: dir, metadata null, 3 volumes" || bad "pool info: $j"
$S pool list --json | grep -q '"name": "d1"' && ok "pool list --json" || bad "pool list"

check "vol export d1/disk0 FILE" $S vol export d1/disk0 "$tmp/exp.raw"
cmp -s "$tmp/exp.raw" "$P/disk0.raw" && [ "$(stat -c %b "$tmp/exp.raw")" -le 8200 ] && ok "export equal and sparse" || bad "export"
check "vol import d1/imp FILE" $S vol import d1/imp "$tmp/exp.raw"
cmp -s "$tmp/exp.raw" "$P/imp.raw" && [ "$(stat -c %b "$P/imp.raw")" -le 8200 ] && ok "import equal and sparse" || bad "import"

# Registry recovery: the marker in the directory is the truth.
rm "$SLUICE_STATE_DIR/pools/d1"
expect "registry entry gone: unknown pool" 1 "unknown pool" $S pool info d1
check "pool create on the same directory re-registers" $S pool create d1 --type dir --path "$P"
[ "$(jfield "$($S pool info d1 --json)" volumes)" = 4 ] && ok "volumes kept after re-registering" || bad "volumes lost"

# In use: a shared flock held by this shell, as sluiced takes (pool_volume_claim).
exec 8<"$P/disk0.raw"
flock -s 8
[ "$(jfield "$($S vol info d1/disk0 --json)" in_use)" = true ] && ok "in_use while locked" || bad "in_use"
expect "vol delete while in use" 1 "volume in use" $S vol delete d1/disk0
exec 8<&-
exec 8<"$P/c1.raw"
flock -s 8
check "vol delete --force while in use" $S vol delete d1/c1 --force
exec 8<&-

# Errors.
expect "unknown pool" 1 "unknown pool" $S vol create nosuch/v --size 1M
expect "unknown volume" 1 "unknown volume" $S vol info d1/nosuch
expect "name taken (volume)" 1 "name taken" $S vol create d1/disk0 --size 1M
expect "name taken (pool)" 1 "name taken" $S pool create d1 --type dir --path "$tmp/other"
expect "name taken (directory of another pool)" 1 "name taken" $S pool create d2 --type dir --path "$P"
expect "invalid name" 2 "invalid name" $S vol create 'd1/a b' --size 1M
expect "invalid pool name" 2 "invalid name" $S pool create .x --type dir --path "$tmp/x"
expect "invalid size" 2 "invalid size" $S vol create d1/v --size 1.5G
# Thin overcommit is allowed; past the file system's largest file (ext4:
# 16T) the volume cannot exist at all.
$S vol create d1/huge --size 1P >"$tmp/out" 2>"$tmp/err"; rc=$?
if { [ $rc = 1 ] && grep -q '^sluice: d1/huge: .*larger than the file system allows' "$tmp/err"; } ||
    { [ $rc = 0 ] && grep -q '^sluice: d1: warning: .*provisioned' "$tmp/err" && $S -q vol delete d1/huge; }; then
    ok "vol create d1/huge --size 1P: exit $rc: $(head -n1 "$tmp/err")"
else
    bad "vol create 1P: exit $rc, $(cat "$tmp/err")"
fi
expect "pool delete not empty" 1 "pool not empty" $S pool delete d1
if [ ! -e /sys/class/misc/device-mapper ] && [ ! -e /dev/mapper/control ]; then
    expect "LVM not available (no device-mapper here)" 1 "LVM or device-mapper not available.*dir pool" $S pool create t --type lvm-thin --pv /dev/null
    expect "unknown pool mentions missing LVM" 1 "unknown pool" $S pool info nosuch
else
    expect "LVM not available (no lvm binary)" 1 "LVM or device-mapper not available.*dir pool" env SLUICE_LVM=/nonexistent $S pool create t --type lvm-thin --pv /dev/null
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$tmp"
    expect "missing privileges" 1 "missing privileges" setpriv --reuid=65534 --regid=65534 --clear-groups $S pool create np --type dir --path "$tmp/np"
fi
expect "usage: unknown verb" 2 "unknown" $S vol frobnicate
expect "usage: option for another verb" 2 "does not apply" $S vol list --size 1G
$S pool --help | grep -q "create NAME --type dir" && ok "pool --help" || bad "pool --help"
$S vol create --help | grep -q "snapshot" && ok "vol create --help" || bad "vol --help"

check "pool delete d1 --force" $S pool delete d1 --force
[ ! -e "$P" ] && [ ! -e "$SLUICE_STATE_DIR/pools/d1" ] && ok "directory and registry entry removed" || bad "left: $(ls -a "$P" 2>&1)"
echo "dir-cli: $n checks, $fails failed"
[ "$fails" = 0 ]
