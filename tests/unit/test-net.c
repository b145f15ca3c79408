/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net model: header length per negotiated features, RX buffer
 * merging (how a packet spreads over receive chains), feature offer, and the
 * receive datapath on a real worker: a device brought up through the
 * vhost-user backend (the fuzz targets' minimal frontend), whose "tap" is a
 * SOCK_SEQPACKET socketpair (one packet per read, like a tap). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vhost/net.h"
#include "../fuzz/fuzz-frontend.h"

static void test_hdr_len(void **state)
{
    (void)state;
    assert_int_equal(vnet_hdr_len(0), 10);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_NET_F_MRG_RXBUF), 12);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_F_VERSION_1), 12);
    assert_int_equal(vnet_hdr_len((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF)), 12);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_NET_F_CSUM), 10);
}

static void test_rx_split_one_chain(void **state)
{
    uint32_t cap[] = { 1526, 1526 }, used[2] = { 0 };
    (void)state;
    /* Fits the first chain: one buffer, exact length. */
    assert_int_equal(vnet_rx_split(cap, 2, 74, used), 1);
    assert_int_equal(used[0], 74);
    assert_int_equal(vnet_rx_split(cap, 2, 1526, used), 1);
    assert_int_equal(used[0], 1526);
}

static void test_rx_split_merge(void **state)
{
    uint32_t cap[] = { 4096, 4096, 4096, 4096 }, used[4] = { 0 };
    (void)state;
    /* A 64 KiB GSO packet cannot fit 16 KiB: refused, nothing consumed. */
    assert_int_equal(vnet_rx_split(cap, 4, 65536 + 12, used), 0);
    /* 10000 bytes: 4096 + 4096 + 1808, num_buffers 3. */
    assert_int_equal(vnet_rx_split(cap, 4, 10000, used), 3);
    assert_int_equal(used[0], 4096);
    assert_int_equal(used[1], 4096);
    assert_int_equal(used[2], 1808);
    /* Exactly the total: all four. */
    assert_int_equal(vnet_rx_split(cap, 4, 4 * 4096, used), 4);
    assert_int_equal(used[3], 4096);
}

static void test_rx_split_uneven(void **state)
{
    uint32_t cap[] = { 12, 100, 3000 }, used[3] = { 0 };
    (void)state;
    /* A chain that holds only the header still counts as one buffer. */
    assert_int_equal(vnet_rx_split(cap, 3, 112, used), 2);
    assert_int_equal(used[0], 12);
    assert_int_equal(used[1], 100);
    assert_int_equal(vnet_rx_split(cap, 3, 113, used), 3);
    assert_int_equal(used[2], 1);
    /* Zero length uses no chain. */
    assert_int_equal(vnet_rx_split(cap, 3, 0, used), 0);
    /* No chains at all. */
    assert_int_equal(vnet_rx_split(cap, 0, 10, used), 0);
}

static int fake_fd(void *ctx, unsigned pair)
{
    (void)ctx;
    return (int)pair + 100;
}

static const struct vnet_ops fake_ops = { .queue_fd = fake_fd };

static void test_features_and_limits(void **state)
{
    struct uloop *loop = NULL;
    struct vu_dev_config vc = { .name = "n", .loops = &loop, .nloops = 1 };
    struct vnet_config nc = { .queue_pairs = 1, .io = &fake_ops };
    struct vnet *n = NULL;
    uint64_t f;
    (void)state;

    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    f = vu_dev_features(vnet_vu_dev(n));
    assert_true(f & (1ull << VIRTIO_F_VERSION_1));
    assert_true(f & (1ull << VIRTIO_NET_F_MRG_RXBUF));
    assert_true(f & (1ull << VIRTIO_NET_F_CSUM));
    assert_true(f & (1ull << VIRTIO_NET_F_GUEST_TSO4));
    assert_false(f & (1ull << VIRTIO_NET_F_MQ));      /* one pair */
    assert_false(f & (1ull << VIRTIO_NET_F_MAC));     /* no mac= */
    assert_false(f & (1ull << VIRTIO_NET_F_MTU));
    vu_dev_destroy(vnet_vu_dev(n));

    nc.queue_pairs = 4;
    nc.has_mac = true;
    nc.mtu = 9000;
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    f = vu_dev_features(vnet_vu_dev(n));
    assert_true(f & (1ull << VIRTIO_NET_F_MQ));
    assert_true(f & (1ull << VIRTIO_NET_F_MAC));
    assert_true(f & (1ull << VIRTIO_NET_F_MTU));
    vu_dev_destroy(vnet_vu_dev(n));

    nc.queue_pairs = 0;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
    nc.queue_pairs = 33;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
    nc.queue_pairs = 1;
    nc.io = NULL;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
}

