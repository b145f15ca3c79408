/* SPDX-License-Identifier: Apache-2.0 */
/* Host-only networks: an isolated bridge with a host address, no uplink. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "net/hostonly.h"

int hostonly_bridge_name(const char *name, char *buf, size_t len)
{
    int r;

    if (!name || !*name)
        return -EINVAL;
    if (strlen(name) > HOSTONLY_NAME_MAX)
        return -ENAMETOOLONG;
    if ((size_t)snprintf(buf, len, HOSTONLY_PREFIX "%s", name) >= len)
        return -ENAMETOOLONG;
    r = net_name_check(buf);
    return r;
}

/* The network name of a bridge, from its alias; NULL when not host-only. */
static const char *alias_name(const struct net_link_info *li)
{
    size_t plen = strlen(HOSTONLY_ALIAS);

    if (strncmp(li->alias, HOSTONLY_ALIAS, plen) || !li->alias[plen])
        return NULL;
    return li->alias + plen;
}

int hostonly_isolate(const char *name)
{
    char br[IFNAMSIZ];
    int r = hostonly_bridge_name(name, br, sizeof(br));

    if (r == 0)
        r = net_sysctl_set("ipv4", br, "forwarding", "0");
    if (r == 0)
        r = net_sysctl_set("ipv6", br, "disable_ipv6", "1");
    return r == -ENOENT ? -ENODEV : r;
}

int hostonly_check_addr(const char *cidr, struct sl_err *err)
{
    char ifname[IFNAMSIZ], other[NET_ADDR_STRLEN], net[INET_ADDRSTRLEN];
    struct hostonly_info hi;
    struct in_addr na;
    struct net_cidr c;
    uint32_t host, mask, first;
    int r;

    err_clear(err);
    if (net_cidr_parse(cidr, &c))
        return err_set(err, -EINVAL, "invalid address '%s' (expected ADDR/PREFIX)", cidr ? cidr : "");
    if (c.family != AF_INET)
        return err_set(err, -EAFNOSUPPORT, "only IPv4 host addresses are supported");
    memcpy(&host, c.addr, sizeof(host));
    host = ntohl(host);
    first = host >> 24;
    if (first == 0 || first == 127 || first >= 224)
        return err_set(err, -EINVAL, "%s is not a unicast host address", cidr);
    if (c.prefix < 8 || c.prefix > 30)
        return err_set(err, -EINVAL, "prefix /%u out of range (/8 to /30: a subnet with room for "
                       "guests)", c.prefix);
    mask = ~0u << (32 - c.prefix);
    na.s_addr = htonl(host & mask);
    inet_ntop(AF_INET, &na, net, sizeof(net));
    if ((host & ~mask) == 0 || (host & ~mask) == ~mask)
        return err_set(err, -EINVAL, "%s is the %s address of %s/%u; pick a host address in between",
                       cidr, (host & ~mask) ? "broadcast" : "network", net, c.prefix);
    r = net_addr_find_overlap(&c, ifname, other);
    if (r < 0)
        return err_set(err, r, "cannot read the host's addresses: %s", strerror(-r));
    if (r == 0)
        return 0;
    if (!strncmp(ifname, HOSTONLY_PREFIX, strlen(HOSTONLY_PREFIX)) &&
        !hostonly_get(ifname + strlen(HOSTONLY_PREFIX), &hi)) {
        err_set(err, -EADDRINUSE, "%s/%u overlaps host-only network %s (%s)", net, c.prefix,
                hi.name, other);
        hostonly_info_free(&hi);
        return -EADDRINUSE;
    }
    return err_set(err, -EADDRINUSE, "%s/%u overlaps %s on %s", net, c.prefix, other, ifname);
}

int hostonly_create(const char *name, const char *cidr, unsigned mtu, struct sl_err *err)
{
    char br[IFNAMSIZ], alias[64];
    struct br_config cfg = { .mtu = mtu, .down = true, .alias = alias };
    int r;

    err_clear(err);
    r = hostonly_bridge_name(name, br, sizeof(br));
    if (r < 0)
        return r;
    /* An existing bridge overlaps its own subnet: say that it exists. */
    r = net_link_index(br);
    if (r != -ENODEV)
        return r > 0 ? -EEXIST : r;
    r = hostonly_check_addr(cidr, err);
    if (r < 0)
        return r;
    snprintf(alias, sizeof(alias), HOSTONLY_ALIAS "%s", name);
    r = br_create(br, &cfg);
    if (r < 0)
        return r;
    /* Isolation first, then the address, then up. */
    if ((r = hostonly_isolate(name)) < 0 ||
        (r = net_link_add_addr(br, cidr)) < 0 ||
        (r = net_link_set_up(br, true)) < 0) {
        net_link_delete(br);
        return r;
    }
    return 0;
}

int hostonly_get(const char *name, struct hostonly_info *out)
{
    char br[IFNAMSIZ];
    const char *an;
    int r;

    memset(out, 0, sizeof(*out));
    r = hostonly_bridge_name(name, br, sizeof(br));
    if (r < 0)
        return r == -EINVAL ? r : -ENODEV;
    r = br_get(br, &out->br);
    if (r < 0)
        return r;
    an = alias_name(&out->br.link);
    if (!an || strcmp(an, name)) {
        br_info_free(&out->br);
        return -EMEDIUMTYPE;
    }
    snprintf(out->name, sizeof(out->name), "%s", name);
    return 0;
}

void hostonly_info_free(struct hostonly_info *info)
{
    if (info)
        br_info_free(&info->br);
}

int hostonly_delete(const char *name)
{
    struct hostonly_info hi;
    int r = hostonly_get(name, &hi);

    if (r < 0)
        return r;
    r = br_delete(hi.br.link.name);
    hostonly_info_free(&hi);
    return r;
}

int hostonly_list(struct hostonly_info **out, size_t *n)
{
    struct br_info *all;
    struct hostonly_info *v = NULL;
    size_t nall, cnt = 0;
    int r;

    *out = NULL;
    *n = 0;
    r = br_list(&all, &nall);
    if (r < 0)
        return r;
    if (nall && !(v = calloc(nall, sizeof(*v)))) {
        br_list_free(all, nall);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nall; i++) {
        const char *an = alias_name(&all[i].link);
        char expect[IFNAMSIZ];

        if (!an || hostonly_bridge_name(an, expect, sizeof(expect)) ||
            strcmp(expect, all[i].link.name)) {
            br_info_free(&all[i]);
            continue;
        }
        snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", an);
        v[cnt++].br = all[i];   /* moves the ports array */
    }
    free(all);
    if (!cnt) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void hostonly_list_free(struct hostonly_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        hostonly_info_free(&list[i]);
    free(list);
}
