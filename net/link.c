/* SPDX-License-Identifier: Apache-2.0 */
/* Links by name over rtnetlink (libnl-route-3). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "core/name.h"
#include "core/util.h"
#include "net/link.h"
#include "nl.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000   /* linux/if.h; clashes with net/if.h */
#endif

int netl_err(int nle)
{
    if (nle < 0)
        nle = -nle;
    switch (nle) {
    case 0: return 0;
    case NLE_INTR: return -EINTR;
    case NLE_BAD_SOCK: return -EBADF;
    case NLE_AGAIN: return -EAGAIN;
    case NLE_NOMEM: return -ENOMEM;
    case NLE_EXIST: return -EEXIST;
    case NLE_INVAL: return -EINVAL;
    case NLE_RANGE: return -ERANGE;
    case NLE_MSGSIZE: return -EMSGSIZE;
    case NLE_OPNOTSUPP: return -EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND: return -ENOENT;
    case NLE_NOADDR: return -EADDRNOTAVAIL;
    case NLE_BUSY: return -EBUSY;
    case NLE_NOACCESS: return -EACCES;
    case NLE_PERM: return -EPERM;
    case NLE_NODEV: return -ENODEV;
    case NLE_MSG_TRUNC: case NLE_MSG_TOOSHORT: case NLE_MSG_OVERFLOW:
    case NLE_SEQ_MISMATCH: case NLE_PROTO_MISMATCH: case NLE_PARSE_ERR:
        return -EPROTO;
    default: return -EIO;
    }
}

int netl_open(struct nl_sock **out)
{
    struct nl_sock *sk = nl_socket_alloc();
    int r;

    *out = NULL;
    if (!sk)
        return -ENOMEM;
    r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(sk);
        return netl_err(r);
    }
    *out = sk;
    return 0;
}

void netl_close(struct nl_sock *sk)
{
    if (sk)
        nl_socket_free(sk);
}

int netl_get_link(struct nl_sock *sk, const char *name, struct rtnl_link **out)
{
    int r = net_name_check(name);

    *out = NULL;
    if (r < 0)
        return r == -ENAMETOOLONG ? -ENODEV : r;
    r = rtnl_link_get_kernel(sk, 0, name, out);
    if (r < 0) {
        r = netl_err(r);
        return r == -ENOENT ? -ENODEV : r;
    }
    return 0;
}

int net_name_check(const char *name)
{
    /* What the kernel takes as a netdev name (dev_valid_name), printable. */
    static const struct name_rules rules = {
        .max = IFNAMSIZ - 1, .forbidden = "/:", .no_dot_dirs = true,
        .allowed_text = "printable ASCII without '/', ':' or blanks",
    };

    return name_check(name, &rules, NULL);
}

int net_cidr_parse(const char *cidr, struct net_cidr *out)
{
    char buf[NET_ADDR_STRLEN];
    const char *slash;
    unsigned char bin[16] = { 0 };
    char *end;
    long plen;
    int fam;

    if (!cidr || !(slash = strchr(cidr, '/')) || (size_t)(slash - cidr) >= sizeof(buf) ||
        slash == cidr || !slash[1])
        return -EINVAL;
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = 0;
    if (inet_pton(AF_INET, buf, bin) == 1)
        fam = AF_INET;
    else if (inet_pton(AF_INET6, buf, bin) == 1)
        fam = AF_INET6;
    else
        return -EINVAL;
    errno = 0;
    plen = strtol(slash + 1, &end, 10);
    if (errno || *end || slash[1] < '0' || slash[1] > '9' || plen < 0 ||
        plen > (fam == AF_INET ? 32 : 128))
        return -EINVAL;
    if (out) {
        out->family = fam;
        memcpy(out->addr, bin, sizeof(out->addr));
        out->prefix = (unsigned)plen;
    }
    return 0;
}

int net_cidr_check(const char *cidr, int *family)
{
    struct net_cidr c;
    int r = net_cidr_parse(cidr, &c);

    if (r == 0 && family)
        *family = c.family;
    return r;
}

bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b)
{
    unsigned bits = MIN(a->prefix, b->prefix);

    if (a->family != b->family)
        return false;
    /* Two subnets overlap when they agree on the shorter prefix. */
    for (unsigned i = 0; i < bits / 8; i++)
        if (a->addr[i] != b->addr[i])
            return false;
    if (bits % 8) {
        unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
        if ((a->addr[bits / 8] ^ b->addr[bits / 8]) & mask)
            return false;
    }
    return true;
}

struct overlap_walk {
    const struct net_cidr *want;
    struct net_cidr found;
    int ifindex;           /* of the first overlapping address, 0: none yet */
};