/* ---- the receive datapath --------------------------------------------- */

#define RX_NUM    64          /* queue size */
#define RX_BUF_GPA 8192u
#define BURST_MAX 32
#define FRAME     60

static struct ff f;
static bool f_ready;

struct utap {
    int fd;
};

static int utap_fd(void *ctx, unsigned pair)
{
    (void)pair;
    return ((struct utap *)ctx)->fd;
}

static const struct vnet_ops utap_ops = { .queue_fd = utap_fd };

static void nothing(void *arg)
{
    (void)arg;
}

/* Runs on the worker: while it runs, no completion can be reaped, so the
 * whole burst sits on the "tap" when the worker looks next. */
struct burst {
    int fd;
    unsigned n, hdr_len;
    unsigned first;          /* sequence number of the first packet */
};

static void send_burst(void *arg)
{
    struct burst *b = arg;
    uint8_t pkt[128] = { 0 };

    for (unsigned i = 0; i < b->n; i++) {
        memset(pkt + b->hdr_len, 0xff, 6);       /* broadcast */
        pkt[b->hdr_len + 12] = 0x88;
        pkt[b->hdr_len + 13] = 0xb5;
        pkt[b->hdr_len + 14] = (uint8_t)(b->first + i);   /* sequence number */
        assert_int_equal(send(b->fd, pkt, b->hdr_len + FRAME, MSG_DONTWAIT), b->hdr_len + FRAME);
    }
}

static uint16_t used_idx(const struct ff_ring *r)
{
    const struct vring_used *u = (const void *)(f.mem + r->used);
    return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

/* GET_VRING_BASE, reply read: the queue stops, every chain comes back. */
static uint32_t stop_ring(unsigned index)
{
    struct vu_vring_state st = { index, 0 };
    struct vu_hdr h = { .request = VU_GET_VRING_BASE, .flags = VU_VERSION, .size = sizeof(st) };
    struct vu_msg m;

    assert_int_equal(vu_msg_send(f.sock, &h, &st, NULL, 0), 0);
    assert_true(vu_dev_process(f.dev) >= 0);
    assert_int_equal(vu_msg_recv(f.sock, &m), 0);
    assert_int_equal(m.hdr.request, VU_GET_VRING_BASE);
    return m.p.state.num;
}

/* A burst of @burst packets on the tap reaches the guest in order, one
 * receive chain each (num_buffers 1), with fewer interrupts than packets;
 * stopping the queue afterwards gives back every chain it still held for
 * reads in flight (the base reported equals the used index: none lost).
 * @nbufs receive chains of @buf_len bytes are made available once: the
 * guest does not refill. */
static void rx_burst(uint64_t drop, unsigned nbufs, uint32_t buf_len, unsigned burst)
{
    struct ff_ring r = ff_ring_at(0, 4096, RX_NUM);
    struct utap tap;
    struct vnet_config nc = { .queue_pairs = 1, .io = &utap_ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "unit-net", .loops = &f.worker, .nloops = 1 };
    struct vnet *n = NULL;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint64_t features, calls = 0;
    unsigned hdr_len;
    int sv[2];

    if (!f_ready) {
        ff_init(&f, "unit-net");
        f_ready = true;
    }
    desc = (void *)(f.mem + r.desc);
    avail = (void *)(f.mem + r.avail);
    used = (void *)(f.mem + r.used);
    memset(f.mem, 0, FF_MEM_SIZE);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    tap.fd = sv[0];
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    /* No EVENT_IDX: the device interrupts after every used-ring publish.
     * No receive GSO: one chain holds the largest packet. */
    features = vu_dev_features(vnet_vu_dev(n)) & ~drop & ~(1ull << VIRTIO_RING_F_EVENT_IDX) &
               ~((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                 (1ull << VIRTIO_NET_F_GUEST_ECN));
    hdr_len = vnet_hdr_len(features);
    assert_true(nbufs <= RX_NUM && burst <= BURST_MAX);
    assert_true(RX_BUF_GPA + nbufs * buf_len <= FF_MEM_SIZE);
    for (unsigned i = 0; i < nbufs; i++) {
        desc[i].addr = RX_BUF_GPA + i * buf_len;   /* some cross the region split */
        desc[i].len = buf_len;
        desc[i].flags = VRING_DESC_F_WRITE;
        avail->ring[i] = (uint16_t)i;
    }
    avail->idx = (uint16_t)nbufs;
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    ff_start_ring(&f, 0, &r, 0);
    /* Two round trips: the reads are submitted and waiting. */
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(used_idx(&r), 0);
    while (read(f.call, &calls, sizeof(calls)) == sizeof(calls))
        ;

    struct burst b = { sv[1], burst, hdr_len };
    assert_int_equal(uloop_call(f.worker, send_burst, &b), 0);
    for (int i = 0; i < 2000 && used_idx(&r) != burst; i++)
        usleep(1000);
    assert_int_equal(used_idx(&r), burst);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);   /* call writes done */
    calls = 0;
    assert_int_equal(read(f.call, &calls, sizeof(calls)), sizeof(calls));
    assert_true(calls >= 1);
    assert_true(calls < burst);
    for (unsigned i = 0; i < burst; i++) {
        uint32_t id = used->ring[i].id;
        assert_true(id < nbufs);
        assert_int_equal(used->ring[i].len, hdr_len + FRAME);
        const uint8_t *buf = f.mem + desc[id].addr;
        assert_int_equal(buf[hdr_len + 14], i);          /* in order */
        if (hdr_len == 12)
            assert_int_equal(buf[10] | buf[11] << 8, 1);   /* num_buffers */
    }

    /* Stop with reads in flight: all cancelled, every chain accounted for. */
    uint32_t base = stop_ring(0);
    assert_int_equal(base, used_idx(&r));
    for (unsigned i = burst; i < base; i++)
        assert_int_equal(used->ring[i].len, 0);
    struct vnet_stats st;
    vnet_stats(n, &st);
    assert_int_equal(st.rx_packets, burst);
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);
    close(sv[0]);
    close(sv[1]);
}

