/* SPDX-License-Identifier: Apache-2.0 */
/* net_attach(): taps onto Linux bridges, host-only networks, OVS bridges. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/opts.h"
#include "core/util.h"
#include "net/attach.h"
#include "net/bridge.h"
#include "net/hostonly.h"
#include "net/ovs.h"

#define ATTACH_TIMEOUT_MS 5000

int net_spec_make(enum net_kind kind, const char *target, const char *db, const char *iface_id,
                  struct net_spec *out, struct sl_err *err)
{
    char path[108];
    int r;

    memset(out, 0, sizeof(*out));
    if (!net_attach_ops_get(kind))
        return err_set(err, -EINVAL, "unknown kind of network");
    if (!target || !*target)
        return err_set(err, -EINVAL, "network name missing");
    if (kind == NET_KIND_HOSTONLY) {
        char br[IFNAMSIZ];
        r = hostonly_bridge_name(target, br, sizeof(br));
    } else {
        r = net_name_check(target);
    }
    if (r < 0)
        return err_set(err, r, r == -ENAMETOOLONG ? "network name too long" : "invalid network name");
    if (db && kind != NET_KIND_OVS)
        return err_set(err, -EINVAL, "db= applies to ovs= only");
    if (db) {
        r = ovs_db_path(db, path, sizeof(path));
        if (r == 0 && strlen(db) >= sizeof(out->db))
            r = -ENAMETOOLONG;
        if (r < 0)
            return err_set(err, r, "db= must be unix:PATH");
        snprintf(out->db, sizeof(out->db), "%s", db);
    }
    if (iface_id && kind != NET_KIND_OVS)
        return err_set(err, -EINVAL, "iface-id= applies to ovs= only");
    if (iface_id) {
        _Static_assert(sizeof(out->iface_id) == OVS_IFACE_ID_MAX, "iface_id holds any valid one");
        r = ovs_iface_id_check(iface_id);
        if (r < 0)
            return err_set(err, r, "iface-id= must name a logical switch port (%s)", OVS_IFACE_ID_RULE);
        snprintf(out->iface_id, sizeof(out->iface_id), "%s", iface_id);
    }
    out->kind = kind;
    snprintf(out->target, sizeof(out->target), "%s", target);
    return 0;
}

int net_spec_parse(const char *spec, struct net_spec *out, struct sl_err *err)
{
    struct opts o;
    const char *bad = NULL, *v, *target = NULL;
    int found = -1, r;

    memset(out, 0, sizeof(*out));
    if (!spec || !*spec)
        return err_set(err, -EINVAL, "empty network spec");
    r = opts_parse(spec, &o, &bad);
    if (r < 0)
        return err_set(err, r, "%s", bad ? bad : strerror(-r));
    for (enum net_kind k = NET_KIND_BRIDGE; k <= NET_KIND_OVS; k++) {
        v = opts_get(&o, net_attach_ops_get(k)->name);
        if (!v)
            continue;
        if (found >= 0) {
            r = err_set(err, -EINVAL, "give one of bridge=, hostonly=, ovs=");
            goto out;
        }
        found = (int)k;
        target = v;
    }
    if (found < 0) {
        r = err_set(err, -EINVAL, "expected bridge=BR, hostonly=NET or ovs=BR");
        goto out;
    }
    r = net_spec_make((enum net_kind)found, target, opts_get(&o, "db"), opts_get(&o, "iface-id"),
                      out, err);
    if (r < 0)
        goto out;
    if (opts_unused(&o))
        r = err_set(err, -EINVAL, "unknown key in network spec");
out:
    opts_free(&o);
    return r;
}

int net_spec_format(const struct net_spec *spec, char *buf, size_t len)
{
    int w = snprintf(buf, len, "%s=%s%s%s%s%s", net_attach_ops_get(spec->kind)->name, spec->target,
                     spec->db[0] ? ",db=" : "", spec->db,
                     spec->iface_id[0] ? ",iface-id=" : "", spec->iface_id);

    return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

/* ---- Linux bridge / host-only ---- */

static int bridge_of(const struct net_spec *spec, char *br)
{
    if (spec->kind == NET_KIND_HOSTONLY)
        return hostonly_bridge_name(spec->target, br, IFNAMSIZ);
    snprintf(br, IFNAMSIZ, "%s", spec->target);
    return 0;
}

