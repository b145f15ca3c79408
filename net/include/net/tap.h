/* SPDX-License-Identifier: Apache-2.0 */
/* Tap devices for virtio-net backends: one file descriptor per queue
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE), vnet header size,
 * offloads, owner, persistence, MTU, MAC, link up/down.
 *
 * The fds are non-blocking (O_NONBLOCK | O_CLOEXEC) and owned by the struct
 * tap: a caller that polls or submits io_uring reads/writes on them must stop
 * doing so before tap_close(). A non-persistent tap disappears when its last
 * fd is closed. */
#ifndef SLUICE_NET_TAP_H
#define SLUICE_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <linux/if_tun.h>   /* TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO */

#define TAP_MAX_QUEUES 64

/* tap_open() flags. */
enum {
    TAP_PERSIST = 1u << 0,       /* TUNSETPERSIST: survive tap_close() */
    TAP_NO_VNET_HDR = 1u << 1,   /* no IFF_VNET_HDR (plain Ethernet frames) */
};

struct tap;

/* Create or attach to tap @name (NULL: the kernel picks "tapN") with @queues
 * queues (1..TAP_MAX_QUEUES; IFF_MULTI_QUEUE is always set, so a persistent
 * tap made elsewhere must have been created multi-queue too). @flags is a mask
 * of TAP_*. Returns 0, -EINVAL (bad name/queues/flags, or an existing device
 * of another type or flag set), -ENAMETOOLONG, -EPERM (no CAP_NET_ADMIN and
 * not the owner), -EBUSY (every queue of an existing device in use),
 * -ENOENT (/dev/net/tun missing), -errno. */
int tap_open(const char *name, unsigned queues, unsigned flags, struct tap **out);

/* Close every queue fd and free @t. A tap not made persistent is deleted by
 * the kernel. NULL-safe, safe on a half-built object. */
void tap_close(struct tap *t);

/* The kernel's name for the device. */
const char *tap_name(const struct tap *t);
unsigned tap_queues(const struct tap *t);
/* The fd of queue @q (< tap_queues()), or -1 when out of range. */
int tap_fd(const struct tap *t, unsigned q);

/* Size of the virtio-net header the kernel expects before each frame: 10
 * (virtio_net_hdr) or 12 (virtio_net_hdr_mrg_rxbuf / VERSION_1). Applied to
 * every queue. Returns 0, -EINVAL (not 10/12/20, or no vnet header), -errno. */
int tap_set_vnet_hdr_size(struct tap *t, int size);

/* Offloads the guest can accept (TUN_F_* mask; 0 disables every offload).
 * Returns 0, -EINVAL (a flag the kernel does not know), -errno. */
int tap_set_offload(struct tap *t, unsigned offloads);

/* Enable or disable queue @q (IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE), for a
 * guest that uses fewer queues. Returns 0, -ERANGE, -errno. */
int tap_set_queue_enabled(struct tap *t, unsigned q, bool enabled);

/* Persistence (TUNSETPERSIST). Returns 0 or -errno. */
int tap_set_persist(struct tap *t, bool persist);

/* Let @uid / @gid (-1: leave unset) open the device without CAP_NET_ADMIN
 * (TUNSETOWNER / TUNSETGROUP). Returns 0 or -errno. */
int tap_set_owner(struct tap *t, uid_t uid, gid_t gid);

/* Link state, MTU (68..65535) and MAC ("aa:bb:cc:dd:ee:ff", the rule of
 * mac_parse() in core/mac.h: unicast, not zero) of the device, through
 * SIOCSIF* ioctls. Return 0, -EINVAL (bad MAC), -ERANGE (MTU), -errno. */
int tap_set_up(struct tap *t, bool up);
int tap_set_mtu(struct tap *t, unsigned mtu);
int tap_set_mac(struct tap *t, const char *mac);

/* Build the conventional name of queue-set @n of device @dev: "sl-<dev>-<n>".
 * Returns 0, -EINVAL (empty @dev) or -ENAMETOOLONG (longer than IFNAMSIZ-1:
 * keep @dev to 9 bytes or fewer for n < 100). */
int tap_make_name(const char *dev, unsigned n, char *buf, size_t len);

/* Delete tap @name, persistent or not (RTM_DELLINK). Returns 0, -ENODEV,
 * -EMEDIUMTYPE (@name is not a tun/tap device), -errno. */
int tap_delete(const char *name);

#endif
