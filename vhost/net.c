/* SPDX-License-Identifier: Apache-2.0 */
#include "vhost/net.h"
#include "vq-int.h"
#include "log.h"
#include "core/log.h"
#include "core/util.h"

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <assert.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define RX_CHAIN_IOV   20      /* descriptors of one receive chain */
#define RX_MAX_CHAINS  64      /* chains one packet may span */
#define RX_MAX_IOV     1024    /* IOV_MAX: iovecs of one readv */
#define RX_READS       16      /* reads in flight per receive queue */
#define RX_SEQ_AGAIN   UINT64_MAX  /* chain handed out again after a reconnect */
#define RX_RETRY_NS    20000000    /* back-off after a failed tap read: 20 ms */
#define TX_REQ_IOV     (MAX_SKB_FRAGS_GUESS + 4)
#define MAX_SKB_FRAGS_GUESS 64
#define MAX_GSO_PACKET (65535u + 14u + 4u)   /* IP max + Ethernet + VLAN */

struct vnet;
struct vnet_rxq;

/* One receive chain a read holds; its iovecs sit in the read's iov[]. */
struct rx_chain {
    uint64_t seq;                       /* pop order, or RX_SEQ_AGAIN */
    uint32_t cap;
    uint16_t head;
    uint16_t niov;
};

/* A receive chain taken from the ring that no read holds. */
struct rx_spare {
    struct rx_chain c;
    struct iovec iov[RX_CHAIN_IOV];
};

/* One readv on the tap over its own chains (enough for the largest packet).
 * A queue keeps up to RX_READS of them in flight, so a burst of packets is
 * read in one pass of the loop and the guest is interrupted once for it. */
struct rx_read {
    struct uloop_op op;
    struct vnet_rxq *q;
    unsigned nchains, niov;
    uint64_t cap_total;
    bool busy;                          /* the readv (or back-off) is in flight */
    bool retry;                         /* the op is the back-off timer */
    struct __kernel_timespec retry_ts;
    struct rx_chain chains[RX_MAX_CHAINS];
    struct iovec iov[RX_MAX_IOV];
};

