/* SPDX-License-Identifier: Apache-2.0 */
#include "vhost/net.h"
#include "vq-int.h"
#include "log.h"
#include "core/log.h"
#include "core/util.h"

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_CHAIN_IOV   20      /* descriptors of one receive chain */
#define RX_MAX_CHAINS  64      /* chains one packet may span */
#define RX_MAX_IOV     1024    /* IOV_MAX: iovecs of one readv */
#define TX_REQ_IOV     (MAX_SKB_FRAGS_GUESS + 4)
#define MAX_SKB_FRAGS_GUESS 64
#define MAX_GSO_PACKET (65535u + 14u + 4u)   /* IP max + Ethernet + VLAN */

struct vnet;

struct rx_chain {
    struct vq_elem elem;
    uint32_t cap;
    struct iovec iov[RX_CHAIN_IOV];
};

struct vnet_rxq {
    struct vnet *n;
    struct vq *vq;
    int fd;
    unsigned hdr_len;
    bool mrg;
    uint32_t need;                      /* capacity to hold the largest packet */
    struct rx_chain chains[RX_MAX_CHAINS];
    unsigned head, count;               /* FIFO of popped, unused chains */
    uint64_t cap_total;
    bool reading, stopping, error_wait;
    struct uloop_op read_op;
    struct iovec riov[RX_MAX_IOV];
    struct vnet_stats st;
};

struct tx_req {
    struct uloop_op op;
    struct vnet_txq *q;
    struct vq_elem elem;
    uint32_t bytes;
    struct tx_req *next_free;
    struct iovec iov[TX_REQ_IOV];
};

struct vnet_txq {
    struct vnet *n;
    struct vq *vq;
    int fd;
    unsigned hdr_len;
    struct tx_req *reqs, *free;
    bool starved;
    struct vnet_stats st;
};

struct vnet {
    struct vnet_config cfg;
    struct vu_dev *dev;                 /* holds this struct (vu_dev_priv) */
    void *queues[VU_MAX_QUEUES];        /* rx (even) / tx (odd) queue state */
    struct vnet_stats retired;
    uint64_t configured_features;
    bool configured;
};

unsigned vnet_hdr_len(uint64_t features)
{
    if (features & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF)))
        return sizeof(struct virtio_net_hdr_mrg_rxbuf);
    return sizeof(struct virtio_net_hdr);
}

unsigned vnet_rx_split(const uint32_t *cap, unsigned nchains, uint32_t len, uint32_t *used)
{
    unsigned i = 0;

    while (len && i < nchains) {
        used[i] = MIN(cap[i], len);
        len -= used[i];
        i++;
    }
    return len ? 0 : i;
}

static void add_stats(struct vnet_stats *to, const struct vnet_stats *s)
{
    to->rx_packets += s->rx_packets;
    to->rx_bytes += s->rx_bytes;
    to->rx_dropped += s->rx_dropped;
    to->tx_packets += s->tx_packets;
    to->tx_bytes += s->tx_bytes;
    to->tx_errors += s->tx_errors;
}

/* ---- receive (tap -> guest) ------------------------------------------- */

static void rx_fill(struct vnet_rxq *q);

/* Give the cached, unused chains back to the ring (stop or reset). */
static void rx_unpop_all(struct vnet_rxq *q)
{
    if (q->count)
        vq_unpop(q->vq, q->count);
    q->count = 0;
    q->cap_total = 0;
}

static void rx_done(struct uloop_op *op, int res, uint32_t flags)
{
    struct vnet_rxq *q = container_of(op, struct vnet_rxq, read_op);
    uint32_t cap[RX_MAX_CHAINS], used[RX_MAX_CHAINS];
    unsigned nb;
    (void)flags;

    q->reading = false;
    if (res == -ECANCELED || (res < 0 && q->stopping)) {
        rx_unpop_all(q);
        return;
    }
    if (res == -EAGAIN || res == -EINTR) {
        rx_fill(q);
        return;
    }
    if (res < 0) {
        static __thread struct log_ratelimit rl = { .burst = 5, .interval_ms = 5000 };
        if (log_ratelimit_ok(&rl))
            log_warn("virtio-net: rx queue %u: read: %s", q->vq->index, strerror(-res));
        /* Wait for the next kick rather than spin on a failing fd. */
        q->error_wait = true;
        return;
    }
    if ((unsigned)res < q->hdr_len) {
        q->st.rx_dropped++;
        rx_fill(q);
        return;
    }
    for (unsigned i = 0; i < q->count; i++)
        cap[i] = q->chains[(q->head + i) % RX_MAX_CHAINS].cap;
    nb = vnet_rx_split(cap, q->count, (uint32_t)res, used);
    if (nb == 0) {   /* cannot happen: the read was bounded by the chains */
        q->st.rx_dropped++;
        rx_fill(q);
        return;
    }
    if (q->mrg) {
        struct rx_chain *first = &q->chains[q->head];
        uint16_t n16 = (uint16_t)nb;
        iov_from_buf(first->iov, first->elem.in_num,
                     offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), &n16, sizeof(n16));
    }
    for (unsigned i = 0; i < nb; i++) {
        struct rx_chain *c = &q->chains[q->head];
        /* the packet (and num_buffers in the first chain's header) */
        vq_log_iov(q->vq, c->iov, c->elem.in_num, used[i]);
        vq_push(q->vq, c->elem.head, used[i]);
        q->cap_total -= c->cap;
        q->head = (q->head + 1) % RX_MAX_CHAINS;
        q->count--;
    }
    q->st.rx_packets++;
    q->st.rx_bytes += (uint64_t)res - q->hdr_len;
    if (!q->stopping)
        rx_fill(q);
    else
        rx_unpop_all(q);
}

