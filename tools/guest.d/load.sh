# Module loader of the sluice initramfs (sourced by /init).
# load_lane N: insmod lane N's modules of load.list in order; a failure is
# noted in /tmp/modules.failed.
load_lane() {
    while read -r lane file opts; do
        [ "$lane" = "$1" ] || continue
        insmod "$file" $opts 2>/dev/null || echo "${file##*/}" >>/tmp/modules.failed
    done </lib/modules/load.list
}
# load_modules: lane 0 now, the other lanes in the background (`wait` for them).
load_modules() {
    load_lane 0
    for l in $(cut -d' ' -f1 /lib/modules/load.list | sort -un); do
        [ "$l" = 0 ] || load_lane "$l" &
    done
}
