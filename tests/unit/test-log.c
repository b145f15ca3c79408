/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/log.c and the dirty logging of live migration: a fake
 * frontend (socketpair, memfd guest RAM) hands sluiced a dirty log
 * (SET_LOG_BASE), turns LOG_ALL on under running queues, and drives block
 * reads (the real io_uring engine reading a file straight into guest
 * memory), GET_ID and virtio-net receive through the real device code. The
 * check compares guest memory before and after: every page the device
 * changed must be marked, and nothing but the pages the request gave the
 * device (its writable buffers and the used ring) may be. Also SEND_RARP. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/log.h"
#include "harness.h"
#include "log.h"          /* vhost/ private */
#include "vhost/net.h"
#include "vqfx.h"

#define F(x) (1ull << (x))
#define FEAT (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC))
#define PAGES (H_GUEST_SIZE / VU_LOG_PAGE)
#define LOG_BYTES (PAGES / 8)

/* ---- the frontend's side of the log ----------------------------------- */

struct tlog {
    int fd;
    uint8_t *bits;
    size_t len;
    struct guest m;        /* the memfd (a "guest" of @len bytes) */
};

static void tlog_create(struct tlog *l, const char *name, size_t len)
{
    guest_create(&l->m, name, len, 0, 0);
    l->fd = l->m.fd;
    l->bits = l->m.base;
    l->len = len;
}

static void tlog_destroy(struct tlog *l)
{
    guest_destroy(&l->m);
}

static unsigned tlog_count(const struct tlog *l)
{
    unsigned n = 0;
    for (size_t i = 0; i < l->len; i++)
        n += (unsigned)__builtin_popcount(l->bits[i]);
    return n;
}

/* SET_LOG_BASE without NEED_REPLY: with LOG_SHMFD the backend answers
 * anyway (QEMU waits for it); returns the u64 result. */
static uint64_t set_log_base(struct h_dev *h, int fd, uint64_t size, uint64_t offset)
{
    struct vu_log_area a = { size, offset };
    struct vu_msg m;

    assert_int_equal(h_send(h, VU_SET_LOG_BASE, VU_VERSION, &a, sizeof(a), &fd, 1), 0);
    h_recv(h, &m);
    assert_int_equal(m.hdr.request, VU_SET_LOG_BASE);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    assert_true(h_no_reply(h));
    return m.p.u64;
}

/* What QEMU negotiates for migration: REPLY_ACK and LOG_SHMFD (and what
 * the device offers of RARP and CONFIG). */
static void enable_log_protocol(struct h_dev *h)
{
    uint64_t pf = h_get_u64(h, VU_GET_PROTOCOL_FEATURES);

    assert_true(pf & F(VU_PF_LOG_SHMFD));
    pf &= F(VU_PF_REPLY_ACK) | F(VU_PF_LOG_SHMFD) | F(VU_PF_RARP) | F(VU_PF_CONFIG);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0), 0);
}

/* SET_FEATURES toggling LOG_ALL while the queue runs. */
static void set_log_all(struct h_dev *h, bool on)
{
    uint64_t f = h->features | (on ? F(VU_F_LOG_ALL) : 0);

    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    assert_true(vu_dev_queue(h->dev, 0)->running);
}

/* ---- the check -------------------------------------------------------- */

struct pages {
    bool p[PAGES];
};

static void allow(struct pages *a, uint64_t gpa, uint64_t len)
{
    for (uint64_t pg = gpa / VU_LOG_PAGE; pg <= (gpa + len - 1) / VU_LOG_PAGE; pg++)
        a->p[pg] = true;
}

static void allow_used_ring(struct pages *a, struct h_dev *h)
{
    allow(a, h->r.used_gpa, 6 + 8ull * h->r.num);
}

/* Every page that differs from @before is marked in @l; every marked page
 * is in @a. Returns the number of pages the device changed. */
