/* SPDX-License-Identifier: Apache-2.0 */
/* Linux bridges over rtnetlink (libnl-route-3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include "core/util.h"
#include "net/bridge.h"
#include "nl.h"

/* 0 when @name exists and is a bridge, -ENODEV or -EMEDIUMTYPE otherwise. */
static int check_bridge(struct nl_sock *sk, const char *name)
{
    struct rtnl_link *link;
    int r = netl_get_link(sk, name, &link);

    if (r < 0)
        return r;
    r = rtnl_link_is_bridge(link) ? 0 : -EMEDIUMTYPE;
    rtnl_link_put(link);
    return r;
}

static int is_bridge(const char *name)
{
    struct nl_sock *sk;
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = check_bridge(sk, name);
    netl_close(sk);
    return r;
}

int br_create(const char *name, const struct br_config *cfg)
{
    static const struct br_config defaults;
    struct nl_sock *sk = NULL;
    struct rtnl_link *link = NULL;
    bool created = false;
    int r;

    if (!cfg)
        cfg = &defaults;
    r = net_name_check(name);
    if (r < 0)
        return r;
    if (cfg->mtu && (cfg->mtu < 68 || cfg->mtu > 65535))
        return -ERANGE;
    r = netl_open(&sk);
    if (r < 0)
        return r;
    link = rtnl_link_bridge_alloc();
    if (!link) {
        r = -ENOMEM;
        goto out;
    }
    rtnl_link_set_name(link, name);
    r = netl_err(rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL));
    if (r < 0)
        goto out;
    created = true;
    /* The kernel ignores IFLA_IFALIAS in a creating RTM_NEWLINK. */
    if (cfg->alias && (r = net_link_set_alias(name, cfg->alias)) < 0)
        goto out;
    /* An empty bridge takes any MTU only once set explicitly. */
    if (cfg->mtu && (r = net_link_set_mtu(name, cfg->mtu)) < 0)
        goto out;
    if (!cfg->down && (r = net_link_set_up(name, true)) < 0)
        goto out;
out:
    if (r < 0 && created)
        net_link_delete(name);
    if (link)
        rtnl_link_put(link);
    netl_close(sk);
    return r;
}

int br_delete(const char *name)
{
    int r = is_bridge(name);

    return r < 0 ? r : net_link_delete(name);
}

static int port_cmp(const void *a, const void *b)
{
    return strcmp(((const struct br_port *)a)->name, ((const struct br_port *)b)->name);
}

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const struct br_info *)a)->link.name, ((const struct br_info *)b)->link.name);
}

struct collect {
    struct nl_cache *links, *addrs;
    int only_ifindex;            /* 0: every bridge */
    struct br_info *v;
    size_t n, cap;
    int r;
};

