/* SPDX-License-Identifier: Apache-2.0 */
/* Tap rate limits with tc objects over rtnetlink (libnl-route-3): see
 * net/shaper.h for which object limits which direction. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>

#include "core/opts.h"
#include "core/util.h"
#include "net/link.h"
#include "net/shaper.h"
#include "nl.h"

/* How long a full tbf queue may delay a packet; beyond it packets drop. */
#define SHAPE_LATENCY_US 50000
/* The ingress qdisc's handle, ffff: (TC_HANDLE(0xffff, 0) shifts an int
 * into its sign bit). */
#define INGRESS_HANDLE 0xffff0000u
/* An Ethernet header and a VLAN tag on top of the MTU. */
#define FRAME_OVERHEAD 18

void net_shaper_ifb_name(const char *tap, char *buf, size_t len)
{
    uint32_t h = 2166136261u;   /* FNV-1a */

    for (const char *p = tap; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    snprintf(buf, len, "sl-ifb-%08x", h);
}

int net_shape_check(const struct net_shape *sh, struct sl_err *err)
{
    uint64_t lo = 0;

    if ((sh->rx_bps && (sh->rx_bps < NET_SHAPE_MIN_BPS || sh->rx_bps > NET_SHAPE_MAX_BPS)) ||
        (sh->tx_bps && (sh->tx_bps < NET_SHAPE_MIN_BPS || sh->tx_bps > NET_SHAPE_MAX_BPS)))
        return err_set(err, -EINVAL, "a rate is 0 (unlimited) or from 8K to 16G bits per second");
    if (sh->burst > NET_SHAPE_MAX_BURST)
        return err_set(err, -EINVAL, "burst is at most 64M bytes");
    if (sh->rx_bps)
        lo = sh->rx_bps;
    if (sh->tx_bps && (!lo || sh->tx_bps < lo))
        lo = sh->tx_bps;
    /* tbf keeps the bucket as time at the rate, in 32-bit ticks. */
    if (lo && sh->burst > lo / 8 * 10)
        return err_set(err, -EINVAL, "burst lasts more than 10 s at the smallest rate");
    return 0;
}

int net_shape_option(struct net_shape *sh, const char *key, const char *value, struct sl_err *err)
{
    uint64_t v;

    if (!strcmp(key, "rx-rate") || !strcmp(key, "tx-rate")) {
        if (!value || parse_rate(value, &v) < 0)
            return err_set(err, -EINVAL, "%s takes bits per second, e.g. 100M (0: no limit)", key);
        *(key[0] == 'r' ? &sh->rx_bps : &sh->tx_bps) = v;
        return 1;
    }
    if (!strcmp(key, "burst")) {
        if (!value || parse_size(value, &v) < 0)
            return err_set(err, -EINVAL, "burst takes a size in bytes, e.g. 256K (0: the default)");
        sh->burst = v;
        return 1;
    }
    return 0;
}

uint64_t net_shape_burst(const struct net_shape *sh, uint64_t bps, unsigned mtu)
{
    uint64_t b = bps / 8 / 100;

    if (sh->burst)
        return sh->burst;
    b = MAX(b, NET_SHAPE_MIN_DEFAULT_BURST);
    return MAX(b, (uint64_t)mtu + FRAME_OVERHEAD);
}

/* Why a tc request failed, for the error message. */
static const char *tc_hint(int r, const char *what)
{
    static __thread char buf[96];

    if (r == -EPERM || r == -EACCES)
        return "needs CAP_NET_ADMIN";
    if (r == -ENOENT || r == -EOPNOTSUPP) {
        snprintf(buf, sizeof(buf), "%s (does the kernel have %s?)", strerror(-r), what);
        return buf;
    }
    return strerror(-r);
}

/* A tbf qdisc at the root of @ifindex, added or changed in place. */
static int tbf_set(struct nl_sock *sk, int ifindex, uint64_t bps, uint64_t burst)
{
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    int r;

    if (!q)
        return -ENOMEM;
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(1, 0));
    r = netl_err(rtnl_tc_set_kind(TC_CAST(q), "tbf"));
    if (r == 0) {
        rtnl_qdisc_tbf_set_rate(q, (int)(bps / 8), (int)burst, 0);
        r = netl_err(rtnl_qdisc_tbf_set_limit_by_latency(q, SHAPE_LATENCY_US));
    }
    if (r == 0)
        r = netl_err(rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE));
    rtnl_qdisc_put(q);
    return r;
}

