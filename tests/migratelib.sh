# SPDX-License-Identifier: Apache-2.0
# QEMU live-migration pieces shared by tests/integration/migrate-qemu.sh and
# tools/bench/migrate.sh (`sluice bench migrate`) (sourced, bash). The caller
# defines log and fail, the arrays CLEANUP_CMDS, and WORK (each QEMU's
# console log and QMP socket go there), KERNEL and APPEND (tools/guest path
# kernel / cmdline) and the guest's initramfs in $WORK/initrd.img; MEM
# (default 512 MiB less 8 KiB) is the guest's RAM. A RAM block whose size is
# no multiple of 64 pages keeps QEMU 7.2 off the dirty-bitmap sync fast path
# that forgets TCG's TLB and so loses guest CPU stores across a migration
# (README, "Live migration"): MEM=512M shows that bug.

QMP="python3 ${SLUICE_SRC:?}/tools/qmp.py"

# start_qemu NAME [ARGS...]: a guest with the test initramfs, its console in
# $WORK/NAME-console.log and its monitor on $WORK/NAME.qmp; pid in QPID.
start_qemu() {
    local name=$1
    shift
    qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "${MEM:-524280K}" \
        -nodefaults -no-user-config -display none -no-reboot \
        -object memory-backend-memfd,id=mem,size="${MEM:-524280K}",share=on -machine memory-backend=mem \
        -chardev stdio,id=con,signal=off -serial chardev:con \
        -kernel "$KERNEL" -initrd "$WORK/initrd.img" -append "$APPEND" \
        -qmp unix:"$WORK/$name.qmp",server=on,wait=off "$@" \
        </dev/null >"$WORK/$name-console.log" 2>&1 &
    QPID=$!
    CLEANUP_CMDS+=("kill -KILL $QPID 2>/dev/null")
    local i
    for i in $(seq 100); do [ -S "$WORK/$name.qmp" ] && return 0; sleep 0.1; done
    fail "QEMU $name did not start: $(tail -3 "$WORK/$name-console.log")"
}

# wait_console NAME TEXT SECONDS
wait_console() {
    local i
    for i in $(seq $(($3 * 5))); do
        grep -aq "$2" "$WORK/$1-console.log" 2>/dev/null && return 0
        sleep 0.2
    done
    fail "no '$2' on the $1 console: $(tail -5 "$WORK/$1-console.log")"
}

mig_field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" | tr -d '"' | head -1; }

# migrate FROM URI: migrate the QEMU whose monitor is $WORK/FROM.qmp to
# URI. With ROUNDS set: at 8 MiB/s with a downtime limit of 1 ms so that it
# cannot converge, until 3 dirty-page rounds happened; then both limits are
# lifted. Logs the figures QEMU reports; query-migrate's last answer is in
# $WORK/query-migrate-FROM.json.
migrate() {
    local from=$1 uri=$2 st status rounds i lifted=
    if [ -n "${ROUNDS:-}" ]; then
        $QMP "$WORK/$from.qmp" migrate-set-parameters '{"max-bandwidth": 8388608, "downtime-limit": 1}' \
            >/dev/null || fail "migrate-set-parameters failed"
    else
        lifted=1
    fi
    $QMP "$WORK/$from.qmp" migrate "{\"uri\": \"$uri\"}" >/dev/null || fail "migrate refused"
    for i in $(seq 600); do
        st=$($QMP "$WORK/$from.qmp" query-migrate)
        status=$(echo "$st" | mig_field status)
        rounds=$(echo "$st" | mig_field dirty-sync-count)
        case $status in
        completed) break ;;
        failed|cancelled) fail "migration $status: $st" ;;
        esac
        if [ "${rounds:-0}" -ge 3 ] && [ -z "$lifted" ]; then
            log "migration: $rounds dirty-page rounds at 8 MiB/s; lifting the limit"
            $QMP "$WORK/$from.qmp" migrate-set-parameters \
                '{"max-bandwidth": 4294967296, "downtime-limit": 300}' >/dev/null
            lifted=1
        fi
        sleep 0.2
    done
    [ "$status" = completed ] || fail "migration did not complete: $st"
    # A guest starved of CPU (a loaded host) dirties little: QEMU may then
    # converge under the limits; what counts is the rounds it made.
    [ -n "$lifted" ] || [ "$(echo "$st" | mig_field dirty-sync-count)" -ge 3 ] ||
        fail "the migration converged before 3 dirty-page rounds: $st"
    log "migration from $from completed: downtime $(echo "$st" | mig_field downtime) ms," \
        "total $(echo "$st" | mig_field total-time) ms, $(echo "$st" | mig_field dirty-sync-count) rounds"
    echo "$st" >"$WORK/query-migrate-$from.json"
}