static unsigned check_marks(struct h_dev *h, const uint8_t *before, const struct tlog *l,
                            const struct pages *a)
{
    unsigned changed = 0;

    for (unsigned pg = 0; pg < PAGES; pg++) {
        bool ch = memcmp(before + (size_t)pg * VU_LOG_PAGE,
                         h->g.base + (size_t)pg * VU_LOG_PAGE, VU_LOG_PAGE) != 0;
        bool mk = l->bits[pg / 8] & (1u << (pg % 8));
        if (ch && !mk)
            fail_msg("page %u (gpa 0x%x) was written by the device but is not marked", pg,
                     pg * VU_LOG_PAGE);
        if (mk && !a->p[pg])
            fail_msg("page %u (gpa 0x%x) is marked but the device may not write it", pg,
                     pg * VU_LOG_PAGE);
        changed += ch;
    }
    return changed;
}

static uint8_t *snapshot(struct h_dev *h)
{
    uint8_t *s = malloc(H_GUEST_SIZE);
    assert_non_null(s);
    memcpy(s, h->g.base, H_GUEST_SIZE);
    return s;
}

/* One request laid out with h_blk_post, logged and checked. Returns the
 * pages the device changed. */
static unsigned blk_logged(struct h_dev *h, const struct tlog *l, uint32_t type, uint64_t sector,
                           uint32_t in_len, uint8_t want_status)
{
    uint16_t want = (uint16_t)(tring_used_idx(&h->r) + 1);
    struct pages a = { { false } };
    struct h_req req;
    uint8_t *before;
    unsigned n;

    h_scratch_reset(h);
    h_blk_post(h, 0, type, sector, NULL, 0, in_len, false, &req);
    before = snapshot(h);
    memset(l->bits, 0, l->len);
    h_kick(h);
    assert_true(h_wait_used(h, want, 5000));
    assert_int_equal(h_req_status(h, &req), want_status);
    if (in_len)
        allow(&a, req.in_gpa, in_len);
    allow(&a, req.status_gpa, 1);
    allow_used_ring(&a, h);
    n = check_marks(h, before, l, &a);
    free(before);
    return n;
}

/* Put the used ring across a page boundary (flags and idx on page 2, the
 * entries on page 3) and the scratch allocations from page 4, so that each
 * kind of write the device makes lands on a page of its own. */
static void split_used_ring(struct h_dev *h)
{
    h->r.used_gpa = 0x3000 - 4;
    h->r.used = guest_ptr(&h->g, h->r.used_gpa);
    memset(h->r.used, 0, 6 + 8ull * h->r.num);
    h->g.next = h->scratch = 0x4000;
}

static void blk_setup(struct h_dev *h, const char *serial, struct tlog *l)
{
    /* No polling: the used ring's flags word stays untouched. */
    struct h_opts o = { .serial = serial, .no_poll = true };

    h_create(h, &g_loop, 1, &o);
    split_used_ring(h);
    h_start(h, FEAT);
    enable_log_protocol(h);
    tlog_create(l, "tlog-main", LOG_BYTES);
    assert_int_equal(set_log_base(h, l->fd, LOG_BYTES, 0), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void test_features_offered(void **state)
{
    struct h_dev h;
    struct tlog l;

    (void)state;
    blk_setup(&h, NULL, &l);
    assert_true(h_get_u64(&h, VU_GET_FEATURES) & F(VU_F_LOG_ALL));
    tlog_destroy(&l);
    h_destroy(&h);
}

static void test_blk_read_marks_exactly_written_pages(void **state)
{
    struct h_dev h;
    struct tlog l;
    uint8_t buf[512];

    (void)state;
    blk_setup(&h, NULL, &l);
    set_log_all(&h, true);
    /* 12 KiB read by io_uring into three whole guest pages (5-7), the
     * status byte on page 8, used->idx on page 2, the used entry on 3. */
    assert_int_equal(blk_logged(&h, &l, VIRTIO_BLK_T_IN, 8, 3 * 4096, VIRTIO_BLK_S_OK), 6);
    /* A write: only the status byte and the used ring's two pages. */
    memset(buf, 0x5a, sizeof(buf));
    memset(l.bits, 0, l.len);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 0, buf, sizeof(buf), NULL, 0, NULL),
                     VIRTIO_BLK_S_OK);
    assert_int_equal(tlog_count(&l), 3);
    /* A flush: the status byte (next to the header) and the used ring. */
    assert_int_equal(blk_logged(&h, &l, VIRTIO_BLK_T_FLUSH, 0, 0, VIRTIO_BLK_S_OK), 3);

    /* LOG_ALL off: nothing is marked any more. */
    set_log_all(&h, false);
    memset(l.bits, 0, l.len);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 16, NULL, 0, NULL, 3 * 4096, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(tlog_count(&l), 0);
    /* And on again. */
    set_log_all(&h, true);
    assert_int_equal(blk_logged(&h, &l, VIRTIO_BLK_T_IN, 24, 2 * 4096, VIRTIO_BLK_S_OK), 5);
    tlog_destroy(&l);
    h_destroy(&h);
}

