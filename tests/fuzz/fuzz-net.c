/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the virtio-net header and RX-merge path (vhost/net.c). A real
 * virtio-net device is brought up through the vhost-user backend
 * (fuzz-frontend.h) with guest memory the input fills; its "tap" is one end
 * of a SOCK_SEQPACKET socketpair (a real fd, one packet per read/write, as a
 * tap with IFF_VNET_HDR), so the device's readv/writev go through the
 * worker's io_uring exactly as in sluiced. Packets of fuzzed sizes (header
 * included, from 0 to beyond the largest GSO packet) are queued on the peer
 * end, the even-numbered ones before the queues start and the odd-numbered
 * ones once RX has settled with its reads in flight (a packet lands in
 * whichever outstanding read the kernel picks): RX takes receive chains from
 * the ring (one,
 * or with MRG_RXBUF as many as the largest packet needs), reads a packet
 * across them and writes num_buffers; TX takes guest chains (virtio-net
 * header + frame) and writes them to the tap, or drops malformed ones. Then
 * the queues stop (GET_VRING_BASE, or the disconnect of vu_dev_destroy), which
 * cancels the pending reads, gives back the chains they held, and waits for
 * the writes.
 *
 * Input: [u8 flags][u8 rx size][u8 tx size][u8 mtu][u16 rx base][u16 tx base]
 * [u8 packets][7 x u24 packet length][2 bytes -][guest memory from gpa 0...].
 * RX ring: descriptors at gpa 0, avail after them, used at 4096; TX ring:
 * descriptors at 8192, avail after them, used at 12288. Buffers anywhere in
 * the 64 KiB (two regions split at 32 KiB).
 * flags: 1 MRG_RXBUF, 2 VERSION_1, 4 GUEST_TSO4/6 (64 KiB receive packets),
 * 8 INDIRECT_DESC, 16 EVENT_IDX, 32 no RX queue, 64 no TX queue,
 * 128 stop the queues by disconnecting.
 * Checked per input: every packet written to the tap has a header and fits
 * the largest GSO packet; with the queues stopped, the TX counters match
 * what the tap received and RX never counts more packets than were queued;
 * the process survives (ASan/UBSan); no fd leaks. */
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "fuzz-frontend.h"
#include "vhost/net.h"

#define HDR 32
#define MAX_PKTS 7
#define MAX_PKT_LEN 70000u
#define MAX_GSO (65535u + 14u + 4u)     /* what vhost/net.c accepts on TX */
#define TX_GPA 8192u

static struct ff f;
static uint8_t pkt[MAX_PKT_LEN];
static uint8_t sink[MAX_PKT_LEN + 1];

struct ftap {
    int fd;              /* the device's end */
    uint64_t features;   /* what configure() was told */
    bool configured;
};

static int tap_queue_fd(void *ctx, unsigned pair)
{
    struct ftap *t = ctx;
    if (pair != 0)
        abort();
    return t->fd;
}

static int tap_configure(void *ctx, uint64_t features, unsigned hdr_len)
{
    struct ftap *t = ctx;
    if (hdr_len != vnet_hdr_len(features))
        abort();
    t->features = features;
    t->configured = true;
    return 0;
}

static const struct vnet_ops ops = { .queue_fd = tap_queue_fd, .configure = tap_configure };