struct vnet_rxq {
    struct vnet *n;
    struct vq *vq;
    int fd;
    unsigned hdr_len;
    bool mrg;
    uint32_t need;                      /* capacity to hold the largest packet */
    struct rx_read *reads;              /* RX_READS */
    unsigned busy;                      /* reads in flight */
    /* Chains taken but held by no read in flight (what a packet left over,
     * or too little for the largest packet yet), oldest first: a ring of
     * nspare_max entries (the queue size: it never holds more). */
    struct rx_spare *spare;
    unsigned spare_head, nspare, nspare_max;
    uint64_t pops;                      /* chains taken from the avail ring */
    /* error_wait: a read failed; no read is put in flight until the back-off
     * (one read's slot, holding its chains so a stop waits for it) ends or
     * the guest kicks. Not a kick alone: a polling guest with all its
     * buffers posted (DPDK) never kicks again. */
    bool stopping, error_wait, retrying;
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

/* A receive queue's reads and spare chains (about 360 KiB for a queue of
 * 256) come straight from the kernel, zeroed, and go back to it whole when
 * the queue ends: pages a read never touched are never resident, and a
 * frontend's disconnect leaves nothing of them in the malloc heap (where
 * glibc keeps freed chunks of this size resident, and a soak of reconnects
 * saw sluiced's idle RSS step up by megabytes). NULL on failure. */
static void *rx_mem_alloc(size_t n, size_t size)
{
    void *p;

    if (n && size > SIZE_MAX / n)
        return NULL;
    p = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void rx_mem_free(void *p, size_t n, size_t size)
{
    if (p)
        munmap(p, n * size);
}

static void rx_fill(struct vnet_rxq *q);

static struct rx_spare *spare_at(struct vnet_rxq *q, unsigned i)
{
    return &q->spare[(q->spare_head + i) % q->nspare_max];
}

/* Put chain @k of @rd back at the front of the spare chains. */
static void spare_unshift(struct vnet_rxq *q, struct rx_read *rd, unsigned k, unsigned iov_off)
{
    struct rx_spare *sp;

    assert(q->nspare < q->nspare_max);   /* vq_pop: never more chains than entries */
    q->spare_head = (q->spare_head + q->nspare_max - 1) % q->nspare_max;
    q->nspare++;
    sp = spare_at(q, 0);
    sp->c = rd->chains[k];
    memcpy(sp->iov, rd->iov + iov_off, rd->chains[k].niov * sizeof(sp->iov[0]));
}

/* Give all of @rd's chains from @first on back to the spare chains, in
 * order, and forget them in @rd. */
static void rx_read_unload(struct vnet_rxq *q, struct rx_read *rd, unsigned first)
{
    unsigned off = rd->niov;

    for (unsigned k = rd->nchains; k-- > first;) {
        off -= rd->chains[k].niov;
        spare_unshift(q, rd, k, off);
        rd->cap_total -= rd->chains[k].cap;
    }
    rd->nchains = first;
    rd->niov = off;
}

/* Stop: every read is back. Give the spare chains to the guest: the ones
 * that are the most recent pops go back to the avail ring (vq_unpop); any
 * older one (a later chain was used before it, by another read) is returned
 * used with length 0, which drivers drop as a short packet. */
static void rx_release(struct vnet_rxq *q)
{
    unsigned tail = 0;

    for (unsigned i = 0; i < RX_READS; i++)
        rx_read_unload(q, &q->reads[i], 0);
    for (uint64_t s = q->pops; s-- > 0;) {
        bool found = false;
        for (unsigned i = 0; i < q->nspare && !found; i++)
            found = spare_at(q, i)->c.seq == s;
        if (!found)
            break;
        tail++;
    }
    for (unsigned i = 0; i < q->nspare; i++) {
        struct rx_chain *c = &spare_at(q, i)->c;
        if (c->seq == RX_SEQ_AGAIN || c->seq + tail < q->pops)
            vq_push(q->vq, c->head, 0);
    }
    q->nspare = 0;
    q->pops -= tail;
    if (tail)
        vq_unpop(q->vq, tail);
}

/* Hand the packet of @len bytes in @rd's first chains to the guest. */
static void rx_deliver(struct vnet_rxq *q, struct rx_read *rd, uint32_t len)
{
    uint32_t cap[RX_MAX_CHAINS], used[RX_MAX_CHAINS];
    unsigned nb;

    for (unsigned i = 0; i < rd->nchains; i++)
        cap[i] = rd->chains[i].cap;
    nb = vnet_rx_split(cap, rd->nchains, len, used);
    if (nb == 0) {   /* cannot happen: the read was bounded by the chains */
        q->st.rx_dropped++;
        return;
    }
    if (q->mrg) {
        uint16_t n16 = (uint16_t)nb;
        iov_from_buf(rd->iov, rd->chains[0].niov,
                     offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), &n16, sizeof(n16));
    }
    for (unsigned i = 0, off = 0; i < nb; off += rd->chains[i].niov, i++) {
        /* the packet (and num_buffers in the first chain's header), for
         * the migration dirty log, before the chain is handed back */
        vq_log_iov(q->vq, rd->iov + off, rd->chains[i].niov, used[i]);
        vq_push(q->vq, rd->chains[i].head, used[i]);
    }
    /* Unused chains serve the next packets. */
    rx_read_unload(q, rd, nb);
    rd->nchains = rd->niov = 0;
    rd->cap_total = 0;
    q->st.rx_packets++;
    q->st.rx_bytes += len - q->hdr_len;
}

static void rx_done(struct uloop_op *op, int res, uint32_t flags)
{
    struct rx_read *rd = container_of(op, struct rx_read, op);
    struct vnet_rxq *q = rd->q;
    (void)flags;

    rd->busy = false;
    q->busy--;
    if (rd->retry) {            /* the back-off is over (or cancelled) */
        rd->retry = false;
        q->retrying = false;
        q->error_wait = false;
    } else if (res >= 0 && (unsigned)res < q->hdr_len)
        q->st.rx_dropped++;
    else if (res >= 0)
        rx_deliver(q, rd, (uint32_t)res);
    else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED && !q->stopping) {
        static __thread struct log_ratelimit rl = { .burst = 5, .interval_ms = 5000 };
        if (log_ratelimit_ok(&rl))
            log_warn("virtio-net: rx queue %u: read: %s", q->vq->index, strerror(-res));
        /* Back off rather than spin on a failing fd: this read's slot
         * waits RX_RETRY_NS with its chains, then reads resume (earlier on
         * a kick). */
        q->error_wait = true;
        if (!q->retrying) {
            struct io_uring_sqe *sqe = uloop_sqe(q->vq->loop);
            rd->retry_ts = (struct __kernel_timespec){ .tv_nsec = RX_RETRY_NS };
            io_uring_prep_timeout(sqe, &rd->retry_ts, 0, 0);
            uloop_sqe_set_op(sqe, &rd->op);
            rd->retry = true;
            rd->busy = true;
            q->busy++;
            q->retrying = true;
            return;
        }
    }
    /* Chains of a read that got no packet go back to the spares too, so no
     * idle read sits on chains another one could use. */
    rx_read_unload(q, rd, 0);
    if (!q->stopping)
        rx_fill(q);
    else if (q->busy == 0)
        rx_release(q);
}