static void collect_ports_cb(struct nl_object *obj, void *arg)
{
    struct br_info *bi = arg;
    struct rtnl_link *l = (struct rtnl_link *)obj;
    struct br_port *p;

    if (bi->link.ifindex <= 0 || rtnl_link_get_master(l) != bi->link.ifindex)
        return;
    p = realloc(bi->ports, (bi->nports + 1) * sizeof(*p));
    if (!p) {
        bi->link.ifindex = -ENOMEM;   /* flag, checked by the caller */
        return;
    }
    bi->ports = p;
    p = &bi->ports[bi->nports++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", rtnl_link_get_name(l) ?: "");
    p->ifindex = rtnl_link_get_ifindex(l);
    p->up = rtnl_link_get_flags(l) & IFF_UP;
}

static void collect_cb(struct nl_object *obj, void *arg)
{
    struct collect *c = arg;
    struct rtnl_link *l = (struct rtnl_link *)obj;
    struct br_info *bi;
    int idx;

    if (c->r || !rtnl_link_is_bridge(l))
        return;
    if (c->only_ifindex && rtnl_link_get_ifindex(l) != c->only_ifindex)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct br_info *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            c->r = -ENOMEM;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    bi = &c->v[c->n++];
    memset(bi, 0, sizeof(*bi));
    netl_fill_info(l, c->links, c->addrs, &bi->link);
    idx = bi->link.ifindex;
    nl_cache_foreach(c->links, collect_ports_cb, bi);
    if (bi->link.ifindex < 0) {
        c->r = bi->link.ifindex;
        bi->link.ifindex = idx;
        return;
    }
    if (bi->nports > 1)
        qsort(bi->ports, bi->nports, sizeof(*bi->ports), port_cmp);
}

static int collect(int only_ifindex, struct collect *c)
{
    struct nl_sock *sk;
    int r = netl_open(&sk);

    memset(c, 0, sizeof(*c));
    c->only_ifindex = only_ifindex;
    if (r < 0)
        return r;
    r = netl_err(rtnl_link_alloc_cache(sk, AF_UNSPEC, &c->links));
    if (r == 0)
        r = netl_err(rtnl_addr_alloc_cache(sk, &c->addrs));
    if (r == 0) {
        nl_cache_foreach(c->links, collect_cb, c);
        r = c->r;
    }
    if (c->links)
        nl_cache_free(c->links);
    if (c->addrs)
        nl_cache_free(c->addrs);
    netl_close(sk);
    if (r < 0) {
        br_list_free(c->v, c->n);
        c->v = NULL;
        c->n = 0;
    }
    return r;
}

int br_list(struct br_info **out, size_t *n)
{
    struct collect c;
    int r = collect(0, &c);

    *out = NULL;
    *n = 0;
    if (r < 0)
        return r;
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), info_cmp);
    *out = c.v;
    *n = c.n;
    return 0;
}

void br_info_free(struct br_info *info)
{
    if (!info)
        return;
    free(info->ports);
    memset(info, 0, sizeof(*info));
}

void br_list_free(struct br_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        br_info_free(&list[i]);
    free(list);
}

int br_get(const char *name, struct br_info *out)
{
    struct collect c;
    int idx, r;

    memset(out, 0, sizeof(*out));
    r = is_bridge(name);
    if (r < 0)
        return r;
    idx = net_link_index(name);
    if (idx < 0)
        return idx;
    r = collect(idx, &c);
    if (r < 0)
        return r;
    if (c.n != 1) {
        br_list_free(c.v, c.n);
        return -ENODEV;   /* vanished in between */
    }
    *out = c.v[0];
    free(c.v);
    return 0;
}

/* @br is a bridge and @port a link, which *pi describes. */
static int bridge_and_port(const char *br, const char *port, struct net_link_info *pi)
{
    int r = is_bridge(br);

    return r < 0 ? r : net_link_get(port, pi);
}

int br_add_port(const char *br, const char *port)
{
    struct net_link_info pi;
    int r = bridge_and_port(br, port, &pi);

    if (r < 0)
        return r;
    if (!strcmp(pi.name, br))
        return -EINVAL;
    if (pi.master[0] && strcmp(pi.master, br))
        return -EBUSY;
    if (!pi.master[0] && (r = net_link_set_master(port, br)) < 0)
        return r;
    return net_link_set_up(port, true);
}

int br_del_port(const char *br, const char *port)
{
    struct net_link_info pi;
    int r = bridge_and_port(br, port, &pi);

    if (r < 0)
        return r;
    if (strcmp(pi.master, br))
        return -ENOENT;
    return net_link_set_master(port, NULL);
}

int br_set_mtu(const char *br, unsigned mtu)
{
    int r = is_bridge(br);
    return r < 0 ? r : net_link_set_mtu(br, mtu);
}

int br_set_up(const char *br, bool up)
{
    int r = is_bridge(br);
    return r < 0 ? r : net_link_set_up(br, up);
}

int br_add_addr(const char *br, const char *cidr)
{
    int r = is_bridge(br);
    return r < 0 ? r : net_link_add_addr(br, cidr);
}

int br_del_addr(const char *br, const char *cidr)
{
    int r = is_bridge(br);
    return r < 0 ? r : net_link_del_addr(br, cidr);
}