static void test_blk_get_id_marked(void **state)
{
    struct h_dev h;
    struct tlog l;

    (void)state;
    blk_setup(&h, "sluice-migrate-01", &l);
    set_log_all(&h, true);
    /* The id (20 bytes) on one page, the status on the next, the ring. */
    assert_int_equal(blk_logged(&h, &l, VIRTIO_BLK_T_GET_ID, 0, 4096, VIRTIO_BLK_S_OK), 4);
    tlog_destroy(&l);
    h_destroy(&h);
}

static void test_log_base_refused_or_replaced(void **state)
{
    struct h_dev h;
    struct tlog l, small, other;
    char path[64];
    int ro;

    (void)state;
    blk_setup(&h, NULL, &l);
    assert_int_equal(count_mappings("tlog-main"), 2);   /* ours and sluiced's */
    /* Too small for the memory table (2 MiB: 64 bytes): refused. */
    tlog_create(&small, "tlog-small", LOG_BYTES - 1);
    assert_int_equal(set_log_base(&h, small.fd, LOG_BYTES - 1, 0), EINVAL);
    /* Beyond the end of the file: refused. */
    assert_int_equal(set_log_base(&h, small.fd, LOG_BYTES, 0), EINVAL);
    /* The mapping fails (a read-only fd cannot be mapped for writing). */
    tlog_create(&other, "tlog-other", 2 * LOG_BYTES);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", other.fd);
    ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    assert_int_equal(set_log_base(&h, ro, LOG_BYTES, 0), EACCES);
    close(ro);
    assert_int_equal(count_mappings("tlog-small"), 1);
    assert_int_equal(count_mappings("tlog-other"), 1);
    /* The first log is still in use. */
    set_log_all(&h, true);
    assert_true(blk_logged(&h, &l, VIRTIO_BLK_T_IN, 0, 4096, VIRTIO_BLK_S_OK) > 0);
    assert_int_equal(tlog_count(&small), 0);
    /* Replaced while logging, at an offset: the old one is unmapped, marks
     * land in the new one. */
    assert_int_equal(set_log_base(&h, other.fd, LOG_BYTES, LOG_BYTES), 0);
    assert_int_equal(count_mappings("tlog-other"), 2);
    assert_int_equal(count_mappings("tlog-main"), 1);   /* only ours left */
    memset(l.bits, 0, l.len);
    {
        struct tlog view = { other.fd, other.bits + LOG_BYTES, LOG_BYTES, other.m };
        assert_true(blk_logged(&h, &view, VIRTIO_BLK_T_IN, 8, 4096, VIRTIO_BLK_S_OK) > 0);
    }
    assert_int_equal(tlog_count(&l), 0);
    for (size_t i = 0; i < LOG_BYTES; i++)
        assert_int_equal(other.bits[i], 0);
    /* Disconnect unmaps it. */
    vu_dev_disconnect(h.dev);
    assert_int_equal(count_mappings("tlog-other"), 1);
    tlog_destroy(&other);
    tlog_destroy(&small);
    tlog_destroy(&l);
    h_destroy(&h);
}