/* One chain of 1600 bytes holds the largest packet (1518 + header). */
static void test_rx_burst_mrg(void **state)
{
    (void)state;
    rx_burst(0, 24, 1600, 16);
}

static void test_rx_burst_no_mrg(void **state)
{
    (void)state;
    rx_burst((1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VIRTIO_F_VERSION_1), 24, 1600, 16);
}

/* Small merged buffers: each read needs 6 chains of 256 bytes for the
 * largest packet, so the ring's 64 fill 10 reads and 4 are left over. The
 * chains a packet leaves unused, and the leftovers, must serve the next
 * reads: a guest that refills only once many buffers came back (Linux waits
 * for half the ring) would otherwise starve with buffers held by idle
 * reads. 30 packets arrive without a refill. */
static void test_rx_small_buffers_no_refill(void **state)
{
    (void)state;
    rx_burst(0, 64, 256, 30);
}

/* How the receive queue of rx_quiet() starts. */
enum rx_quiet_start {
    RXQ_READ_ERROR,      /* every read fails (the fd cannot be read) once */
    RXQ_NO_BUFFERS,      /* the guest has posted no receive buffer yet */
    RXQ_STOP_IN_BACKOFF, /* RXQ_READ_ERROR, then a stop during the back-off */
};

/* A guest like DPDK's rxonly poll-mode driver: it kicks the receive queue
 * only when it refills it, i.e. only after packets came. @how starts the
 * queue with no read in flight; then (RXQ_NO_BUFFERS: the buffers are
 * posted and kicked once) @burst packets arrive on the tap and must all
 * reach the guest with no further kick. */
