/* SPDX-License-Identifier: Apache-2.0 */
/* Rate limits on a tap with the kernel's traffic control (libnl-route-3),
 * named from the guest's side as libvirt's <bandwidth> does:
 *   rx (guest receives)  = what the host sends into the tap = the tap's
 *                          egress: a tbf qdisc at the tap's root;
 *   tx (guest transmits) = what sluiced writes to the tap fd = the tap's
 *                          ingress: an ingress qdisc whose u32 match-all
 *                          filter redirects (mirred) every packet to an ifb
 *                          device, shaped there by a tbf qdisc at its root.
 * The ingress side is shaped (queued), not policed: the kernel's police
 * action drops what exceeds the rate, which makes a TCP stream undershoot
 * it, and it is an optional module (act_police) that some kernels lack;
 * ifb + mirred + tbf is how the CNI bandwidth plugin shapes ingress too.
 * The ifb is named net_shaper_ifb_name(tap) and deleted with the limit.
 * Every call opens its own netlink socket and acts in the calling thread's
 * network namespace; it needs CAP_NET_ADMIN. */
#ifndef SLUICE_NET_SHAPER_H
#define SLUICE_NET_SHAPER_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Rates are bits per second; tbf takes bytes per second in 32 bits. */
#define NET_SHAPE_MIN_BPS 8000ull
#define NET_SHAPE_MAX_BPS 16000000000ull
/* The default bucket: 10 ms at the rate, at least this many bytes (a few
 * frames of a 1500-byte MTU; a bigger MTU's frame always fits, and GSO
 * packets larger than the bucket are split by tbf into frames). */
#define NET_SHAPE_MIN_DEFAULT_BURST (16u * 1024)
#define NET_SHAPE_MAX_BURST (64ull << 20)

struct net_shape {
    uint64_t rx_bps;   /* guest receive (tap egress); 0: unlimited */
    uint64_t tx_bps;   /* guest transmit (tap ingress); 0: unlimited */
    uint64_t burst;    /* bucket size in bytes, both directions; 0: default */
};

/* Check @sh without touching the kernel: each rate 0 or in
 * [NET_SHAPE_MIN_BPS, NET_SHAPE_MAX_BPS], burst 0 or at most
 * NET_SHAPE_MAX_BURST, and not more than 10 s at the smaller rate set.
 * Returns 0 or -EINVAL with @err saying why. */
int net_shape_check(const struct net_shape *sh, struct sl_err *err);

/* One option of a --net spec or a `dev set`: "rx-rate" or "tx-rate"
 * (parse_rate(): bits per second, "20M"; 0: unlimited) or "burst"
 * (parse_size(): bytes, "256K"; 0: the default) = @value, into @sh.
 * Returns 1 (taken), 0 (@key is none of these) or -EINVAL (bad value, @err
 * says why). */
int net_shape_option(struct net_shape *sh, const char *key, const char *value, struct sl_err *err);

/* The bucket used for @bps under @sh on a link of @mtu: sh->burst, or by
 * default 10 ms at @bps, at least NET_SHAPE_MIN_DEFAULT_BURST and one frame. */
uint64_t net_shape_burst(const struct net_shape *sh, uint64_t bps, unsigned mtu);

/* Make the limits of tap @tap be @sh: set, change (in place) or remove
 * each direction. Returns 0 or -errno with @err saying why: -EINVAL (bad
 * @sh, or a burst smaller than one frame of the tap's MTU), -ENODEV (no such
 * link), -EPERM (no CAP_NET_ADMIN), -ENOENT/-EOPNOTSUPP (the kernel lacks
 * sch_tbf, sch_ingress, cls_u32, act_mirred or ifb). On failure a direction
 * being added is removed again; one being changed may keep its old limit. */
int net_shaper_set(const char *tap, const struct net_shape *sh, struct sl_err *err);

/* Remove both limits (net_shaper_set() with no rates). Also removes an ifb
 * left behind for @tap by a process that died. Returns 0 or -errno. */
int net_shaper_clear(const char *tap, struct sl_err *err);

/* The ifb name for @tap ("sl-ifb-" and 8 hex digits of a hash of the
 * name) in @buf (at least IFNAMSIZ bytes). */
void net_shaper_ifb_name(const char *tap, char *buf, size_t len);

#endif