/* Marks go by guest-physical address from the region the host address lies
 * in: a second region above 4 GiB (where QEMU puts RAM beyond the PCI hole)
 * at a non-zero offset of its mapping, a write across a page boundary, a
 * write clipped at its region's end, and a log too short for a page. */
static void test_log_marks_by_gpa_above_4g(void **state)
{
    enum { RSZ = 64 * 1024 };
    static uint8_t lo[RSZ], hi[RSZ + 4096];
    const uint64_t hi_gpa = 0x100000000ull + 0x3000;   /* 4 GiB + 3 pages */
    struct vu_mem m = { .n = 2 };
    struct vu_log l = { .guard = -1 };
    uint64_t need;
    uint8_t *bits;

    (void)state;
    m.r[0] = (struct vu_mem_region){ .gpa = 0, .size = RSZ, .hva = lo };
    m.r[1] = (struct vu_mem_region){ .gpa = hi_gpa, .size = RSZ, .hva = hi + 4096 };
    need = vu_log_size_needed(&m);
    assert_int_equal(need, ((hi_gpa + RSZ) / VU_LOG_PAGE + 7) / 8);
    bits = calloc(1, need);
    assert_non_null(bits);
    l.bits = bits;
    l.len = need;
#define MARKED(gpa) (!!(bits[(gpa) / VU_LOG_PAGE / 8] & (1u << ((gpa) / VU_LOG_PAGE % 8))))
    /* 32 bytes across the boundary of the high region's 2nd and 3rd page. */
    vu_log_write(&l, &m, hi + 4096 + 2 * 4096 - 16, 32);
    assert_true(MARKED(hi_gpa + 4096));
    assert_true(MARKED(hi_gpa + 2 * 4096));
    /* Nothing at the low addresses the truncated GPA would give. */
    assert_false(MARKED((hi_gpa + 4096) & 0xffffffffu));
    assert_false(MARKED((hi_gpa + 2 * 4096) & 0xffffffffu));
    /* The low region: its own page only. */
    vu_log_write(&l, &m, lo + 5 * 4096 + 1, 1);
    assert_true(MARKED(5 * 4096));
    /* Past the high region's end: clipped to its last page. */
    vu_log_write(&l, &m, hi + 4096 + RSZ - 1, 4096);
    assert_true(MARKED(hi_gpa + RSZ - 1));
    /* Outside every region (the mapping's first page): nothing. */
    vu_log_write(&l, &m, hi, 16);
    {
        unsigned n = 0;
        for (uint64_t i = 0; i < need; i++)
            n += (unsigned)__builtin_popcount(bits[i]);
        assert_int_equal(n, 4);
    }
    /* A log shorter than the memory: pages beyond it are not marked (and
     * nothing is written past it). */
    memset(bits, 0, need);
    l.len = need - 1;
    vu_log_write(&l, &m, hi + 4096 + RSZ - 1, 1);
    for (uint64_t i = 0; i < need; i++)
        assert_int_equal(bits[i], 0);
#undef MARKED
    free(bits);
}

