/* SPDX-License-Identifier: Apache-2.0 */
/* Tap devices: /dev/net/tun with IFF_MULTI_QUEUE, one fd per queue. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "core/mac.h"
#include "core/util.h"
#include "net/link.h"
#include "net/tap.h"

struct tap {
    char name[IFNAMSIZ];
    unsigned queues;
    unsigned flags;
    int fds[TAP_MAX_QUEUES];
};

static int tun_open(const char *name, unsigned flags, char *actual)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return neg_errno();
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    if (!(flags & TAP_NO_VNET_HDR))
        ifr.ifr_flags |= IFF_VNET_HDR;
    if (name)
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int r = neg_errno();
        close(fd);
        return r;
    }
    memcpy(actual, ifr.ifr_name, IFNAMSIZ);
    actual[IFNAMSIZ - 1] = 0;
    return fd;
}

int tap_open(const char *name, unsigned queues, unsigned flags, struct tap **out)
{
    struct tap *t;
    int r;

    *out = NULL;
    if (queues < 1 || queues > TAP_MAX_QUEUES || (flags & ~(TAP_PERSIST | TAP_NO_VNET_HDR)))
        return -EINVAL;
    if (name && (r = net_name_check(name)) < 0)
        return r;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
        t->fds[i] = -1;
    t->flags = flags;
    for (unsigned i = 0; i < queues; i++) {
        char actual[IFNAMSIZ];
        /* The first open names the device; the others attach to it. */
        int fd = tun_open(i ? t->name : name, flags, actual);
        if (fd < 0) {
            r = fd;
            goto err_close;
        }
        t->fds[i] = fd;
        t->queues = i + 1;
        if (!i)
            memcpy(t->name, actual, IFNAMSIZ);
    }
    if ((flags & TAP_PERSIST) && (r = tap_set_persist(t, true)) < 0)
        goto err_close;
    *out = t;
    return 0;

err_close:
    tap_close(t);
    return r;
}

void tap_close(struct tap *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
        close_fd(&t->fds[i]);
    free(t);
}

const char *tap_name(const struct tap *t)
{
    return t->name;
}

unsigned tap_queues(const struct tap *t)
{
    return t->queues;
}

int tap_fd(const struct tap *t, unsigned q)
{
    return q < t->queues ? t->fds[q] : -1;
}

int tap_set_vnet_hdr_size(struct tap *t, int size)
{
    if ((t->flags & TAP_NO_VNET_HDR) || (size != 10 && size != 12 && size != 20))
        return -EINVAL;
    for (unsigned i = 0; i < t->queues; i++)
        if (ioctl(t->fds[i], TUNSETVNETHDRSZ, &size) < 0)
            return neg_errno();
    return 0;
}

int tap_set_offload(struct tap *t, unsigned offloads)
{
    if (!t->queues)
        return -EINVAL;
    if (ioctl(t->fds[0], TUNSETOFFLOAD, (unsigned long)offloads) < 0)
        return neg_errno();
    return 0;
}

int tap_set_queue_enabled(struct tap *t, unsigned q, bool enabled)
{
    struct ifreq ifr;

    if (q >= t->queues)
        return -ERANGE;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (ioctl(t->fds[q], TUNSETQUEUE, &ifr) < 0)
        return neg_errno();
    return 0;
}

int tap_set_persist(struct tap *t, bool persist)
{
    if (ioctl(t->fds[0], TUNSETPERSIST, (unsigned long)persist) < 0)
        return neg_errno();
    if (persist)
        t->flags |= TAP_PERSIST;
    else
        t->flags &= ~(unsigned)TAP_PERSIST;
    return 0;
}

int tap_set_owner(struct tap *t, uid_t uid, gid_t gid)
{
    if (uid != (uid_t)-1 && ioctl(t->fds[0], TUNSETOWNER, (unsigned long)uid) < 0)
        return neg_errno();
    if (gid != (gid_t)-1 && ioctl(t->fds[0], TUNSETGROUP, (unsigned long)gid) < 0)
        return neg_errno();
    return 0;
}

/* One SIOCxIFx ioctl on an AF_INET datagram socket. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

    if (s < 0)
        return neg_errno();
    if (ioctl(s, req, ifr) < 0)
        r = neg_errno();
    close(s);
    return r;
}

int tap_set_up(struct tap *t, bool up)
{
    struct ifreq ifr;
    int r;

    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
    r = if_ioctl(SIOCGIFFLAGS, &ifr);
    if (r < 0)
        return r;
    if (up)
        ifr.ifr_flags |= IFF_UP;
    else
        ifr.ifr_flags &= ~IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

int tap_set_mtu(struct tap *t, unsigned mtu)
{
    struct ifreq ifr;

    if (mtu < 68 || mtu > 65535)
        return -ERANGE;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
    ifr.ifr_mtu = (int)mtu;
    return if_ioctl(SIOCSIFMTU, &ifr);
}

int tap_set_mac(struct tap *t, const char *mac)
{
    struct ifreq ifr;
    uint8_t b[6];

    if (!mac || mac_parse(mac, b, NULL) < 0)
        return -EINVAL;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, b, sizeof(b));
    return if_ioctl(SIOCSIFHWADDR, &ifr);
}

int tap_make_name(const char *dev, unsigned n, char *buf, size_t len)
{
    int w;

    if (!dev || !*dev || strchr(dev, '/') || strchr(dev, ':'))
        return -EINVAL;
    w = snprintf(buf, len, "sl-%s-%u", dev, n);
    if (w < 0 || (size_t)w >= len || w >= IFNAMSIZ)
        return -ENAMETOOLONG;
    return 0;
}

int tap_delete(const char *name)
{
    struct net_link_info li;
    int r = net_link_get(name, &li);

    if (r < 0)
        return r;
    if (strcmp(li.kind, "tun"))
        return -EMEDIUMTYPE;
    return net_link_delete(name);
}