static void rx_fill(struct vnet_rxq *q)
{
    unsigned niov = 0;

    if (q->reading || q->stopping)
        return;
    while (q->cap_total < q->need && q->count < RX_MAX_CHAINS) {
        struct rx_chain *c = &q->chains[(q->head + q->count) % RX_MAX_CHAINS];
        int r;

        c->elem.iov = c->iov;
        r = vq_pop(q->vq, &c->elem, RX_CHAIN_IOV);
        if (r <= 0)
            break;
        if (c->elem.out_num) {
            vq_unpop(q->vq, 1);
            vq_set_broken(q->vq, "virtio-net receive buffer is not device-writable");
            return;
        }
        c->cap = (uint32_t)MIN(iov_size(c->iov, c->elem.in_num), UINT32_MAX);
        if (c->cap < q->hdr_len) {
            vq_unpop(q->vq, 1);
            vq_set_broken(q->vq, "virtio-net receive buffer shorter than the header");
            return;
        }
        q->count++;
        q->cap_total += c->cap;
        if (!q->mrg)
            break;   /* without MRG_RXBUF one chain holds a whole packet */
    }
    if (q->count == 0)
        return;      /* no buffers: the guest's next kick brings some */
    if (q->mrg && q->cap_total < q->need && q->count < RX_MAX_CHAINS)
        return;      /* wait for enough buffers for the largest packet */
    for (unsigned i = 0; i < q->count && niov < RX_MAX_IOV; i++) {
        struct rx_chain *c = &q->chains[(q->head + i) % RX_MAX_CHAINS];
        for (unsigned k = 0; k < c->elem.in_num && niov < RX_MAX_IOV; k++)
            q->riov[niov++] = c->iov[k];
    }
    struct io_uring_sqe *sqe = uloop_sqe(q->vq->loop);
    io_uring_prep_readv(sqe, q->fd, q->riov, niov, 0);
    uloop_sqe_set_op(sqe, &q->read_op);
    q->reading = true;
}

static void rx_kick(struct vq *vq)
{
    struct vnet_rxq *q = vq->priv;
    q->error_wait = false;
    rx_fill(q);
}