static void test_vring_addr_again_while_running(void **state)
{
    struct h_dev h;
    struct tlog l;
    struct vu_vring_addr a = {
        .index = 0,
        .flags = 1,   /* VHOST_VRING_F_LOG */
    };

    (void)state;
    blk_setup(&h, NULL, &l);
    a.desc_user_addr = tring_desc_uva(&h.r);
    a.avail_user_addr = tring_avail_uva(&h.r);
    a.used_user_addr = tring_used_uva(&h.r);
    a.log_guest_addr = h.r.used_gpa;
    set_log_all(&h, true);
    /* What QEMU sends when it starts logging: the same ring, log flag on. */
    assert_int_equal(h_ack(&h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    assert_true(vu_dev_queue(h.dev, 0)->running);
    /* Moving a running ring is still refused. */
    a.used_user_addr += 4096;
    assert_int_equal(h_ack(&h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), EBUSY);
    assert_true(blk_logged(&h, &l, VIRTIO_BLK_T_IN, 0, 4096, VIRTIO_BLK_S_OK) > 0);
    tlog_destroy(&l);
    h_destroy(&h);
}

/* ---- virtio-net ------------------------------------------------------- */

struct net_fx {
    struct vnet *n;
    int tap[2];            /* [0] the device's packet fd, [1] the "network" */
    struct h_dev h;
};

static int t_queue_fd(void *ctx, unsigned pair)
{
    struct net_fx *fx = ctx;
    return pair == 0 ? fx->tap[0] : -1;
}

static const struct vnet_ops t_net_ops = { .queue_fd = t_queue_fd };

static const uint8_t t_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void net_setup(struct net_fx *fx, struct tlog *l)
{
    struct vnet_config nc = { .queue_pairs = 1, .has_mac = true, .io = &t_net_ops };
    struct vu_dev_config vc = { .name = "test-net", .loops = &g_loop, .nloops = 1 };
    struct h_dev *h = &fx->h;
    struct timeval tv = { .tv_sec = 2 };
    int sv[2];

    memset(fx, 0, sizeof(*fx));
    memcpy(nc.mac, t_mac, 6);
    nc.io_ctx = fx;
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fx->tap), 0);
    assert_int_equal(vnet_create(&nc, &vc, &fx->n), 0);
    h->dev = vnet_vu_dev(fx->n);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(h->dev, sv[1]), 0);
    h->sock = sv[0];
    setsockopt(h->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    guest_create(&h->g, "sluice-test-guest", H_GUEST_SIZE, H_GPA0, H_UVA0);
    tring_init(&h->r, &h->g, H_QNUM);
    h->scratch = h->g.next;
    split_used_ring(h);
    h->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(h->kick >= 0 && h->call >= 0);
    /* queue 0 is the receive queue */
    h_start(h, F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF));
    enable_log_protocol(h);
    if (l) {
        tlog_create(l, "tlog-main", LOG_BYTES);
        assert_int_equal(set_log_base(h, l->fd, LOG_BYTES, 0), 0);
    }
}

static void net_teardown(struct net_fx *fx)
{
    struct h_dev *h = &fx->h;

    vu_dev_destroy(vnet_vu_dev(fx->n));
    close(h->sock);
    close(h->kick);
    close(h->call);
    guest_destroy(&h->g);
    close(fx->tap[0]);
    close(fx->tap[1]);
}

