/* SPDX-License-Identifier: Apache-2.0 */
/* Network links by name, over rtnetlink (libnl-route-3): up/down, MTU,
 * master (bridge port), addresses, deletion, and a snapshot of a link's
 * state. Every call opens its own netlink socket and acts in the calling
 * thread's network namespace. Thread-safe. */
#ifndef SLUICE_NET_LINK_H
#define SLUICE_NET_LINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#define NET_LINK_MAX_ADDRS 8
/* Longest "a.b.c.d/nn" or IPv6 "addr/nnn" text, with the NUL. */
#define NET_ADDR_STRLEN 64

/* A snapshot of one link. */
struct net_link_info {
    char name[IFNAMSIZ];
    int ifindex;
    char kind[16];            /* "bridge", "tun", "veth", "" when none */
    char master[IFNAMSIZ];    /* "" when not enslaved */
    unsigned mtu;
    bool up;                  /* IFF_UP (administrative state) */
    bool lower_up;            /* IFF_LOWER_UP (carrier) */
    char mac[18];             /* "aa:bb:cc:dd:ee:ff" or "" */
    char alias[64];           /* IFLA_IFALIAS or "" */
    unsigned naddrs;          /* addresses below, at most NET_LINK_MAX_ADDRS */
    char addrs[NET_LINK_MAX_ADDRS][NET_ADDR_STRLEN];   /* "10.0.0.1/24" */
};

/* Check an interface name: 1..IFNAMSIZ-1 bytes, no '/', ':', whitespace, not
 * "." or "..". Returns 0, -EINVAL or -ENAMETOOLONG. */
int net_name_check(const char *name);

/* A parsed "ADDR/PREFIX". */
struct net_cidr {
    int family;                /* AF_INET or AF_INET6 */
    unsigned char addr[16];    /* network byte order; IPv4 in the first 4 bytes */
    unsigned prefix;           /* 0..32 or 0..128 */
};

/* Parse "ADDR/PREFIX" (IPv4 or IPv6) into @out (may be NULL). Returns 0 or
 * -EINVAL. */
int net_cidr_parse(const char *cidr, struct net_cidr *out);

/* Parse "ADDR/PREFIX" (IPv4 or IPv6). Returns 0 or -EINVAL. *family (if
 * non-NULL) receives AF_INET or AF_INET6. */
int net_cidr_check(const char *cidr, int *family);

/* True when the subnets of @a and @b (address and prefix each) share an
 * address; false for different families. */
bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b);

/* Look for an address of @cidr's family on any link of the namespace whose
 * subnet overlaps @cidr's. Returns 1 with the link's name in @ifname
 * (IFNAMSIZ bytes) and that address as "ADDR/PREFIX" in @addr
 * (NET_ADDR_STRLEN bytes), 0 when there is none, -errno. */
int net_addr_find_overlap(const struct net_cidr *cidr, char *ifname, char *addr);

/* The interface index of @name. Returns > 0, -ENODEV when absent or -errno. */
int net_link_index(const char *name);

/* Fill @out for @name (addresses included). Returns 0, -ENODEV, -errno. */
int net_link_get(const char *name, struct net_link_info *out);

/* Set the link administratively up or down. Returns 0, -ENODEV, -errno. */
int net_link_set_up(const char *name, bool up);

/* Set the MTU (68..65535). Returns 0, -ENODEV, -EINVAL (kernel refused the
 * value), -ERANGE (out of range), -errno. */
int net_link_set_mtu(const char *name, unsigned mtu);

/* Make @name a port of @master, or release it when @master is NULL.
 * Returns 0, -ENODEV (either link absent), -EBUSY, -EINVAL, -errno. */
int net_link_set_master(const char *name, const char *master);

/* Set IFLA_IFALIAS (free text, "" clears). Returns 0, -ENODEV, -errno. */
int net_link_set_alias(const char *name, const char *alias);

/* Delete the link. Returns 0, -ENODEV, -errno. */
int net_link_delete(const char *name);

/* Add / remove address @cidr ("10.0.0.1/24") on @name.
 * Returns 0, -ENODEV, -EINVAL (bad cidr), -EEXIST (add: already there),
 * -EADDRNOTAVAIL (delete: not there), -errno. */
int net_link_add_addr(const char *name, const char *cidr);
int net_link_del_addr(const char *name, const char *cidr);

/* Write "1"/"0" style @value to /proc/sys/net/<proto>/conf/<name>/<key>,
 * e.g. ("ipv4", "br0", "forwarding", "0"). Returns 0, -ENODEV/-ENOENT, -errno. */
int net_sysctl_set(const char *proto, const char *name, const char *key, const char *value);

#endif