/* Delete the qdisc at @parent (TC_H_ROOT or TC_H_INGRESS) of @ifindex when
 * it is ours (@kind); nothing there is fine. */
static int qdisc_del(struct nl_sock *sk, int ifindex, uint32_t parent, uint32_t handle,
                     const char *kind)
{
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    int r;

    if (!q)
        return -ENOMEM;
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), parent);
    rtnl_tc_set_handle(TC_CAST(q), handle);
    r = netl_err(rtnl_tc_set_kind(TC_CAST(q), kind));
    if (r == 0)
        r = netl_err(rtnl_qdisc_delete(sk, q));
    rtnl_qdisc_put(q);
    /* ENOENT: none; EINVAL: the default qdisc (handle 0) is at the root. */
    return r == -ENOENT || r == -EINVAL ? 0 : r;
}

/* The ingress qdisc of @tap_index and its filter: every packet, any
 * protocol, redirected to the egress of @ifb_index. */
static int ingress_redirect(struct nl_sock *sk, int tap_index, int ifb_index, struct sl_err *err)
{
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    struct rtnl_cls *cls = rtnl_cls_alloc();
    struct rtnl_act *act = rtnl_act_alloc();
    int r = 0;

    if (!q || !cls || !act) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    rtnl_tc_set_ifindex(TC_CAST(q), tap_index);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
    rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
    r = netl_err(rtnl_tc_set_kind(TC_CAST(q), "ingress"));
    if (r == 0)
        r = netl_err(rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE));
    if (r < 0) {
        err_set(err, r, "ingress qdisc: %s", tc_hint(r, "sch_ingress"));
        goto out;
    }

    rtnl_tc_set_kind(TC_CAST(act), "mirred");
    rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
    rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
    rtnl_mirred_set_ifindex(act, (uint32_t)ifb_index);

    rtnl_tc_set_ifindex(TC_CAST(cls), tap_index);
    rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
    r = netl_err(rtnl_tc_set_kind(TC_CAST(cls), "u32"));
    if (r == 0) {
        rtnl_cls_set_protocol(cls, ETH_P_ALL);
        rtnl_cls_set_prio(cls, 1);
        r = netl_err(rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0));   /* match u32 0 0 */
    }
    if (r == 0)
        r = netl_err(rtnl_u32_set_cls_terminal(cls));
    if (r == 0 && (r = netl_err(rtnl_u32_add_action(cls, act))) == 0)
        r = netl_err(rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL));
    if (r < 0)
        err_set(err, r, "redirect filter: %s", tc_hint(r, "cls_u32 and act_mirred"));
out:
    if (act)
        rtnl_act_put(act);
    if (cls)
        rtnl_cls_put(cls);
    if (q)
        rtnl_qdisc_put(q);
    return r;
}

/* Whether @ifindex has an ingress qdisc. */
static bool ingress_present(struct nl_sock *sk, int ifindex)
{
    struct nl_cache *cache = NULL;
    struct rtnl_qdisc *q;

    if (rtnl_qdisc_alloc_cache(sk, &cache) < 0)
        return false;
    q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_INGRESS);
    if (q)
        rtnl_qdisc_put(q);
    nl_cache_free(cache);
    return q != NULL;
}

/* Create ifb @name (up) unless there; *index: its ifindex. */
static int ifb_get(struct nl_sock *sk, const char *name, int *index, struct sl_err *err)
{
    struct rtnl_link *link;
    int r = net_link_index(name);

    if (r > 0) {
        *index = r;
        return 0;
    }
    link = rtnl_link_alloc();
    if (!link)
        return err_set(err, -ENOMEM, "out of memory");
    rtnl_link_set_name(link, name);
    r = netl_err(rtnl_link_set_type(link, "ifb"));
    if (r == 0)
        r = netl_err(rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL));
    rtnl_link_put(link);
    if (r < 0)
        return err_set(err, r, "ifb %s: %s", name, tc_hint(r, "ifb"));
    r = net_link_set_up(name, true);
    if (r >= 0)
        r = net_link_index(name);
    if (r < 0) {
        net_link_delete(name);
        return err_set(err, r, "ifb %s: %s", name, strerror(-r));
    }
    *index = r;
    return 0;
}

