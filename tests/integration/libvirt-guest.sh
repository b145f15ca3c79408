#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libvirt as sluiced's frontend manager: Debian's real libvirtd (9.0; Debian 12
# ships the monolithic daemon, no virtqemud) started by this test with a
# private configuration, and a TCG domain defined and started with virsh whose
# disk (<disk type='vhostuser'>, reconnect) and NIC (<interface
# type='vhostuser'>, mode='client') are sluiced devices.
#
# Nothing of the host's libvirt is used or changed: libvirtd runs in a mount
# namespace of its own (unshare -m) where /etc/libvirt (libvirtd.conf, given
# with --config too, and qemu.conf), /run/libvirt, /var/lib/libvirt and
# /var/log/libvirt are bind mounts of folders under this test's work folder
# and /var/cache/libvirt is /var/cache/sluice/libvirt (QEMU's capabilities
# cache: ~10 s to rebuild), and in a network namespace of its own (so no
# libvirt network or firewall rule can reach the host's); its sockets are in
# the work folder (virsh -c qemu:///system?socket=...). Only an empty
# /run/libvirt mount point may have to be made; it is removed again on exit.
#
# Checked: QEMU runs as libvirt-qemu, not root; sluiced --group libvirt-qemu
# shares the sockets with it; virsh domblklist/domiflist show the devices; the
# guest pings across the bridge (namespace H holds sluiced and the bridge, P a
# peer) and fills its disk over and over; sluiced is SIGKILLed mid-fill and
# started again, QEMU reconnects both devices (libvirt's <reconnect>), the
# guest pings an address added to the bridge after the restart, stops
# filling and verifies every block (and the host the backing file); virsh
# destroy + undefine leave nothing behind. The README's disk-boot variant
# runs beside it: SeaBIOS boots a boot sector (printing a marker) from a
# read-only sluiced device.
. "$(dirname "$0")/lib.sh"
log() { echo "[$TEST_NAME] ${SECONDS}s: $*"; }

need_root
need_cmd virsh
need_cmd libvirtd
need_cmd unshare
need_cmd nsenter
need_cmd ip
need_cmd as
need_cmd ld
QUSER=libvirt-qemu
getent passwd $QUSER >/dev/null || skip "no user $QUSER (libvirt-daemon-system not installed)"
getent group $QUSER >/dev/null || skip "no group $QUSER"
for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
    [ -d $d ] || skip "no $d (libvirt-daemon-system not installed)"
done
need_guest_kit
ip netns list >/dev/null 2>&1 || skip "no network namespace support"
[ -x "$GUESTIO" ] || fail "guestio not built"

MiB=$((1024 * 1024))
SIZE=$((64 * MiB))
SEED=5151
MAC=52:54:00:5e:00:02
DOM=sluice-lv-$$
# <reconnect timeout=> is QEMU's retry interval: the guest's I/O waits that
# long after sluiced is back (10, as in the README, costs 8 s more here).
RECONNECT=2
NET=10.215.$((RANDOM % 200)).

# --- the network: bridge br0 (.1) in H, peer .3 in P --------------------
netns_pair sllh-$$ sllp-$$
inh ip link add br0 type bridge
inh ip addr add "${NET}1/24" dev br0
inh ip link set br0 up
inh ip link set vp master br0
inp ip addr add "${NET}3/24" dev eth0

# --- what QEMU (user libvirt-qemu) opens: sockets, kernel, initrd, console.
# A folder of its own every user can traverse (the work folder's parents
# may not be).
PUB=$(mktemp -d "${TMPDIR:-/tmp}/sluice-libvirt.XXXXXX")
CLEANUP_CMDS+=("rm -rf $PUB")
chmod 755 "$PUB"
DSOCK=$PUB/disk.sock
NSOCK=$PUB/net.sock
IMG=$WORK/disk.img
truncate -s $SIZE "$IMG"

cat >"$WORK/guest.sh" <<GUEST
io=/sluice-files/guestio
dev=/dev/vda
ip link set eth0 up
ip addr add ${NET}2/24 dev eth0
[ "\$(cat /sys/class/net/eth0/address)" = $MAC ] || { echo "guest: MAC \$(cat /sys/class/net/eth0/address)"; exit 1; }
ping -c 2 -W 5 ${NET}1 >/dev/null || ping -c 3 -W 5 ${NET}1 >/dev/null || { echo "guest: no ping to ${NET}1"; exit 1; }
ping -c 2 -W 5 ${NET}3 >/dev/null || { echo "guest: no ping to ${NET}3"; exit 1; }
echo "guest: pinged ${NET}1 and ${NET}3"
[ "\$(\$io size \$dev)" = $SIZE ] || { echo "guest: size \$(\$io size \$dev)"; exit 1; }
[ "\$(cat /sys/block/vda/serial)" = lv-disk ] || { echo "guest: serial \$(cat /sys/block/vda/serial)"; exit 1; }
[ "\$(ls /sys/block/vda/mq | wc -l)" = 2 ] || { echo "guest: not 2 queues"; exit 1; }
# The disk is filled over and over (the same pattern: any pass leaves the
# same blocks) in the background, so requests are in flight whenever the
# test kills sluiced, until the host's signal: address .4 answers on the
# bridge, which the test adds once sluiced runs again (so the ping also
# shows that the NIC came back).
rm -f /tmp/stop
( n=0
  while [ ! -e /tmp/stop ]; do
      \$io fill \$dev $SEED || { echo "guest: fill failed"; exit 1; }
      n=\$((n + 1)); echo "guest: pass \$n written"
  done ) &
