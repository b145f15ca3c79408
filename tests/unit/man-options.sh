#!/bin/bash
# tests/unit/man-options.sh SLUICE SLUICED SLUICE-VMM MANDIR — every option
# each program's --help prints appears in its man page (built by scdoc in
# MANDIR): sluiced --help in sluiced(8), sluice-vmm --help in sluice-vmm(1),
# sluice --help in sluice(1), and `sluice NOUN --help` and every
# `sluice NOUN [GROUP] VERB --help` in sluice-NOUN(1), together with the verb's
# name. A new option without its line in the page fails here.
set -u
S=$(readlink -f "${1:?usage: man-options.sh SLUICE SLUICED SLUICE-VMM MANDIR}")
D=$(readlink -f "${2:?}")
V=$(readlink -f "${3:?}")
[ -n "${4:-}" ] || { echo "SKIP: man pages not built (no scdoc; -Dman=disabled)"; exit 77; }
M=$(readlink -f "$4")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SLUICE_STATE_DIR=$tmp/state SLUICE_CONTROL=$tmp/none.sock
fails=0 checked=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The page's text without roff font escapes.
text() { sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\(em/-/g' "$M/$1"; }
# check PAGE WHAT HELP-TEXT-FILE: each --option of the help is in the page.
check() {
    local page=$1 what=$2 o
    [ -f "$M/$page" ] || { bad "$page not built"; return; }
    for o in $(grep -oE -- '(^|[^a-z-])--[a-z][a-z0-9-]*' "$3" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
        checked=$((checked + 1))
        text "$page" | grep -qE -- "(^|[^a-z-])$o([^a-z0-9-]|\$)" || bad "$what: $o is not in $page"
    done
}

"$D" --help >"$tmp/h"; check sluiced.8 "sluiced --help" "$tmp/h"
"$V" --help >"$tmp/h"; check sluice-vmm.1 "sluice-vmm --help" "$tmp/h"
"$S" --help >"$tmp/h"; check sluice.1 "sluice --help" "$tmp/h"

verbs() { "$S" "$@" --help | awk 'NR > 2 && /^$/ { exit } NR > 2 && /^  [a-z]/ { print $1 }'; }
nverbs=0
for noun in pool vol net dev bench; do
    page=sluice-$noun.1
    "$S" $noun --help >"$tmp/h"; check $page "sluice $noun --help" "$tmp/h"
    for v in $(verbs $noun); do
        if "$S" $noun $v --help | head -n1 | grep -q '<verb>'; then
            for g in $(verbs $noun $v); do
                "$S" $noun $v $g --help >"$tmp/h"; check $page "sluice $noun $v $g --help" "$tmp/h"
                text $page | grep -qE "(^|[^a-z-])$v $g([^a-z-]|\$)" || bad "$page: no '$v $g'"
                nverbs=$((nverbs + 1))
            done
        else
            "$S" $noun $v --help >"$tmp/h"; check $page "sluice $noun $v --help" "$tmp/h"
            text $page | grep -qE "(^|[^a-z-])$v([^a-z-]|\$)" || bad "$page: no verb '$v'"
            nverbs=$((nverbs + 1))
        fi
    done
done
echo "checked $checked options of 3 programs and $nverbs verbs"
[ $nverbs -ge 40 ] || bad "only $nverbs verbs found"
[ $fails = 0 ] || exit 1
echo "ok: every --help option is in its man page"