static void rx_stop(struct vq *vq)
{
    struct vnet_rxq *q = vq->priv;

    q->stopping = true;
    if (q->reading) {
        struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
        io_uring_prep_cancel(sqe, &q->read_op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    } else {
        rx_unpop_all(q);
    }
}

/* ---- transmit (guest -> tap) ------------------------------------------ */

static void tx_process(struct vq *vq);

static void tx_finish(struct tx_req *req)
{
    struct vnet_txq *q = req->q;

    vq_push(q->vq, req->elem.head, 0);
    req->next_free = q->free;
    q->free = req;
    if (q->starved) {
        q->starved = false;
        tx_process(q->vq);
    }
}

static void tx_done(struct uloop_op *op, int res, uint32_t flags)
{
    struct tx_req *req = container_of(op, struct tx_req, op);
    (void)flags;

    if (res < 0) {
        req->q->st.tx_errors++;
    } else {
        req->q->st.tx_packets++;
        req->q->st.tx_bytes += req->bytes - req->q->hdr_len;
    }
    tx_finish(req);
}

static void tx_process(struct vq *vq)
{
    struct vnet_txq *q = vq->priv;

    for (;;) {
        struct tx_req *req = q->free;
        size_t len;
        int r;

        if (!req) {
            q->starved = true;
            return;
        }
        req->elem.iov = req->iov;
        r = vq_pop(vq, &req->elem, TX_REQ_IOV);
        if (r <= 0)
            return;
        q->free = req->next_free;
        len = iov_size(req->iov, req->elem.out_num);
        if (req->elem.in_num || len < q->hdr_len || len > q->hdr_len + MAX_GSO_PACKET) {
            /* A malformed packet is dropped, the buffer returned. */
            q->st.tx_errors++;
            tx_finish(req);
            continue;
        }
        req->bytes = (uint32_t)len;
        struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
        io_uring_prep_writev(sqe, q->fd, req->iov, req->elem.out_num, 0);
        uloop_sqe_set_op(sqe, &req->op);
    }
}

/* ---- queues ----------------------------------------------------------- */

static int configure(struct vnet *n, uint64_t features)
{
    int r;

    if (n->configured && n->configured_features == features)
        return 0;
    if (n->cfg.io->configure) {
        r = n->cfg.io->configure(n->cfg.io_ctx, features, vnet_hdr_len(features));
        if (r < 0)
            return r;
    }
    n->configured = true;
    n->configured_features = features;
    return 0;
}

static int queue_init(void *ctx, struct vq *vq, uint64_t features)
{
    struct vnet *n = ctx;
    unsigned pair = vq->index / 2;
    int fd, r;

    if (pair >= n->cfg.queue_pairs)
        return -EINVAL;
    fd = n->cfg.io->queue_fd(n->cfg.io_ctx, pair);
    if (fd < 0)
        return -EBADF;
    r = configure(n, features);
    if (r < 0)
        return r;
    if (vq->index % 2 == 0) {
        struct vnet_rxq *q = calloc(1, sizeof(*q));
        if (!q)
            return -ENOMEM;
        q->n = n;
        q->vq = vq;
        q->fd = fd;
        q->hdr_len = vnet_hdr_len(features);
        q->mrg = features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
        bool gso = features & ((1ull << VIRTIO_NET_F_GUEST_TSO4) |
                               (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                               (1ull << VIRTIO_NET_F_GUEST_UFO));
        uint32_t mtu = n->cfg.mtu ? n->cfg.mtu : 1500;
        q->need = q->hdr_len + (gso ? MAX_GSO_PACKET : mtu + 14 + 4);
        q->read_op.cb = rx_done;
        vq->priv = q;
        vq->handle = rx_kick;
        vq->on_stop = rx_stop;
    } else {
        struct vnet_txq *q = calloc(1, sizeof(*q));
        if (!q)
            return -ENOMEM;
        q->reqs = calloc(vq->num, sizeof(*q->reqs));
        if (!q->reqs) {
            free(q);
            return -ENOMEM;
        }
        q->n = n;
        q->vq = vq;
        q->fd = fd;
        q->hdr_len = vnet_hdr_len(features);
        for (unsigned i = vq->num; i-- > 0;) {
            q->reqs[i].q = q;
            q->reqs[i].op.cb = tx_done;
            q->reqs[i].next_free = q->free;
            q->free = &q->reqs[i];
        }
        vq->priv = q;
        vq->handle = tx_process;
    }
    n->queues[vq->index] = vq->priv;
    return 0;
}

static void queue_fini(void *ctx, struct vq *vq)
{
    struct vnet *n = ctx;

    if (!vq->priv)
        return;
    if (vq->index % 2 == 0) {
        struct vnet_rxq *q = vq->priv;
        add_stats(&n->retired, &q->st);
    } else {
        struct vnet_txq *q = vq->priv;
        add_stats(&n->retired, &q->st);
        free(q->reqs);
    }
    n->queues[vq->index] = NULL;
    free(vq->priv);
    vq->priv = NULL;
    vq->on_stop = NULL;
}

static int get_config(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
    struct vnet *n = ctx;
    struct virtio_net_config c;

    memset(&c, 0, sizeof(c));
    memcpy(c.mac, n->cfg.mac, sizeof(c.mac));
    c.status = VIRTIO_NET_S_LINK_UP;
    c.max_virtqueue_pairs = (uint16_t)n->cfg.queue_pairs;
    c.mtu = n->cfg.mtu;
    c.speed = UINT32_MAX;    /* unknown */
    c.duplex = 0xff;         /* unknown */
    memset(buf, 0, len);
    if (offset < sizeof(c))
        memcpy(buf, (uint8_t *)&c + offset, MIN(len, sizeof(c) - offset));
    return 0;
}

/* SEND_RARP: a broadcast RARP request (RFC 903) from @mac, what QEMU sends
 * itself for a device without vhost-user, written to queue pair 0's fd
 * behind an empty virtio-net header so the bridge learns the new port. */
static int send_rarp(void *ctx, const uint8_t mac[6])
{
    struct vnet *n = ctx;
    uint8_t frame[sizeof(struct virtio_net_hdr_mrg_rxbuf) + 60];
    unsigned hl = vnet_hdr_len(n->configured_features);
    uint8_t *e = frame + hl;
    static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 3 };  /* ether, IPv4, op 3 */
    int fd = n->cfg.io->queue_fd(n->cfg.io_ctx, 0);
    ssize_t w;

    if (!n->configured)
        return -EAGAIN;   /* the fd's header size is not set up yet */
    if (fd < 0)
        return -EBADF;
    memset(frame, 0, sizeof(frame));
    memset(e, 0xff, 6);                  /* broadcast */
    memcpy(e + 6, mac, 6);
    e[12] = 0x80;                        /* ETH_P_RARP */
    e[13] = 0x35;
    memcpy(e + 14, arp_hdr, sizeof(arp_hdr));
    memcpy(e + 22, mac, 6);              /* sender hardware address */
    memcpy(e + 32, mac, 6);              /* target hardware address */
    w = write(fd, frame, hl + 60);
    if (w < 0)
        return neg_errno();
    return w == (ssize_t)(hl + 60) ? 0 : -EIO;
}

/* No VU_PF_CONFIG: frontends (QEMU, DPDK) keep the net config space
 * themselves, and QEMU warns when a net backend offers it. get_config
 * serves those that ask anyway. */
static const struct vu_dev_ops vnet_dev_ops = {
    .get_config = get_config,
    .queue_init = queue_init,
    .queue_fini = queue_fini,
    .send_rarp = send_rarp,
};

static uint64_t offered_features(const struct vnet_config *cfg)
{
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) |
                 (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ull << VIRTIO_RING_F_EVENT_IDX) |
                 (1ull << VIRTIO_NET_F_MRG_RXBUF) |
                 (1ull << VIRTIO_NET_F_STATUS) |
                 (1ull << VIRTIO_NET_F_CSUM) |
                 (1ull << VIRTIO_NET_F_GUEST_CSUM) |
                 (1ull << VIRTIO_NET_F_HOST_TSO4) |
                 (1ull << VIRTIO_NET_F_HOST_TSO6) |
                 (1ull << VIRTIO_NET_F_HOST_ECN) |
                 (1ull << VIRTIO_NET_F_GUEST_TSO4) |
                 (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                 (1ull << VIRTIO_NET_F_GUEST_ECN) |
                 (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE) |
                 (1ull << VU_F_LOG_ALL);

    if (cfg->has_mac)
        f |= 1ull << VIRTIO_NET_F_MAC;
    if (cfg->mtu)
        f |= 1ull << VIRTIO_NET_F_MTU;
    if (cfg->queue_pairs > 1)
        f |= 1ull << VIRTIO_NET_F_MQ;
    return f;
}

int vnet_create(const struct vnet_config *cfg, const struct vu_dev_config *vcfg,
                struct vnet **out)
{
    struct vu_dev *dev;
    struct vnet *n;
    int r;

    if (!cfg->io || !cfg->io->queue_fd || cfg->queue_pairs == 0 ||
        cfg->queue_pairs > VU_MAX_QUEUES / 2)
        return -EINVAL;
    r = vu_dev_create_model(vcfg, &(struct vu_model){
        .ops = &vnet_dev_ops,
        .priv_size = sizeof(*n),
        .features = offered_features(cfg),
        .protocol_features = (1ull << VU_PF_LOG_SHMFD) | (1ull << VU_PF_RARP),
        .num_queues = cfg->queue_pairs * 2,
        /* For virtio-net, GET_QUEUE_NUM counts queue pairs. */
        .queue_num_reply = cfg->queue_pairs,
    }, &dev);
    if (r < 0)
        return r;
    n = vu_dev_priv(dev);
    n->dev = dev;
    n->cfg = *cfg;
    *out = n;
    return 0;
}

struct vu_dev *vnet_vu_dev(struct vnet *n)
{
    return n->dev;
}

void vnet_stats(const struct vnet *n, struct vnet_stats *out)
{
    *out = n->retired;
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
        if (!n->queues[i])
            continue;
        if (i % 2 == 0)
            add_stats(out, &((struct vnet_rxq *)n->queues[i])->st);
        else
            add_stats(out, &((struct vnet_txq *)n->queues[i])->st);
    }
}