static void rx_quiet(enum rx_quiet_start how, unsigned burst)
{
    struct ff_ring r = ff_ring_at(0, 4096, RX_NUM);
    struct utap tap;
    struct vnet_config nc = { .queue_pairs = 1, .io = &utap_ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "unit-net", .loops = &f.worker, .nloops = 1 };
    struct vnet *n = NULL;
    struct vring_desc *desc;
    struct vring_avail *avail;
    uint64_t features, one = 1;
    unsigned hdr_len, nbufs = 24;
    int sv[2], pp[2];

    if (!f_ready) {
        ff_init(&f, "unit-net");
        f_ready = true;
    }
    desc = (void *)(f.mem + r.desc);
    avail = (void *)(f.mem + r.avail);
    memset(f.mem, 0, FF_MEM_SIZE);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    /* RXQ_READ_ERROR: the queue's fd is first a pipe's write end (a readv
     * fails with EBADF), later (same number) the working "tap". */
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
    tap.fd = how == RXQ_NO_BUFFERS ? sv[0] : pp[1];
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    features = vu_dev_features(vnet_vu_dev(n)) & ~(1ull << VIRTIO_RING_F_EVENT_IDX) &
               ~((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                 (1ull << VIRTIO_NET_F_GUEST_ECN));
    hdr_len = vnet_hdr_len(features);
    for (unsigned i = 0; i < nbufs; i++) {
        desc[i].addr = RX_BUF_GPA + i * 1600;
        desc[i].len = 1600;
        desc[i].flags = VRING_DESC_F_WRITE;
        avail->ring[i] = (uint16_t)i;
    }
    avail->idx = how == RXQ_NO_BUFFERS ? 0 : (uint16_t)nbufs;
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    ff_start_ring(&f, 0, &r, 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    if (how == RXQ_STOP_IN_BACKOFF) {
        /* The stop waits for the back-off and every chain comes back
         * available (none used): the base is where the ring started. */
        assert_int_equal(stop_ring(0), 0);
        assert_int_equal(used_idx(&r), 0);
        burst = 0;
    } else if (how == RXQ_READ_ERROR) {
        usleep(20000);   /* the failed reads completed */
        assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
        assert_int_equal(dup3(sv[0], pp[1], O_CLOEXEC), pp[1]);
    } else {
        __atomic_store_n(&avail->idx, (uint16_t)nbufs, __ATOMIC_RELEASE);
        assert_int_equal(write(f.kick, &one, sizeof(one)), sizeof(one));
        assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    }
    assert_int_equal(used_idx(&r), 0);

    if (burst) {
        struct burst b = { sv[1], burst, hdr_len, 0 };
        assert_int_equal(uloop_call(f.worker, send_burst, &b), 0);
        for (int i = 0; i < 2000 && used_idx(&r) != burst; i++)
            usleep(1000);
        assert_int_equal(used_idx(&r), burst);
        assert_int_equal(stop_ring(0), used_idx(&r));
    }
    struct vnet_stats st;
    vnet_stats(n, &st);
    assert_int_equal(st.rx_packets, burst);
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
}

/* A failed tap read must not leave the queue waiting for a kick that a
 * polling guest never sends (it has all its buffers posted): the reads are
 * retried on their own. */
static void test_rx_read_error_recovers_without_kick(void **state)
{
    (void)state;
    rx_quiet(RXQ_READ_ERROR, 8);
}

/* A stop while a failed read's back-off is pending completes (the back-off
 * is cancelled) and gives every chain back; under ASan nothing touches the
 * queue after it is freed. */
static void test_rx_stop_during_read_backoff(void **state)
{
    (void)state;
    rx_quiet(RXQ_STOP_IN_BACKOFF, 0);
}

/* Started before the guest posted buffers: the kick that comes with them
 * puts the reads in flight, and packets flow with no further kick. */
static void test_rx_buffers_after_start(void **state)
{
    (void)state;
    rx_quiet(RXQ_NO_BUFFERS, 20);
}

/* Receive chains for rx_new_memory(): @nbufs buffers of 1600 bytes, all
 * made available, the used ring empty. */
static void rx_ring_fill(uint8_t *mem, const struct ff_ring *r, unsigned nbufs)
{
    struct vring_desc *desc = (void *)(mem + r->desc);
    struct vring_avail *avail = (void *)(mem + r->avail);

    memset(mem, 0, FF_MEM_SIZE);
    for (unsigned i = 0; i < nbufs; i++) {
        desc[i].addr = RX_BUF_GPA + i * 1600;
        desc[i].len = 1600;
        desc[i].flags = VRING_DESC_F_WRITE;
        avail->ring[i] = (uint16_t)i;
    }
    avail->idx = (uint16_t)nbufs;
}

/* Wait (up to 2 s) until @mem's used index is @want; then its entries from
 * @from on hold packets @seq, @seq + 1, ... in order. */
static void rx_expect(const uint8_t *mem, const struct ff_ring *r, uint16_t from, uint16_t want,
                      unsigned seq, unsigned hdr_len)
{
    const struct vring_used *u = (const void *)(mem + r->used);
    const struct vring_desc *desc = (const void *)(mem + r->desc);

    for (int i = 0; i < 2000 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != want; i++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE), want);
    for (uint16_t i = from; i != want; i++) {
        uint32_t id = u->ring[i % r->num].id;
        assert_true(id < r->num);
        assert_int_equal(u->ring[i % r->num].len, hdr_len + FRAME);
        assert_int_equal(mem[desc[id].addr + hdr_len + 14], (uint8_t)(seq + (uint16_t)(i - from)));
    }
}

/* The suspects of a soak failure in which a receive queue's packets never
 * reached the frontend: reads in flight across a reconnect or a new memory
 * table completing into the old guest memory, or the queue keeping the old
 * session's used index. The queue runs on guest memory A with its reads in
 * flight and a first burst delivered; then (@reconnect) the frontend goes
 * and a new one brings fresh memory B with a new ring (used index 0), or
 * the same frontend sends a new memory table for the same RAM (one region
 * instead of two: the backend maps it anew and unmaps the old mappings)
 * while the reads are in flight. The next burst lands in the used ring of
 * the memory now in use, in order, from the used index it holds (after a
 * reconnect nothing more is written to A); a stop gives every chain back. */
static void rx_new_memory(bool reconnect)
{
    struct ff_ring r = ff_ring_at(0, 4096, RX_NUM);
    struct utap tap;
    struct vnet_config nc = { .queue_pairs = 1, .io = &utap_ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "unit-net", .loops = &f.worker, .nloops = 1 };
    struct vnet *n = NULL;
    uint64_t features;
    unsigned hdr_len, nbufs = 24, b1 = 8, b2 = 10;
    uint16_t from;
    uint8_t *a, *b, *a_copy;
    int sv[2], a_fd, b_fd;

    if (!f_ready) {
        ff_init(&f, "unit-net");
        f_ready = true;
    }
    a = f.mem;
    a_fd = f.memfd;
    b_fd = memfd_create("unit-net-b", MFD_CLOEXEC);
    assert_true(b_fd >= 0);
    assert_int_equal(ftruncate(b_fd, FF_MEM_SIZE), 0);
    b = mmap(NULL, FF_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b_fd, 0);
    assert_true(b != MAP_FAILED);
    a_copy = malloc(FF_MEM_SIZE);
    assert_non_null(a_copy);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    tap.fd = sv[0];
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    features = vu_dev_features(vnet_vu_dev(n)) & ~(1ull << VIRTIO_RING_F_EVENT_IDX) &
               ~((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                 (1ull << VIRTIO_NET_F_GUEST_ECN));
    hdr_len = vnet_hdr_len(features);
    rx_ring_fill(a, &r, nbufs);
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    ff_start_ring(&f, 0, &r, 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    struct burst bu = { sv[1], b1, hdr_len, 0 };
    assert_int_equal(uloop_call(f.worker, send_burst, &bu), 0);
    rx_expect(a, &r, 0, (uint16_t)b1, 0, hdr_len);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);

    if (reconnect) {
        ff_disconnect(&f);
        vu_dev_disconnect(vnet_vu_dev(n));
        memcpy(a_copy, a, FF_MEM_SIZE);
        rx_ring_fill(b, &r, nbufs);
        from = 0;
        f.memfd = b_fd;
        ff_connect(&f, vnet_vu_dev(n));
        ff_setup(&f, features);
        ff_start_ring(&f, 0, &r, 0);
    } else {
        /* The same guest RAM in one region instead of two: the backend maps
         * it anew and unmaps the old mappings. The chains the reads held
         * are available again (or, taken before one a packet used, used
         * with length 0). */
        struct vu_mem_table t = { .nregions = 1 };
        t.regions[0] = (struct vu_mem_region_desc){ 0, FF_MEM_SIZE, FF_UVA0, 0 };
        assert_true(ff_msg(&f, VU_SET_MEM_TABLE, &t, 8 + sizeof(t.regions[0]), &a_fd, 1) >= 0);
        struct vring_used *u = (void *)(a + r.used);
        struct vring_avail *av = (void *)(a + r.avail);
        uint64_t one = 1;
        from = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
        assert_true(from >= b1);
        /* The driver posts the chains that came back used again. */
        for (uint16_t i = (uint16_t)b1; i != from; i++) {
            assert_int_equal(u->ring[i % r.num].len, 0);
            av->ring[av->idx % r.num] = (uint16_t)u->ring[i % r.num].id;
            __atomic_store_n(&av->idx, (uint16_t)(av->idx + 1), __ATOMIC_RELEASE);
        }
        assert_int_equal(write(f.kick, &one, sizeof(one)), sizeof(one));
    }
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    bu = (struct burst){ sv[1], b2, hdr_len, b1 };
    assert_int_equal(uloop_call(f.worker, send_burst, &bu), 0);
    uint8_t *land = reconnect ? b : a;
    rx_expect(land, &r, from, (uint16_t)(from + b2), b1, hdr_len);
    /* Every chain still held comes back: available again, or (taken
     * before one a packet used) used with length 0. */
    uint16_t base = (uint16_t)stop_ring(0);
    const struct vring_used *bu_used = (const void *)(land + r.used);
    assert_int_equal(base, __atomic_load_n(&bu_used->idx, __ATOMIC_ACQUIRE));
    for (uint16_t i = (uint16_t)(from + b2); i != base; i++)
        assert_int_equal(bu_used->ring[i % r.num].len, 0);
    if (reconnect)
        assert_int_equal(memcmp(a, a_copy, FF_MEM_SIZE), 0);
    struct vnet_stats st;
    vnet_stats(n, &st);
    assert_int_equal(st.rx_packets, b1 + b2);
    assert_false(vu_dev_broken(vnet_vu_dev(n)));
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);
    f.memfd = a_fd;
    munmap(b, FF_MEM_SIZE);
    close(b_fd);
    free(a_copy);
    close(sv[0]);
    close(sv[1]);
}

static void test_rx_reconnect_new_memory(void **state)
{
    (void)state;
    rx_new_memory(true);
}

static void test_rx_mem_table_change_reads_in_flight(void **state)
{
    (void)state;
    rx_new_memory(false);
}

/* ---- packed rings ------------------------------------------------------ */

#define PK_NUM 32              /* packed ring size: the test wraps it */
#define PK_DRV 1024u           /* driver event area (gpa) */
#define PK_DEV 1028u           /* device event area (gpa) */
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)

