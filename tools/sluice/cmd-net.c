/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice net ...`: Linux bridges, host-only networks, Open vSwitch bridges,
 * taps, and attaching an interface to any of them. One verb table per group
 * (bridge, hostonly, ovs, tap) under the noun's own (attach, detach), all
 * sharing one options array; cli_dispatch() parses them. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "core/opts.h"
#include "net/attach.h"
#include "net/bridge.h"
#include "net/hostonly.h"
#include "net/ovs.h"
#include "net/ovsdb.h"
#include "net/tap.h"

#define OVS_TIMEOUT_MS 5000

enum {
    O_JSON = 1, O_MTU, O_ADDR, O_DEL_ADDR, O_DOWN, O_UP, O_DB, O_DATAPATH, O_VM, O_DEV, O_MAC,
    O_QUEUES, O_USER, O_GROUP, O_IFACE_ID,
};

static const struct cli_option options[] = {
    { "json", NULL, O_JSON, "print JSON" },
    { "mtu", "N", O_MTU, "MTU (68-65535)", 68, 65535 },
    { "addr", "CIDR", O_ADDR, "add the address ADDR/PREFIX" },
    { "del-addr", "CIDR", O_DEL_ADDR, "remove the address ADDR/PREFIX" },
    { "down", NULL, O_DOWN, "set the link down" },
    { "up", NULL, O_UP, "set the link up" },
    { "db", "unix:PATH", O_DB, "the OVSDB server (else $" OVS_DB_ENV ", else " OVS_DEFAULT_DB ")" },
    { "datapath", "TYPE", O_DATAPATH, "netdev for the userspace datapath (default: system)" },
    { "vm", "ID", O_VM, "external_ids:sluice-vm of the port" },
    { "dev", "ID", O_DEV, "external_ids:sluice-dev of the port" },
    { "mac", "MAC", O_MAC, "external_ids:attached-mac of the port" },
    { "iface-id", "LSP", O_IFACE_ID, "external_ids:iface-id: the OVN logical switch port bound to it" },
    { "queues", "N", O_QUEUES, "queue pairs (1-64)", 1, TAP_MAX_QUEUES },
    { "user", "U", O_USER, "user (name or uid) that may use the tap without privileges" },
    { "group", "G", O_GROUP, "group (name or gid) that may use the tap" },
    { NULL },
};

/* --up and --down of a set verb: a usage error when both are given. */
static int check_up_down(const struct cli_args *a)
{
    if (cli_flag(a, O_UP) && cli_flag(a, O_DOWN))
        return cli_usage(a->object, "--up and --down exclude each other");
    return EXIT_OK;
}

static void print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* A reason for a netlink-side error on a named link. */
static const char *link_reason(int r, const char *kind)
{
    static char buf[96];

    switch (r) {
    case -ENODEV: snprintf(buf, sizeof(buf), "no such %s", kind); return buf;
    case -EEXIST: return "already exists";
    case -EMEDIUMTYPE: snprintf(buf, sizeof(buf), "not a %s", kind); return buf;
    case -ENAMETOOLONG: return "name too long (at most 15 bytes)";
    case -EINVAL: return "invalid argument";
    case -EPERM: return "operation not permitted (needs CAP_NET_ADMIN)";
    default: return strerror(-r);
    }
}

/* A usage error (exit 2) when @name cannot name an interface: 1..15
 * printable bytes without '/', ':' or blanks; host-only networks (@hostonly)
 * at most HOSTONLY_NAME_MAX, as their bridge is sh-NAME. EXIT_OK when fine. */
static int check_name(const char *name, bool hostonly)
{
    char br[IFNAMSIZ];
    int r = hostonly ? hostonly_bridge_name(name, br, sizeof(br)) : net_name_check(name);

    if (r == -ENAMETOOLONG && hostonly)
        return cli_usage(name, "invalid name (at most %d bytes: the bridge is " HOSTONLY_PREFIX
                         "NAME)", HOSTONLY_NAME_MAX);
    if (r == -ENAMETOOLONG)
        return cli_usage(name, "invalid name (at most %d bytes)", IFNAMSIZ - 1);
    if (r < 0)
        return cli_usage(*name ? name : "\"\"",
                         "invalid name (printable ASCII without '/', ':' or blanks)");
    return EXIT_OK;
}

/* check_name() on each of the @n positional arguments. */
static int check_names(const struct cli_args *a, int n, bool hostonly)
{
    int r;

    for (int i = 0; i < n && i < a->npos; i++)
        if ((r = check_name(a->pos[i], hostonly)) != EXIT_OK)
            return r;
    return EXIT_OK;
}

/* ---- bridge ---- */

static struct json_object *link_json(const struct net_link_info *li)
{
    struct json_object *o = json_object_new_object(), *addrs = json_object_new_array();

    json_object_object_add(o, "name", json_object_new_string(li->name));
    json_object_object_add(o, "ifindex", json_object_new_int(li->ifindex));
    json_object_object_add(o, "mtu", json_object_new_int((int)li->mtu));
    json_object_object_add(o, "up", json_object_new_boolean(li->up));
    json_object_object_add(o, "carrier", json_object_new_boolean(li->lower_up));
    json_object_object_add(o, "mac", json_object_new_string(li->mac));
    for (unsigned i = 0; i < li->naddrs; i++)
        json_object_array_add(addrs, json_object_new_string(li->addrs[i]));
    json_object_object_add(o, "addresses", addrs);
    return o;
}

static struct json_object *br_json(const struct br_info *b)
{
    struct json_object *o = link_json(&b->link), *ports = json_object_new_array();

    for (size_t i = 0; i < b->nports; i++) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(b->ports[i].name));
        json_object_object_add(p, "up", json_object_new_boolean(b->ports[i].up));
        json_object_array_add(ports, p);
    }
    json_object_object_add(o, "ports", ports);
    return o;
}

static void print_joined_addrs(const struct net_link_info *li)
{
    if (!li->naddrs)
        printf("-");
    for (unsigned i = 0; i < li->naddrs; i++)
        printf("%s%s", i ? "," : "", li->addrs[i]);
}

static void print_joined_ports(const struct br_info *b)
{
    if (!b->nports)
        printf("-");
    for (size_t i = 0; i < b->nports; i++)
        printf("%s%s", i ? "," : "", b->ports[i].name);
}

static void print_br_show(const struct br_info *b, const char *hostonly)
{
    if (hostonly) {
        printf("network:   %s\n", hostonly);
        printf("bridge:    %s\n", b->link.name);
    } else {
        printf("name:      %s\n", b->link.name);
    }
    printf("state:     %s%s\n", b->link.up ? "up" : "down",
           b->link.up && !b->link.lower_up ? " (no carrier)" : "");
    printf("mtu:       %u\n", b->link.mtu);
    printf("mac:       %s\n", b->link.mac);
    printf("addresses: ");
    print_joined_addrs(&b->link);
    printf("\nports:     ");
    print_joined_ports(b);
    printf("\n");
}

static int bridge_set(const char *name, const struct cli_args *a)
{
    unsigned mtu = (unsigned)cli_uint(a, O_MTU, 0);
    const char *addr = cli_opt(a, O_ADDR), *del_addr = cli_opt(a, O_DEL_ADDR);
    bool up = cli_flag(a, O_UP), down = cli_flag(a, O_DOWN);
    int r = 0;

    if (mtu && (r = br_set_mtu(name, mtu)) < 0)
        return cli_fail(name, "cannot set MTU %u: %s", mtu, link_reason(r, "bridge"));
    if (del_addr && (r = br_del_addr(name, del_addr)) < 0)
        return cli_fail(name, "cannot remove address %s: %s", del_addr,
                        r == -EADDRNOTAVAIL ? "not on this bridge" : link_reason(r, "bridge"));
    if (addr && (r = br_add_addr(name, addr)) < 0)
        return cli_fail(name, "cannot add address %s: %s", addr,
                        r == -EINVAL ? "expected ADDR/PREFIX" : link_reason(r, "bridge"));
    if ((up || down) && (r = br_set_up(name, up)) < 0)
        return cli_fail(name, "cannot set %s: %s", up ? "up" : "down", link_reason(r, "bridge"));
    return EXIT_OK;
}

/* Width of the widest of @n names @stride bytes apart (at least @min). */
static int name_width(const char *first, size_t n, size_t stride, int min)
{
    int w = min;

    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(first + i * stride);
        if (len > w)
            w = len;
    }
    return w;
}

/* ---- bridge ---- */

static int bridge_create(struct cli_args *a)
{
    const char *name = a->pos[0], *addr = cli_opt(a, O_ADDR);
    struct br_config cfg = { .mtu = (unsigned)cli_uint(a, O_MTU, 0), .down = cli_flag(a, O_DOWN) };
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    if (addr && net_cidr_check(addr, NULL))
        return cli_usage(name, "--addr wants ADDR/PREFIX, got '%s'", addr);
    r = br_create(name, &cfg);
    if (r < 0)
        return cli_fail(name, "cannot create bridge: %s", link_reason(r, "bridge"));
    if (addr && (r = br_add_addr(name, addr)) < 0) {
        br_delete(name);
        return cli_fail(name, "cannot add address %s: %s", addr, link_reason(r, "bridge"));
    }
    cli_done("bridge %s created", name);
    return EXIT_OK;
}

static int bridge_delete(struct cli_args *a)
{
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    r = br_delete(a->pos[0]);
    if (r < 0)
        return cli_fail(a->pos[0], "cannot delete: %s", link_reason(r, "bridge"));
    cli_done("bridge %s deleted", a->pos[0]);
    return EXIT_OK;
}

static int bridge_list(struct cli_args *a)
{
    struct br_info *v;
    size_t n;
    int r = br_list(&v, &n);

    if (r < 0)
        return cli_fail("bridge", "cannot list: %s", strerror(-r));
    if (cli_flag(a, O_JSON)) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, br_json(&v[i]));
        print_json(arr);
    } else {
        int nw = name_width(n ? v[0].link.name : "", n, sizeof(*v), 4), aw = 9;
        for (size_t i = 0; i < n; i++) {
            int w = v[i].link.naddrs ? -1 : 1;
            for (unsigned k = 0; k < v[i].link.naddrs; k++)
                w += 1 + (int)strlen(v[i].link.addrs[k]);
            aw = w > aw ? w : aw;
        }
        printf("%-*s %-5s %-6s %-*s %s\n", nw, "NAME", "STATE", "MTU", aw, "ADDRESSES", "PORTS");
        for (size_t i = 0; i < n; i++) {
            printf("%-*s %-5s %-6u ", nw, v[i].link.name, v[i].link.up ? "up" : "down",
                   v[i].link.mtu);
            int w = 0;
            for (unsigned k = 0; k < v[i].link.naddrs; k++)
                w += printf("%s%s", k ? "," : "", v[i].link.addrs[k]);
            if (!v[i].link.naddrs)
                w += printf("-");
            printf("%*s ", w < aw ? aw - w : 0, "");
            print_joined_ports(&v[i]);
            printf("\n");
        }
    }
    br_list_free(v, n);
    return EXIT_OK;
}

static int bridge_show(struct cli_args *a)
{
    struct br_info b;
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    r = br_get(a->pos[0], &b);
    if (r < 0)
        return cli_fail(a->pos[0], "%s", link_reason(r, "bridge"));
    if (cli_flag(a, O_JSON))
        print_json(br_json(&b));
    else
        print_br_show(&b, NULL);
    br_info_free(&b);
    return EXIT_OK;
}

/* add-port, del-port. */
static int bridge_port(struct cli_args *a)
{
    bool add = a->verb->name[0] == 'a';
    int r;

    if ((r = check_names(a, 2, false)) != EXIT_OK)
        return r;
    r = add ? br_add_port(a->pos[0], a->pos[1]) : br_del_port(a->pos[0], a->pos[1]);
    if (r == -ENODEV && net_link_index(a->pos[0]) > 0)
        return cli_fail(a->pos[1], "no such interface");
    if (r == -EBUSY)
        return cli_fail(a->pos[1], "already a port of another bridge");
    if (r == -ENOENT)
        return cli_fail(a->pos[1], "not a port of %s", a->pos[0]);
    if (r < 0)
        return cli_fail(a->pos[0], "cannot %s port %s: %s", add ? "add" : "remove", a->pos[1],
                        link_reason(r, "bridge"));
    cli_done(add ? "port %s added to bridge %s" : "port %s removed from bridge %s",
             a->pos[1], a->pos[0]);
    return EXIT_OK;
}

static int bridge_set_cmd(struct cli_args *a)
{
    const char *addr = cli_opt(a, O_ADDR), *del_addr = cli_opt(a, O_DEL_ADDR);
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK || (r = check_up_down(a)) != EXIT_OK)
        return r;
    if (!a->ngiven)
        return cli_usage(a->pos[0], "nothing to set");
    /* Check every value before changing anything. */
    if (addr && net_cidr_check(addr, NULL))
        return cli_usage(a->pos[0], "--addr wants ADDR/PREFIX, got '%s'", addr);
    if (del_addr && net_cidr_check(del_addr, NULL))
        return cli_usage(a->pos[0], "--del-addr wants ADDR/PREFIX, got '%s'", del_addr);
    if ((r = bridge_set(a->pos[0], a)) != EXIT_OK)
        return r;
    cli_done("bridge %s updated", a->pos[0]);
    return EXIT_OK;
}

static const int o_json[] = { O_JSON, 0 };
static const int o_bridge_create[] = { O_MTU, O_ADDR, O_DOWN, 0 };
static const int o_bridge_set[] = { O_MTU, O_UP, O_DOWN, O_ADDR, O_DEL_ADDR, 0 };

static const struct cli_verb bridge_verbs[] = {
    { "create", "NAME [--mtu N] [--addr CIDR] [--down]", "create a Linux bridge (up unless --down)",
      o_bridge_create, 1, 1, bridge_create },
    { "delete", "NAME", "delete it (its ports are released)", NULL, 1, 1, bridge_delete },
    { "list", "[--json]", "every bridge with ports and addresses", o_json, 0, 0, bridge_list },
    { "show", "NAME [--json]", "one bridge", o_json, 1, 1, bridge_show },
    { "add-port", "NAME IFNAME", "enslave IFNAME and set it up", NULL, 2, 2, bridge_port },
    { "del-port", "NAME IFNAME", "release IFNAME", NULL, 2, 2, bridge_port },
    { "set", "NAME [--mtu N] [--up|--down] [--addr CIDR] [--del-addr CIDR]",
      "change a bridge", o_bridge_set, 1, 1, bridge_set_cmd },
    { NULL },
};
static const struct cli_verbs bridge_table = { "bridge", options, bridge_verbs, NULL };

/* ---- hostonly ---- */

static struct json_object *ho_json(const struct hostonly_info *h)
{
    struct json_object *o = br_json(&h->br);

    /* "name" is the network; the bridge is under "bridge". */
    json_object_object_add(o, "bridge", json_object_new_string(h->br.link.name));
    json_object_object_add(o, "name", json_object_new_string(h->name));
    return o;
}

static int hostonly_create_cmd(struct cli_args *a)
{
    const char *addr = cli_opt(a, O_ADDR);
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;
    int r;

    if ((r = check_names(a, 1, true)) != EXIT_OK)
        return r;
    if (!addr)
        return cli_usage(a->pos[0], "--addr CIDR is required (the host's address, e.g. 10.77.0.1/24)");
    r = hostonly_create(a->pos[0], addr, (unsigned)cli_uint(a, O_MTU, 0), &e);
    if (r == -EAFNOSUPPORT || r == -EINVAL)
        return cli_usage(a->pos[0], "%s", err[0] ? err : "invalid address");
    if (r == -EADDRINUSE)
        return cli_fail(a->pos[0], "%s", err);
    if (r < 0)
        return cli_fail(a->pos[0], "cannot create host-only network: %s",
                        err[0] ? err : link_reason(r, "network"));
    cli_done("host-only network %s created (bridge " HOSTONLY_PREFIX "%s, host address %s)",
             a->pos[0], a->pos[0], addr);
    return EXIT_OK;
}

static int hostonly_delete_cmd(struct cli_args *a)
{
    int r;

    if ((r = check_names(a, 1, true)) != EXIT_OK)
        return r;
    r = hostonly_delete(a->pos[0]);
    if (r == -EMEDIUMTYPE)
        return cli_fail(a->pos[0], "bridge " HOSTONLY_PREFIX "%s is not a sluice host-only network",
                        a->pos[0]);
    if (r < 0)
        return cli_fail(a->pos[0], "cannot delete: %s", link_reason(r, "host-only network"));
    cli_done("host-only network %s deleted", a->pos[0]);
    return EXIT_OK;
}

static int hostonly_list_cmd(struct cli_args *a)
{
    struct hostonly_info *v;
    size_t n;
    int r = hostonly_list(&v, &n);

    if (r < 0)
        return cli_fail("hostonly", "cannot list: %s", strerror(-r));
    if (cli_flag(a, O_JSON)) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, ho_json(&v[i]));
        print_json(arr);
    } else {
        int nw = name_width(n ? v[0].name : "", n, sizeof(*v), 4);
        int bw = name_width(n ? v[0].br.link.name : "", n, sizeof(*v), 6);
        printf("%-*s %-*s %-5s %-20s %s\n", nw, "NAME", bw, "BRIDGE", "STATE", "ADDRESS", "PORTS");
        for (size_t i = 0; i < n; i++) {
            printf("%-*s %-*s %-5s %-20s ", nw, v[i].name, bw, v[i].br.link.name,
                   v[i].br.link.up ? "up" : "down",
                   v[i].br.link.naddrs ? v[i].br.link.addrs[0] : "-");
            print_joined_ports(&v[i].br);
            printf("\n");
        }
    }
    hostonly_list_free(v, n);
    return EXIT_OK;
}

static int hostonly_show_cmd(struct cli_args *a)
{
    struct hostonly_info h;
    int r;

    if ((r = check_names(a, 1, true)) != EXIT_OK)
        return r;
    r = hostonly_get(a->pos[0], &h);
    if (r == -EMEDIUMTYPE)
        return cli_fail(a->pos[0], "bridge " HOSTONLY_PREFIX "%s is not a sluice host-only network",
                        a->pos[0]);
    if (r < 0)
        return cli_fail(a->pos[0], "%s", link_reason(r, "host-only network"));
    if (cli_flag(a, O_JSON))
        print_json(ho_json(&h));
    else
        print_br_show(&h.br, h.name);
    hostonly_info_free(&h);
    return EXIT_OK;
}

static const int o_hostonly_create[] = { O_ADDR, O_MTU, 0 };

static const struct cli_verb hostonly_verbs[] = {
    { "create", "NAME --addr CIDR [--mtu N]", "bridge sh-NAME with host address CIDR (IPv4)",
      o_hostonly_create, 1, 1, hostonly_create_cmd, NULL,
      "no uplink, IPv4 forwarding and IPv6 off on it; CIDR: /8 to /30, neither\n"
      "the network nor the broadcast address, a subnet that overlaps no address\n"
      "on the host (other networks' included)" },
    { "delete", "NAME", "delete the network and its bridge", NULL, 1, 1, hostonly_delete_cmd },
    { "list", "[--json]", "every host-only network", o_json, 0, 0, hostonly_list_cmd },
    { "show", "NAME [--json]", "one network", o_json, 1, 1, hostonly_show_cmd },
    { NULL },
};
static const struct cli_verbs hostonly_table = {
    "hostonly", options, hostonly_verbs,
    "Attach guests with 'sluice net attach IFNAME hostonly=NAME'.\n",
};

/* ---- ovs ---- */

static int ovs_open(const char *db, struct ovs_client **c)
{
    const char *addr = ovs_db_resolve(db);
    int r = ovs_client_create(addr, c);

    if (r == -EINVAL || r == -ENAMETOOLONG)
        return cli_usage("ovs", "bad database address '%s' (expected unix:PATH)", addr);
    if (r < 0)
        return cli_fail("ovs", "cannot connect to ovsdb-server at %s: %s%s", addr, strerror(-r),
                        r == -ENOENT || r == -ECONNREFUSED ? " (is ovsdb-server running?)" : "");
    return EXIT_OK;
}

static int ovs_failed(struct ovs_client *c, int r)
{
    const char *msg = ovs_client_error(c);

    if (msg && *msg)
        cli_fail("ovs", "%s", msg);
    else
        cli_fail("ovs", "%s", strerror(-r));
    ovs_client_destroy(c);
    return EXIT_FAIL;
}

static struct json_object *kv_json(const struct ovs_kv *kv, size_t n)
{
    struct json_object *o = json_object_new_object();

    for (size_t i = 0; i < n; i++)
        json_object_object_add(o, kv[i].key, json_object_new_string(kv[i].value));
    return o;
}

static struct json_object *ovs_br_json(const struct ovs_bridge_info *b)
{
    struct json_object *o = json_object_new_object(), *ports = json_object_new_array();

    json_object_object_add(o, "name", json_object_new_string(b->name));
    json_object_object_add(o, "uuid", json_object_new_string(b->uuid));
    json_object_object_add(o, "datapath_type", json_object_new_string(b->datapath_type));
    json_object_object_add(o, "external_ids", kv_json(b->ext, b->n_ext));
    for (size_t i = 0; i < b->nports; i++) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(b->ports[i].name));
        json_object_object_add(p, "uuid", json_object_new_string(b->ports[i].uuid));
        json_object_object_add(p, "type", json_object_new_string(b->ports[i].type));
        json_object_object_add(p, "external_ids", kv_json(b->ports[i].ext, b->ports[i].n_ext));
        json_object_array_add(ports, p);
    }
    json_object_object_add(o, "ports", ports);
    return o;
}

static void print_ovs_port(const struct ovs_port_info *p)
{
    printf("  %s", p->name);
    if (p->type[0])
        printf(" (%s)", p->type);
    for (size_t k = 0; k < p->n_ext; k++)
        printf(" %s=%s", p->ext[k].key, p->ext[k].value);
    printf("\n");
}

/* create, delete, add-port, del-port: one change in the database. */
static int ovs_change(struct cli_args *a)
{
    const char *verb = a->verb->name;
    struct ovs_client *c;
    int r;

    if ((r = check_names(a, a->npos, false)) != EXIT_OK)
        return r;
    if (cli_opt(a, O_IFACE_ID) && ovs_iface_id_check(cli_opt(a, O_IFACE_ID)) < 0)
        return cli_usage(a->object, "--iface-id must name a logical switch port (%s)", OVS_IFACE_ID_RULE);
    if ((r = ovs_open(cli_opt(a, O_DB), &c)) != EXIT_OK)
        return r;
    if (!strcmp(verb, "add-port")) {
        struct ovs_kv ext[OVS_PORT_EXT_MAX];
        size_t n = ovs_port_ext(cli_opt(a, O_VM), cli_opt(a, O_DEV), cli_opt(a, O_MAC),
                                cli_opt(a, O_IFACE_ID), ext);
        r = ovs_port_add(c, a->pos[0], a->pos[1], ext, n, OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "create")) {
        r = ovs_br_add(c, a->pos[0], cli_opt(a, O_DATAPATH), OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "delete")) {
        r = ovs_br_del(c, a->pos[0], OVS_TIMEOUT_MS);
    } else {
        r = ovs_port_del(c, a->pos[0], a->pos[1], OVS_TIMEOUT_MS);
    }
    if (r < 0)
        return ovs_failed(c, r);
    ovs_client_destroy(c);
    if (!strcmp(verb, "create"))
        cli_done("ovs bridge %s created", a->pos[0]);
    else if (!strcmp(verb, "delete"))
        cli_done("ovs bridge %s deleted", a->pos[0]);
    else if (!strcmp(verb, "add-port"))
        cli_done("port %s added to ovs bridge %s", a->pos[1], a->pos[0]);
    else
        cli_done("port %s removed from ovs bridge %s", a->pos[1], a->pos[0]);
    return EXIT_OK;
}

/* list, and show BRIDGE. */
static int ovs_list_cmd(struct cli_args *a)
{
    const struct ovs_bridge_info *one = NULL;
    struct ovs_bridge_info *v;
    struct ovs_client *c;
    size_t n;
    int r;

    if ((r = check_names(a, a->npos, false)) != EXIT_OK)
        return r;
    if ((r = ovs_open(cli_opt(a, O_DB), &c)) != EXIT_OK)
        return r;
    r = ovs_br_list(c, &v, &n, OVS_TIMEOUT_MS);
    if (r < 0)
        return ovs_failed(c, r);
    ovs_client_destroy(c);
    if (a->npos) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v[i].name, a->pos[0]))
                one = &v[i];
        if (!one) {
            ovs_br_list_free(v, n);
            return cli_fail("ovs", "bridge %s does not exist", a->pos[0]);
        }
    }
    if (cli_flag(a, O_JSON)) {
        if (one) {
            print_json(ovs_br_json(one));
        } else {
            struct json_object *arr = json_object_new_array();
            for (size_t i = 0; i < n; i++)
                json_object_array_add(arr, ovs_br_json(&v[i]));
            print_json(arr);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (one && one != &v[i])
                continue;
            printf("%s%s%s%s\n", v[i].name, v[i].datapath_type[0] ? " (datapath " : "",
                   v[i].datapath_type, v[i].datapath_type[0] ? ")" : "");
            for (size_t j = 0; j < v[i].nports; j++)
                print_ovs_port(&v[i].ports[j]);
        }
    }
    ovs_br_list_free(v, n);
    return EXIT_OK;
}

static const int o_db[] = { O_DB, 0 };
static const int o_db_json[] = { O_DB, O_JSON, 0 };
static const int o_ovs_create[] = { O_DB, O_DATAPATH, 0 };
static const int o_owner[] = { O_DB, O_VM, O_DEV, O_MAC, 0 };
static const int o_add_port[] = { O_DB, O_VM, O_DEV, O_MAC, O_IFACE_ID, 0 };

static const struct cli_verb ovs_verbs[] = {
    { "create", "BRIDGE [--datapath TYPE] [--db unix:PATH]", "add an Open vSwitch bridge",
      o_ovs_create, 1, 1, ovs_change },
    { "delete", "BRIDGE [--db unix:PATH]", "delete it with its ports", o_db, 1, 1, ovs_change },
    { "list", "[--json] [--db unix:PATH]", "bridges and their ports", o_db_json, 0, 0,
      ovs_list_cmd },
    { "show", "BRIDGE [--json] [--db unix:PATH]", "one bridge and its ports", o_db_json, 1, 1,
      ovs_list_cmd },
    { "add-port", "BRIDGE PORT [--vm ID] [--dev ID] [--mac MAC] [--iface-id LSP] [--db unix:PATH]",
      "add an existing interface", o_add_port, 2, 2, ovs_change, NULL,
      "IDs go to external_ids sluice-vm / sluice-dev / attached-mac / iface-id (OVN)" },
    { "del-port", "BRIDGE PORT [--db unix:PATH]", "remove a port", o_db, 2, 2, ovs_change },
    { NULL },
};
static const struct cli_verbs ovs_table = {
    "ovs", options, ovs_verbs,
    "The database is --db, else $" OVS_DB_ENV ", else " OVS_DEFAULT_DB ".\n"
    "Changes are made in the database; ovs-vswitchd applies them asynchronously.\n",
};

/* ---- tap ---- */

/* A user or group given by name or number (@group: a group). */
static int resolve_id(const char *s, bool group, unsigned *id)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;
    uint64_t v;

    if (parse_uint(s, 0, 0x7fffffff, &v) == 0) {
        *id = (unsigned)v;
        return 0;
    }
    if (group ? !(gr = getgrnam(s)) : !(pw = getpwnam(s)))
        return -ENOENT;
    *id = group ? gr->gr_gid : pw->pw_uid;
    return 0;
}

static int tap_create_cmd(struct cli_args *a)
{
    const char *name = a->pos[0], *user = cli_opt(a, O_USER), *group = cli_opt(a, O_GROUP);
    unsigned queues = (unsigned)cli_uint(a, O_QUEUES, 1), mtu = (unsigned)cli_uint(a, O_MTU, 0);
    unsigned uid = (uid_t)-1, gid = (gid_t)-1;
    struct tap *t;
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    if (user && resolve_id(user, false, &uid))
        return cli_usage(name, "no such user '%s'", user);
    if (group && resolve_id(group, true, &gid))
        return cli_usage(name, "no such group '%s'", group);
    if (net_link_index(name) > 0)
        return cli_fail(name, "already exists");
    r = tap_open(name, queues, TAP_PERSIST, &t);
    if (r < 0)
        return cli_fail(name, "cannot create tap: %s", link_reason(r, "tap"));
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && (r = tap_set_owner(t, uid, gid)) < 0) {
        tap_set_persist(t, false);
        tap_close(t);
        return cli_fail(name, "cannot set owner: %s", strerror(-r));
    }
    if ((mtu && (r = tap_set_mtu(t, mtu)) < 0) || (cli_flag(a, O_UP) && (r = tap_set_up(t, true)) < 0)) {
        tap_set_persist(t, false);
        tap_close(t);
        return cli_fail(name, "cannot configure: %s", strerror(-r));
    }
    tap_close(t);
    cli_done("tap %s created (%u queue%s)", name, queues, queues > 1 ? "s" : "");
    return EXIT_OK;
}

static int tap_delete_cmd(struct cli_args *a)
{
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    r = tap_delete(a->pos[0]);
    if (r < 0)
        return cli_fail(a->pos[0], "cannot delete: %s", link_reason(r, "tap"));
    cli_done("tap %s deleted", a->pos[0]);
    return EXIT_OK;
}

static int tap_set_cmd(struct cli_args *a)
{
    unsigned mtu = (unsigned)cli_uint(a, O_MTU, 0);
    bool up = cli_flag(a, O_UP);
    struct net_link_info li;
    int r;

    if ((r = check_names(a, 1, false)) != EXIT_OK || (r = check_up_down(a)) != EXIT_OK)
        return r;
    if (!a->ngiven)
        return cli_usage(a->pos[0], "nothing to set");
    r = net_link_get(a->pos[0], &li);
    if (r == 0 && strcmp(li.kind, "tun"))
        r = -EMEDIUMTYPE;
    if (r == 0 && mtu)
        r = net_link_set_mtu(a->pos[0], mtu);
    if (r == 0 && (up || cli_flag(a, O_DOWN)))
        r = net_link_set_up(a->pos[0], up);
    if (r < 0)
        return cli_fail(a->pos[0], "%s", link_reason(r, "tap"));
    cli_done("tap %s updated", a->pos[0]);
    return EXIT_OK;
}

static const int o_tap_create[] = { O_QUEUES, O_USER, O_GROUP, O_MTU, O_UP, 0 };
static const int o_tap_set[] = { O_UP, O_DOWN, O_MTU, 0 };

static const struct cli_verb tap_verbs[] = {
    { "create", "NAME [--queues N] [--user U] [--group G] [--mtu N] [--up]",
      "a persistent multi-queue tap with a vnet header", o_tap_create, 1, 1, tap_create_cmd, NULL,
      "usable by user U / group G without privileges" },
    { "delete", "NAME", "delete a tap", NULL, 1, 1, tap_delete_cmd },
    { "set", "NAME [--up|--down] [--mtu N]", "change a tap", o_tap_set, 1, 1, tap_set_cmd },
    { NULL },
};
static const struct cli_verbs tap_table = {
    "tap", options, tap_verbs, "sluiced names the taps it makes itself sl-<dev>-<n>.\n",
};

/* ---- attach / detach ---- */

static int attach_cmd(struct cli_args *a)
{
    bool attach = a->verb->name[0] == 'a';
    const char *ifname = a->pos[0], *db = cli_opt(a, O_DB);
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;
    struct net_spec spec;
    int r;

    r = net_spec_parse(a->pos[1], &spec, &e);
    if (r < 0)
        return cli_usage(a->pos[1], "%s", err[0] ? err : "bad network spec");
    if (db) {
        if (spec.kind != NET_KIND_OVS)
            return cli_usage(a->pos[1], "--db applies to ovs= only");
        if (strlen(db) >= sizeof(spec.db))
            return cli_usage("ovs", "database address too long");
        snprintf(spec.db, sizeof(spec.db), "%s", db);
    }
    if ((r = check_names(a, 1, false)) != EXIT_OK)
        return r;
    const struct net_attach_ops *ops = net_attach_ops_get(spec.kind);
    struct net_owner owner = { cli_opt(a, O_VM), cli_opt(a, O_DEV), cli_opt(a, O_MAC) };
    r = attach ? ops->attach(&spec, ifname, &owner, &e) : ops->detach(&spec, ifname, &e);
    if (r < 0)
        return cli_fail(spec.kind == NET_KIND_OVS ? "ovs" : ifname, "%s", err[0] ? err : strerror(-r));
    cli_done(attach ? "%s attached to %s" : "%s detached from %s", ifname, a->pos[1]);
    return EXIT_OK;
}

int cmd_net(int argc, char **argv)
{
    static const struct cli_verb verbs[] = {
        { "bridge", NULL, "Linux bridges", NULL, 0, 0, NULL, &bridge_table },
        { "hostonly", NULL, "host-only networks (bridge sh-NAME)", NULL, 0, 0, NULL,
          &hostonly_table },
        { "ovs", NULL, "Open vSwitch over OVSDB", NULL, 0, 0, NULL, &ovs_table },
        { "tap", NULL, "persistent taps", NULL, 0, 0, NULL, &tap_table },
        { "attach", "IFNAME SPEC [--vm ID] [--dev ID] [--mac MAC] [--db unix:PATH]",
          "add an interface to a network", o_owner, 2, 2, attach_cmd, NULL,
          "SPEC: bridge=BR, hostonly=NET, ovs=BR[,db=unix:PATH][,iface-id=LSP]" },
        { "detach", "IFNAME SPEC [--db unix:PATH]", "take it out again", o_db, 2, 2, attach_cmd },
        { NULL },
    };
    static const struct cli_verbs table = {
        "net", options, verbs,
        "Listings take --json. A change prints one line; --quiet (-q) silences it.\n"
        "Invalid names and values exit 2, failures 1.\n",
    };
    return cli_dispatch(&table, argc, argv);
}
