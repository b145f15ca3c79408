# SPDX-License-Identifier: Apache-2.0
# Guest-side script pieces shared by the test tiers (sourced, bash): each
# function prints part of the script the guest kit runs (tools/guest; the
# guest finds guestio at /sluice-files/guestio). Used by
# tests/integration/blk-qemu.sh (packed-restart) and tests/lab/blk-restart.sh.

# guest_fill_verify SEED [DEV]: write guestio's pattern of SEED over the
# whole of DEV (default /dev/vda), flush, drop the page cache, read every
# block back. The guest prints "guest: filling" as it starts, then "guest:
# every block verified", or "guest: fill failed" / "guest: verify failed"
# and exits 1 (a failed flush exits 1 too).
guest_fill_verify() {
    local seed=$1 dev=${2:-/dev/vda}
    cat <<GUEST
io=/sluice-files/guestio
echo "guest: filling"
\$io fill $dev $seed || { echo "guest: fill failed"; exit 1; }
\$io flush $dev || exit 1
echo 3 > /proc/sys/vm/drop_caches
\$io verify $dev $seed || { echo "guest: verify failed"; exit 1; }
echo "guest: every block verified"
GUEST
}
