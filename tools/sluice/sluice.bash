# bash completion for sluice -*- shell-script -*-
# SPDX-License-Identifier: Apache-2.0
# The candidates come from `sluice __complete WORD... CUR`, which reads the
# CLI's own verb tables and listings (tools/sluice/cli-complete.c): nouns,
# verbs, each verb's options, and live pools, volumes, devices and bridges.
_sluice()
{
    local cur=${COMP_WORDS[COMP_CWORD]} w out
    local IFS=$'\n'

    out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    COMPREPLY=()
    for w in $out; do
        case $w in
        @files) COMPREPLY+=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
        @dirs) COMPREPLY+=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
        *) COMPREPLY+=("$w") ;;
        esac
    done
    return 0
}
complete -F _sluice sluice
