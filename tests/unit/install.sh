#!/bin/bash
# tests/unit/install.sh BUILD NAME=DIR... — `meson install --destdir` of
# BUILD into a temporary folder lists exactly what a user needs: the three
# programs, the benchmark drivers behind `sluice bench`, and (each when
# configured) the man pages, the bash completion and the systemd units;
# nothing else (no test helpers, no static libraries, no headers). The DIRs
# are the build's own install folders (absolute, PREFIX included), so a
# --prefix or a -Dsystemdunitdir shows up in the list.
set -u
B=$(readlink -f "${1:?usage: install.sh BUILD bindir=DIR sbindir=DIR ...}")
shift
declare -A d
for kv in "$@"; do d[${kv%%=*}]=${kv#*=}; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

if ! meson install -C "$B" --no-rebuild --destdir "$tmp/root" --quiet >"$tmp/log" 2>&1; then
    cat "$tmp/log"; echo "FAIL: meson install"; exit 1
fi

{
    echo "${d[bindir]}/sluice"
    echo "${d[bindir]}/sluice-vmm"
    echo "${d[sbindir]}/sluiced"
    for f in sluice-bench sluice-blkbench sluice-pktgen bench.gnuplot; do
        echo "${d[libexecdir]}/sluice/$f"
    done
    if [ "${d[man]:-no}" = yes ]; then
        for p in sluice sluice-pool sluice-vol sluice-net sluice-dev sluice-bench sluice-vmm; do
            echo "${d[mandir]}/man1/$p.1"
        done
        echo "${d[mandir]}/man8/sluiced.8"
    fi
    if [ "${d[completion]:-no}" = yes ]; then
        echo "${d[completiondir]}/sluice"
    fi
    if [ "${d[systemd]:-no}" = yes ]; then
        echo "${d[unitdir]}/sluiced.service"
        echo "${d[unitdir]}/sluiced@.service"
    fi
} | sort >"$tmp/want"
(cd "$tmp/root" && find . ! -type d | sed 's|^\.||' | sort) >"$tmp/got"
if diff -u "$tmp/want" "$tmp/got"; then
    echo "ok: installed files: $(wc -l <"$tmp/got")"
else
    bad "installed files differ from the list (- expected, + installed)"
fi

# Executables are executable, data is not.
while read -r f; do
    case $f in
    */bin/*|*/sbin/*|*/sluice-bench|*/sluice-blkbench|*/sluice-pktgen)
        [ -x "$tmp/root$f" ] || bad "$f is not executable" ;;
    *)  [ -x "$tmp/root$f" ] && bad "$f is executable" ;;
    esac
done <"$tmp/got"

# The installed sluice finds the installed sluice-bench (libexec); the
# installed sluice-bench finds the installed sluiced (its configured sbin)
# and says that boot needs the source tree.
out=$("$tmp/root${d[bindir]}/sluice" bench boot --quick --output "$tmp/res" 2>&1)
case $out in
*"boot needs the source tree"*) echo "ok: installed sluice bench boot: $out" ;;
*) bad "installed sluice bench boot: $out" ;;
esac
grep -q "^SBINDIR = \"${d[sbindir]}\"\$" "$tmp/root${d[libexecdir]}/sluice/sluice-bench" &&
    echo "ok: installed sluice-bench looks for sluiced in ${d[sbindir]}" ||
    bad "installed sluice-bench does not know ${d[sbindir]}"
[ $fails = 0 ] || exit 1