static void big_sndbuf(int fd)
{
    int sz = 4 << 20;
    /* Room for every TX packet in flight (at most 4 x 64 KiB): a write
     * that blocks would keep the queue's stop waiting forever. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
        abort();
}

static const struct ff_optional optional[] = {
    { 1, 1ull << VIRTIO_NET_F_MRG_RXBUF },
    { 2, 1ull << VIRTIO_F_VERSION_1 },
    { 4, (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) },
    { 8, 1ull << VIRTIO_RING_F_INDIRECT_DESC },
    { 16, 1ull << VIRTIO_RING_F_EVENT_IDX },
};

static void nothing(void *arg)
{
    (void)arg;
}

/* Let RX take what it can before the stop, so an input always does the same
 * thing: the worker reads queued packets back to back (each read completes
 * at once), so between two round trips to the worker an RX queue that still
 * makes progress counts at least one more packet. Done when every packet was
 * counted or a round trip counted none (out of buffers, or broken). */
static void rx_settle(struct vnet *n, unsigned sent)
{
    uint64_t prev = UINT64_MAX;

    for (;;) {
        struct vnet_stats st;
        if (uloop_call(f.worker, nothing, NULL) < 0)
            abort();
        vnet_stats(n, &st);   /* racy read of worker counters: statistics */
        uint64_t cur = st.rx_packets + st.rx_dropped;
        if (cur >= sent || cur == prev)
            return;
        prev = cur;
    }
}

/* Queue packet @i of the input on the tap's peer end; 1 when it went. */
static unsigned send_pkt(int fd, const uint8_t *data, unsigned i)
{
    const uint8_t *l = data + 9 + 3 * i;
    uint32_t len = (l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16) % (MAX_PKT_LEN + 1);
    return send(fd, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    ff_init(&f, "fuzz-net");
    for (size_t i = 0; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)(i * 7 + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ftap tap = { .fd = -1 };
    struct vnet_config nc = { .queue_pairs = 1, .io = &ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "fuzz-net", .loops = &f.worker, .nloops = 1 };
    struct vnet *n = NULL;
    struct vnet_stats st = { 0 };
    struct ff_ring rx, tx;
    uint16_t rx_base, tx_base;
    uint64_t features, tx_seen = 0, tx_bytes = 0;
    unsigned hdr_len, sent = 0, npkts;
    uint8_t flags;
    int sv[2], before;
    ssize_t r;

    if (size < HDR)
        return 0;
    flags = data[0];
    /* Split ring sizes are powers of two (the device refuses others). */
    rx = ff_ring_at(0, 4096, (uint16_t)(1u << (data[1] % 7)));
    tx = ff_ring_at(TX_GPA, TX_GPA + 4096, (uint16_t)(1u << (data[2] % 3)));
    nc.mtu = data[3] ? (uint16_t)(576 + data[3] * 32u) : 0;
    memcpy(&rx_base, data + 4, 2);
    memcpy(&tx_base, data + 6, 2);
    ff_fill(&f, data + HDR, size - HDR);

    before = ff_count_fds();
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    big_sndbuf(sv[0]);
    big_sndbuf(sv[1]);
    tap.fd = sv[0];
    /* Packets the tap delivers: their first bytes are the virtio-net header
     * the kernel would prepend. Even-numbered ones now, odd ones later. */
    npkts = (unsigned)data[8] % (MAX_PKTS + 1);
    for (unsigned i = 0; i < npkts; i += 2)
        sent += send_pkt(sv[1], data, i);

    if (vnet_create(&nc, &vc, &n) < 0)
        abort();
    features = ff_features(vu_dev_features(vnet_vu_dev(n)), flags, optional, ARRAY_SIZE(optional));
    hdr_len = vnet_hdr_len(features);
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    if (!(flags & 32))
        ff_start_ring(&f, 0, &rx, rx_base);
    if (!(flags & 64))
        ff_start_ring(&f, 1, &tx, tx_base);
    if ((~flags & (32 | 64)) && !(tap.configured && tap.features == features))
        abort();
    if (!(flags & 32))
        rx_settle(n, sent);
    for (unsigned i = 1; i < npkts; i += 2)
        sent += send_pkt(sv[1], data, i);
    if (!(flags & 32))
        rx_settle(n, sent);
    if (!(flags & 128)) {
        if (!(flags & 64))
            ff_stop_ring(&f, 1);
        if (!(flags & 32))
            ff_stop_ring(&f, 0);
        vnet_stats(n, &st);
    }
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);

    /* What the device wrote to the tap: one packet per TX chain. */
    while ((r = recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC)) >= 0) {
        if ((size_t)r < hdr_len || (size_t)r > hdr_len + MAX_GSO)
            abort();
        tx_seen++;
        tx_bytes += (size_t)r - hdr_len;
    }
    if (!(flags & 128) &&
        (st.tx_packets != tx_seen || st.tx_bytes != tx_bytes ||
         st.rx_packets + st.rx_dropped > sent))
        abort();
    close(sv[0]);
    close(sv[1]);
    if (ff_count_fds() != before)
        abort();   /* an fd leaked */
    return 0;
}
