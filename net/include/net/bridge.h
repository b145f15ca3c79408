/* SPDX-License-Identifier: Apache-2.0 */
/* Linux bridges over rtnetlink (libnl-route-3): create, delete, list, show,
 * add/remove ports, MTU, up/down, addresses. Names are kernel interface names
 * (at most IFNAMSIZ-1 bytes). All calls act in the calling thread's network
 * namespace and are thread-safe. */
#ifndef SLUICE_NET_BRIDGE_H
#define SLUICE_NET_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/link.h"

/* Creation parameters; zero-initialise for defaults. */
struct br_config {
    unsigned mtu;          /* 0: kernel default */
    bool down;             /* leave the bridge down (default: set it up) */
    const char *alias;     /* IFLA_IFALIAS marker, NULL for none */
};

struct br_port {
    char name[IFNAMSIZ];
    int ifindex;
    bool up;
};

/* A bridge and its ports. Release with br_info_free(). */
struct br_info {
    struct net_link_info link;
    size_t nports;
    struct br_port *ports;   /* owned, sorted by name */
};

/* Create bridge @name (NULL @cfg: defaults). Returns 0, -EEXIST (a link of
 * that name exists), -EINVAL/-ENAMETOOLONG (bad name), -EPERM, -errno. On
 * failure after the link was made, it is deleted again. */
int br_create(const char *name, const struct br_config *cfg);

/* Delete bridge @name (its ports are released by the kernel).
 * Returns 0, -ENODEV (absent), -EMEDIUMTYPE (@name is not a bridge), -errno. */
int br_delete(const char *name);

/* Snapshot of bridge @name. Returns 0, -ENODEV, -EMEDIUMTYPE, -ENOMEM, -errno. */
int br_get(const char *name, struct br_info *out);
/* Free what br_get() allocated; NULL-safe, leaves @info zeroed. */
void br_info_free(struct br_info *info);

/* Every bridge, sorted by name. *out is an array of *n entries (NULL when 0).
 * Returns 0, -ENOMEM, -errno. */
int br_list(struct br_info **out, size_t *n);
void br_list_free(struct br_info *list, size_t n);

/* Make @port a port of bridge @br and set @port up. Returns 0, -ENODEV (either
 * absent), -EMEDIUMTYPE (@br is not a bridge), -EBUSY (already a port of
 * another master), -EINVAL (kernel refused, e.g. a loop), -errno. Already a
 * port of @br: 0. */
int br_add_port(const char *br, const char *port);

/* Release @port from bridge @br. Returns 0, -ENODEV, -EMEDIUMTYPE,
 * -ENOENT (@port is not a port of @br), -errno. */
int br_del_port(const char *br, const char *port);

/* MTU / up-down / address of bridge @br (checked to be a bridge first).
 * Return 0, -ENODEV, -EMEDIUMTYPE, and the net_link_* codes. */
int br_set_mtu(const char *br, unsigned mtu);
int br_set_up(const char *br, bool up);
int br_add_addr(const char *br, const char *cidr);
int br_del_addr(const char *br, const char *cidr);

#endif
