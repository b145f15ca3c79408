/* SPDX-License-Identifier: Apache-2.0 */
/* Attaching a host interface (a tap) to a network, described by a typed
 * struct net_spec (made from parts with net_spec_make(), or from a spec
 * string with net_spec_parse()):
 *
 *   "bridge=BR"                      Linux bridge BR (made beforehand)
 *   "hostonly=NET"                   host-only network NET (bridge sh-NET)
 *   "ovs=BR" or "ovs=BR,db=unix:P"   Open vSwitch bridge BR; the database is
 *                                    db=, else $SLUICE_OVSDB, else
 *                                    OVS_DEFAULT_DB (net/ovsdb.h)
 *   "ovs=BR,iface-id=LSP"            the same, the interface bound to OVN's
 *                                    logical switch port LSP
 *                                    (external_ids:iface-id)
 *
 * sluiced calls net_attach() after tap_open() and net_detach() before
 * tap_close(). Each kind is a struct net_attach_ops. Blocking: OVS kinds wait
 * for ovsdb-server (at most 5 s); call from a control thread, not a worker. */
#ifndef SLUICE_NET_ATTACH_H
#define SLUICE_NET_ATTACH_H

#include <net/if.h>
#include <stddef.h>

#include "core/err.h"

enum net_kind { NET_KIND_BRIDGE, NET_KIND_HOSTONLY, NET_KIND_OVS };

struct net_spec {
    enum net_kind kind;
    char target[IFNAMSIZ];   /* bridge, network or OVS bridge name */
    char db[128];            /* NET_KIND_OVS: "unix:PATH" or "" for the default */
    char iface_id[128];      /* NET_KIND_OVS: OVN logical switch port or "" (none) */
};

/* Who an interface belongs to; recorded as OVS external_ids
 * ("sluice-vm", "sluice-dev", "attached-mac", next to the spec's
 * "iface-id"); unused by Linux bridges.
 * Every member may be NULL. */
struct net_owner {
    const char *vm;
    const char *dev;
    const char *mac;
};

/* Make *@out from its parts: network @target of @kind and, for
 * NET_KIND_OVS only, the database @db ("unix:PATH"; NULL: the default) and
 * the OVN logical switch port @iface_id (NULL: none; ovs_iface_id_check()).
 * Returns 0, -EINVAL (empty or bad name, db or iface_id with another kind,
 * db not unix:PATH, empty or bad iface_id) or -ENAMETOOLONG, with @err (may
 * be NULL) saying why. */
int net_spec_make(enum net_kind kind, const char *target, const char *db, const char *iface_id,
                  struct net_spec *out, struct sl_err *err);

/* Parse the string form "bridge=BR" | "hostonly=NET" |
 * "ovs=BR[,db=unix:P][,iface-id=LSP]". Returns 0, -EINVAL (unknown key, none
 * or several of bridge/hostonly/ovs, empty or bad name, db= or iface-id=
 * without ovs=), -ENAMETOOLONG, -ENOMEM; @err (may be NULL) says why. */
int net_spec_parse(const char *spec, struct net_spec *out, struct sl_err *err);

/* Room for the string form of any struct net_spec, with its NUL. */
#define NET_SPEC_STRLEN (sizeof("hostonly=,db=,iface-id=") + IFNAMSIZ + 128 + 128)

/* Write the string form of @spec (as net_spec_parse() reads it) into @buf.
 * Returns 0 or -ENAMETOOLONG (@len too small; @buf holds a truncation). */
int net_spec_format(const struct net_spec *spec, char *buf, size_t len);

/* One kind of network. Both functions are non-NULL; @err (may be NULL)
 * receives a one-line reason on failure. */
struct net_attach_ops {
    const char *name;   /* "bridge", "hostonly", "ovs" */
    /* Make @ifname a port of the network and set it up. Returns 0 or -errno
     * (-ENODEV: the network or interface does not exist, -EEXIST: already a
     * port, -ENOENT: the OVS bridge does not exist / no ovsdb-server socket). */
    int (*attach)(const struct net_spec *spec, const char *ifname,
                  const struct net_owner *owner, struct sl_err *err);
    /* Remove @ifname from the network. Returns 0 or -errno (-ENOENT: not a
     * port of it). */
    int (*detach)(const struct net_spec *spec, const char *ifname, struct sl_err *err);
};

/* The ops of @kind (never NULL for a valid kind). */
const struct net_attach_ops *net_attach_ops_get(enum net_kind kind);

/* Attach / detach @ifname with the ops of @spec->kind. @owner may be NULL.
 * Return 0, -EINVAL / -ENAMETOOLONG (bad interface name) or the codes of
 * the kind's ops; @err (may be NULL) says why. */
int net_attach(const struct net_spec *spec, const char *ifname, const struct net_owner *owner,
               struct sl_err *err);
int net_detach(const struct net_spec *spec, const char *ifname, struct sl_err *err);

#endif