/* Delete our ifb for the tap, if there. */
static int ifb_del(const char *name)
{
    struct net_link_info li;
    int r = net_link_get(name, &li);

    if (r == -ENODEV)
        return 0;
    if (r < 0)
        return r;
    if (strcmp(li.kind, "ifb"))
        return 0;
    r = net_link_delete(name);
    return r == -ENODEV ? 0 : r;
}

int net_shaper_set(const char *tap, const struct net_shape *sh, struct sl_err *err)
{
    char ifb[IFNAMSIZ];
    struct net_link_info li;
    struct nl_sock *sk = NULL;
    bool had_ingress, new_ifb, undo = false;
    int ifb_index = 0, r;

    r = net_shape_check(sh, err);
    if (r < 0)
        return r;
    r = net_link_get(tap, &li);
    if (r < 0)
        return err_set(err, r, "%s: %s", tap, r == -ENODEV ? "no such link" : strerror(-r));
    if (sh->burst && sh->burst < li.mtu + FRAME_OVERHEAD)
        return err_set(err, -EINVAL, "burst must hold one frame of the MTU (%u bytes)",
                       li.mtu + FRAME_OVERHEAD);
    net_shaper_ifb_name(tap, ifb, sizeof(ifb));
    r = netl_open(&sk);
    if (r < 0)
        return err_set(err, r, "netlink: %s", strerror(-r));

    /* Guest receive: the tap's egress. */
    if (sh->rx_bps)
        r = tbf_set(sk, li.ifindex, sh->rx_bps, net_shape_burst(sh, sh->rx_bps, li.mtu));
    else
        r = qdisc_del(sk, li.ifindex, TC_H_ROOT, TC_HANDLE(1, 0), "tbf");
    if (r < 0) {
        err_set(err, r, "%s: tbf qdisc: %s", tap, tc_hint(r, "sch_tbf"));
        goto out;
    }

    /* Guest transmit: the tap's ingress, through the ifb. */
    if (!sh->tx_bps) {
        r = qdisc_del(sk, li.ifindex, TC_H_INGRESS, INGRESS_HANDLE, "ingress");
        if (r == 0)
            r = ifb_del(ifb);
        if (r < 0)
            err_set(err, r, "%s: removing the ingress limit: %s", tap, strerror(-r));
        goto out;
    }
    /* Set up before (a live change) when both the redirect and its ifb
     * are there; an ifb alone is a dead process's, an ingress qdisc alone
     * redirects to a deleted ifb. */
    new_ifb = net_link_index(ifb) <= 0;
    had_ingress = ingress_present(sk, li.ifindex);
    if (had_ingress && new_ifb &&
        (r = qdisc_del(sk, li.ifindex, TC_H_INGRESS, INGRESS_HANDLE, "ingress")) < 0) {
        err_set(err, r, "%s: ingress qdisc: %s", tap, strerror(-r));
        goto out;
    }
    had_ingress = had_ingress && !new_ifb;
    /* What this call adds goes again when a later step fails. */
    undo = !had_ingress;
    r = ifb_get(sk, ifb, &ifb_index, err);
    if (r < 0)
        goto out;
    r = tbf_set(sk, ifb_index, sh->tx_bps, net_shape_burst(sh, sh->tx_bps, li.mtu));
    if (r < 0) {
        err_set(err, r, "%s: tbf qdisc: %s", ifb, tc_hint(r, "sch_tbf"));
        goto out;
    }
    if (!had_ingress) {
        r = ingress_redirect(sk, li.ifindex, ifb_index, err);
        if (r < 0) {
            err_wrap(err, r, "%s", tap);
            goto out;
        }
    }
out:
    if (r < 0 && undo) {
        qdisc_del(sk, li.ifindex, TC_H_INGRESS, INGRESS_HANDLE, "ingress");
        ifb_del(ifb);
    }
    netl_close(sk);
    return r;
}

int net_shaper_clear(const char *tap, struct sl_err *err)
{
    static const struct net_shape none;
    char ifb[IFNAMSIZ];
    int r = net_shaper_set(tap, &none, err);

    if (r == -ENODEV) {
        /* The tap is gone (its qdiscs with it): only the ifb is left. */
        net_shaper_ifb_name(tap, ifb, sizeof(ifb));
        err_clear(err);
        r = ifb_del(ifb);
        if (r < 0)
            err_set(err, r, "%s: %s", ifb, strerror(-r));
    }
    return r;
}