filler=\$!
echo "guest: filling"
i=0
until ping -c 1 -W 1 ${NET}4 >/dev/null 2>&1; do
    i=\$((i + 1)); [ \$i -lt 120 ] || { echo "guest: no ping to ${NET}4 (the restart signal)"; exit 1; }
done
echo "guest: pinged ${NET}4 after the restart"
touch /tmp/stop
wait \$filler || { echo "guest: fill failed"; exit 1; }
\$io flush \$dev || { echo "guest: flush failed"; exit 1; }
echo 3 > /proc/sys/vm/drop_caches
\$io verify \$dev $SEED || { echo "guest: verify failed"; exit 1; }
echo "guest: every block verified"
echo "guest: done"
# Hold: the test ends the domain with virsh destroy.
sleep 600
GUEST
"$GUEST" test-initrd "$WORK/guest.sh" "$PUB/initrd.img" "$GUESTIO" >/dev/null || fail "tools/guest test-initrd failed"
cp "$("$GUEST" path kernel)" "$PUB/kernel"
CMDLINE=$("$GUEST" path cmdline)
chmod 644 "$PUB/kernel" "$PUB/initrd.img"

# A boot sector for the disk-boot domain: it prints a marker on COM1 and
# halts, so the marker on the console shows the firmware (SeaBIOS) read it
# from the vhostuser disk.
cat >"$WORK/boot.S" <<'ASM'
	.code16
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw $msg, %si
next:
	lodsb
	testb %al, %al
	jz done
	movb %al, %bl
	movw $0x3fd, %dx
busy:
	inb %dx, %al
	testb $0x20, %al
	jz busy
	movw $0x3f8, %dx
	movb %bl, %al
	outb %al, %dx
	jmp next
done:
	hlt
	jmp done
msg:
	.asciz "\r\nSLUICE-DISKBOOT-OK\r\n"
	.org 510
	.word 0xaa55
ASM
as --32 -o "$WORK/boot.o" "$WORK/boot.S" && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$WORK/boot.bin" "$WORK/boot.o" ||
    fail "cannot assemble the boot sector"
truncate -s $MiB "$WORK/boot.img"
dd if="$WORK/boot.bin" of="$WORK/boot.img" conv=notrunc status=none
BSOCK=$PUB/boot.sock

# --- sluiced in namespace H, sockets shared with libvirt's QEMU group ---
SPECS=(--group $QUSER
       --blk "socket=$DSOCK,path=$IMG,queues=2,serial=lv-disk,id=disk0"
       --net "socket=$NSOCK,bridge=br0,mac=$MAC,id=lvnet"
       --blk "socket=$BSOCK,path=$WORK/boot.img,readonly,queues=2,id=boot0")
run_sluiced() { # start_sluiced under nsenter (which execs: the pid is sluiced's)
    local real=$SLUICED
    SLUICED=nsenter
    start_sluiced --net=/run/netns/"$NS_H" "$real" "${SPECS[@]}"
    SLUICED=$real
}
run_sluiced
[ "$(stat -c %a:%G "$DSOCK")" = 660:$QUSER ] && [ "$(stat -c %a:%G "$NSOCK")" = 660:$QUSER ] ||
    fail "sockets not 0660 $QUSER: $(stat -c '%n %a:%G' "$DSOCK" "$NSOCK")"

# --- libvirtd, private ----------------------------------------------------
LV=$WORK/libvirt
mkdir -p "$LV"/{etc,run,lib,log,sock}
chmod 755 "$LV/lib"
LVCACHE=${SLUICE_CACHE:-/var/cache/sluice}/libvirt
mkdir -p "$LVCACHE"
cat >"$LV/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$LV/sock"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$WORK/libvirtd.log"
EOF
# QEMU as libvirt-qemu (Debian's default, said explicitly); its console
# file opened by QEMU itself (no virtlogd); no cgroups, no per-domain mount
# namespace (neither is available in a container).
cat >"$LV/etc/qemu.conf" <<EOF
user = "$QUSER"
group = "$QUSER"
stdio_handler = "file"
cgroup_controllers = [ ]
namespaces = [ ]
security_driver = "none"
EOF
RUNDIR_MADE=
if [ ! -d /run/libvirt ]; then
    mkdir /run/libvirt
    RUNDIR_MADE=1