/* The driver half of a packed ring at gpa 0 (one descriptor per buffer). */
struct pdrv {
    struct vring_packed_desc *desc;
    uint16_t next, used_next;
    bool wrap, used_wrap;
    bool out[PK_NUM];          /* buffer id made available, not used yet */
};

static void pdrv_add(struct pdrv *d, uint16_t id, uint64_t addr, uint32_t len)
{
    struct vring_packed_desc *x = &d->desc[d->next];

    assert_false(d->out[id]);
    x->addr = addr;
    x->len = len;
    x->id = id;
    __atomic_store_n(&x->flags, (uint16_t)(VRING_DESC_F_WRITE | (d->wrap ? F_AVAIL : F_USED)),
                     __ATOMIC_RELEASE);
    d->out[id] = true;
    if (++d->next == PK_NUM) {
        d->next = 0;
        d->wrap = !d->wrap;
    }
}

/* The next used descriptor; false when there is none. Fails the test on an
 * id that is not out (used twice, or never made available). */
static bool pdrv_used(struct pdrv *d, uint16_t *id, uint32_t *len)
{
    struct vring_packed_desc *x = &d->desc[d->used_next];
    uint16_t fl = __atomic_load_n(&x->flags, __ATOMIC_ACQUIRE);

    if (!!(fl & F_USED) != d->used_wrap || !!(fl & F_AVAIL) != d->used_wrap)
        return false;
    *id = x->id;
    *len = x->len;
    assert_true(*id < PK_NUM);
    assert_true(d->out[*id]);
    d->out[*id] = false;
    if (++d->used_next == PK_NUM) {
        d->used_next = 0;
        d->used_wrap = !d->used_wrap;
    }
    return true;
}

