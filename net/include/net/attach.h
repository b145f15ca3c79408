/* SPDX-License-Identifier: Apache-2.0 */
/* Attaching a host interface (a tap) to a network, by spec string:
 *
 *   "bridge=BR"                      Linux bridge BR (made beforehand)
 *   "hostonly=NET"                   host-only network NET (bridge sh-NET)
 *   "ovs=BR" or "ovs=BR,db=unix:P"   Open vSwitch bridge BR; the database is
 *                                    db=, else $SLUICE_OVSDB, else
 *                                    OVS_DEFAULT_DB (net/ovsdb.h)
 *
 * sluiced calls net_attach() after tap_open() and net_detach() before
 * tap_close(). Each kind is a struct net_attach_ops. Blocking: OVS kinds wait
 * for ovsdb-server (at most 5 s); call from a control thread, not a worker. */
#ifndef SLUICE_NET_ATTACH_H
#define SLUICE_NET_ATTACH_H

#include <net/if.h>
#include <stddef.h>

enum net_kind { NET_KIND_BRIDGE, NET_KIND_HOSTONLY, NET_KIND_OVS };

struct net_spec {
    enum net_kind kind;
    char target[IFNAMSIZ];   /* bridge, network or OVS bridge name */
    char db[128];            /* NET_KIND_OVS: "unix:PATH" or "" for the default */
};

/* Who an interface belongs to; recorded as OVS external_ids
 * ("sluice-vm", "sluice-dev", "attached-mac"); unused by Linux bridges.
 * Every member may be NULL. */
struct net_owner {
    const char *vm;
    const char *dev;
    const char *mac;
};

/* Parse @spec. Returns 0, -EINVAL (unknown key, none or several of
 * bridge/hostonly/ovs, empty or bad name, db= without ovs=),
 * -ENAMETOOLONG. @bad (may be NULL) receives a static description. */
int net_spec_parse(const char *spec, struct net_spec *out, const char **bad);

/* One kind of network. Both functions are non-NULL; @err (may be NULL)
 * receives a one-line reason on failure. */
struct net_attach_ops {
    const char *name;   /* "bridge", "hostonly", "ovs" */
    /* Make @ifname a port of the network and set it up. Returns 0 or -errno
     * (-ENODEV: the network or interface does not exist, -EEXIST: already a
     * port, -ENOENT: the OVS bridge does not exist / no ovsdb-server socket). */
    int (*attach)(const struct net_spec *spec, const char *ifname,
                  const struct net_owner *owner, char *err, size_t errlen);
    /* Remove @ifname from the network. Returns 0 or -errno (-ENOENT: not a
     * port of it). */
    int (*detach)(const struct net_spec *spec, const char *ifname, char *err, size_t errlen);
};

/* The ops of @kind (never NULL for a valid kind). */
const struct net_attach_ops *net_attach_ops_get(enum net_kind kind);

/* Parse @spec and attach / detach @ifname. @owner may be NULL. Return 0 or the
 * codes of net_spec_parse() and of the kind's ops. */
int net_attach(const char *spec, const char *ifname, const struct net_owner *owner,
               char *err, size_t errlen);
int net_detach(const char *spec, const char *ifname, char *err, size_t errlen);

#endif
