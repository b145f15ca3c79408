/* SPDX-License-Identifier: Apache-2.0 */
/* Host-only networks: a Linux bridge "sh-<name>" with an IPv4 host address
 * and no uplink. Guests attached to it reach the host (that address) and each
 * other, nothing beyond:
 *  - no physical or other uplink is ever enslaved by sluice;
 *  - IPv4 forwarding is disabled on the bridge (net.ipv4.conf.<br>.forwarding
 *    = 0), so the host does not route packets that arrive from it, even when
 *    global forwarding is on;
 *  - IPv6 is disabled on the bridge (net.ipv6.conf.<br>.disable_ipv6 = 1):
 *    Linux has no per-interface IPv6 forwarding switch, so the host takes no
 *    IPv6 from it at all.
 * Writing net.ipv4.ip_forward or net.ipv4.conf.all.forwarding resets the
 * per-interface switch of every interface to that value; hostonly_isolate()
 * (called by net_attach() for every host-only attachment) sets it back.
 * The bridge carries the IFLA_IFALIAS "sluice-hostonly:<name>", which is how
 * hostonly_list() tells host-only bridges from others. Acts in the calling
 * thread's network namespace. No DHCP: guests are configured statically. */
#ifndef SLUICE_NET_HOSTONLY_H
#define SLUICE_NET_HOSTONLY_H

#include <stddef.h>

#include "core/err.h"
#include "net/bridge.h"

#define HOSTONLY_PREFIX "sh-"
#define HOSTONLY_ALIAS "sluice-hostonly:"
/* Longest network name: IFNAMSIZ-1 minus the prefix. */
#define HOSTONLY_NAME_MAX 12

struct hostonly_info {
    char name[HOSTONLY_NAME_MAX + 1];
    struct br_info br;     /* the bridge, its address(es) and ports */
};

/* "sh-<name>" into @buf. Returns 0, -EINVAL (bad characters, empty),
 * -ENAMETOOLONG (name longer than HOSTONLY_NAME_MAX). */
int hostonly_bridge_name(const char *name, char *buf, size_t len);

/* Check @cidr as the host address of a new network: IPv4, a unicast
 * address, prefix /8 to /30, neither the network nor the broadcast address
 * of its subnet, and a subnet that overlaps no address on any link of the
 * namespace (another host-only network's included). Returns 0, -EINVAL (bad
 * address), -EAFNOSUPPORT (IPv6), -EADDRINUSE (overlap), -errno; @err (may
 * be NULL) receives a one-line reason. */
int hostonly_check_addr(const char *cidr, struct sl_err *err);

/* Create network @name with host address @cidr ("10.77.0.1/24", checked by
 * hostonly_check_addr()) and MTU @mtu (0: default). Returns 0, -EINVAL (bad
 * name or address), -EAFNOSUPPORT (an IPv6 address), -EADDRINUSE (the subnet
 * overlaps an address on the host), -ENAMETOOLONG, -EEXIST (the bridge
 * exists), -EPERM, -errno; @err (may be NULL) receives the reason of an
 * address error. Nothing is left behind on failure. */
int hostonly_create(const char *name, const char *cidr, unsigned mtu, struct sl_err *err);

/* (Re-)apply the isolation sysctls of network @name. Returns 0, -ENODEV,
 * -EINVAL, -ENAMETOOLONG, -errno. */
int hostonly_isolate(const char *name);

/* Delete network @name. Returns 0, -ENODEV (no such network),
 * -EMEDIUMTYPE (the bridge of that name was not made by hostonly_create), -errno. */
int hostonly_delete(const char *name);

/* Snapshot of network @name (free with hostonly_info_free()). Returns 0,
 * -ENODEV, -EMEDIUMTYPE, -errno. */
int hostonly_get(const char *name, struct hostonly_info *out);
void hostonly_info_free(struct hostonly_info *info);

/* Every host-only network, sorted by name. Returns 0, -ENOMEM, -errno. */
int hostonly_list(struct hostonly_info **out, size_t *n);
void hostonly_list_free(struct hostonly_info *list, size_t n);

#endif