static uint32_t pk_pos(uint16_t idx, bool wrap)
{
    return idx | (wrap ? 0x8000u : 0);
}

/* NUM, BASE (32 bits), ADDR, CALL, KICK for a packed receive queue 0. */
static void pk_start(uint32_t base)
{
    struct vu_vring_state s = { 0, PK_NUM };
    struct vu_vring_addr a = { .index = 0, .desc_user_addr = ff_uva(0),
                               .avail_user_addr = ff_uva(PK_DRV),
                               .used_user_addr = ff_uva(PK_DEV) };
    uint64_t v = 0;

    assert_true(ff_msg(&f, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0) >= 0);
    s.num = base;
    assert_true(ff_msg(&f, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0) >= 0);
    assert_true(ff_msg(&f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) >= 0);
    assert_true(ff_msg(&f, VU_SET_VRING_CALL, &v, sizeof(v), &f.call, 1) >= 0);
    assert_true(ff_msg(&f, VU_SET_VRING_KICK, &v, sizeof(v), &f.kick, 1) >= 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
}

/* Take @n used descriptors (waiting up to 2 s): packets in sequence from
 * @seq, num_buffers 1, in buffers of @buf_len bytes. */
static void pk_expect(struct pdrv *d, unsigned n, unsigned seq, unsigned hdr_len,
                      uint32_t buf_len)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t id;
        uint32_t len;
        int tries = 0;

        while (!pdrv_used(d, &id, &len)) {
            assert_true(++tries < 2000);
            usleep(1000);
        }
        assert_int_equal(len, hdr_len + FRAME);
        const uint8_t *buf = f.mem + RX_BUF_GPA + (uint64_t)id * buf_len;
        assert_int_equal(buf[hdr_len + 14], (uint8_t)(seq + i));    /* in order */
        assert_int_equal(buf[10] | buf[11] << 8, 1);                  /* num_buffers */
    }
}

