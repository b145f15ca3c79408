#!/bin/bash
# tests/lab/storage/pool-lvm.sh — `sluice pool` / `sluice vol` on real LVM
# thin provisioning, inside ONE lab VM boot (tools/lab run).
#
# Inside the VM (--inside) two loop devices over sparse files are the PVs.
# Every step goes through the sluice CLI; results are checked independently
# with `lvs/vgs --reportformat json` and by reading the devices back. One
# line per check: "ok: ..." or "FAIL: ...". Covers the whole lifecycle of
# both lvm-thin modes (--pv and --vg), import/export, autoextend and every
# CLI error of the issue (unknown pool/volume, name taken, invalid name and
# size, out of space, in use, missing privileges, LVM unavailable).
#
# Exit 0 pass, 1 fail, 77 skip (no QEMU or no guest kit).
set -u
. "$(dirname "$(readlink -f "$0")")/../lablib.sh"

inside() {
    local S=$1 fails=0 n=0 tmp
    tmp=$(mktemp -d)
    lvmj() { lvm "$@" --config "$LVMCONF" --reportformat json --units b --nosuffix 2>/dev/null; }
    ok() { n=$((n + 1)); echo "ok: $*"; }
    bad() { n=$((n + 1)); echo "FAIL: $*"; fails=$((fails + 1)); }
    # check NAME COMMAND...: the command must succeed.
    check() { local name=$1; shift; if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$name"; else bad "$name: $(tail -n3 "$tmp/err" "$tmp/out" | tr '\n' ' ')"; fi; }
    # expect NAME RC REGEX COMMAND...: exit status RC and stderr matching REGEX.
    expect() {
        local name=$1 rc=$2 re=$3; shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
        if [ "$got" = "$rc" ] && grep -Eq "^sluice: [^ ].*: .*$re" "$tmp/err"; then
            ok "$name (exit $got: $(head -n1 "$tmp/err"))"
        else
            bad "$name: exit $got (want $rc), stderr: $(cat "$tmp/err")"
        fi
    }
    has() { grep -q -- "$2" <<<"$1"; }
    # A JSON field of sluice's pretty output: "key": value
    jfield() { sed -n "s/^ *\"$2\": \(.*\)$/\1/p" <<<"$1" | head -n1 | sed 's/,$//; s/^"//; s/"$//'; }

    truncate -s 2G "$tmp/pv1.img" "$tmp/pv2.img"
    local l1 l2
    l1=$(losetup -f --show "$tmp/pv1.img") && l2=$(losetup -f --show "$tmp/pv2.img") || { bad losetup; return 1; }

    # --- pool create --pv ------------------------------------------------
    check "pool create tank --type lvm-thin --pv $l1 --size 1G" $S pool create tank --type lvm-thin --pv "$l1" --size 1G
    local j; j=$(lvmj lvs -o lv_name,lv_tags,segtype,lv_size tank)
    has "$j" '"lv_name":"tank", "lv_tags":"sluice.pool", "segtype":"thin-pool", "lv_size":"1073741824"' && ok "lvs: thin pool tank/tank 1G tagged sluice.pool" || bad "lvs thin pool: $j"
    j=$(lvmj vgs -o vg_name,vg_tags tank)
    has "$j" '"vg_tags":"sluice.vg"' && ok "vgs: VG tank tagged sluice.vg" || bad "vgs: $j"

    # --- volumes ------------------------------------------------------------
    check "vol create tank/disk0 --size 2G" $S vol create tank/disk0 --size 2G
    j=$(lvmj lvs -o lv_name,pool_lv,segtype,lv_size,lv_tags tank/disk0)
    has "$j" '"lv_name":"disk0", "pool_lv":"tank", "segtype":"thin", "lv_size":"2147483648", "lv_tags":"sluice.vol"' && ok "lvs: thin volume disk0 2G in pool tank" || bad "lvs disk0: $j"
    local info path
    info=$($S vol info tank/disk0 --json)
    path=$(jfield "$info" path)
    [ "$(jfield "$info" name)" = disk0 ] && [ "$(jfield "$info" pool)" = tank ] &&
        [ "$(jfield "$info" size_bytes)" = 2147483648 ] && [ "$(jfield "$info" origin)" = null ] &&
        [ -b "$path" ] && ok "vol info --json: name, pool, size_bytes, origin null, path $path is a block device" || bad "vol info: $info"
    head -c 16M /dev/urandom >"$tmp/data"
    check "write 16M at 1M into $path" dd if="$tmp/data" of="$path" bs=1M seek=1 oflag=direct status=none
    info=$($S vol info tank/disk0 --json)
    local used; used=$(jfield "$info" used_bytes)
    [ "${used:-0}" -ge $((16 << 20)) ] && [ "$used" -le $((20 << 20)) ] && ok "used_bytes after writing 16M: $used (device-mapper)" || bad "used_bytes $used"

    check "vol snapshot tank/disk0 snap0" $S vol snapshot tank/disk0 snap0
    j=$(lvmj lvs -o lv_name,origin,lv_permissions,lv_tags tank/snap0)
    has "$j" '"origin":"disk0", "lv_permissions":"read-only", "lv_tags":"sluice.vol"' && ok "lvs: snap0 is a read-only snapshot of disk0" || bad "lvs snap0: $j"
    info=$($S vol info tank/snap0 --json)
    [ "$(jfield "$info" origin)" = disk0 ] && [ "$(jfield "$info" readonly)" = true ] && ok "vol info snap0: origin disk0, readonly" || bad "vol info snap0: $info"
    check "vol clone tank/snap0 clone0" $S vol clone tank/snap0 clone0
    j=$(lvmj lvs -o lv_name,origin,lv_permissions tank/clone0)
    has "$j" '"origin":"snap0", "lv_permissions":"writeable"' && ok "lvs: clone0 is a writable thin snapshot of snap0" || bad "lvs clone0: $j"
    path=$(jfield "$($S vol info tank/clone0 --json)" path)
    cmp -s -i 1M:0 -n 16M "$path" "$tmp/data" && ok "clone0 holds disk0's data" || bad "clone0 data differs"
    echo garbage | dd of="$path" bs=1M seek=1 conv=notrunc oflag=direct status=none 2>/dev/null
    cmp -s -i 1M:0 -n 16M "/dev/tank/disk0" "$tmp/data" && ok "writing the clone leaves disk0 alone" || bad "disk0 changed"

    # Read-only snapshots: no verb writes them (issue 10).
    expect "vol resize of the read-only snapshot snap0" 1 "read-only" $S vol resize tank/snap0 --size 3G
    expect "vol resize --force (shrink) of snap0" 1 "read-only" $S vol resize tank/snap0 --size 1G --force
    head -c 1M /dev/urandom >"$tmp/other"
    expect "vol import --force over snap0" 1 "read-only" $S vol import tank/snap0 "$tmp/other" --force
    j=$(lvmj lvs -o lv_size tank/snap0)
    has "$j" '"lv_size":"2147483648"' && cmp -s -i 1M:0 -n 16M /dev/tank/snap0 "$tmp/data" &&
        ok "snap0 kept its size and data" || bad "snap0 changed: $j"
    # An open volume (sluiced would hold it so): rename refused, resize warns.
    exec 7</dev/tank/disk0
    expect "vol rename while in use" 1 "in use" $S vol rename tank/disk0 disk9
    has "$(lvmj lvs -o lv_name tank)" '"lv_name":"disk0"' && ok "lvs: disk0 kept its name" || bad "renamed while in use"
    "$S" vol resize tank/disk0 --size 3G >"$tmp/out" 2>"$tmp/err"
    [ $? = 0 ] && grep -q '^sluice: tank/disk0: warning: .*in use.*not told' "$tmp/err" &&
        ok "vol resize in use, no sluiced: exit 0 and a warning" || bad "resize in use: $(cat "$tmp/err")"
    exec 7<&-
    echo precious >"$tmp/exists"
    expect "vol export onto an existing file" 1 "exists.*--force" $S vol export tank/disk0 "$tmp/exists"
    [ "$(cat "$tmp/exists")" = precious ] && ok "the existing file is untouched" || bad "export overwrote the file"

    check "vol resize tank/disk0 --size 3G" $S vol resize tank/disk0 --size 3G
    j=$(lvmj lvs -o lv_size tank/disk0)
    has "$j" '"lv_size":"3221225472"' && ok "lvs: disk0 grew to 3G" || bad "lvs resize: $j"
    expect "vol resize shrink without --force" 1 "shrinking" $S vol resize tank/disk0 --size 1G
    check "vol resize tank/disk0 --size 2G --force" $S vol resize tank/disk0 --size 2G --force
    j=$(lvmj lvs -o lv_size tank/disk0)
    has "$j" '"lv_size":"2147483648"' && ok "lvs: disk0 shrank to 2G" || bad "lvs shrink: $j"

    check "vol rename tank/clone0 clone1" $S vol rename tank/clone0 clone1
    j=$(lvmj lvs -o lv_name tank)
    has "$j" '"lv_name":"clone1"' && ! has "$j" '"lv_name":"clone0"' && ok "lvs: clone0 renamed clone1" || bad "lvs rename: $j"

    j=$($S vol list tank --json)
    [ "$(grep -c '"name":' <<<"$j")" = 3 ] && has "$j" '"name": "snap0"' && ok "vol list tank --json: 3 volumes" || bad "vol list: $j"
    $S vol list >"$tmp/vl" && grep -q '^tank/disk0 ' "$tmp/vl" && ok "vol list (text)" || bad "vol list text: $(cat "$tmp/vl")"

    # --- pool info / list -----------------------------------------------
    info=$($S pool info tank --json)
    [ "$(jfield "$info" type)" = lvm-thin ] && [ "$(jfield "$info" size_bytes)" = 1073741824 ] &&
        [ "$(jfield "$info" used_bytes)" -ge $((16 << 20)) ] && [ "$(jfield "$info" metadata_used_bytes)" -gt 0 ] &&
        [ "$(jfield "$info" volumes)" = 3 ] && ok "pool info --json: lvm-thin, 1G, used $(jfield "$info" used_bytes), metadata used $(jfield "$info" metadata_used_bytes), 3 volumes" || bad "pool info: $info"
    j=$(lvmj lvs -o data_percent tank/tank)
    ok "lvs data_percent of tank: $(sed -n 's/.*"data_percent":"\([^"]*\)".*/\1/p' <<<"$j")"
    $S pool list --json | grep -q '"name": "tank"' && ok "pool list --json" || bad "pool list --json"

    # --- import / export -------------------------------------------------
    check "vol export tank/disk0 FILE" $S vol export tank/disk0 "$tmp/disk0.raw"
    cmp -s -i 1M:0 -n 16M "$tmp/disk0.raw" "$tmp/data" && [ "$(stat -c %s "$tmp/disk0.raw")" = 2147483648 ] && ok "export: 2G file with the data" || bad "export content"
    local alloc; alloc=$(( $(stat -c %b "$tmp/disk0.raw") * 512 ))
    [ "$alloc" -le $((20 << 20)) ] && ok "export is sparse ($alloc bytes allocated)" || bad "export allocated $alloc"
    check "vol import tank/imp FILE" $S vol import tank/imp "$tmp/disk0.raw"
    cmp -s -i 1M:0 -n 16M /dev/tank/imp "$tmp/data" && ok "import: data in tank/imp" || bad "import content"
    used=$(jfield "$($S vol info tank/imp --json)" used_bytes)
    [ "$used" -le $((20 << 20)) ] && ok "import skipped zero blocks (mapped $used)" || bad "import mapped $used"
    expect "vol import into an existing volume" 1 "name taken" $S vol import tank/imp "$tmp/disk0.raw"

    # --- activation on demand (what sluiced's resolve does) ----------------
    lvm lvchange -q -an tank/imp --config "$LVMCONF" 2>/dev/null
    [ "$(jfield "$($S vol info tank/imp --json)" active)" = false ] && ok "vol info: inactive volume" || bad "inactive"
    check "vol export activates an inactive volume" $S vol export tank/imp "$tmp/imp.raw"
    cmp -s "$tmp/imp.raw" "$tmp/disk0.raw" && ok "export of imp equals its import" || bad "imp export differs"

    # --- in use ------------------------------------------------------------
    exec 7</dev/tank/disk0
    [ "$(jfield "$($S vol info tank/disk0 --json)" in_use)" = true ] && ok "vol info: in_use while open" || bad "in_use not seen"
    expect "vol delete while in use" 1 "volume in use" $S vol delete tank/disk0
    expect "vol delete --force while the device is open" 1 "volume in use" $S vol delete tank/disk0 --force
    exec 7<&-
    check "vol delete tank/imp" $S vol delete tank/imp
    has "$(lvmj lvs -o lv_name tank)" '"lv_name":"imp"' && bad "imp still there" || ok "lvs: imp gone"

    # --- errors ------------------------------------------------------------
    expect "unknown pool" 1 "unknown pool" $S pool info nosuch
    expect "unknown pool (vol create)" 1 "unknown pool" $S vol create nosuch/v --size 1G
    expect "unknown volume" 1 "unknown volume" $S vol info tank/nosuch
    expect "unknown volume (snapshot)" 1 "unknown volume" $S vol snapshot tank/nosuch s1
    expect "name taken (vol create)" 1 "name taken" $S vol create tank/disk0 --size 1G
    expect "name taken (snapshot)" 1 "name taken" $S vol snapshot tank/disk0 snap0
    expect "name taken (pool create)" 1 "name taken" $S pool create tank --type lvm-thin --pv "$l2"
    expect "invalid name" 2 "invalid name" $S vol create 'tank/bad name' --size 1G
    expect "invalid name (LVM reserved)" 2 "invalid name" $S vol create tank/x_tmeta --size 1G
    expect "invalid pool name" 2 "invalid name" $S pool create bad@name --type lvm-thin --pv "$l2"
    expect "invalid size" 2 "invalid size" $S vol create tank/v --size 12X
    expect "invalid size (zero)" 2 "invalid size" $S vol create tank/v --size 0
    expect "pool out of space" 1 "pool out of space" $S pool create big --type lvm-thin --vg tank --size 100G
    expect "missing privileges" 1 "missing privileges" setpriv --reuid=65534 --regid=65534 --clear-groups $S vol create tank/v --size 1G
    expect "LVM not available" 1 "LVM or device-mapper not available.*dir pool" env SLUICE_LVM=/nonexistent/lvm $S pool create x --type lvm-thin --pv "$l2"
    expect "usage: missing --type" 2 "--type" $S pool create x --pv "$l2"
    expect "pool delete not empty" 1 "pool not empty" $S pool delete tank

    # --- pool create --vg: a thin pool in an existing VG -----------------
    lvm vgcreate -q vg2 "$l2" --config "$LVMCONF" >/dev/null 2>&1
    check "pool create p2 --type lvm-thin --vg vg2 --size 512M" $S pool create p2 --type lvm-thin --vg vg2 --size 512M
    j=$($S pool info p2 --json)
    python3 -c 'import json,sys; assert json.loads(sys.argv[1])["volume_names"] == []' "$j" 2>/dev/null &&
        ok "pool info --json of an empty pool: volume_names []" || bad "volume_names: $j"
    j=$(lvmj lvs -o lv_name,lv_tags,segtype vg2)
    has "$j" '"lv_name":"p2", "lv_tags":"sluice.pool", "segtype":"thin-pool"' && ok "lvs: vg2/p2 thin pool tagged sluice.pool" || bad "lvs p2: $j"
    check "vol create p2/v1 --size 1G" $S vol create p2/v1 --size 1G
    expect "name taken across pools of one VG" 1 "name taken" $S pool create p2 --type lvm-thin --vg vg2
    check "pool set p2 --autoextend 70:25" $S pool set p2 --autoextend 70:25
    j=$(lvmj lvs -o lv_profile vg2/p2)
    has "$j" '"lv_profile":"sluice-autoextend-70-25"' && ok "lvs: p2 carries profile sluice-autoextend-70-25" || bad "profile: $j"
    info=$($S pool info p2 --json)
    has "$info" '"threshold_percent": 70' && ok "pool info shows autoextend 70%/25%" || bad "autoextend info: $info"
    check "pool delete p2 --force" $S pool delete p2 --force
    j=$(lvmj vgs -o vg_name vg2)
    has "$j" '"vg_name":"vg2"' && ! has "$(lvmj lvs -o lv_name vg2)" '"lv_name":"p' && ok "vgs: vg2 (not sluice's) kept, p2 and v1 gone" || bad "vg2: $j"

    # --- pool delete --force ---------------------------------------------
    check "pool delete tank --force" $S pool delete tank --force
    j=$(lvmj vgs -o vg_name)
    ! has "$j" '"vg_name":"tank"' && ok "vgs: VG tank removed" || bad "tank VG left: $j"
    j=$(lvmj pvs -o pv_name)
    ! has "$j" "\"pv_name\":\"$l1\"" && ok "pvs: $l1 no longer a PV" || bad "pv left: $j"
    expect "unknown pool after delete" 1 "unknown pool" $S pool info tank

    lvm vgremove -q -f vg2 --config "$LVMCONF" >/dev/null 2>&1
    losetup -d "$l1" "$l2"
    rm -rf "$tmp"
    echo "inside: $n checks, $fails failed"
    [ "$fails" = 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside "$2"
    exit $?
fi

SELF=$(readlink -f "$0")
SRC=${SLUICE_SRC:-$(cd "$(dirname "$SELF")/../../.." && pwd)}
BUILD=${SLUICE_BUILD:?SLUICE_BUILD must name the build directory}
# One vCPU: LVM commands run one at a time (and the test beside this one
# keeps a core); 1200 s: 402 s alone on a quiet host before the CLI's report
# cache, over 840 s at load 12-20.
LAB_CPUS=1 lab_launch pool-lvm 1200 -- "$BUILD/tools/sluice/sluice"
