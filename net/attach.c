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

int net_spec_parse(const char *spec, struct net_spec *out, const char **bad)
{
    static const char *const kinds[] = { [NET_KIND_BRIDGE] = "bridge",
                                         [NET_KIND_HOSTONLY] = "hostonly",
                                         [NET_KIND_OVS] = "ovs" };
    struct opts o;
    const char *b = NULL, *v, *db;
    int found = -1, rc;

    memset(out, 0, sizeof(*out));
    if (!bad)
        bad = &b;
    *bad = NULL;
    if (!spec || !*spec) {
        *bad = "empty network spec";
        return -EINVAL;
    }
    rc = opts_parse(spec, &o, bad);
    if (rc)
        return rc;
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        v = opts_get(&o, kinds[k]);
        if (!v)
            continue;
        if (found >= 0) {
            *bad = "give one of bridge=, hostonly=, ovs=";
            rc = -EINVAL;
            goto out;
        }
        found = (int)k;
        if (!*v) {
            *bad = "network name missing";
            rc = -EINVAL;
            goto out;
        }
        if (k == NET_KIND_HOSTONLY) {
            char br[IFNAMSIZ];
            rc = hostonly_bridge_name(v, br, sizeof(br));
        } else {
            rc = net_name_check(v);
        }
        if (rc) {
            *bad = rc == -ENAMETOOLONG ? "network name too long" : "invalid network name";
            goto out;
        }
        snprintf(out->target, sizeof(out->target), "%s", v);
    }
    if (found < 0) {
        *bad = "expected bridge=BR, hostonly=NET or ovs=BR";
        rc = -EINVAL;
        goto out;
    }
    out->kind = (enum net_kind)found;
    db = opts_get(&o, "db");
    if (db) {
        char path[108];
        if (out->kind != NET_KIND_OVS) {
            *bad = "db= applies to ovs= only";
            rc = -EINVAL;
            goto out;
        }
        rc = ovs_db_path(db, path, sizeof(path));
        if (rc || strlen(db) >= sizeof(out->db)) {
            *bad = "db= must be unix:PATH";
            rc = rc ? rc : -ENAMETOOLONG;
            goto out;
        }
        snprintf(out->db, sizeof(out->db), "%s", db);
    }
    if (opts_unused(&o)) {
        *bad = "unknown key in network spec";
        rc = -EINVAL;
        goto out;
    }
    rc = 0;
out:
    opts_free(&o);
    return rc;
}

static void seterr(char *err, size_t len, const char *what, int rc)
{
    if (err && len)
        snprintf(err, len, "%s: %s", what, strerror(-rc));
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
                     const struct net_owner *owner, char *err, size_t errlen)
{
    char br[IFNAMSIZ], what[64];
    int rc = bridge_of(spec, br);

    if (!rc && spec->kind == NET_KIND_HOSTONLY) {
        struct hostonly_info hi;
        rc = hostonly_get(spec->target, &hi);
        hostonly_info_free(&hi);
        /* Writing net.ipv4.ip_forward (or conf.all.forwarding) resets every
         * interface's forwarding switch: re-assert isolation on each attach. */
        if (!rc)
            rc = hostonly_isolate(spec->target);
        if (rc) {
            snprintf(what, sizeof(what), "host-only network %s", spec->target);
            seterr(err, errlen, what, rc);
            return rc;
        }
    }
    if (!rc)
        rc = br_add_port(br, ifname);
    if (rc == -EBUSY) {
        if (err && errlen)
            snprintf(err, errlen, "%s is already a port of another bridge", ifname);
    } else if (rc == -EMEDIUMTYPE) {
        if (err && errlen)
            snprintf(err, errlen, "%s is not a Linux bridge", br);
    } else if (rc) {
        snprintf(what, sizeof(what), "cannot add %s to bridge %s", ifname, br);
        seterr(err, errlen, what, rc);
    }
    return rc;
}

