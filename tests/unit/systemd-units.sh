#!/bin/bash
# tests/unit/systemd-units.sh BUILD SLUICED SBINDIR [MANDIR] — the units
# meson configured (BUILD/sluiced.service, BUILD/sluiced@.service) pass
# `systemd-analyze verify` without a single complaint (it exits 0 on unknown
# keys and bad values, so any output fails), as the plain unit and as an
# instance of the template; they start SBINDIR/sluiced (the install's
# prefix) and carry the hardening the README describes. systemd need not be
# PID 1: verify loads the units offline. For the check, ExecStart's path is
# pointed at the built sluiced (verify wants an executable there) and, with
# MANDIR (the built man pages), Documentation= is checked too.
set -u
B=$(readlink -f "${1:?usage: systemd-units.sh BUILD SLUICED SBINDIR [MANDIR]}")
S=$(readlink -f "${2:?}")
SBIN=${3:?}
MANDIR=${4:-}
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

man=--man=no
if [ -n "$MANDIR" ]; then
    # man(1) wants man1/ and man8/ under a MANPATH entry.
    man=--man=yes
    mkdir -p "$tmp/man/man1" "$tmp/man/man8"
    ln -s "$(readlink -f "$MANDIR")"/*.1 "$tmp/man/man1/"
    ln -s "$(readlink -f "$MANDIR")"/*.8 "$tmp/man/man8/"
    export MANPATH=$tmp/man
fi
# verify UNIT-PATH: silent and 0, or a failure with its output.
verify() {
    (cd "$tmp" && systemd-analyze verify $man "$1") >"$tmp/out" 2>&1
    local rc=$?
    if [ $rc = 0 ] && [ ! -s "$tmp/out" ]; then return 0; fi
    echo "exit $rc: $(cat "$tmp/out")"
    return 1
}

for u in sluiced.service sluiced@.service; do
    f=$B/$u
    [ -f "$f" ] || { bad "$u not configured"; continue; }
    grep -qx "ExecStart=$SBIN/sluiced --control /run/sluice/\(sluiced\|%i\).sock --state-dir /var/lib/sluice/sluiced\(\|-%i\) \$SLUICED_ARGS" "$f" &&
        ok "$u starts $SBIN/sluiced" || bad "$u: ExecStart $(grep ExecStart= "$f")"
    # The state folder (devices added at run time) is in the writable state
    # directory, one per instance.
    grep -qx "StateDirectory=sluice" "$f" && grep -q -- "--state-dir /var/lib/sluice/" "$f" &&
        ok "$u keeps its devices in /var/lib/sluice" || bad "$u: no state folder under StateDirectory=sluice"
    grep -q '@[a-z]*@' "$f" && bad "$u: unsubstituted $(grep -o '@[a-z]*@' "$f" | head -1)"
    for want in Type=notify SyslogLevel=err ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
                RuntimeDirectory=sluice 'ReadWritePaths=/run/sluice /var/lib/sluice .*' \
                'CapabilityBoundingSet=CAP_NET_ADMIN .*'; do
        grep -qx "$want" "$f" || bad "$u: no line $want"
    done
    sed "s|^ExecStart=$SBIN/sluiced |ExecStart=$S |" "$f" >"$tmp/$u"
done
if out=$(verify ./sluiced.service); then ok "systemd-analyze verify $man sluiced.service"
else bad "sluiced.service: $out"; fi
if out=$(verify ./sluiced@tenant1.service); then ok "systemd-analyze verify $man sluiced@tenant1.service"
else bad "sluiced@tenant1.service: $out"; fi
grep -qx 'EnvironmentFile=-.*/sluice/%i.conf' "$B/sluiced@.service" &&
    ok "instances read sluice/NAME.conf" || bad "sluiced@.service: no per-instance config"

# The check can fail: a unit with a typo is reported.
sed 's/^Type=notify/Type=notfy/' "$tmp/sluiced.service" >"$tmp/broken.service"
if verify ./broken.service >/dev/null; then bad "verify did not report Type=notfy"
else ok "verify reports a broken unit"; fi

# For the record (not a threshold): systemd's own exposure score.
systemd-analyze security --offline=true "$tmp/sluiced.service" 2>/dev/null | tail -1
[ $fails = 0 ] || exit 1