fi
# Every virsh call is bounded: with <reconnect>, QEMU waits for a vhost-user
# socket it cannot reach (sluiced down, or its socket not shared with
# libvirt-qemu) and `virsh start` waits with it, for ever.
VIRSH=(timeout 60 virsh -q -c "qemu:///system?socket=$LV/sock/libvirt-sock")
# Undone in reverse: the domain, the daemon, any QEMU left, the mount point.
lv_cleanup() {
    "${VIRSH[@]}" destroy "$DOM" >/dev/null 2>&1
    "${VIRSH[@]}" undefine "$DOM" >/dev/null 2>&1
    "${VIRSH[@]}" destroy "$DOM-diskboot" >/dev/null 2>&1
    "${VIRSH[@]}" undefine "$DOM-diskboot" >/dev/null 2>&1
    if [ -f "$LV/libvirtd.pid" ]; then
        kill "$(cat "$LV/libvirtd.pid")" 2>/dev/null
        wait "$LVPID" 2>/dev/null
    fi
    pkill -KILL -f -- "-name guest=$DOM," 2>/dev/null
    cp "$LV/log/qemu/$DOM.log" "$WORK/qemu.log" 2>/dev/null
    [ -n "$RUNDIR_MADE" ] && rmdir /run/libvirt
    return 0
}
LVPID=
CLEANUP_CMDS=(lv_cleanup "${CLEANUP_CMDS[@]}")
cat >"$LV/start.sh" <<EOF
set -e
mount --make-rprivate /
mount --bind $LV/etc /etc/libvirt
mount --bind $LV/run /run/libvirt
mount --bind $LV/lib /var/lib/libvirt
mount --bind $LV/log /var/log/libvirt
mount --bind $LVCACHE /var/cache/libvirt
exec nsenter --net=/run/netns/$NS_H libvirtd --config $LV/etc/libvirtd.conf --pid-file $LV/libvirtd.pid
EOF
t0=$(date +%s.%N)
unshare -m sh "$LV/start.sh" >"$WORK/libvirtd-out.log" 2>&1 &
LVPID=$!
for i in $(seq 200); do
    [ -S "$LV/sock/libvirt-sock" ] && "${VIRSH[@]}" version >/dev/null 2>&1 && break
    kill -0 $LVPID 2>/dev/null || fail "libvirtd exited: $(tail -3 "$WORK/libvirtd-out.log" "$WORK/libvirtd.log" 2>/dev/null)"
    sleep 0.1
done
"${VIRSH[@]}" version >/dev/null || fail "libvirtd did not answer"
log "libvirtd up in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-4) s: $("${VIRSH[@]}" version | grep -i 'running hypervisor')"

# --- the domain -----------------------------------------------------------
cat >"$WORK/domain.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$PUB/kernel</kernel>
    <initrd>$PUB/initrd.img</initrd>
    <cmdline>$CMDLINE</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum' check='none'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw' queues='2'/>
      <source type='unix' path='$DSOCK'>
        <reconnect enabled='yes' timeout='$RECONNECT'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='vhostuser'>
      <mac address='$MAC'/>
      <source type='unix' path='$NSOCK' mode='client'>
        <reconnect enabled='yes' timeout='$RECONNECT'/>
      </source>
      <model type='virtio'/>
      <alias name='ua-sluicenet'/>
    </interface>
    <serial type='file'>
      <source path='$PUB/console.log'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <!-- QEMU 7.2 under TCG crashes in msix_set_vector_notifiers with a
       vhost-user netdev; no MSI-X vectors on the NIC avoids it. -->
  <qemu:override>
    <qemu:device alias='ua-sluicenet'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
EOF
"${VIRSH[@]}" define "$WORK/domain.xml" >/dev/null 2>"$WORK/err" || fail "virsh define: $(cat "$WORK/err")"
"${VIRSH[@]}" start "$DOM" >/dev/null 2>"$WORK/err" || fail "virsh start: $(cat "$WORK/err")"
QPID=$(cat "$LV/run/qemu/$DOM.pid" 2>/dev/null) || fail "no QEMU pid file"
quser=$(ps -o user= -p "$QPID") || fail "QEMU $QPID not running"
[ "$quser" = $QUSER ] || fail "QEMU runs as $quser, not $QUSER"
log "QEMU $QPID runs as $quser"