/* After a stop: the chains given back used with length 0 (taken before a
 * chain a packet used) are collected; every other one is available again,
 * so the base's used half equals its available half (wrap counters
 * included) and the driver's used position. */
static unsigned pk_check_stopped(struct pdrv *d, uint32_t base)
{
    unsigned zero = 0;
    uint16_t id;
    uint32_t len;

    while (pdrv_used(d, &id, &len)) {
        assert_int_equal(len, 0);
        zero++;
    }
    assert_int_equal(base & 0xffff, base >> 16);
    assert_int_equal(base >> 16, pk_pos(d->used_next, d->used_wrap));
    return zero;
}

/* Make every buffer that is not out available again. */
static void pk_refill(struct pdrv *d, unsigned nbufs, uint32_t buf_len)
{
    for (uint16_t i = 0; i < nbufs; i++)
        if (!d->out[i])
            pdrv_add(d, i, RX_BUF_GPA + i * buf_len, buf_len);
}

/* A packed receive ring of @nbufs buffers of @buf_len bytes, a burst of
 * @b1 packets, the queue stopped while its reads are in flight, restarted
 * from the base it reported with the buffers made available again (the ring
 * wraps), a burst of @b2, and stopped again: the packets arrive in order;
 * at each stop every chain comes back (used with length 0 when older than
 * one a packet used, else available again at the reported base); the
 * restart takes no chain twice (the ring would break: "buffer id already
 * in flight") and loses none; at least @want_zero chains came back with
 * length 0. */
static void rx_packed(uint32_t buf_len, unsigned nbufs, unsigned b1, unsigned b2,
                      unsigned want_zero)
{
    unsigned zero;
    struct utap tap;
    struct vnet_config nc = { .queue_pairs = 1, .io = &utap_ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "unit-net", .loops = &f.worker, .nloops = 1,
                                .packed = true };
    struct vnet *n = NULL;
    struct pdrv d = { .wrap = true, .used_wrap = true };
    uint64_t features, calls = 0;
    unsigned hdr_len;
    uint32_t base;
    int sv[2];

    if (!f_ready) {
        ff_init(&f, "unit-net");
        f_ready = true;
    }
    memset(f.mem, 0, FF_MEM_SIZE);
    d.desc = (void *)f.mem;
    assert_true(nbufs <= PK_NUM && RX_BUF_GPA + nbufs * buf_len <= FF_MEM_SIZE);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    tap.fd = sv[0];
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    features = (vu_dev_features(vnet_vu_dev(n)) | (1ull << VIRTIO_F_RING_PACKED)) &
               ~(1ull << VIRTIO_RING_F_EVENT_IDX) &
               ~((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
                 (1ull << VIRTIO_NET_F_GUEST_ECN));
    hdr_len = vnet_hdr_len(features);
    pk_refill(&d, nbufs, buf_len);
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    pk_start(pk_pos(0, true) | pk_pos(0, true) << 16);
    while (read(f.call, &calls, sizeof(calls)) == sizeof(calls))
        ;

    struct burst b = { sv[1], b1, hdr_len, 0 };
    assert_int_equal(uloop_call(f.worker, send_burst, &b), 0);
    pk_expect(&d, b1, 0, hdr_len, buf_len);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    assert_int_equal(read(f.call, &calls, sizeof(calls)), sizeof(calls));
    assert_true(calls >= 1 && calls < b1);
    base = stop_ring(0);
    zero = pk_check_stopped(&d, base);

    pk_refill(&d, nbufs, buf_len);
    pk_start(base);
    b = (struct burst){ sv[1], b2, hdr_len, b1 };
    assert_int_equal(uloop_call(f.worker, send_burst, &b), 0);
    pk_expect(&d, b2, b1, hdr_len, buf_len);
    base = stop_ring(0);
    zero += pk_check_stopped(&d, base);
    assert_true(zero >= want_zero);
    assert_true(d.used_next != 0 && !d.used_wrap);   /* the ring wrapped */
    assert_false(vu_dev_broken(vnet_vu_dev(n)));

    struct vnet_stats st;
    vnet_stats(n, &st);
    assert_int_equal(st.rx_packets, b1 + b2);
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);
    close(sv[0]);
    close(sv[1]);
}