/* Take the next chain from the avail ring into the spare chains; false
 * when there is none (or the ring is broken). */
static bool rx_take(struct vnet_rxq *q)
{
    struct rx_spare *sp;
    bool again = q->vq->resubmit_pos < q->vq->resubmit_n;
    int r;

    if (q->nspare == q->nspare_max)
        return false;   /* cannot happen: the queue has no more entries */
    sp = spare_at(q, q->nspare);
    struct vq_elem e = { .iov = sp->iov };
    r = vq_pop(q->vq, &e, RX_CHAIN_IOV);
    if (r <= 0)
        return false;   /* no buffers: the guest's next kick brings some */
    if (e.out_num) {
        vq_unpop(q->vq, 1);
        vq_set_broken(q->vq, "virtio-net receive buffer is not device-writable");
        return false;
    }
    sp->c.cap = (uint32_t)MIN(iov_size(e.iov, e.in_num), UINT32_MAX);
    if (sp->c.cap < q->hdr_len) {
        vq_unpop(q->vq, 1);
        vq_set_broken(q->vq, "virtio-net receive buffer shorter than the header");
        return false;
    }
    sp->c.head = e.head;
    sp->c.niov = e.in_num;
    sp->c.seq = again ? RX_SEQ_AGAIN : q->pops++;
    q->nspare++;
    return true;
}

/* Load the empty read @rd with chains (spares first, oldest first) until it
 * can take the largest packet; false, with nothing loaded, when the ring
 * has too few buffers yet. */
static bool rx_read_load(struct vnet_rxq *q, struct rx_read *rd)
{
    while (rd->nchains == 0 ||
           (q->mrg && rd->cap_total < q->need && rd->nchains < RX_MAX_CHAINS &&
            RX_MAX_IOV - rd->niov >= RX_CHAIN_IOV)) {
        struct rx_spare *sp;

        if (q->nspare == 0 && !rx_take(q)) {
            rx_read_unload(q, rd, 0);
            return false;
        }
        sp = spare_at(q, 0);
        rd->chains[rd->nchains++] = sp->c;
        memcpy(rd->iov + rd->niov, sp->iov, sp->c.niov * sizeof(sp->iov[0]));
        rd->niov += sp->c.niov;
        rd->cap_total += sp->c.cap;
        q->spare_head = (q->spare_head + 1) % q->nspare_max;
        q->nspare--;
    }
    return true;
}

/* Put every idle read back in flight while the ring has buffers. */
static void rx_fill(struct vnet_rxq *q)
{
    if (q->stopping || q->error_wait)
        return;
    for (unsigned i = 0; i < RX_READS; i++) {
        struct rx_read *rd = &q->reads[i];

        if (rd->busy)
            continue;
        if (!rx_read_load(q, rd))
            return;
        struct io_uring_sqe *sqe = uloop_sqe(q->vq->loop);
        io_uring_prep_readv(sqe, q->fd, rd->iov, rd->niov, 0);
        uloop_sqe_set_op(sqe, &rd->op);
        rd->busy = true;
        q->busy++;
    }
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
    for (unsigned i = 0; i < RX_READS; i++) {
        if (!q->reads[i].busy)
            continue;
        struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
        io_uring_prep_cancel(sqe, &q->reads[i].op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    if (q->busy == 0)
        rx_release(q);
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
        q->nspare_max = vq->num ? vq->num : VQ_MAX_SIZE;
        q->reads = rx_mem_alloc(RX_READS, sizeof(*q->reads));
        q->spare = rx_mem_alloc(q->nspare_max, sizeof(*q->spare));
        if (!q->reads || !q->spare) {
            rx_mem_free(q->reads, RX_READS, sizeof(*q->reads));
            rx_mem_free(q->spare, q->nspare_max, sizeof(*q->spare));
            free(q);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < RX_READS; i++) {
            q->reads[i].q = q;
            q->reads[i].op.cb = rx_done;
        }
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
        rx_mem_free(q->reads, RX_READS, sizeof(*q->reads));
        rx_mem_free(q->spare, q->nspare_max, sizeof(*q->spare));
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