static int lb_detach(const struct net_spec *spec, const char *ifname, char *err, size_t errlen)
{
    char br[IFNAMSIZ], what[64];
    int rc = bridge_of(spec, br);

    if (!rc)
        rc = br_del_port(br, ifname);
    if (rc == -ENOENT) {
        if (err && errlen)
            snprintf(err, errlen, "%s is not a port of %s", ifname, br);
    } else if (rc) {
        snprintf(what, sizeof(what), "cannot remove %s from bridge %s", ifname, br);
        seterr(err, errlen, what, rc);
    }
    return rc;
}

/* ---- Open vSwitch ---- */

static int ovs_connect(const struct net_spec *spec, struct ovs_client **c, char *err, size_t errlen)
{
    const char *db = ovs_db_resolve(spec->db[0] ? spec->db : NULL);
    int rc = ovs_client_create(db, c);

    if (rc && err && errlen)
        snprintf(err, errlen, "cannot connect to ovsdb-server at %s: %s%s", db, strerror(-rc),
                 rc == -ENOENT || rc == -ECONNREFUSED ? " (is ovsdb-server running?)" : "");
    return rc;
}

static int ovs_attach(const struct net_spec *spec, const char *ifname,
                      const struct net_owner *owner, char *err, size_t errlen)
{
    struct ovs_client *c;
    struct ovs_kv ext[3];
    size_t n = 0;
    int rc;

    if (owner && owner->vm)
        ext[n++] = (struct ovs_kv){ (char *)"sluice-vm", (char *)owner->vm };
    if (owner && owner->dev)
        ext[n++] = (struct ovs_kv){ (char *)"sluice-dev", (char *)owner->dev };
    if (owner && owner->mac)
        ext[n++] = (struct ovs_kv){ (char *)"attached-mac", (char *)owner->mac };
    rc = ovs_connect(spec, &c, err, errlen);
    if (rc)
        return rc;
    rc = ovs_port_add(c, spec->target, ifname, ext, n, ATTACH_TIMEOUT_MS);
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", ovs_client_error(c));
    ovs_client_destroy(c);
    if (!rc) {
        /* A tap must be up to carry traffic; a missing link is not an error
         * for OVS (the port waits for it), so only report real failures. */
        int up = net_link_set_up(ifname, true);
        if (up && up != -ENODEV) {
            seterr(err, errlen, "cannot set the port up", up);
            return up;
        }
    }
    return rc;
}

static int ovs_detach(const struct net_spec *spec, const char *ifname, char *err, size_t errlen)
{
    struct ovs_client *c;
    int rc = ovs_connect(spec, &c, err, errlen);

    if (rc)
        return rc;
    rc = ovs_port_del(c, spec->target, ifname, ATTACH_TIMEOUT_MS);
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", ovs_client_error(c));
    ovs_client_destroy(c);
    return rc;
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

int net_attach(const char *spec, const char *ifname, const struct net_owner *owner,
               char *err, size_t errlen)
{
    struct net_spec s;
    const char *bad;
    int rc = net_spec_parse(spec, &s, &bad);

    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s", bad ? bad : "bad network spec");
        return rc;
    }
    rc = net_name_check(ifname);
    if (rc) {
        seterr(err, errlen, "interface name", rc);
        return rc;
    }
    return net_attach_ops_get(s.kind)->attach(&s, ifname, owner, err, errlen);
}

int net_detach(const char *spec, const char *ifname, char *err, size_t errlen)
{
    struct net_spec s;
    const char *bad;
    int rc = net_spec_parse(spec, &s, &bad);

    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s", bad ? bad : "bad network spec");
        return rc;
    }
    rc = net_name_check(ifname);
    if (rc) {
        seterr(err, errlen, "interface name", rc);
        return rc;
    }
    return net_attach_ops_get(s.kind)->detach(&s, ifname, err, errlen);
}