static void overlap_cb(struct nl_object *obj, void *arg)
{
    struct overlap_walk *w = arg;
    struct rtnl_addr *a = (struct rtnl_addr *)obj;
    struct nl_addr *local = rtnl_addr_get_local(a);
    struct net_cidr c = { 0 };

    if (w->ifindex || !local || nl_addr_get_family(local) != w->want->family ||
        nl_addr_get_len(local) > sizeof(c.addr))
        return;
    c.family = w->want->family;
    memcpy(c.addr, nl_addr_get_binary_addr(local), nl_addr_get_len(local));
    c.prefix = (unsigned)rtnl_addr_get_prefixlen(a);
    if (net_cidr_overlap(&c, w->want)) {
        w->found = c;
        w->ifindex = rtnl_addr_get_ifindex(a);
    }
}

int net_addr_find_overlap(const struct net_cidr *cidr, char *ifname, char *addr)
{
    struct overlap_walk w = { .want = cidr };
    struct nl_cache *addrs = NULL;
    struct nl_sock *sk;
    char ip[INET6_ADDRSTRLEN];
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = netl_err(rtnl_addr_alloc_cache(sk, &addrs));
    if (r < 0)
        goto out;
    nl_cache_foreach(addrs, overlap_cb, &w);
    if (!w.ifindex)
        goto out;
    r = 1;
    if (!if_indextoname((unsigned)w.ifindex, ifname))
        snprintf(ifname, IFNAMSIZ, "#%d", w.ifindex);
    if (!inet_ntop(w.found.family, w.found.addr, ip, sizeof(ip)))
        snprintf(ip, sizeof(ip), "?");
    snprintf(addr, NET_ADDR_STRLEN, "%s/%u", ip, w.found.prefix);
out:
    if (addrs)
        nl_cache_free(addrs);
    netl_close(sk);
    return r;
}

struct addr_walk {
    int ifindex;
    struct net_link_info *info;
};

static void addr_walk_cb(struct nl_object *obj, void *arg)
{
    struct addr_walk *w = arg;
    struct rtnl_addr *a = (struct rtnl_addr *)obj;
    struct nl_addr *local;

    if (rtnl_addr_get_ifindex(a) != w->ifindex || w->info->naddrs >= NET_LINK_MAX_ADDRS)
        return;
    local = rtnl_addr_get_local(a);
    if (!local)
        return;
    /* nl_addr2str prints the prefix length only when it is not the full
     * length; print it always. */
    char ip[INET6_ADDRSTRLEN];
    int fam = nl_addr_get_family(local);
    if (!inet_ntop(fam, nl_addr_get_binary_addr(local), ip, sizeof(ip)))
        return;
    snprintf(w->info->addrs[w->info->naddrs++], NET_ADDR_STRLEN, "%s/%u", ip,
             nl_addr_get_prefixlen(local));
}

void netl_fill_info(struct rtnl_link *link, struct nl_cache *link_cache,
                    struct nl_cache *addr_cache, struct net_link_info *out)
{
    const char *s;
    struct nl_addr *mac;
    unsigned flags;
    int master;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link) ?: "");
    out->ifindex = rtnl_link_get_ifindex(link);
    s = rtnl_link_get_type(link);
    snprintf(out->kind, sizeof(out->kind), "%s", s ?: "");
    master = rtnl_link_get_master(link);
    if (master > 0) {
        if (link_cache)
            rtnl_link_i2name(link_cache, master, out->master, sizeof(out->master));
        else if (!if_indextoname((unsigned)master, out->master))
            out->master[0] = 0;
    }
    out->mtu = rtnl_link_get_mtu(link);
    flags = rtnl_link_get_flags(link);
    out->up = flags & IFF_UP;
    out->lower_up = flags & IFF_LOWER_UP;
    mac = rtnl_link_get_addr(link);
    if (mac && nl_addr_get_len(mac) == 6) {
        const unsigned char *b = nl_addr_get_binary_addr(mac);
        snprintf(out->mac, sizeof(out->mac), "%02x:%02x:%02x:%02x:%02x:%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5]);
    }
    s = rtnl_link_get_ifalias(link);
    snprintf(out->alias, sizeof(out->alias), "%s", s ?: "");
    if (addr_cache) {
        struct addr_walk w = { .ifindex = out->ifindex, .info = out };
        nl_cache_foreach(addr_cache, addr_walk_cb, &w);
    }
}

int net_link_index(const char *name)
{
    struct nl_sock *sk;
    struct rtnl_link *link;
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = netl_get_link(sk, name, &link);
    if (r == 0) {
        r = rtnl_link_get_ifindex(link);
        rtnl_link_put(link);
    }
    netl_close(sk);
    return r;
}

int net_link_get(const char *name, struct net_link_info *out)
{
    struct nl_sock *sk;
    struct rtnl_link *link = NULL;
    struct nl_cache *addrs = NULL;
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = netl_get_link(sk, name, &link);
    if (r < 0)
        goto out;
    r = netl_err(rtnl_addr_alloc_cache(sk, &addrs));
    if (r < 0)
        goto out;
    netl_fill_info(link, NULL, addrs, out);
out:
    if (addrs)
        nl_cache_free(addrs);
    if (link)
        rtnl_link_put(link);
    netl_close(sk);
    return r;
}