static void test_net_rx_marks_packet_pages(void **state)
{
    struct net_fx fx;
    struct h_dev *h = &fx.h;
    struct tlog l;
    struct pages a = { { false } };
    uint64_t gpa[4];
    uint8_t pkt[12 + 1500], *before;
    uint16_t nbuf;

    (void)state;
    net_setup(&fx, &l);
    assert_true(h_get_u64(h, VU_GET_FEATURES) & F(VIRTIO_NET_F_GUEST_ANNOUNCE));
    set_log_all(h, true);
    /* Four receive chains of 1 KiB, each on a page of its own: a
     * 1512-byte packet takes the first two (num_buffers 2). */
    h_scratch_reset(h);
    for (unsigned i = 0; i < 4; i++) {
        struct h_seg s;
        gpa[i] = h_alloc(h, 1024, 4096);
        memset(guest_ptr(&h->g, gpa[i]), 0xee, 1024);
        s = (struct h_seg){ gpa[i], 1024, true };
        h_post(h, (uint16_t)i, &s, 1, false);
    }
    before = snapshot(h);
    memset(l.bits, 0, l.len);
    h_kick(h);
    memset(pkt, 0, 12);
    for (size_t i = 12; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)(i * 7);
    assert_int_equal(write(fx.tap[1], pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
    assert_true(h_wait_used(h, 2, 5000));
    /* Which two chains took it is the device's choice (with several reads
     * in flight, any read's chains): the used ring says. */
    uint16_t c0 = (uint16_t)h->r.used->ring[0].id, c1 = (uint16_t)h->r.used->ring[1].id;
    assert_true(c0 < 4 && c1 < 4 && c0 != c1);
    memcpy(&nbuf, (uint8_t *)guest_ptr(&h->g, gpa[c0]) + 10, 2);
    assert_int_equal(nbuf, 2);
    allow(&a, gpa[c0], 1024);
    allow(&a, gpa[c1], 1024);
    allow_used_ring(&a, h);
    assert_int_equal(check_marks(h, before, &l, &a), 4);
    free(before);

    /* LOG_ALL off: the next packet marks nothing. The pause gives the
     * chains held by reads back (unpopped, or used with length 0 when not
     * the latest taken), so post two fresh ones for it. */
    set_log_all(h, false);
    memset(l.bits, 0, l.len);
    uint16_t idx = tring_used_idx(&h->r);
    for (unsigned i = 4; i < 6; i++) {
        struct h_seg s = { h_alloc(h, 1024, 4096), 1024, true };
        h_post(h, (uint16_t)i, &s, 1, false);
    }
    h_kick(h);
    assert_int_equal(write(fx.tap[1], pkt, 200), 200);
    assert_true(h_wait_used(h, (uint16_t)(idx + 1), 5000));
    assert_int_equal(tlog_count(&l), 0);
    tlog_destroy(&l);
    net_teardown(&fx);
}

static void test_net_send_rarp(void **state)
{
    struct net_fx fx;
    uint64_t mac = 0;
    uint8_t f[256];
    ssize_t n;

    (void)state;
    net_setup(&fx, NULL);
    assert_true(h_get_u64(&fx.h, VU_GET_PROTOCOL_FEATURES) & F(VU_PF_RARP));
    memcpy(&mac, t_mac, 6);
    assert_int_equal(h_ack(&fx.h, VU_SEND_RARP, &mac, sizeof(mac), NULL, 0), 0);
    n = recv(fx.tap[1], f, sizeof(f), MSG_DONTWAIT);
    /* virtio-net header (12 bytes with VERSION_1), then a 60-byte frame */
    assert_int_equal(n, 12 + 60);
    for (int i = 0; i < 12; i++)
        assert_int_equal(f[i], 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(f[12 + i], 0xff);
    assert_memory_equal(f + 12 + 6, t_mac, 6);
    assert_int_equal(f[12 + 12], 0x80);
    assert_int_equal(f[12 + 13], 0x35);
    assert_int_equal(f[12 + 21], 3);                    /* reverse request */
    assert_memory_equal(f + 12 + 22, t_mac, 6);         /* sender */
    assert_memory_equal(f + 12 + 32, t_mac, 6);         /* target */
    net_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_offered),
        cmocka_unit_test(test_blk_read_marks_exactly_written_pages),
        cmocka_unit_test(test_blk_get_id_marked),
        cmocka_unit_test(test_log_base_refused_or_replaced),
        cmocka_unit_test(test_log_marks_by_gpa_above_4g),
        cmocka_unit_test(test_vring_addr_again_while_running),
        cmocka_unit_test(test_net_rx_marks_packet_pages),
        cmocka_unit_test(test_net_send_rarp),
    };
    log_init("test-log", false, getenv("SLUICE_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, vqfx_group_setup, vqfx_group_teardown);
}