"${VIRSH[@]}" domblklist "$DOM" >"$WORK/blk.txt"
grep -q "^ *vda  *$DSOCK *\$" "$WORK/blk.txt" || fail "domblklist: $(cat "$WORK/blk.txt")"
"${VIRSH[@]}" domiflist "$DOM" >"$WORK/if.txt"
grep -q "vhostuser.*$MAC" "$WORK/if.txt" || fail "domiflist: $(cat "$WORK/if.txt")"
log "domblklist: $(tr -s ' ' <"$WORK/blk.txt" | sed 's/^ //')"
log "domiflist: $(tr -s ' ' <"$WORK/if.txt" | sed 's/^ //')"

# The disk-boot variant (the README's second domain), run beside the first:
# no kernel of its own, the firmware boots the read-only boot0 device
# (<boot order='1'/>); no NIC.
sed -e '/<kernel>\|<initrd>\|<cmdline>/d' -e "s|<name>$DOM<|<name>$DOM-diskboot<|" \
    -e "s|$DSOCK|$BSOCK|" -e "s|<target dev='vda' bus='virtio'/>|&<boot order='1'/>|" \
    -e "s|<memory unit='MiB'>512<|<memory unit='MiB'>64<|" -e "s|<vcpu>2<|<vcpu>1<|" \
    -e "s|$PUB/console.log|$PUB/boot-console.log|" \
    -e '/<interface/,/<\/interface>/d' -e '/<!-- QEMU 7.2/,/<\/qemu:override>/d' \
    "$WORK/domain.xml" >"$WORK/diskboot.xml"
"${VIRSH[@]}" define "$WORK/diskboot.xml" >/dev/null 2>"$WORK/err" || fail "virsh define (disk boot): $(cat "$WORK/err")"
"${VIRSH[@]}" start "$DOM-diskboot" >/dev/null 2>"$WORK/err" || fail "virsh start (disk boot): $(cat "$WORK/err")"
for i in $(seq 600); do grep -aq SLUICE-DISKBOOT-OK "$PUB/boot-console.log" 2>/dev/null && break; sleep 0.1; done
grep -aq SLUICE-DISKBOOT-OK "$PUB/boot-console.log" || fail "the disk-boot domain did not boot from its vhostuser disk"
"${VIRSH[@]}" destroy "$DOM-diskboot" >/dev/null && "${VIRSH[@]}" undefine "$DOM-diskboot" >/dev/null ||
    fail "virsh destroy/undefine (disk boot)"
log "the disk-boot domain booted from the vhostuser disk"

CON=$PUB/console.log
wait_for() { # wait_for PATTERN SECONDS
    wait_guest_line "$1" "$CON" "$QPID" "$2" && return 0
    cp "$CON" "$WORK/console.log" 2>/dev/null
    fail "the guest never printed '$1': $(grep -a 'guest:\|SLUICE-EXIT' "$CON" 2>/dev/null | tail -3)"
}
wait_for "guest: pinged ${NET}1 and ${NET}3" 60
log "guest pinged"
wait_for "guest: filling" 20
sleep 0.5
log "killing sluiced $SLUICED_PID mid-fill ($(grep -ac 'guest: pass' "$CON") passes written)"
kill -KILL "$SLUICED_PID"
wait "$SLUICED_PID" 2>/dev/null || true
sleep 0.3
t1=$(date +%s.%N)
run_sluiced
inh ip addr add "${NET}4/24" dev br0
wait_for "guest: pinged ${NET}4 after the restart" 60
log "the guest's NIC is back $(echo "$(date +%s.%N) - $t1" | bc | cut -c1-4) s after the restart"
wait_for "guest: done" 60
for d in disk0 lvnet; do
    [ "$(grep -c "$d: frontend connected" "$WORK/sluiced.log")" = 2 ] ||
        fail "$d: QEMU did not reconnect once: $(grep "$d: frontend" "$WORK/sluiced.log")"
done
log "the guest verified every block; $(grep -ac 'guest: pass' "$CON") fill passes in all, $(grep -c 'frontend connected' "$WORK/sluiced.log") frontend connections"
grep -q "resubmitting" "$WORK/sluiced.log" && log "sluiced: $(grep -o 'resubmitting.*' "$WORK/sluiced.log" | head -1)"

"${VIRSH[@]}" destroy "$DOM" >/dev/null || fail "virsh destroy failed"
"${VIRSH[@]}" undefine "$DOM" >/dev/null || fail "virsh undefine failed"
log "virsh destroy + undefine done"
"${VIRSH[@]}" list --all --name | grep -q . && fail "domains left: $("${VIRSH[@]}" list --all --name)"
kill -0 "$QPID" 2>/dev/null && fail "QEMU $QPID still running after virsh destroy"
stop_sluiced "$DSOCK" "$NSOCK" "$BSOCK"
"$GUESTIO" verify "$IMG" $SEED || fail "backing file: pattern wrong"
kill "$(cat "$LV/libvirtd.pid")"
wait $LVPID || fail "libvirtd exited with an error"
LVPID=
log "libvirtd stopped"
log PASS