/* Apply the attributes set in @changes to link @name. */
static int link_change(const char *name, struct rtnl_link *changes)
{
    struct nl_sock *sk;
    struct rtnl_link *link;
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = netl_get_link(sk, name, &link);
    if (r == 0) {
        r = netl_err(rtnl_link_change(sk, link, changes, 0));
        rtnl_link_put(link);
    }
    netl_close(sk);
    return r;
}

int net_link_set_up(const char *name, bool up)
{
    struct rtnl_link *ch = rtnl_link_alloc();
    int r;

    if (!ch)
        return -ENOMEM;
    if (up)
        rtnl_link_set_flags(ch, IFF_UP);
    else
        rtnl_link_unset_flags(ch, IFF_UP);
    r = link_change(name, ch);
    rtnl_link_put(ch);
    return r;
}

int net_link_set_mtu(const char *name, unsigned mtu)
{
    struct rtnl_link *ch;
    int r;

    if (mtu < 68 || mtu > 65535)
        return -ERANGE;
    ch = rtnl_link_alloc();
    if (!ch)
        return -ENOMEM;
    rtnl_link_set_mtu(ch, mtu);
    r = link_change(name, ch);
    rtnl_link_put(ch);
    return r;
}

int net_link_set_alias(const char *name, const char *alias)
{
    struct rtnl_link *ch = rtnl_link_alloc();
    int r;

    if (!ch)
        return -ENOMEM;
    rtnl_link_set_ifalias(ch, alias ? alias : "");
    r = link_change(name, ch);
    rtnl_link_put(ch);
    return r;
}

int net_link_set_master(const char *name, const char *master)
{
    struct rtnl_link *ch;
    int idx = 0, r;

    if (master) {
        idx = net_link_index(master);
        if (idx < 0)
            return idx;
    }
    ch = rtnl_link_alloc();
    if (!ch)
        return -ENOMEM;
    rtnl_link_set_master(ch, idx);
    r = link_change(name, ch);
    rtnl_link_put(ch);
    return r;
}

int net_link_delete(const char *name)
{
    struct nl_sock *sk;
    struct rtnl_link *link;
    int r = netl_open(&sk);

    if (r < 0)
        return r;
    r = netl_get_link(sk, name, &link);
    if (r == 0) {
        r = netl_err(rtnl_link_delete(sk, link));
        if (r == -ENOENT)
            r = -ENODEV;
        rtnl_link_put(link);
    }
    netl_close(sk);
    return r;
}

static int addr_op(const char *name, const char *cidr, bool add)
{
    struct nl_sock *sk = NULL;
    struct rtnl_addr *a = NULL;
    struct nl_addr *local = NULL;
    int family, idx, r;

    r = net_cidr_check(cidr, &family);
    if (r < 0)
        return r;
    idx = net_link_index(name);
    if (idx < 0)
        return idx;
    r = netl_err(nl_addr_parse(cidr, family, &local));
    if (r < 0)
        return -EINVAL;
    a = rtnl_addr_alloc();
    if (!a) {
        r = -ENOMEM;
        goto out;
    }
    rtnl_addr_set_ifindex(a, idx);
    rtnl_addr_set_family(a, family);
    r = netl_err(rtnl_addr_set_local(a, local));
    if (r < 0)
        goto out;
    rtnl_addr_set_prefixlen(a, nl_addr_get_prefixlen(local));
    r = netl_open(&sk);
    if (r < 0)
        goto out;
    if (add)
        r = netl_err(rtnl_addr_add(sk, a, NLM_F_EXCL));
    else {
        r = netl_err(rtnl_addr_delete(sk, a, 0));
        if (r == -ENOENT)
            r = -EADDRNOTAVAIL;
    }
out:
    netl_close(sk);
    if (a)
        rtnl_addr_put(a);
    nl_addr_put(local);
    return r;
}

int net_link_add_addr(const char *name, const char *cidr)
{
    return addr_op(name, cidr, true);
}

int net_link_del_addr(const char *name, const char *cidr)
{
    return addr_op(name, cidr, false);
}

int net_sysctl_set(const char *proto, const char *name, const char *key, const char *value)
{
    char path[256];
    size_t len = strlen(value);
    ssize_t n;
    int fd, r;

    r = net_name_check(name);
    if (r < 0)
        return r;
    if (strchr(proto, '/') || strchr(key, '/'))
        return -EINVAL;
    snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", proto, name, key);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    n = write(fd, value, len);
    r = n < 0 ? neg_errno() : (size_t)n == len ? 0 : -EIO;
    close(fd);
    return r;
}
