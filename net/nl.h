/* SPDX-License-Identifier: Apache-2.0 */
/* Private to net/: libnl socket setup and libnl error -> errno mapping. */
#ifndef SLUICE_NET_NL_PRIV_H
#define SLUICE_NET_NL_PRIV_H

#include <netlink/netlink.h>
#include <netlink/route/link.h>

/* A connected NETLINK_ROUTE socket. Returns 0 or -errno. */
int netl_open(struct nl_sock **out);
void netl_close(struct nl_sock *sk);
/* Map a (negative or positive) NLE_* code to a negative errno. */
int netl_err(int nle);
/* Fetch link @name from the kernel. Returns 0, -ENODEV, -errno. */
int netl_get_link(struct nl_sock *sk, const char *name, struct rtnl_link **out);
/* Fill a struct net_link_info from @link; addresses from @addr_cache (may be NULL). */
struct net_link_info;
void netl_fill_info(struct rtnl_link *link, struct nl_cache *link_cache,
                    struct nl_cache *addr_cache, struct net_link_info *out);

#endif
