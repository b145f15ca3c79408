/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice net ...`: Linux bridges, host-only networks, Open vSwitch bridges,
 * taps, and attaching an interface to any of them. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "cli-opt.h"
#include "net/attach.h"
#include "net/bridge.h"
#include "net/hostonly.h"
#include "net/ovs.h"
#include "net/ovsdb.h"
#include "net/tap.h"

#define OVS_TIMEOUT_MS 5000

/* Options, as bits: each verb says which it takes. */
enum {
    O_JSON = 1 << 0, O_MTU = 1 << 1, O_ADDR = 1 << 2, O_DOWN = 1 << 3, O_UP = 1 << 4,
    O_DB = 1 << 5, O_DATAPATH = 1 << 6, O_VM = 1 << 7, O_DEV = 1 << 8, O_MAC = 1 << 9,
    O_QUEUES = 1 << 10, O_USER = 1 << 11, O_GROUP = 1 << 12, O_DEL_ADDR = 1 << 13,
};

struct net_args {
    unsigned given;
    bool json, up, down;
    unsigned mtu, queues;
    const char *addr, *del_addr, *db, *datapath, *vm, *dev, *mac, *user, *group;
    int npos;
    char **pos;        /* positional arguments after the verb */
};

static const struct option long_opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "mtu", required_argument, NULL, 'm' },
    { "addr", required_argument, NULL, 'a' },
    { "del-addr", required_argument, NULL, 'A' },
    { "down", no_argument, NULL, 'D' },
    { "up", no_argument, NULL, 'U' },
    { "db", required_argument, NULL, 'd' },
    { "datapath", required_argument, NULL, 'p' },
    { "vm", required_argument, NULL, 'v' },
    { "dev", required_argument, NULL, 'e' },
    { "mac", required_argument, NULL, 'M' },
    { "queues", required_argument, NULL, 'Q' },
    { "user", required_argument, NULL, 'u' },
    { "group", required_argument, NULL, 'g' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

/* Parse argv (argv[0] is the verb) into @a. Returns -1 ok, or an exit status
 * (EXIT_OK after --help was printed, EXIT_USAGE). --quiet / -q applies to
 * every verb. */
static int parse_args(const char *object, int argc, char **argv, unsigned allowed,
                      int min_pos, int max_pos, const char *usage_line, struct net_args *a)
{
    int c;

    memset(a, 0, sizeof(*a));
    cli_opt_reset();
    while ((c = cli_opt_next(argc, argv, "hq", long_opts, object)) != -1) {
        unsigned bit = 0;
        switch (c) {
        case 'h':
            printf("usage: sluice net %s\n", usage_line);
            return EXIT_OK;
        case 'q': cli_quiet = true; continue;
        case 'j': bit = O_JSON; a->json = true; break;
        case 'm':
            bit = O_MTU;
            if (parse_uint(optarg, 68, 65535, &a->mtu))
                return cli_usage(object, "--mtu must be 68..65535");
            break;
        case 'a': bit = O_ADDR; a->addr = optarg; break;
        case 'A': bit = O_DEL_ADDR; a->del_addr = optarg; break;
        case 'D': bit = O_DOWN; a->down = true; break;
        case 'U': bit = O_UP; a->up = true; break;
        case 'd': bit = O_DB; a->db = optarg; break;
        case 'p': bit = O_DATAPATH; a->datapath = optarg; break;
        case 'v': bit = O_VM; a->vm = optarg; break;
        case 'e': bit = O_DEV; a->dev = optarg; break;
        case 'M': bit = O_MAC; a->mac = optarg; break;
        case 'Q':
            bit = O_QUEUES;
            if (parse_uint(optarg, 1, TAP_MAX_QUEUES, &a->queues))
                return cli_usage(object, "--queues must be 1..%d", TAP_MAX_QUEUES);
            break;
        case 'u': bit = O_USER; a->user = optarg; break;
        case 'g': bit = O_GROUP; a->group = optarg; break;
        default:   /* '?': cli_opt_next() said why */
            return EXIT_USAGE;
        }
        if (!(allowed & bit))
            return cli_usage(object, "option %s does not apply here (usage: sluice net %s)",
                             cli_opt_name(long_opts, c), usage_line);
        a->given |= bit;
    }
    /* GNU getopt permutes: options may follow positional arguments. */
    a->pos = argv + optind;
    a->npos = argc - optind;
    if (a->npos < min_pos || a->npos > max_pos)
        return cli_usage(object, "usage: sluice net %s", usage_line);
    if (a->up && a->down)
        return cli_usage(object, "--up and --down exclude each other");
    return -1;
}

static void print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* A reason for a netlink-side error on a named link. */
static const char *link_reason(int rc, const char *kind)
{
    static char buf[96];

    switch (rc) {
    case -ENODEV: snprintf(buf, sizeof(buf), "no such %s", kind); return buf;
    case -EEXIST: return "already exists";
    case -EMEDIUMTYPE: snprintf(buf, sizeof(buf), "not a %s", kind); return buf;
    case -ENAMETOOLONG: return "name too long (at most 15 bytes)";
    case -EINVAL: return "invalid argument";
    case -EPERM: return "operation not permitted (needs CAP_NET_ADMIN)";
    default: return strerror(-rc);
    }
}

/* A usage error (exit 2) when @name cannot name an interface: 1..15
 * printable bytes without '/', ':' or blanks; host-only networks (@hostonly)
 * at most HOSTONLY_NAME_MAX, as their bridge is sh-NAME. -1 when it is fine. */
static int check_name(const char *name, bool hostonly)
{
    char br[IFNAMSIZ];
    int rc = hostonly ? hostonly_bridge_name(name, br, sizeof(br)) : net_name_check(name);

    if (rc == -ENAMETOOLONG && hostonly)
        return cli_usage(name, "invalid name (at most %d bytes: the bridge is " HOSTONLY_PREFIX
                         "NAME)", HOSTONLY_NAME_MAX);
    if (rc == -ENAMETOOLONG)
        return cli_usage(name, "invalid name (at most %d bytes)", IFNAMSIZ - 1);
    if (rc)
        return cli_usage(*name ? name : "\"\"",
                         "invalid name (printable ASCII without '/', ':' or blanks)");
    return -1;
}

/* check_name() on each of the @n positional arguments. */
static int check_names(const struct net_args *a, int n, bool hostonly)
{
    int rc;

    for (int i = 0; i < n && i < a->npos; i++)
        if ((rc = check_name(a->pos[i], hostonly)) >= 0)
            return rc;
    return -1;
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

static int bridge_set(const char *name, const struct net_args *a)
{
    int rc = 0;

    if (a->mtu && (rc = br_set_mtu(name, a->mtu)))
        return cli_fail(name, "cannot set MTU %u: %s", a->mtu, link_reason(rc, "bridge"));
    if (a->del_addr && (rc = br_del_addr(name, a->del_addr)))
        return cli_fail(name, "cannot remove address %s: %s", a->del_addr,
                        rc == -EADDRNOTAVAIL ? "not on this bridge" : link_reason(rc, "bridge"));
    if (a->addr && (rc = br_add_addr(name, a->addr)))
        return cli_fail(name, "cannot add address %s: %s", a->addr,
                        rc == -EINVAL ? "expected ADDR/PREFIX" : link_reason(rc, "bridge"));
    if ((a->up || a->down) && (rc = br_set_up(name, a->up)))
        return cli_fail(name, "cannot set %s: %s", a->up ? "up" : "down", link_reason(rc, "bridge"));
    return EXIT_OK;
}

static const char bridge_help[] =
    "usage: sluice net bridge <verb> [args]\n\n"
    "  create NAME [--mtu N] [--addr CIDR] [--down]   create a Linux bridge (up unless --down)\n"
    "  delete NAME                                    delete it (its ports are released)\n"
    "  list [--json]                                  every bridge with ports and addresses\n"
    "  show NAME [--json]                             one bridge\n"
    "  add-port NAME IFNAME                           enslave IFNAME and set it up\n"
    "  del-port NAME IFNAME                           release IFNAME\n"
    "  set NAME [--mtu N] [--up|--down] [--addr CIDR] [--del-addr CIDR]\n";

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

static int cmd_bridge(int argc, char **argv)
{
    struct net_args a;
    const char *verb;
    int rc;

    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(bridge_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    verb = argv[1];
    argc--, argv++;
    if (!strcmp(verb, "create")) {
        if ((rc = parse_args("bridge", argc, argv, O_MTU | O_ADDR | O_DOWN, 1, 1,
                             "bridge create NAME [--mtu N] [--addr CIDR] [--down]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        const char *name = a.pos[0];
        struct br_config cfg = { .mtu = a.mtu, .down = a.down };
        if (a.addr && net_cidr_check(a.addr, NULL))
            return cli_usage(name, "--addr wants ADDR/PREFIX, got '%s'", a.addr);
        rc = br_create(name, &cfg);
        if (rc)
            return cli_fail(name, "cannot create bridge: %s", link_reason(rc, "bridge"));
        if (a.addr && (rc = br_add_addr(name, a.addr))) {
            br_delete(name);
            return cli_fail(name, "cannot add address %s: %s", a.addr, link_reason(rc, "bridge"));
        }
        cli_done("bridge %s created", name);
        return EXIT_OK;
    }
    if (!strcmp(verb, "delete")) {
        if ((rc = parse_args("bridge", argc, argv, 0, 1, 1, "bridge delete NAME", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        rc = br_delete(a.pos[0]);
        if (rc)
            return cli_fail(a.pos[0], "cannot delete: %s", link_reason(rc, "bridge"));
        cli_done("bridge %s deleted", a.pos[0]);
        return EXIT_OK;
    }
    if (!strcmp(verb, "list")) {
        struct br_info *v;
        size_t n;
        if ((rc = parse_args("bridge", argc, argv, O_JSON, 0, 0, "bridge list [--json]", &a)) >= 0)
            return rc;
        rc = br_list(&v, &n);
        if (rc)
            return cli_fail("bridge", "cannot list: %s", strerror(-rc));
        if (a.json) {
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
    if (!strcmp(verb, "show")) {
        struct br_info b;
        if ((rc = parse_args("bridge", argc, argv, O_JSON, 1, 1, "bridge show NAME [--json]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        rc = br_get(a.pos[0], &b);
        if (rc)
            return cli_fail(a.pos[0], "%s", link_reason(rc, "bridge"));
        if (a.json)
            print_json(br_json(&b));
        else
            print_br_show(&b, NULL);
        br_info_free(&b);
        return EXIT_OK;
    }
    if (!strcmp(verb, "add-port") || !strcmp(verb, "del-port")) {
        bool add = verb[0] == 'a';
        if ((rc = parse_args("bridge", argc, argv, 0, 2, 2,
                             add ? "bridge add-port NAME IFNAME" : "bridge del-port NAME IFNAME",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 2, false)) >= 0)
            return rc;
        rc = add ? br_add_port(a.pos[0], a.pos[1]) : br_del_port(a.pos[0], a.pos[1]);
        if (rc == -ENODEV && net_link_index(a.pos[0]) > 0)
            return cli_fail(a.pos[1], "no such interface");
        if (rc == -EBUSY)
            return cli_fail(a.pos[1], "already a port of another bridge");
        if (rc == -ENOENT)
            return cli_fail(a.pos[1], "not a port of %s", a.pos[0]);
        if (rc)
            return cli_fail(a.pos[0], "cannot %s port %s: %s", add ? "add" : "remove", a.pos[1],
                            link_reason(rc, "bridge"));
        cli_done(add ? "port %s added to bridge %s" : "port %s removed from bridge %s",
                 a.pos[1], a.pos[0]);
        return EXIT_OK;
    }
    if (!strcmp(verb, "set")) {
        if ((rc = parse_args("bridge", argc, argv, O_MTU | O_UP | O_DOWN | O_ADDR | O_DEL_ADDR, 1, 1,
                             "bridge set NAME [--mtu N] [--up|--down] [--addr CIDR] [--del-addr CIDR]",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        if (!a.given)
            return cli_usage(a.pos[0], "nothing to set");
        /* Check every value before changing anything. */
        if (a.addr && net_cidr_check(a.addr, NULL))
            return cli_usage(a.pos[0], "--addr wants ADDR/PREFIX, got '%s'", a.addr);
        if (a.del_addr && net_cidr_check(a.del_addr, NULL))
            return cli_usage(a.pos[0], "--del-addr wants ADDR/PREFIX, got '%s'", a.del_addr);
        if ((rc = bridge_set(a.pos[0], &a)) != EXIT_OK)
            return rc;
        cli_done("bridge %s updated", a.pos[0]);
        return EXIT_OK;
    }
    return cli_usage("bridge", "unknown verb '%s' (try 'sluice net bridge --help')", verb);
}

/* ---- hostonly ---- */

static struct json_object *ho_json(const struct hostonly_info *h)
{
    struct json_object *o = br_json(&h->br);

    /* "name" is the network; the bridge is under "bridge". */
    json_object_object_add(o, "bridge", json_object_new_string(h->br.link.name));
    json_object_object_add(o, "name", json_object_new_string(h->name));
    return o;
}

static const char hostonly_help[] =
    "usage: sluice net hostonly <verb> [args]\n\n"
    "  create NAME --addr CIDR [--mtu N]   bridge sh-NAME with host address CIDR (IPv4),\n"
    "                                      no uplink, IPv4 forwarding and IPv6 off on it;\n"
    "                                      CIDR: /8 to /30, neither the network nor the\n"
    "                                      broadcast address, a subnet that overlaps no\n"
    "                                      address on the host (other networks' included)\n"
    "  delete NAME\n"
    "  list [--json]\n"
    "  show NAME [--json]\n"
    "Attach guests with 'sluice net attach IFNAME hostonly=NAME'.\n";

static int cmd_hostonly(int argc, char **argv)
{
    struct net_args a;
    const char *verb;
    int rc;

    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(hostonly_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    verb = argv[1];
    argc--, argv++;
    if (!strcmp(verb, "create")) {
        struct sl_err e = ERR_INIT;
        const char *err = e.msg;
        if ((rc = parse_args("hostonly", argc, argv, O_ADDR | O_MTU, 1, 1,
                             "hostonly create NAME --addr CIDR [--mtu N]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, true)) >= 0)
            return rc;
        if (!a.addr)
            return cli_usage(a.pos[0], "--addr CIDR is required (the host's address, e.g. 10.77.0.1/24)");
        rc = hostonly_create(a.pos[0], a.addr, a.mtu, &e);
        if (rc == -EAFNOSUPPORT || rc == -EINVAL)
            return cli_usage(a.pos[0], "%s", err[0] ? err : "invalid address");
        if (rc == -EADDRINUSE)
            return cli_fail(a.pos[0], "%s", err);
        if (rc)
            return cli_fail(a.pos[0], "cannot create host-only network: %s",
                            err[0] ? err : link_reason(rc, "network"));
        cli_done("host-only network %s created (bridge " HOSTONLY_PREFIX "%s, host address %s)",
                 a.pos[0], a.pos[0], a.addr);
        return EXIT_OK;
    }
    if (!strcmp(verb, "delete")) {
        if ((rc = parse_args("hostonly", argc, argv, 0, 1, 1, "hostonly delete NAME", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, true)) >= 0)
            return rc;
        rc = hostonly_delete(a.pos[0]);
        if (rc == -EMEDIUMTYPE)
            return cli_fail(a.pos[0], "bridge " HOSTONLY_PREFIX "%s is not a sluice host-only network",
                            a.pos[0]);
        if (rc)
            return cli_fail(a.pos[0], "cannot delete: %s", link_reason(rc, "host-only network"));
        cli_done("host-only network %s deleted", a.pos[0]);
        return EXIT_OK;
    }
    if (!strcmp(verb, "list")) {
        struct hostonly_info *v;
        size_t n;
        if ((rc = parse_args("hostonly", argc, argv, O_JSON, 0, 0, "hostonly list [--json]", &a)) >= 0)
            return rc;
        rc = hostonly_list(&v, &n);
        if (rc)
            return cli_fail("hostonly", "cannot list: %s", strerror(-rc));
        if (a.json) {
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
    if (!strcmp(verb, "show")) {
        struct hostonly_info h;
        if ((rc = parse_args("hostonly", argc, argv, O_JSON, 1, 1, "hostonly show NAME [--json]",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, true)) >= 0)
            return rc;
        rc = hostonly_get(a.pos[0], &h);
        if (rc == -EMEDIUMTYPE)
            return cli_fail(a.pos[0], "bridge " HOSTONLY_PREFIX "%s is not a sluice host-only network",
                            a.pos[0]);
        if (rc)
            return cli_fail(a.pos[0], "%s", link_reason(rc, "host-only network"));
        if (a.json)
            print_json(ho_json(&h));
        else
            print_br_show(&h.br, h.name);
        hostonly_info_free(&h);
        return EXIT_OK;
    }
    return cli_usage("hostonly", "unknown verb '%s' (try 'sluice net hostonly --help')", verb);
}

/* ---- ovs ---- */

static int ovs_open(const char *db, struct ovs_client **c)
{
    const char *addr = ovs_db_resolve(db);
    int rc = ovs_client_create(addr, c);

    if (rc == -EINVAL || rc == -ENAMETOOLONG)
        return cli_usage("ovs", "bad database address '%s' (expected unix:PATH)", addr);
    if (rc)
        return cli_fail("ovs", "cannot connect to ovsdb-server at %s: %s%s", addr, strerror(-rc),
                        rc == -ENOENT || rc == -ECONNREFUSED ? " (is ovsdb-server running?)" : "");
    return -1;
}

static int ovs_failed(struct ovs_client *c, int rc)
{
    const char *msg = ovs_client_error(c);

    if (msg && *msg)
        cli_fail("ovs", "%s", msg);
    else
        cli_fail("ovs", "%s", strerror(-rc));
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

static const char ovs_help[] =
    "usage: sluice net ovs <verb> [args] [--db unix:PATH]\n\n"
    "  create BRIDGE [--datapath TYPE]          add an Open vSwitch bridge (TYPE: netdev for\n"
    "                                           the userspace datapath; default: system)\n"
    "  delete BRIDGE                            delete it with its ports\n"
    "  list [--json]                            bridges and their ports\n"
    "  show BRIDGE [--json]\n"
    "  add-port BRIDGE PORT [--vm ID] [--dev ID] [--mac MAC]\n"
    "                                           add an existing interface; IDs go to\n"
    "                                           external_ids sluice-vm / sluice-dev / attached-mac\n"
    "  del-port BRIDGE PORT\n\n"
    "The database is --db, else $" OVS_DB_ENV ", else " OVS_DEFAULT_DB ".\n"
    "Changes are made in the database; ovs-vswitchd applies them asynchronously.\n";

static int cmd_ovs(int argc, char **argv)
{
    struct ovs_client *c;
    struct net_args a;
    const char *verb;
    int rc;

    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(ovs_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    verb = argv[1];
    argc--, argv++;
    if (!strcmp(verb, "create")) {
        if ((rc = parse_args("ovs", argc, argv, O_DB | O_DATAPATH, 1, 1,
                             "ovs create BRIDGE [--datapath TYPE] [--db unix:PATH]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        if ((rc = ovs_open(a.db, &c)) >= 0)
            return rc;
        rc = ovs_br_add(c, a.pos[0], a.datapath, OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "delete")) {
        if ((rc = parse_args("ovs", argc, argv, O_DB, 1, 1, "ovs delete BRIDGE [--db unix:PATH]",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        if ((rc = ovs_open(a.db, &c)) >= 0)
            return rc;
        rc = ovs_br_del(c, a.pos[0], OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "add-port")) {
        struct ovs_kv ext[3];
        size_t n = 0;
        if ((rc = parse_args("ovs", argc, argv, O_DB | O_VM | O_DEV | O_MAC, 2, 2,
                             "ovs add-port BRIDGE PORT [--vm ID] [--dev ID] [--mac MAC] [--db unix:PATH]",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 2, false)) >= 0)
            return rc;
        if (a.vm)
            ext[n++] = (struct ovs_kv){ (char *)"sluice-vm", (char *)a.vm };
        if (a.dev)
            ext[n++] = (struct ovs_kv){ (char *)"sluice-dev", (char *)a.dev };
        if (a.mac)
            ext[n++] = (struct ovs_kv){ (char *)"attached-mac", (char *)a.mac };
        if ((rc = ovs_open(a.db, &c)) >= 0)
            return rc;
        rc = ovs_port_add(c, a.pos[0], a.pos[1], ext, n, OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "del-port")) {
        if ((rc = parse_args("ovs", argc, argv, O_DB, 2, 2,
                             "ovs del-port BRIDGE PORT [--db unix:PATH]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 2, false)) >= 0)
            return rc;
        if ((rc = ovs_open(a.db, &c)) >= 0)
            return rc;
        rc = ovs_port_del(c, a.pos[0], a.pos[1], OVS_TIMEOUT_MS);
    } else if (!strcmp(verb, "list") || !strcmp(verb, "show")) {
        bool show = verb[0] == 's';
        struct ovs_bridge_info *v;
        size_t n;
        if ((rc = parse_args("ovs", argc, argv, O_DB | O_JSON, show, show,
                             show ? "ovs show BRIDGE [--json] [--db unix:PATH]"
                                  : "ovs list [--json] [--db unix:PATH]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, show, false)) >= 0)
            return rc;
        if ((rc = ovs_open(a.db, &c)) >= 0)
            return rc;
        rc = ovs_br_list(c, &v, &n, OVS_TIMEOUT_MS);
        if (rc)
            return ovs_failed(c, rc);
        ovs_client_destroy(c);
        const struct ovs_bridge_info *one = NULL;
        if (show) {
            for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i].name, a.pos[0]))
                    one = &v[i];
            if (!one) {
                ovs_br_list_free(v, n);
                return cli_fail("ovs", "bridge %s does not exist", a.pos[0]);
            }
        }
        if (a.json) {
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
    } else {
        return cli_usage("ovs", "unknown verb '%s' (try 'sluice net ovs --help')", verb);
    }
    if (rc)
        return ovs_failed(c, rc);
    ovs_client_destroy(c);
    if (!strcmp(verb, "create"))
        cli_done("ovs bridge %s created", a.pos[0]);
    else if (!strcmp(verb, "delete"))
        cli_done("ovs bridge %s deleted", a.pos[0]);
    else if (!strcmp(verb, "add-port"))
        cli_done("port %s added to ovs bridge %s", a.pos[1], a.pos[0]);
    else
        cli_done("port %s removed from ovs bridge %s", a.pos[1], a.pos[0]);
    return EXIT_OK;
}

/* ---- tap ---- */

static int resolve_user(const char *s, uid_t *uid)
{
    unsigned v;
    struct passwd *pw;

    if (!parse_uint(s, 0, 0x7fffffff, &v)) {
        *uid = v;
        return 0;
    }
    pw = getpwnam(s);
    if (!pw)
        return -ENOENT;
    *uid = pw->pw_uid;
    return 0;
}

static int resolve_group(const char *s, gid_t *gid)
{
    unsigned v;
    struct group *gr;

    if (!parse_uint(s, 0, 0x7fffffff, &v)) {
        *gid = v;
        return 0;
    }
    gr = getgrnam(s);
    if (!gr)
        return -ENOENT;
    *gid = gr->gr_gid;
    return 0;
}

static const char tap_help[] =
    "usage: sluice net tap <verb> [args]\n\n"
    "  create NAME [--queues N] [--user U] [--group G] [--mtu N] [--up]\n"
    "                      a persistent multi-queue tap with a vnet header, usable by\n"
    "                      user U / group G without privileges\n"
    "  delete NAME\n"
    "  set NAME [--up|--down] [--mtu N]\n"
    "sluiced names the taps it makes itself sl-<dev>-<n>.\n";

static int cmd_tap(int argc, char **argv)
{
    struct net_args a;
    const char *verb;
    int rc;

    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(tap_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    verb = argv[1];
    argc--, argv++;
    if (!strcmp(verb, "create")) {
        struct tap *t;
        uid_t uid = (uid_t)-1;
        gid_t gid = (gid_t)-1;
        if ((rc = parse_args("tap", argc, argv, O_QUEUES | O_USER | O_GROUP | O_MTU | O_UP, 1, 1,
                             "tap create NAME [--queues N] [--user U] [--group G] [--mtu N] [--up]",
                             &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        const char *name = a.pos[0];
        if (a.user && resolve_user(a.user, &uid))
            return cli_usage(name, "no such user '%s'", a.user);
        if (a.group && resolve_group(a.group, &gid))
            return cli_usage(name, "no such group '%s'", a.group);
        if (net_link_index(name) > 0)
            return cli_fail(name, "already exists");
        rc = tap_open(name, a.queues ? a.queues : 1, TAP_PERSIST, &t);
        if (rc)
            return cli_fail(name, "cannot create tap: %s", link_reason(rc, "tap"));
        if ((uid != (uid_t)-1 || gid != (gid_t)-1) && (rc = tap_set_owner(t, uid, gid))) {
            tap_set_persist(t, false);
            tap_close(t);
            return cli_fail(name, "cannot set owner: %s", strerror(-rc));
        }
        if ((a.mtu && (rc = tap_set_mtu(t, a.mtu))) || (a.up && (rc = tap_set_up(t, true)))) {
            tap_set_persist(t, false);
            tap_close(t);
            return cli_fail(name, "cannot configure: %s", strerror(-rc));
        }
        tap_close(t);
        cli_done("tap %s created (%u queue%s)", name, a.queues ? a.queues : 1,
                 a.queues > 1 ? "s" : "");
        return EXIT_OK;
    }
    if (!strcmp(verb, "delete")) {
        if ((rc = parse_args("tap", argc, argv, 0, 1, 1, "tap delete NAME", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        rc = tap_delete(a.pos[0]);
        if (rc)
            return cli_fail(a.pos[0], "cannot delete: %s", link_reason(rc, "tap"));
        cli_done("tap %s deleted", a.pos[0]);
        return EXIT_OK;
    }
    if (!strcmp(verb, "set")) {
        struct net_link_info li;
        if ((rc = parse_args("tap", argc, argv, O_UP | O_DOWN | O_MTU, 1, 1,
                             "tap set NAME [--up|--down] [--mtu N]", &a)) >= 0)
            return rc;
        if ((rc = check_names(&a, 1, false)) >= 0)
            return rc;
        if (!a.given)
            return cli_usage(a.pos[0], "nothing to set");
        rc = net_link_get(a.pos[0], &li);
        if (!rc && strcmp(li.kind, "tun"))
            rc = -EMEDIUMTYPE;
        if (!rc && a.mtu)
            rc = net_link_set_mtu(a.pos[0], a.mtu);
        if (!rc && (a.up || a.down))
            rc = net_link_set_up(a.pos[0], a.up);
        if (rc)
            return cli_fail(a.pos[0], "%s", link_reason(rc, "tap"));
        cli_done("tap %s updated", a.pos[0]);
        return EXIT_OK;
    }
    return cli_usage("tap", "unknown verb '%s' (try 'sluice net tap --help')", verb);
}

/* ---- attach / detach ---- */

static int cmd_attach(int argc, char **argv, bool attach)
{
    struct net_args a;
    struct net_spec spec;
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;
    int rc;

    if ((rc = parse_args(attach ? "attach" : "detach", argc, argv,
                         attach ? O_VM | O_DEV | O_MAC | O_DB : O_DB, 2, 2,
                         attach ? "attach IFNAME bridge=BR|hostonly=NET|ovs=BR [--vm ID] [--dev ID] "
                                  "[--mac MAC] [--db unix:PATH]"
                                : "detach IFNAME bridge=BR|hostonly=NET|ovs=BR [--db unix:PATH]",
                         &a)) >= 0)
        return rc;
    const char *ifname = a.pos[0];
    rc = net_spec_parse(a.pos[1], &spec, &e);
    if (rc)
        return cli_usage(a.pos[1], "%s", err[0] ? err : "bad network spec");
    if (a.db) {
        if (spec.kind != NET_KIND_OVS)
            return cli_usage(a.pos[1], "--db applies to ovs= only");
        if (strlen(a.db) >= sizeof(spec.db))
            return cli_usage("ovs", "database address too long");
        snprintf(spec.db, sizeof(spec.db), "%s", a.db);
    }
    if ((rc = check_names(&a, 1, false)) >= 0)
        return rc;
    const struct net_attach_ops *ops = net_attach_ops_get(spec.kind);
    struct net_owner owner = { a.vm, a.dev, a.mac };
    rc = attach ? ops->attach(&spec, ifname, &owner, &e) : ops->detach(&spec, ifname, &e);
    if (rc)
        return cli_fail(spec.kind == NET_KIND_OVS ? "ovs" : ifname, "%s", err[0] ? err : strerror(-rc));
    cli_done(attach ? "%s attached to %s" : "%s detached from %s", ifname, a.pos[1]);
    return EXIT_OK;
}

static const char net_help[] =
    "usage: sluice net <group> <verb> [args]\n\n"
    "  bridge   create|delete|list|show|add-port|del-port|set   Linux bridges\n"
    "  hostonly create|delete|list|show                         host-only networks (sh-NAME)\n"
    "  ovs      create|delete|list|show|add-port|del-port       Open vSwitch over OVSDB\n"
    "  tap      create|delete|set                               persistent taps\n"
    "  attach IFNAME SPEC [--vm ID] [--dev ID] [--mac MAC]      SPEC: bridge=BR, hostonly=NET,\n"
    "  detach IFNAME SPEC                                             ovs=BR[,db=unix:PATH]\n\n"
    "Listings take --json. A change prints one line; --quiet (-q) silences it.\n"
    "Invalid names and values exit 2, failures 1. 'sluice net <group> --help' for details.\n";

int cmd_net(int argc, char **argv)
{
    const char *group;

    if (argc < 2) {
        fputs(net_help, stderr);
        return EXIT_USAGE;
    }
    /* `sluice net -q bridge create ...`: --quiet may also precede the group. */
    while (argc > 2 && (!strcmp(argv[1], "-q") || !strcmp(argv[1], "--quiet"))) {
        cli_quiet = true;
        argc--, argv++;
    }
    group = argv[1];
    if (cli_is_help(group)) {
        fputs(net_help, stdout);
        return EXIT_OK;
    }
    if (!strcmp(group, "bridge"))
        return cmd_bridge(argc - 1, argv + 1);
    if (!strcmp(group, "hostonly"))
        return cmd_hostonly(argc - 1, argv + 1);
    if (!strcmp(group, "ovs"))
        return cmd_ovs(argc - 1, argv + 1);
    if (!strcmp(group, "tap"))
        return cmd_tap(argc - 1, argv + 1);
    if (!strcmp(group, "attach") || !strcmp(group, "detach"))
        return cmd_attach(argc - 1, argv + 1, group[0] == 'a');
    return cli_usage("net", "unknown group '%s' (try 'sluice net --help')", group);
}