static int lb_attach(const struct net_spec *spec, const char *ifname,
                     const struct net_owner *owner, struct sl_err *err)
{
    char br[IFNAMSIZ];
    int r = bridge_of(spec, br);

    if (r == 0 && spec->kind == NET_KIND_HOSTONLY) {
        struct hostonly_info hi;
        r = hostonly_get(spec->target, &hi);
        hostonly_info_free(&hi);
        /* Writing net.ipv4.ip_forward (or conf.all.forwarding) resets every
         * interface's forwarding switch: re-assert isolation on each attach. */
        if (r == 0)
            r = hostonly_isolate(spec->target);
        if (r < 0)
            return err_set(err, r, "host-only network %s: %s", spec->target, strerror(-r));
    }
    if (r == 0)
        r = br_add_port(br, ifname);
    if (r == -EBUSY)
        return err_set(err, r, "%s is already a port of another bridge", ifname);
    if (r == -EMEDIUMTYPE)
        return err_set(err, r, "%s is not a Linux bridge", br);
    if (r < 0)
        return err_set(err, r, "cannot add %s to bridge %s: %s", ifname, br, strerror(-r));
    return 0;
}

static int lb_detach(const struct net_spec *spec, const char *ifname, struct sl_err *err)
{
    char br[IFNAMSIZ];
    int r = bridge_of(spec, br);

    if (r == 0)
        r = br_del_port(br, ifname);
    if (r == -ENOENT)
        return err_set(err, r, "%s is not a port of %s", ifname, br);
    if (r < 0)
        return err_set(err, r, "cannot remove %s from bridge %s: %s", ifname, br, strerror(-r));
    return 0;
}

/* ---- Open vSwitch ---- */

static int ovs_connect(const struct net_spec *spec, struct ovs_client **c, struct sl_err *err)
{
    const char *db = ovs_db_resolve(spec->db[0] ? spec->db : NULL);
    int r = ovs_client_create(db, c);

    if (r < 0)
        return err_set(err, r, "cannot connect to ovsdb-server at %s: %s%s", db, strerror(-r),
                       r == -ENOENT || r == -ECONNREFUSED ? " (is ovsdb-server running?)" : "");
    return 0;
}

static int ovs_attach(const struct net_spec *spec, const char *ifname,
                      const struct net_owner *owner, struct sl_err *err)
{
    const struct net_owner none = { NULL, NULL, NULL };
    struct ovs_client *c;
    struct ovs_kv ext[OVS_PORT_EXT_MAX];
    size_t n;
    int r;

    if (!owner)
        owner = &none;
    n = ovs_port_ext(owner->vm, owner->dev, owner->mac, spec->iface_id[0] ? spec->iface_id : NULL, ext);
    r = ovs_connect(spec, &c, err);
    if (r < 0)
        return r;
    r = ovs_port_add(c, spec->target, ifname, ext, n, ATTACH_TIMEOUT_MS);
    if (r < 0)
        err_set(err, r, "%s", ovs_client_error(c));
    ovs_client_destroy(c);
    if (r == 0) {
        /* A tap must be up to carry traffic; a missing link is not an error
         * for OVS (the port waits for it), so only report real failures. */
        r = net_link_set_up(ifname, true);
        if (r < 0 && r != -ENODEV)
            return err_set(err, r, "cannot set the port up: %s", strerror(-r));
        r = 0;
    }
    return r;
}

static int ovs_detach(const struct net_spec *spec, const char *ifname, struct sl_err *err)
{
    struct ovs_client *c;
    int r = ovs_connect(spec, &c, err);

    if (r < 0)
        return r;
    r = ovs_port_del(c, spec->target, ifname, ATTACH_TIMEOUT_MS);
    if (r < 0)
        err_set(err, r, "%s", ovs_client_error(c));
    ovs_client_destroy(c);
    return r;
}

static const struct net_attach_ops ops[] = {
    [NET_KIND_BRIDGE] = { "bridge", lb_attach, lb_detach },
    [NET_KIND_HOSTONLY] = { "hostonly", lb_attach, lb_detach },
    [NET_KIND_OVS] = { "ovs", ovs_attach, ovs_detach },
};

const struct net_attach_ops *net_attach_ops_get(enum net_kind kind)
{
    return (unsigned)kind < ARRAY_SIZE(ops) ? &ops[kind] : NULL;
}

static int check_ifname(const char *ifname, struct sl_err *err)
{
    int r = net_name_check(ifname);

    return r < 0 ? err_set(err, r, "interface name: %s", strerror(-r)) : 0;
}

int net_attach(const struct net_spec *spec, const char *ifname, const struct net_owner *owner,
               struct sl_err *err)
{
    const struct net_attach_ops *o = net_attach_ops_get(spec->kind);
    int r = o ? check_ifname(ifname, err) : err_set(err, -EINVAL, "unknown kind of network");

    return r < 0 ? r : o->attach(spec, ifname, owner, err);
}

int net_detach(const struct net_spec *spec, const char *ifname, struct sl_err *err)
{
    const struct net_attach_ops *o = net_attach_ops_get(spec->kind);
    int r = o ? check_ifname(ifname, err) : err_set(err, -EINVAL, "unknown kind of network");

    return r < 0 ? r : o->detach(spec, ifname, err);
}
