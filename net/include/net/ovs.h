/* SPDX-License-Identifier: Apache-2.0 */
/* Open vSwitch bridges and ports through the OVSDB protocol (RFC 7047) on an
 * ovs_client (net/ovsdb.h), not by running ovs-vsctl.
 *
 * Each call is one or two "transact" requests; checks that could race are
 * "wait" operations inside the same transaction, so a bridge that vanishes
 * meanwhile makes the transaction fail, never leaves half a change. Bridge,
 * Port and Interface rows are not roots in the vswitch schema: removing a
 * bridge from Open_vSwitch.bridges (or a port from Bridge.ports) makes the
 * server garbage-collect what hung below it.
 *
 * These calls do not wait for ovs-vswitchd to apply the change (like
 * `ovs-vsctl --no-wait`). On failure ovs_client_error() says why, e.g.
 * "bridge br0 does not exist". */
#ifndef SLUICE_NET_OVS_H
#define SLUICE_NET_OVS_H

#include <stddef.h>

#include <json-c/json.h>

#include "net/ovsdb.h"

struct ovs_kv {
    char *key;
    char *value;
};

struct ovs_port_info {
    char *name;
    char *uuid;
    char *type;               /* the interface's type: "", "internal", ... */
    size_t n_ext;             /* external_ids of the port's interface */
    struct ovs_kv *ext;       /* sorted by key */
};

struct ovs_bridge_info {
    char *name;
    char *uuid;
    char *datapath_type;      /* "" (system default), "netdev", ... */
    size_t n_ext;
    struct ovs_kv *ext;       /* the bridge's external_ids, sorted by key */
    size_t nports;
    struct ovs_port_info *ports;   /* sorted by name; includes the bridge's own internal port */
};

/* Add bridge @br (and its internal port and interface, as ovs-vsctl does).
 * @datapath_type: NULL or "" for the default, "netdev" for the userspace
 * datapath. Creates the Open_vSwitch root row when the database has none.
 * Returns 0, -EEXIST, -EINVAL (bad name), and the ovs_client_transact() codes. */
int ovs_br_add(struct ovs_client *c, const char *br, const char *datapath_type, int timeout_ms);

/* Delete bridge @br with its ports. Returns 0, -ENOENT (no such bridge), and
 * the ovs_client_transact() codes. */
int ovs_br_del(struct ovs_client *c, const char *br, int timeout_ms);

/* OVN's name for the logical switch port an Interface is bound to
 * (external_ids:iface-id): 1 to OVS_IFACE_ID_MAX - 1 printable ASCII
 * characters, no blank and no ',' (it is a value of an option string). */
#define OVS_IFACE_ID_MAX 128
/* Returns 0, -EINVAL (empty, or a character outside that set) or
 * -ENAMETOOLONG; OVS_IFACE_ID_RULE says so to a user. */
#define OVS_IFACE_ID_RULE "1-127 printable characters, no blank or ','"
int ovs_iface_id_check(const char *id);

/* The external_ids sluice puts on a port it adds, each only when non-NULL:
 * sluice-vm @vm, sluice-dev @dev, attached-mac @mac and iface-id @iface_id
 * (ovn-controller binds the logical switch port of that name to the
 * interface). Fills @ext (borrowing the strings) and returns how many. */
#define OVS_PORT_EXT_MAX 4
size_t ovs_port_ext(const char *vm, const char *dev, const char *mac, const char *iface_id,
                    struct ovs_kv ext[OVS_PORT_EXT_MAX]);

/* Add port @port (one interface of type "" i.e. a system/netdev device of
 * that name, like a tap or veth) to bridge @br; @n_ext external_ids pairs go
 * on both the Port and the Interface row. Returns 0, -ENOENT (no bridge),
 * -EEXIST (a port of that name exists on any bridge), -EINVAL, and the
 * ovs_client_transact() codes. */
int ovs_port_add(struct ovs_client *c, const char *br, const char *port,
                 const struct ovs_kv *ext, size_t n_ext, int timeout_ms);

/* Remove port @port from bridge @br. Returns 0, -ENOENT (no bridge, no port,
 * or the port is on another bridge; ovs_client_error() says which), and the
 * ovs_client_transact() codes. */
int ovs_port_del(struct ovs_client *c, const char *br, const char *port, int timeout_ms);

/* Every bridge with its ports, sorted by name. Free with ovs_br_list_free().
 * Returns 0, -EPROTO (malformed rows), -ENOMEM, and the transact codes. */
int ovs_br_list(struct ovs_client *c, struct ovs_bridge_info **out, size_t *n, int timeout_ms);
void ovs_br_list_free(struct ovs_bridge_info *list, size_t n);

/* ---- Transactions and parsing, exposed for tests ---- */

/* The transaction ovs_br_add() sends: @ovs_root_uuid is the Open_vSwitch
 * row's uuid, or NULL to insert that row. NULL on ENOMEM. */
struct json_object *ovs_txn_br_add(const char *br, const char *datapath_type,
                                   const char *ovs_root_uuid);
/* The transaction of ovs_port_add(). NULL on ENOMEM. */
struct json_object *ovs_txn_port_add(const char *br, const char *port,
                                     const struct ovs_kv *ext, size_t n_ext);
/* The read-only transaction ovs_br_list() sends (selects of Bridge, Port,
 * Interface), and the parser of its result. ovs_parse_list returns 0,
 * -EPROTO (malformed; @err says where), -ENOMEM. */
struct json_object *ovs_txn_list(void);
int ovs_parse_list(struct json_object *result, struct ovs_bridge_info **out, size_t *n,
                   struct sl_err *err);

/* OVSDB value helpers: the uuid string of ["uuid", U] (borrowed) or NULL;
 * the elements of a set value (an atom counts as a set of one): calls @fn
 * for each, stopping at a non-zero return, which it returns. Returns
 * -EPROTO when @v is not a well-formed set. */
const char *ovs_value_uuid(struct json_object *v);
int ovs_value_set_foreach(struct json_object *v, int (*fn)(struct json_object *elem, void *arg),
                          void *arg);

#endif