/* One chain per read: 16 reads hold 16 of the 24 buffers. */
static void test_rx_packed_stop_restart(void **state)
{
    (void)state;
    rx_packed(1600, 24, 16, 20, 0);
}

/* Six chains of 256 bytes per read, one used per packet: at each stop some
 * chains older than a used one are still held (given back with length 0)
 * besides the most recent ones (made available again). */
static void test_rx_packed_small_buffers_stop_restart(void **state)
{
    (void)state;
    rx_packed(256, 32, 12, 14, 1);
}

/* The guest posts a burst of frames and kicks once: they reach the tap in
 * order, and the used ring is published with fewer interrupts than
 * frames. */
static void test_tx_burst(void **state)
{
    struct ff_ring r = ff_ring_at(0, 4096, RX_NUM);
    struct utap tap;
    struct vnet_config nc = { .queue_pairs = 1, .io = &utap_ops, .io_ctx = &tap };
    struct vu_dev_config vc = { .name = "unit-net", .loops = &f.worker, .nloops = 1 };
    struct vnet *n = NULL;
    struct vring_desc *desc;
    struct vring_avail *avail;
    uint64_t features, calls = 0, one = 1;
    unsigned hdr_len, burst = 16;
    uint8_t got[256];
    int sv[2];
    (void)state;

    if (!f_ready) {
        ff_init(&f, "unit-net");
        f_ready = true;
    }
    memset(f.mem, 0, FF_MEM_SIZE);
    desc = (void *)(f.mem + r.desc);
    avail = (void *)(f.mem + r.avail);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    tap.fd = sv[0];
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    features = vu_dev_features(vnet_vu_dev(n)) & ~(1ull << VIRTIO_RING_F_EVENT_IDX);
    hdr_len = vnet_hdr_len(features);
    for (unsigned i = 0; i < burst; i++) {
        uint8_t *p = f.mem + RX_BUF_GPA + i * 128;
        desc[i].addr = RX_BUF_GPA + i * 128;
        desc[i].len = hdr_len + FRAME;
        p[hdr_len + 14] = (uint8_t)i;
        avail->ring[i] = (uint16_t)i;
    }
    ff_connect(&f, vnet_vu_dev(n));
    ff_setup(&f, features);
    ff_start_ring(&f, 1, &r, 0);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    while (read(f.call, &calls, sizeof(calls)) == sizeof(calls))
        ;
    __atomic_store_n(&avail->idx, (uint16_t)burst, __ATOMIC_RELEASE);
    assert_int_equal(write(f.kick, &one, sizeof(one)), sizeof(one));
    for (int i = 0; i < 2000 && used_idx(&r) != burst; i++)
        usleep(1000);
    assert_int_equal(used_idx(&r), burst);
    assert_int_equal(uloop_call(f.worker, nothing, NULL), 0);
    calls = 0;
    assert_int_equal(read(f.call, &calls, sizeof(calls)), sizeof(calls));
    assert_true(calls >= 1);
    assert_true(calls < burst);
    for (unsigned i = 0; i < burst; i++) {
        assert_int_equal(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), hdr_len + FRAME);
        assert_int_equal(got[hdr_len + 14], i);
    }
    stop_ring(1);
    vu_dev_destroy(vnet_vu_dev(n));
    ff_disconnect(&f);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hdr_len),
        cmocka_unit_test(test_rx_split_one_chain),
        cmocka_unit_test(test_rx_split_merge),
        cmocka_unit_test(test_rx_split_uneven),
        cmocka_unit_test(test_features_and_limits),
        cmocka_unit_test(test_rx_burst_mrg),
        cmocka_unit_test(test_rx_burst_no_mrg),
        cmocka_unit_test(test_rx_small_buffers_no_refill),
        cmocka_unit_test(test_rx_read_error_recovers_without_kick),
        cmocka_unit_test(test_rx_stop_during_read_backoff),
        cmocka_unit_test(test_rx_buffers_after_start),
        cmocka_unit_test(test_rx_reconnect_new_memory),
        cmocka_unit_test(test_rx_mem_table_change_reads_in_flight),
        cmocka_unit_test(test_rx_packed_stop_restart),
        cmocka_unit_test(test_rx_packed_small_buffers_stop_restart),
        cmocka_unit_test(test_tx_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
