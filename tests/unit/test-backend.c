/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/backend.c (and msg.c): the vhost-user protocol as a
 * frontend sees it. The device is a vblk over the real bdev engine on a
 * temporary file; the connection is a socketpair; guest RAM is a memfd;
 * queues run on a real uloop worker. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"
#include "core/log.h"
#include "core/usock.h"
#include "harness.h"

#define F(x) (1ull << (x))
#define ST(i, n) ((struct vu_vring_state){ (i), (n) })

static struct uloop *g_loops[2];

static int setup(void **state)
{
    struct h_dev *h = calloc(1, sizeof(*h));
    h_create(h, g_loops, 1, NULL);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    struct h_dev *h = *state;
    h_destroy(h);
    free(h);
    return 0;
}

static int memfd(const char *name, size_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    return fd;
}

/* Send raw bytes (no vu_msg_send), with any number of fds. */
static void raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    char control[CMSG_SPACE(sizeof(int) * 64)];
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    assert_true(nfds <= 64);
    if (nfds) {
        struct cmsghdr *c;
        memset(control, 0, sizeof(control));
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* ---- features --------------------------------------------------------- */

static void test_get_features(void **state)
{
    struct h_dev *h = *state;
    struct vu_msg m;
    uint64_t f;

    /* No SET_OWNER needed. */
    h_call(h, VU_GET_FEATURES, NULL, 0, &m);
    assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    assert_int_equal(m.hdr.size, 8);
    f = m.p.u64;
    assert_true(f == (vu_dev_features(vblk_vu_dev(h->blk)) | F(VU_F_PROTOCOL_FEATURES)));
    /* What a writable single-queue virtio-blk over a file must offer. */
    assert_true(f & F(VIRTIO_F_VERSION_1));
    assert_true(f & F(VIRTIO_RING_F_INDIRECT_DESC));
    assert_true(f & F(VIRTIO_RING_F_EVENT_IDX));
    assert_true(f & F(VIRTIO_BLK_F_SEG_MAX));
    assert_true(f & F(VIRTIO_BLK_F_BLK_SIZE));
    assert_true(f & F(VIRTIO_BLK_F_FLUSH));
    assert_true(f & F(VIRTIO_BLK_F_DISCARD));
    assert_true(f & F(VIRTIO_BLK_F_WRITE_ZEROES));
    assert_false(f & F(VIRTIO_BLK_F_RO));
    assert_false(f & F(VIRTIO_BLK_F_MQ));
    assert_false(f & F(VIRTIO_F_ACCESS_PLATFORM));
    assert_false(f & F(VIRTIO_F_RING_PACKED));
}

static void test_features_readonly_multiqueue(void **state)
{
    struct h_dev ro, mq;
    struct h_opts oro = { .readonly = true }, omq = { .num_queues = 3 };
    uint64_t f;

    (void)state;
    h_create(&ro, g_loops, 1, &oro);
    f = h_get_u64(&ro, VU_GET_FEATURES);
    assert_true(f & F(VIRTIO_BLK_F_RO));
    assert_false(f & F(VIRTIO_BLK_F_DISCARD));
    assert_false(f & F(VIRTIO_BLK_F_WRITE_ZEROES));
    assert_false(f & F(VIRTIO_BLK_F_MQ));
    assert_int_equal(h_get_u64(&ro, VU_GET_QUEUE_NUM), 1);
    h_destroy(&ro);

    h_create(&mq, g_loops, 2, &omq);
    f = h_get_u64(&mq, VU_GET_FEATURES);
    assert_true(f & F(VIRTIO_BLK_F_MQ));
    assert_false(f & F(VIRTIO_BLK_F_RO));
    assert_int_equal(h_get_u64(&mq, VU_GET_QUEUE_NUM), 3);
    assert_int_equal(vu_dev_num_queues(mq.dev), 3);
    assert_non_null(vu_dev_queue(mq.dev, 2));
    assert_null(vu_dev_queue(mq.dev, 3));
    h_destroy(&mq);
}

/* A device offering packed rings: the feature bit, INFLIGHT_SHMFD (the
 * region in the layout of the acked ring format), any ring size, and the
 * 32-bit packed vring base (both positions and wrap counters) once
 * negotiated. */
static void test_packed_negotiation(void **state)
{
    struct h_dev p;
    struct h_opts op = { .packed = true };
    struct vu_inflight in = { .num_queues = 1, .queue_size = 100 };
    struct vu_vring_state s;
    struct vu_msg m;
    uint64_t f;

    (void)state;
    h_create(&p, g_loops, 1, &op);
    assert_true(h_get_u64(&p, VU_GET_FEATURES) & F(VIRTIO_F_RING_PACKED));
    assert_true(h_get_u64(&p, VU_GET_PROTOCOL_FEATURES) & F(VU_PF_INFLIGHT_SHMFD));
    assert_int_equal(h_ack(&p, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    /* Split negotiated: a 16-bit base and power-of-two sizes only, the
     * split inflight layout. */
    f = F(VIRTIO_F_VERSION_1);
    assert_int_equal(h_ack(&p, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    h_call(&p, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.nfds, 1);
    assert_true(m.p.inflight.mmap_size == vq_inflight_queue_size(100));
    vu_msg_close_fds(&m);
    s = ST(0, 0x80008000u);
    assert_int_equal(h_ack(&p, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0, 100);
    assert_int_equal(h_ack(&p, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    /* Packed negotiated: the packed layout (32 bytes per entry). */
    f |= F(VIRTIO_F_RING_PACKED);
    assert_int_equal(h_ack(&p, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    h_call(&p, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.nfds, 1);
    assert_true(m.p.inflight.mmap_size == vq_inflight_packed_queue_size(100));
    assert_true(m.p.inflight.mmap_size >= 32 + 100 * 32);
    vu_msg_close_fds(&m);
    assert_int_equal(h_ack(&p, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
    assert_int_equal(vu_dev_queue(p.dev, 0)->num, 100);
    s = ST(0, 5u | 0x8000u | (3u << 16));
    assert_int_equal(h_ack(&p, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
    s = ST(0, 0);
    h_call(&p, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.p.state.num, 5u | 0x8000u | (3u << 16));
    h_destroy(&p);

    /* Not offered by a default device: SET_FEATURES with it is refused. */
    h_create(&p, g_loops, 1, NULL);
    assert_false(h_get_u64(&p, VU_GET_FEATURES) & F(VIRTIO_F_RING_PACKED));
    assert_int_equal(h_ack(&p, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED);
    assert_int_equal(h_ack(&p, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), EINVAL);
    h_destroy(&p);
}

static void test_protocol_features(void **state)
{
    struct h_dev *h = *state;
    const uint64_t want = F(VU_PF_MQ) | F(VU_PF_REPLY_ACK) | F(VU_PF_BACKEND_REQ) |
                          F(VU_PF_CONFIG) | F(VU_PF_INFLIGHT_SHMFD) |
                          F(VU_PF_CONFIGURE_MEM_SLOTS) | F(VU_PF_STATUS) | F(VU_PF_LOG_SHMFD);
    uint64_t pf = h_get_u64(h, VU_GET_PROTOCOL_FEATURES), bad;

    assert_true(pf == want);
    /* Not offered: refused. */
    bad = pf | F(VU_PF_PAGEFAULT);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &bad, 8, NULL, 0), EINVAL);
    bad = F(VU_PF_RARP);   /* a virtio-net feature */
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &bad, 8, NULL, 0), EINVAL);
    /* A subset, or all, is fine (no owner needed). */
    bad = F(VU_PF_REPLY_ACK);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &bad, 8, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
}

static void test_set_features(void **state)
{
    struct h_dev *h = *state;
    uint64_t offered = h_get_u64(h, VU_GET_FEATURES), f;

    /* Needs an owner. */
    f = F(VIRTIO_F_VERSION_1);
    assert_int_not_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    /* Unknown bits (not offered) are refused. */
    f = offered | F(40);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), EINVAL);
    f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_RO);   /* RO not offered here */
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), EINVAL);
    f = F(VIRTIO_F_RING_PACKED);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), EINVAL);
    /* Any offered subset is accepted. */
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &offered, 8, NULL, 0), 0);
    f = F(VIRTIO_F_VERSION_1);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), 0);
}

static void test_set_features_applied_to_queue(void **state)
{
    struct h_dev *h = *state;
    uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX);

    h_start(h, f);
    assert_true(vu_dev_queue(h->dev, 0)->event_idx);
    assert_false(vu_dev_queue(h->dev, 0)->indirect);
    /* Not while a queue runs. */
    f |= F(VIRTIO_RING_F_INDIRECT_DESC);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), EBUSY);
    assert_false(vu_dev_queue(h->dev, 0)->indirect);
}

static void test_queue_num_and_mem_slots(void **state)
{
    struct h_dev *h = *state;

    assert_int_equal(h_get_u64(h, VU_GET_QUEUE_NUM), 1);
    assert_int_equal(h_get_u64(h, VU_GET_MAX_MEM_SLOTS), VU_MAX_MEM_SLOTS);
}

/* ---- ownership -------------------------------------------------------- */

static void test_owner_gating(void **state)
{
    struct h_dev *h = *state;
    struct vu_mem_table t = { .nregions = 1 };
    struct vu_vring_state s = ST(0, 64);
    int before = count_open_fds(), fd;

    t.regions[0] = guest_region(&h->g, 0, H_GUEST_SIZE);
    fd = h->g.fd;
    /* Before SET_OWNER: refused with a nonzero ack, fd not kept. */
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, &fd, 1), EPERM);
    assert_int_equal(count_open_fds(), before);
    assert_int_equal(count_mappings("sluice-test-guest"), 1);   /* only the test's own */
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EPERM);
    /* Queries work without an owner. */
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, &fd, 1), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
    /* The table's fd was closed, the mapping stays. */
    assert_int_equal(count_open_fds(), before);
}

/* ---- memory table ----------------------------------------------------- */

static void test_mem_table_fd_mismatch(void **state)
{
    struct h_dev *h = *state;
    struct vu_mem_table t = { 0 };
    int fds[3], before;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    before = count_open_fds();
    for (int i = 0; i < 3; i++)
        fds[i] = memfd("sluice-mismatch", 65536);
    for (int i = 0; i < 3; i++)
        t.regions[i] = (struct vu_mem_region_desc){ 0x10000ull * i, 65536, 0x7f0000000000ull + 0x10000ull * i, 0 };

    /* Fewer fds than regions. */
    t.nregions = 2;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 2 * 32, fds, 1), 0);
    /* More fds than regions. */
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 2 * 32, fds, 3), 0);
    /* No fds at all. */
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 2 * 32, NULL, 0), 0);
    /* Zero regions, and more regions than fit in one message. */
    t.nregions = 0;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, NULL, 0), 0);
    t.nregions = VU_MAX_FDS + 1;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, sizeof(t), fds, 3), 0);
    /* nregions says 3 but the payload carries only 2 descriptions. */
    t.nregions = 3;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 2 * 32, fds, 3), 0);
    /* Right count, but a region beyond its file / overlapping another. */
    t.regions[2].memory_size = 2 * 65536;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 3 * 32, fds, 3), 0);
    t.regions[2].memory_size = 65536;
    t.regions[2].guest_phys_addr = 0x8000;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 3 * 32, fds, 3), 0);
    /* Nothing was mapped, every received fd was closed. */
    assert_false(mapped("sluice-mismatch"));
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_int_equal(count_open_fds(), before);

    /* A valid table maps; the fds are still not kept. */
    for (int i = 0; i < 3; i++)
        fds[i] = memfd("sluice-mismatch", 65536);
    t.regions[2].guest_phys_addr = 0x20000;
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 3 * 32, fds, 3), 0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_int_equal(count_open_fds(), before);
    assert_true(mapped("sluice-mismatch"));
    /* A refused table leaves the old one in place; a new one replaces it. */
    fds[0] = memfd("sluice-other", 65536);
    t.nregions = 1;
    t.regions[0].memory_size = 4 * 65536;
    assert_int_not_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, fds, 1), 0);
    assert_true(mapped("sluice-mismatch"));
    assert_false(mapped("sluice-other"));
    t.regions[0].memory_size = 65536;
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, fds, 1), 0);
    assert_false(mapped("sluice-mismatch"));
    assert_true(mapped("sluice-other"));
    close(fds[0]);
    assert_int_equal(count_open_fds(), before);
}

static void test_add_rem_mem_reg(void **state)
{
    struct h_dev *h = *state;
    struct vu_single_mem_region r = { 0 };
    int fd = memfd("sluice-addreg", 65536), before;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    before = count_open_fds();
    r.region = (struct vu_mem_region_desc){ 0x100000, 65536, 0x7f0000100000ull, 0 };
    /* Needs exactly one fd. */
    assert_int_not_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &fd, 1), 0);
    assert_true(mapped("sluice-addreg"));
    /* The identical region again (a second vhost device of a multi-queue
     * frontend) takes a reference; an overlapping different one is refused. */
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &fd, 1), 0);
    struct vu_single_mem_region o = r;
    o.region.userspace_addr += 4096;
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &o, sizeof(o), &fd, 1), EEXIST);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_true(mapped("sluice-addreg"));     /* one reference left */
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_false(mapped("sluice-addreg"));
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), ENOENT);
    close(fd);
    assert_int_equal(count_open_fds(), before - 1);
}

/* ---- malformed messages ----------------------------------------------- */

static void test_truncated_messages(void **state)
{
    struct h_dev *h = *state;
    struct vu_hdr hdr = { .request = VU_SET_FEATURES, .flags = VU_VERSION, .size = 8 };
    int before = count_open_fds(), fd = memfd("sluice-trunc", 4096);

    /* A header announcing a payload, then EOF. */
    raw_send(h->sock, &hdr, sizeof(hdr), NULL, 0);
    shutdown(h->sock, SHUT_WR);
    assert_true(vu_dev_process(h->dev) < 0);
    h_reconnect(h);

    /* Half a header, then EOF. */
    raw_send(h->sock, &hdr, 6, NULL, 0);
    shutdown(h->sock, SHUT_WR);
    assert_true(vu_dev_process(h->dev) < 0);
    h_reconnect(h);

    /* Half a payload with an fd, then EOF: the fd is not kept. */
    {
        uint8_t buf[sizeof(hdr) + 4];
        hdr.request = VU_SET_VRING_CALL;
        memcpy(buf, &hdr, sizeof(hdr));
        memset(buf + sizeof(hdr), 0, 4);
        raw_send(h->sock, buf, sizeof(buf), &fd, 1);
        shutdown(h->sock, SHUT_WR);
        assert_true(vu_dev_process(h->dev) < 0);
        h_reconnect(h);
    }

    /* Plain EOF. */
    shutdown(h->sock, SHUT_WR);
    assert_int_equal(vu_dev_process(h->dev), -ECONNRESET);
    h_reconnect(h);

    close(fd);
    assert_int_equal(count_open_fds(), before);
    /* The device is usable on the new connection. */
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
}

static void test_oversized_and_bad_version(void **state)
{
    struct h_dev *h = *state;
    struct vu_hdr hdr = { .request = VU_SET_FEATURES, .flags = VU_VERSION, .size = 4096 };
    int before = count_open_fds(), fd = memfd("sluice-bad", 4096);
    uint64_t v = 0;

    /* size larger than any payload: dropped without reading it. */
    raw_send(h->sock, &hdr, sizeof(hdr), &fd, 1);
    assert_int_equal(vu_dev_process(h->dev), -EPROTO);
    h_reconnect(h);
    hdr.size = UINT32_MAX;
    raw_send(h->sock, &hdr, sizeof(hdr), NULL, 0);
    assert_int_equal(vu_dev_process(h->dev), -EPROTO);
    h_reconnect(h);

    /* Version 0, 2 and 3, with an fd attached. */
    for (uint32_t ver = 0; ver < 4; ver++) {
        if (ver == VU_VERSION)
            continue;
        struct vu_hdr bad = { .request = VU_GET_FEATURES, .flags = ver | VU_FLAG_NEED_REPLY, .size = 8 };
        assert_int_equal(vu_msg_send(h->sock, &bad, &v, &fd, 1), 0);
        assert_int_equal(vu_dev_process(h->dev), -EPROTO);
        h_reconnect(h);
    }
    close(fd);
    assert_int_equal(count_open_fds(), before);
}

static void test_too_many_fds(void **state)
{
    struct h_dev *h = *state;
    struct {
        struct vu_hdr hdr;
        uint64_t u64;
    } __attribute__((packed)) msg = {
        { VU_SET_VRING_CALL, VU_VERSION | VU_FLAG_NEED_REPLY, 8 }, 0,
    };
    int fds[40], before = count_open_fds();
    struct vu_msg reply;

    for (int i = 0; i < 40; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);

    /* 9, 12 and 40 fds (the last more than the receive buffer holds). */
    const unsigned counts[] = { VU_MAX_FDS + 1, 12, 40 };
    for (unsigned k = 0; k < 3; k++) {
        raw_send(h->sock, &msg, sizeof(msg), fds, counts[k]);
        assert_int_equal(vu_dev_process(h->dev), 0);   /* connection survives */
        h_recv(h, &reply);
        assert_int_equal(reply.hdr.request, VU_SET_VRING_CALL);
        assert_int_equal(reply.hdr.size, 8);
        assert_int_not_equal(reply.p.u64, 0);
        assert_int_equal(reply.nfds, 0);
        assert_true(h_no_reply(h));
        /* The queue did not get a call fd. */
        assert_int_equal(vu_dev_queue(h->dev, 0)->call_fd, -1);
    }
    /* Eight regions with nine fds: the eight that fit must not be used. */
    struct {
        struct vu_hdr hdr;
        struct vu_mem_table t;
    } __attribute__((packed)) mt = { { VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_NEED_REPLY,
                                       sizeof(struct vu_mem_table) }, { .nregions = VU_MAX_FDS } };
    int mfds[VU_MAX_FDS + 1];
    for (unsigned i = 0; i <= VU_MAX_FDS; i++)
        mfds[i] = memfd("sluice-ninefds", 4096);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        mt.t.regions[i] = (struct vu_mem_region_desc){ 0x1000ull * i, 4096, 0x7f0000000000ull + 0x1000ull * i, 0 };
    raw_send(h->sock, &mt, sizeof(mt), mfds, VU_MAX_FDS + 1);
    assert_int_equal(vu_dev_process(h->dev), 0);
    h_recv(h, &reply);
    assert_int_equal(reply.hdr.request, VU_SET_MEM_TABLE);
    assert_int_equal(reply.p.u64, EMSGSIZE);
    assert_false(mapped("sluice-ninefds"));
    for (unsigned i = 0; i <= VU_MAX_FDS; i++)
        close(mfds[i]);
    /* Eight is the limit, and fine. */
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        mfds[i] = memfd("sluice-ninefds", 4096);
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &mt.t, sizeof(mt.t), mfds, VU_MAX_FDS), 0);
    assert_int_equal(count_mappings("sluice-ninefds"), VU_MAX_FDS);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        close(mfds[i]);

    /* Every received fd was closed. */
    for (int i = 0; i < 40; i++)
        close(fds[i]);
    assert_int_equal(count_open_fds(), before);
    /* The connection still works, also without NEED_REPLY next. */
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
    assert_int_equal(h_get_u64(h, VU_GET_QUEUE_NUM), 1);
}

static void test_short_payloads(void **state)
{
    struct h_dev *h = *state;
    uint8_t zero[64] = { 0 };
    const struct { uint32_t req, size; } cases[] = {
        { VU_SET_FEATURES, 4 },
        { VU_SET_PROTOCOL_FEATURES, 0 },
        { VU_SET_VRING_NUM, 4 },
        { VU_SET_VRING_BASE, 7 },
        { VU_SET_VRING_ENABLE, 0 },
        { VU_SET_VRING_ADDR, 20 },
        { VU_SET_VRING_CALL, 4 },
        { VU_SET_VRING_KICK, 0 },
        { VU_SET_VRING_ERR, 7 },
        { VU_SET_MEM_TABLE, 8 },
        { VU_SET_MEM_TABLE, 39 },
        { VU_ADD_MEM_REG, 32 },
        { VU_REM_MEM_REG, 8 },
        { VU_SET_CONFIG, 8 },
        { VU_SET_INFLIGHT_FD, 16 },
        { VU_SET_STATUS, 1 },
    };

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t a = h_ack(h, cases[i].req, zero, cases[i].size, NULL, 0);
        if (a == 0)
            fail_msg("%s with a %u-byte payload was accepted",
                     vu_request_name(cases[i].req), cases[i].size);
    }
    /* Nothing took effect. */
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), 0);
}

static void test_unknown_request(void **state)
{
    struct h_dev *h = *state;
    uint64_t v = 0;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    assert_int_equal(h_ack(h, 99, NULL, 0, NULL, 0), EOPNOTSUPP);
    assert_int_equal(h_ack(h, VU_SET_LOG_FD, &v, 8, NULL, 0), EOPNOTSUPP);
    assert_int_equal(h_ack(h, 0, NULL, 0, NULL, 0), EOPNOTSUPP);
    /* Without NEED_REPLY: no answer, connection alive. */
    assert_int_equal(h_send(h, 12345, VU_VERSION, NULL, 0, NULL, 0), 0);
    assert_true(h_no_reply(h));
    assert_int_equal(h_get_u64(h, VU_GET_QUEUE_NUM), 1);
}

/* The generic checks of the request table (one row per request, as the
 * vhost-user specification lists them): a fixed-size payload has exactly its
 * size, a request carries only the fds it takes, a request the device does not
 * know is unsupported whoever sends it, and a refused query still gets its
 * (empty) reply. A refusal changes nothing and keeps no fd. */
static void test_request_table_checks(void **state)
{
    struct h_dev *h = *state;
    uint8_t big[64] = { 0 };
    struct vu_vring_state s = ST(0, 64);
    struct vu_msg m;
    int ev = eventfd(0, EFD_CLOEXEC), two[2], before = count_open_fds();

    two[0] = two[1] = ev;
    assert_int_equal(h_ack(h, 99, NULL, 0, NULL, 0), EOPNOTSUPP);
    assert_int_equal(h_ack(h, VU_SET_LOG_FD, big, 8, NULL, 0), EOPNOTSUPP);
    /* Queries with a payload or an fd they do not take. */
    h_call(h, VU_GET_FEATURES, big, 8, &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(h_send(h, VU_GET_QUEUE_NUM, VU_VERSION, NULL, 0, &ev, 1), 0);
    h_recv(h, &m);
    assert_int_equal(m.hdr.request, VU_GET_QUEUE_NUM);
    assert_int_equal(m.hdr.size, 0);
    assert_true(h_no_reply(h));
    /* SET_OWNER takes nothing. */
    assert_int_equal(h_ack(h, VU_SET_OWNER, big, 8, NULL, 0), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, &ev, 1), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EPERM);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    /* A fixed payload longer than its layout, an fd where none is taken,
     * two where one is. */
    memcpy(big, &s, sizeof(s));
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, big, sizeof(s) + 8, NULL, 0), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), &ev, 1), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_STATUS, big, 16, NULL, 0), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_BACKEND_REQ_FD, NULL, 0, two, 2), EINVAL);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), 0);
    /* Well-formed, it works. */
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 64);
    close(ev);
    assert_int_equal(count_open_fds(), before - 1);
}

/* ---- vrings ----------------------------------------------------------- */

static void test_vring_limits(void **state)
{
    struct h_dev *h = *state;
    struct vu_vring_state s;
    struct vu_vring_addr a = { .index = 1 };
    uint64_t v;
    int ev = eventfd(0, EFD_CLOEXEC), before;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    before = count_open_fds();
    s = ST(0, 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0, VQ_MAX_SIZE + 1);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0, 65536);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 0);
    s = ST(0, VQ_MAX_SIZE);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, VQ_MAX_SIZE);
    s = ST(0, 1);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 1);

    /* Queue index out of range, per message type. */
    s = ST(1, 64);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0xffffffff, 64);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(1, 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0, 0x10000);
    assert_int_equal(h_ack(h, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), EINVAL);
    s = ST(1, 1);
    assert_int_equal(h_ack(h, VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), EINVAL);
    s = ST(0, 2);
    assert_int_equal(h_ack(h, VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), EINVAL);
    v = 1;
    assert_int_equal(h_ack(h, VU_SET_VRING_KICK, &v, 8, &ev, 1), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &v, 8, &ev, 1), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_ERR, &v, 8, &ev, 1), EINVAL);
    /* Bits beyond index and NOFD. */
    v = 1ull << 9;
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &v, 8, &ev, 1), EINVAL);
    /* fd presence must match the NOFD bit. */
    v = 0;
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &v, 8, NULL, 0), EINVAL);
    v = VU_VRING_NOFD_MASK;
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &v, 8, &ev, 1), EINVAL);
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &v, 8, NULL, 0), 0);
    /* Polling mode is not offered. */
    assert_int_equal(h_ack(h, VU_SET_VRING_KICK, &v, 8, NULL, 0), EOPNOTSUPP);
    /* No refused fd was kept. */
    close(ev);
    assert_int_equal(count_open_fds(), before - 1);
}

static void test_get_vring_base_bad_index(void **state)
{
    struct h_dev *h = *state;
    struct vu_vring_state s = ST(7, 0);
    struct vu_msg m;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    /* A request with a reply always gets one: here an empty one. */
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(h_get_u64(h, VU_GET_QUEUE_NUM), 1);
}

static void test_replies_on_refused_queries(void **state)
{
    struct h_dev *h = *state;
    struct vu_vring_state s = ST(0, 0);
    struct vu_inflight in = { .num_queues = 1, .queue_size = 64 };
    struct vu_msg m;

    /* Before SET_OWNER, queries that need an owner still get a reply (empty)
     * rather than leaving the frontend waiting forever. */
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.hdr.size, 0);
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.nfds, 0);
    /* Too short to be parsed. */
    h_call(h, VU_GET_CONFIG, &s, 8, &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    h_call(h, VU_GET_VRING_BASE, &s, 4, &m);
    assert_int_equal(m.hdr.size, 0);
    h_call(h, VU_GET_INFLIGHT_FD, &in, 10, &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.nfds, 0);
    assert_int_equal(h_get_u64(h, VU_GET_QUEUE_NUM), 1);
}

/* ---- config ----------------------------------------------------------- */

static void get_config(struct h_dev *h, uint32_t offset, uint32_t size, uint32_t msg_size,
                       struct vu_msg *m)
{
    struct vu_config c = { .offset = offset, .size = size };
    h_call(h, VU_GET_CONFIG, &c, msg_size, m);
}

static void test_get_config(void **state)
{
    struct h_dev *h = *state;
    struct virtio_blk_config c;
    struct vu_msg m;
    uint32_t v;

    /* Works before SET_OWNER (QEMU reads config early). */
    get_config(h, 0, sizeof(c), VU_CONFIG_HDR_SIZE + sizeof(c), &m);
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + sizeof(c));
    assert_int_equal(m.p.config.offset, 0);
    assert_int_equal(m.p.config.size, sizeof(c));
    memcpy(&c, m.p.config.region, sizeof(c));
    assert_true(c.capacity == h->size / 512);
    assert_int_equal(c.blk_size, 512);
    assert_int_equal(c.seg_max, VBLK_SEG_MAX);
    assert_int_equal(c.num_queues, 1);
    assert_int_equal(c.max_discard_seg, 1);
    assert_true(c.max_discard_sectors > 0);
    assert_int_equal(c.discard_sector_alignment, 1);
    assert_int_equal(c.max_write_zeroes_seg, 1);
    assert_true(c.max_write_zeroes_sectors > 0);
    assert_int_equal(c.write_zeroes_may_unmap, 1);

    /* A field on its own. */
    get_config(h, offsetof(struct virtio_blk_config, blk_size), 4, VU_CONFIG_HDR_SIZE + 4, &m);
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + 4);
    memcpy(&v, m.p.config.region, 4);
    assert_int_equal(v, 512);
    get_config(h, offsetof(struct virtio_blk_config, seg_max), 4, VU_CONFIG_HDR_SIZE + 4, &m);
    memcpy(&v, m.p.config.region, 4);
    assert_int_equal(v, VBLK_SEG_MAX);
    /* Past the device's config but inside the space: zeroes. */
    get_config(h, 200, 8, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(m.p.config.region[i], 0);

    /* Bad offset / size: an empty reply. */
    get_config(h, 0, VU_MAX_CONFIG_SIZE + 1, VU_CONFIG_HDR_SIZE + 4, &m);
    assert_int_equal(m.hdr.size, 0);
    get_config(h, VU_MAX_CONFIG_SIZE - 4, 8, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, 0);
    get_config(h, UINT32_MAX, 8, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, 0);
    /* Message size disagrees with the size field. */
    get_config(h, 0, 16, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, 0);
    get_config(h, 0, 8, VU_CONFIG_HDR_SIZE + 16, &m);
    assert_int_equal(m.hdr.size, 0);
    /* Still alive. */
    get_config(h, 0, 8, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + 8);

    /* SET_CONFIG: config space is read-only. */
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    struct vu_config sc = { .offset = 0, .size = 8 };
    assert_int_not_equal(h_ack(h, VU_SET_CONFIG, &sc, VU_CONFIG_HDR_SIZE + 8, NULL, 0), 0);
}

static void test_get_config_readonly(void **state)
{
    struct h_dev ro;
    struct h_opts o = { .readonly = true, .size = 3 << 20 };
    struct virtio_blk_config c;
    struct vu_msg m;

    (void)state;
    h_create(&ro, g_loops, 1, &o);
    get_config(&ro, 0, sizeof(c), VU_CONFIG_HDR_SIZE + sizeof(c), &m);
    memcpy(&c, m.p.config.region, sizeof(c));
    assert_true(c.capacity == (3 << 20) / 512);
    assert_int_equal(c.max_discard_seg, 0);
    assert_int_equal(c.max_write_zeroes_seg, 0);
    h_destroy(&ro);
}

/* ---- inflight --------------------------------------------------------- */

static void test_get_inflight_fd(void **state)
{
    struct h_dev *h = *state;
    struct vu_inflight in = { .num_queues = 1, .queue_size = 256 };
    struct vu_msg m;
    struct stat st;
    uint8_t big[64] = { 0 };
    int before;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    before = count_open_fds();
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, sizeof(struct vu_inflight));
    assert_int_equal(m.nfds, 1);
    assert_true(m.p.inflight.mmap_size == vq_inflight_queue_size(256));
    assert_true(m.p.inflight.mmap_offset == 0);
    assert_int_equal(m.p.inflight.num_queues, 1);
    assert_int_equal(m.p.inflight.queue_size, 256);
    assert_int_equal(fstat(m.fds[0], &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_true((uint64_t)st.st_size >= m.p.inflight.mmap_size);
    /* The region starts zeroed (a fresh session). */
    uint8_t *p = mmap(NULL, m.p.inflight.mmap_size, PROT_READ, MAP_SHARED, m.fds[0], 0);
    assert_true(p != MAP_FAILED);
    for (uint64_t i = 0; i < m.p.inflight.mmap_size; i++)
        assert_int_equal(p[i], 0);
    munmap(p, m.p.inflight.mmap_size);
    /* It can be handed back as SET_INFLIGHT_FD (what a reconnect does). */
    struct vu_inflight set = m.p.inflight;
    assert_int_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), m.fds, 1), 0);
    /* Wrong size, no fd, or not a file: refused. */
    set.mmap_size += 64;
    assert_int_not_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), m.fds, 1), 0);
    set = m.p.inflight;
    assert_int_not_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), NULL, 0), 0);
    set.mmap_offset = 4096;   /* beyond the file */
    assert_int_not_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), m.fds, 1), 0);
    set = m.p.inflight;
    set.num_queues = 2;
    assert_int_not_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), m.fds, 1), 0);
    int ev = eventfd(0, EFD_CLOEXEC);
    set = m.p.inflight;
    assert_int_not_equal(h_ack(h, VU_SET_INFLIGHT_FD, &set, sizeof(set), &ev, 1), 0);
    close(ev);
    vu_msg_close_fds(&m);
    assert_int_equal(count_open_fds(), before);

    /* Bad sizes: an empty reply without an fd. */
    in.num_queues = 2;
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.nfds, 0);
    in.num_queues = 0;
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, 0);
    in.num_queues = 1;
    in.queue_size = 0;
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, 0);
    in.queue_size = VQ_MAX_SIZE + 1;
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.nfds, 0);

    /* A request padded beyond the structure still gets exactly one. */
    in.queue_size = 128;
    memcpy(big, &in, sizeof(in));
    h_call(h, VU_GET_INFLIGHT_FD, big, sizeof(big), &m);
    assert_int_equal(m.hdr.size, sizeof(struct vu_inflight));
    assert_int_equal(m.nfds, 1);
    assert_true(m.p.inflight.mmap_size == vq_inflight_queue_size(128));
    vu_msg_close_fds(&m);
    assert_int_equal(count_open_fds(), before);
}

/* ---- the datapath through the protocol -------------------------------- */

/* A ring larger than the queue_size its inflight region was sized for is
 * refused, and nothing past the region is written (the start-up used to
 * clear the inflight entries of the whole ring: fuzz-vhost-msg's
 * crash-inflight-smaller-than-ring seed). */
static void test_inflight_smaller_than_ring(void **state)
{
    struct h_dev *h = *state;
    struct vu_inflight inf = { .mmap_size = vq_inflight_queue_size(8), .mmap_offset = 0,
                               .num_queues = 1, .queue_size = 8 };
    struct vu_vring_state num = { 0, H_QNUM }, st = { 0, 0 };
    struct vu_vring_addr a = {
        .index = 0,
        .desc_user_addr = tring_desc_uva(&h->r),
        .avail_user_addr = tring_avail_uva(&h->r),
        .used_user_addr = tring_used_uva(&h->r),
    };
    uint64_t idx0 = 0, f = F(VIRTIO_F_VERSION_1) | F(VU_F_PROTOCOL_FEATURES),
             pf = F(VU_PF_REPLY_ACK) | F(VU_PF_INFLIGHT_SHMFD);
    int fd = memfd("sluice-test-ifl", 4096);
    uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    assert_true(p != MAP_FAILED);
    assert_true(vq_inflight_queue_size(H_QNUM) <= 4096);   /* the overrun stays in the file */
    memset(p, 0xa5, 4096);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0), 0);
    assert_int_equal(h_set_mem_table(h), 0);
    assert_int_equal(h_ack(h, VU_SET_INFLIGHT_FD, &inf, sizeof(inf), &fd, 1), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &idx0, sizeof(idx0), &h->call, 1), 0);
    /* The kick starts the ring: refused. */
    (void)h_ack(h, VU_SET_VRING_KICK, &idx0, sizeof(idx0), &h->kick, 1);
    assert_false(vu_dev_queue(h->dev, 0)->running);
    for (uint64_t i = inf.mmap_size; i < 4096; i++)
        assert_int_equal(p[i], 0xa5);
    munmap(p, 4096);
    close(fd);
}

static void test_full_session(void **state)
{
    struct h_dev *h = *state;
    struct vu_inflight in = { .num_queues = 1, .queue_size = H_QNUM }, inf;
    struct vu_vring_state s = ST(0, 0);
    struct vq_inflight_region *ifl;
    uint8_t wbuf[4096], rbuf[4096], fbuf[4096];
    uint32_t used_len;
    struct vu_msg m;
    struct h_req req;
    int before = count_open_fds(), ifl_fd;

    /* Inflight region first, as QEMU does for vhost-user-blk. */
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    h_call(h, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m);
    assert_int_equal(m.nfds, 1);
    ifl_fd = m.fds[0];
    inf = m.p.inflight;
    ifl = mmap(NULL, inf.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, ifl_fd, 0);
    assert_true(ifl != MAP_FAILED);
    assert_int_equal(h_ack(h, VU_SET_INFLIGHT_FD, &inf, sizeof(inf), &ifl_fd, 1), 0);
    h_start(h, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC));
    assert_int_equal(count_mappings("sluice-test-guest"), 3);
    assert_int_equal(ifl->desc_num, H_QNUM);
    assert_int_equal(ifl->version, 1);

    /* A write, completed through the call eventfd. */
    pattern_fill(wbuf, sizeof(wbuf), 77, 0);
    h_scratch_reset(h);
    h_blk_post(h, 5, VIRTIO_BLK_T_OUT, 8, wbuf, sizeof(wbuf), 0, false, &req);
    assert_int_equal(eventfd_wait(h->call, 0), 0);
    h_kick(h);
    assert_true(eventfd_wait(h->call, 5000) >= 1);
    assert_int_equal(tring_used_idx(&h->r), 1);
    assert_int_equal(tring_used(&h->r, 0).id, 5);
    assert_int_equal(tring_used(&h->r, 0).len, 1);
    assert_int_equal(h_req_status(h, &req), VIRTIO_BLK_S_OK);
    /* Then a read, through the real file. */
    h_file_read(h, 8 * 512, fbuf, sizeof(fbuf));
    assert_memory_equal(fbuf, wbuf, sizeof(wbuf));
    assert_true(h_file_pristine(h, 0, 8 * 512));
    assert_true(h_file_pristine(h, 16 * 512, 4096));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 8, NULL, 0, rbuf, sizeof(rbuf), &used_len),
                     VIRTIO_BLK_S_OK);
    assert_int_equal(used_len, sizeof(rbuf) + 1);
    assert_memory_equal(rbuf, wbuf, sizeof(wbuf));
    assert_int_equal(tring_used_idx(&h->r), 2);
    /* Completed requests are not inflight any more. */
    assert_int_equal(ifl->used_idx, 2);
    for (unsigned i = 0; i < H_QNUM; i++)
        assert_int_equal(ifl->desc[i].inflight, 0);
    assert_true(ifl->desc[0].counter > ifl->desc[5].counter);   /* read after write */
    assert_true(ifl->desc[5].counter > 0);

    /* GET_VRING_BASE stops the queue and reports where it stopped. */
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.hdr.size, sizeof(struct vu_vring_state));
    assert_int_equal(m.p.state.index, 0);
    assert_int_equal(m.p.state.num, 2);
    assert_false(vu_dev_queue(h->dev, 0)->running);
    /* The backend let go of the ring's kick and call fds. */
    assert_int_equal(vu_dev_queue(h->dev, 0)->kick_fd, -1);
    assert_int_equal(vu_dev_queue(h->dev, 0)->call_fd, -1);

    /* A stopped queue does not take new requests. */
    h_scratch_reset(h);
    h_blk_post(h, 0, VIRTIO_BLK_T_IN, 8, NULL, 0, 512, false, &req);
    h_kick(h);
    assert_false(h_wait_used(h, 3, 100));
    assert_int_equal(h_req_status(h, &req), 0xff);

    /* Restarted from the reported base, it picks the request up. */
    h_start_vring(h, 2);
    assert_true(h_wait_used(h, 3, 5000));
    assert_int_equal(h_req_status(h, &req), VIRTIO_BLK_S_OK);
    assert_memory_equal(guest_ptr(&h->g, req.in_gpa), wbuf, 512);
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.p.state.num, 3);

    munmap(ifl, inf.mmap_size);
    close(ifl_fd);
    /* Disconnect releases everything the session took. */
    vu_dev_disconnect(h->dev);
    assert_int_equal(count_mappings("sluice-test-guest"), 1);
    assert_false(mapped("sluice-inflight"));
    assert_int_equal(count_open_fds(), before - 2);   /* the backend's end and timer are gone */
}

static void test_mem_table_change_while_running(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[512];

    h_start(h, F(VIRTIO_F_VERSION_1));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    /* The same RAM, re-sent: the queue pauses, remaps, resumes. */
    assert_int_equal(h_set_mem_table(h), 0);
    assert_true(vu_dev_queue(h->dev, 0)->running);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 1, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern_byte(H_FILE_SEED, 512 + i));
    /* A region added and removed at run time. */
    struct vu_single_mem_region r = { 0 };
    int fd = memfd("sluice-hotplug", 1 << 20);
    r.region = (struct vu_mem_region_desc){ 0x10000000, 1 << 20, 0x7f0010000000ull, 0 };
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &fd, 1), 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 2, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 3, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    close(fd);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern_byte(H_FILE_SEED, 3 * 512 + i));
}

static void test_reset_owner(void **state)
{
    struct h_dev *h = *state;
    struct vu_mem_table t = { .nregions = 1 };
    uint8_t buf[512];
    int before = count_open_fds();
    uint64_t pf;

    h_start(h, F(VIRTIO_F_VERSION_1));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(count_mappings("sluice-test-guest"), 3);   /* ours + two regions */
    assert_int_equal(h_ack(h, VU_RESET_OWNER, NULL, 0, NULL, 0), 0);
    /* Queues stopped, memory unmapped, vring fds closed, owner gone. */
    assert_false(vu_dev_queue(h->dev, 0)->running);
    assert_int_equal(vu_dev_queue(h->dev, 0)->kick_fd, -1);
    assert_int_equal(vu_dev_queue(h->dev, 0)->call_fd, -1);
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 0);
    assert_int_equal(count_mappings("sluice-test-guest"), 1);
    assert_int_equal(count_open_fds(), before);
    t.regions[0] = guest_region(&h->g, 0, H_GUEST_SIZE);
    assert_int_equal(h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 32, &h->g.fd, 1), EPERM);
    /* The connection and the protocol features survive. */
    pf = 1ull << VU_PF_REPLY_ACK;
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
    /* A new session on the same connection works. */
    h->r.used->idx = 0;
    h->r.avail_idx = 0;
    h->r.avail->idx = 0;
    h_start(h, F(VIRTIO_F_VERSION_1));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 5, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern_byte(H_FILE_SEED, 5 * 512 + i));
    /* RESET_DEVICE keeps the owner. */
    assert_int_equal(h_ack(h, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
    assert_false(vu_dev_queue(h->dev, 0)->running);
    assert_int_equal(h_set_mem_table(h), 0);
}

static void test_disconnect(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[512];
    int before = count_open_fds(), sv[2];

    h_start(h, F(VIRTIO_F_VERSION_1));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    /* A second frontend is refused while one is attached. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(h->dev, sv[1]), -EBUSY);
    close(sv[0]);
    close(sv[1]);

    /* The frontend goes away. */
    close(h->sock);
    h->sock = -1;
    assert_int_equal(vu_dev_process(h->dev), -ECONNRESET);
    vu_dev_disconnect(h->dev);
    assert_int_equal(vu_dev_conn_fd(h->dev), -1);
    assert_false(vu_dev_queue(h->dev, 0)->running);
    assert_int_equal(count_mappings("sluice-test-guest"), 1);
    /* Our end, the backend's end and its message timer, plus the
     * kick/call/mem fds it held. */
    assert_int_equal(count_open_fds(), before - 3);
    /* Idempotent. */
    vu_dev_disconnect(h->dev);

    /* A new frontend: fresh negotiation, the device works again. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(h->dev, sv[1]), 0);
    h->sock = sv[0];
    struct vu_vring_state s = ST(0, 64);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EPERM);
    h->r.used->idx = 0;
    h->r.avail_idx = 0;
    h->r.avail->idx = 0;
    h_start(h, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 9, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern_byte(H_FILE_SEED, 9 * 512 + i));
}

static void test_status(void **state)
{
    struct h_dev *h = *state;
    uint64_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

    assert_int_equal(h_get_u64(h, VU_GET_STATUS), 0);
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), EPERM);
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), st);
    st |= VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK;
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), st);
    assert_false(vu_dev_broken(h->dev));
}

static void test_backend_channel_config_change(void **state)
{
    struct h_dev *h = *state;
    struct virtio_blk_config c;
    struct vu_msg m;
    uint64_t pf = F(VU_PF_BACKEND_REQ) | F(VU_PF_REPLY_ACK) | F(VU_PF_CONFIG);
    int sv[2];

    /* Without a channel, a capacity change is just recorded. */
    assert_int_equal(vblk_set_capacity(h->blk, 512 * 1024), 0);
    assert_int_equal(vu_dev_config_changed(h->dev), -ENOTCONN);
    assert_int_equal(vblk_set_capacity(h->blk, 1000), -EINVAL);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
    assert_int_not_equal(h_ack(h, VU_SET_BACKEND_REQ_FD, NULL, 0, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
    close(sv[1]);
    assert_int_equal(vblk_set_capacity(h->blk, 2 << 20), 0);
    /* CONFIG_CHANGE_MSG arrives on the backend channel. */
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(vu_msg_recv(sv[0], &m), 0);
    assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
    assert_int_equal(m.hdr.flags & VU_VERSION_MASK, VU_VERSION);
    get_config(h, 0, sizeof(c), VU_CONFIG_HDR_SIZE + sizeof(c), &m);
    memcpy(&c, m.p.config.region, sizeof(c));
    assert_true(c.capacity == (2 << 20) / 512);
    close(sv[0]);
}

/* ---- a minimal device with test ops ----------------------------------- */

struct mini {
    int inits, finis;
    int fail_init;
};

static void mini_handle(struct vq *vq)
{
    (void)vq;
}

static int mini_queue_init(void *ctx, struct vq *vq, uint64_t features)
{
    struct mini *m = ctx;
    (void)features;
    if (m->fail_init)
        return m->fail_init;
    m->inits++;
    vq->handle = mini_handle;
    return 0;
}

static void mini_queue_fini(void *ctx, struct vq *vq)
{
    struct mini *m = ctx;
    (void)vq;
    m->finis++;
}

static void test_minimal_device(void **state)
{
    static const struct vu_dev_ops ops = {
        .queue_init = mini_queue_init,
        .queue_fini = mini_queue_fini,
    };
    struct mini mini = { 0 };
    struct vu_dev_config cfg = {
        .name = "mini", .num_queues = 2, .ops = &ops, .ctx = &mini,
        .features = 1ull << VIRTIO_F_VERSION_1,
        .loops = g_loops, .nloops = 2,
    };
    struct vu_dev *dev;
    struct h_dev h;   /* only for its message helpers, guest and ring */
    struct vu_msg m;
    int sv[2];
    uint64_t f;

    (void)state;
    /* Config validation. */
    cfg.num_queues = 0;
    assert_int_equal(vu_dev_create(&cfg, &dev), -EINVAL);
    cfg.num_queues = VU_MAX_QUEUES + 1;
    assert_int_equal(vu_dev_create(&cfg, &dev), -EINVAL);
    cfg.num_queues = 2;
    cfg.nloops = 0;
    assert_int_equal(vu_dev_create(&cfg, &dev), -EINVAL);
    cfg.nloops = 2;
    assert_int_equal(vu_dev_create(&cfg, &dev), 0);
    assert_string_equal(vu_dev_name(dev), "mini");

    memset(&h, 0, sizeof(h));
    h.dev = dev;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(dev, sv[1]), 0);
    h.sock = sv[0];
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(h.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    guest_create(&h.g, "sluice-mini", H_GUEST_SIZE, H_GPA0, H_UVA0);
    tring_init(&h.r, &h.g, H_QNUM);
    h.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    f = h_get_u64(&h, VU_GET_FEATURES);
    assert_true(f == ((1ull << VIRTIO_F_VERSION_1) | F(VU_F_PROTOCOL_FEATURES)));
    /* No CONFIG protocol feature and no config space. */
    assert_false(h_get_u64(&h, VU_GET_PROTOCOL_FEATURES) & F(VU_PF_CONFIG));
    struct vu_config c = { .offset = 0, .size = 8 };
    h_call(&h, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 8, &m);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(h_get_u64(&h, VU_GET_QUEUE_NUM), 2);

    /* Queue start runs queue_init; a failing init keeps the queue stopped. */
    mini.fail_init = -ENOMEM;
    assert_int_equal(h_ack(&h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    f = 1ull << VIRTIO_F_VERSION_1;
    assert_int_equal(h_ack(&h, VU_SET_FEATURES, &f, 8, NULL, 0), 0);
    assert_int_equal(h_set_mem_table(&h), 0);
    struct vu_vring_state num = { 1, 64 };
    struct vu_vring_addr a = {
        .index = 1, .desc_user_addr = tring_desc_uva(&h.r),
        .avail_user_addr = tring_avail_uva(&h.r), .used_user_addr = tring_used_uva(&h.r),
    };
    uint64_t idx1 = 1;
    assert_int_equal(h_ack(&h, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0), 0);
    assert_int_equal(h_ack(&h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    assert_int_equal(h_ack(&h, VU_SET_VRING_KICK, &idx1, 8, &h.kick, 1), ENOMEM);
    assert_false(vu_dev_queue(dev, 1)->running);
    mini.fail_init = 0;
    assert_int_equal(h_ack(&h, VU_SET_VRING_KICK, &idx1, 8, &h.kick, 1), 0);
    assert_true(vu_dev_queue(dev, 1)->running);
    assert_int_equal(mini.inits, 1);
    /* Without PROTOCOL_FEATURES negotiated, a kicked ring is enabled. */
    assert_true(vu_dev_queue(dev, 1)->enabled);
    /* Ring addresses outside memory: the queue does not start. */
    struct vu_vring_state num0 = { 0, 64 };
    struct vu_vring_addr a0 = { .index = 0, .desc_user_addr = 0x1000,
                                .avail_user_addr = 0x2000, .used_user_addr = 0x3000 };
    uint64_t idx0 = 0;
    assert_int_equal(h_ack(&h, VU_SET_VRING_NUM, &num0, sizeof(num0), NULL, 0), 0);
    assert_int_equal(h_ack(&h, VU_SET_VRING_ADDR, &a0, sizeof(a0), NULL, 0), 0);
    assert_int_equal(h_ack(&h, VU_SET_VRING_KICK, &idx0, 8, &h.call, 1), EFAULT);
    assert_false(vu_dev_queue(dev, 0)->running);
    assert_int_equal(mini.inits, 2);
    assert_int_equal(mini.finis, 1);   /* undone */

    /* Queue 1 ran on the second loop. */
    assert_ptr_equal(vu_dev_queue(dev, 1)->loop, g_loops[1]);
    vu_dev_destroy(dev);
    assert_int_equal(mini.finis, 2);
    close(h.sock);
    close(h.kick);
    close(h.call);
    guest_destroy(&h.g);
}

/* A device model's state lives in the device (priv_size): zeroed, handed to
 * every op as ctx (vblk and vnet run on it), freed with the device; its
 * features come from the config, so one static const ops table serves
 * devices that offer different ones. */
static void test_device_config_and_priv(void **state)
{
    static const struct vu_dev_ops ops = { .queue_init = mini_queue_init };
    struct mini mini = { 0 };
    struct vu_dev_config cfg = {
        .name = "priv", .num_queues = 1, .ops = &ops, .loops = g_loops, .nloops = 1,
        .priv_size = sizeof(struct mini), .features = 1ull << VIRTIO_F_VERSION_1,
    };
    struct vu_dev *a, *b;
    struct mini *pa;

    (void)state;
    /* Either the program's ctx or the device's own state, not both. */
    cfg.ctx = &mini;
    assert_int_equal(vu_dev_create(&cfg, &a), -EINVAL);
    cfg.ctx = NULL;
    assert_int_equal(vu_dev_create(&cfg, &a), 0);
    pa = vu_dev_priv(a);
    assert_non_null(pa);
    assert_int_equal(pa->inits, 0);
    assert_true(vu_dev_features(a) == 1ull << VIRTIO_F_VERSION_1);
    cfg.features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
    cfg.priv_size = 0;
    cfg.ctx = &mini;
    assert_int_equal(vu_dev_create(&cfg, &b), 0);
    assert_null(vu_dev_priv(b));
    assert_true(vu_dev_features(b) == ((1ull << VIRTIO_F_VERSION_1) |
                                       (1ull << VIRTIO_RING_F_EVENT_IDX)));
    assert_true(vu_dev_features(a) == 1ull << VIRTIO_F_VERSION_1);
    vu_dev_destroy(b);
    vu_dev_destroy(a);
}

/* A device model's create (vblk_create, vnet_create) joins the program's
 * part of the config to the model's: the program's name, socket, loops and
 * ring format stay; what it says of the model's part is replaced, the
 * model's state lives in the device, and vu_dev_destroy frees both. */
static void test_device_create_model(void **state)
{
    static const struct vu_dev_ops ops = { .queue_init = mini_queue_init };
    static const struct vu_dev_ops other = { .get_config = NULL };
    struct mini mini = { 0 };
    struct vu_dev_config prog = {
        .name = "model", .loops = g_loops, .nloops = 1, .packed = true,
        /* the model's part, ignored: */
        .ops = &other, .ctx = &mini, .features = 1ull << VIRTIO_RING_F_EVENT_IDX,
        .num_queues = 7,
    };
    struct vu_model m = {
        .ops = &ops, .priv_size = sizeof(struct mini),
        .features = 1ull << VIRTIO_F_VERSION_1, .num_queues = 3, .queue_num_reply = 1,
    };
    struct vu_dev *d;
    struct mini *p;

    (void)state;
    assert_int_equal(vu_dev_create_model(&prog, &m, &d), 0);
    assert_string_equal(vu_dev_name(d), "model");
    assert_true(vu_dev_features(d) == 1ull << VIRTIO_F_VERSION_1);
    assert_int_equal(vu_dev_num_queues(d), 3);
    p = vu_dev_priv(d);
    assert_non_null(p);
    assert_int_equal(p->inits, 0);
    vu_dev_destroy(d);
    /* The program's part is still checked: no loops, no device. */
    prog.nloops = 0;
    assert_int_equal(vu_dev_create_model(&prog, &m, &d), -EINVAL);
    prog.nloops = 1;
    m.num_queues = 0;
    assert_int_equal(vu_dev_create_model(&prog, &m, &d), -EINVAL);
}

/* ---- a hostile frontend (issue 17) ------------------------------------ */

/* The frontend shrinks guest memory under a running ring and kicks: the
 * worker's access faults (SIGBUS); the device breaks, the process lives. */
static void test_shrink_under_ring(void **state)
{
    struct h_dev *h = *state;
    struct h_req req;
    int i;

    h_start(h, F(VIRTIO_F_VERSION_1));
    h_scratch_reset(h);
    h_blk_post(h, 0, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, false, &req);
    /* From here the test must not touch guest memory itself either. */
    assert_int_equal(ftruncate(h->g.fd, 0), 0);
    h_kick(h);
    for (i = 0; i < 200 && !vu_dev_broken(h->dev); i++)
        usleep(10000);
    assert_true(vu_dev_broken(h->dev));
    assert_true(h_get_u64(h, VU_GET_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* Still serving messages; a reset and a new memory table recover. */
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
    h_reconnect(h);
    assert_false(vu_dev_broken(h->dev));
}

/* Six bytes of a header, then silence: vu_dev_process() returns at once;
 * the rest (with its fd in a later piece) completes the message. */
static void test_message_in_pieces(void **state)
{
    struct h_dev *h = *state;
    struct {
        struct vu_hdr hdr;
        uint64_t u64;
    } __attribute__((packed)) msg = { { VU_SET_VRING_CALL, VU_VERSION | VU_FLAG_NEED_REPLY, 8 }, 0 };
    int ev = eventfd(0, EFD_CLOEXEC);
    struct vu_msg reply;
    int64_t t0;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    raw_send(h->sock, &msg, 6, NULL, 0);
    t0 = now_ms();
    assert_int_equal(vu_dev_process(h->dev), 0);
    assert_true(now_ms() - t0 < 2000);
    assert_true(h_no_reply(h));
    raw_send(h->sock, (uint8_t *)&msg + 6, 8, &ev, 1);
    assert_int_equal(vu_dev_process(h->dev), 0);
    assert_true(h_no_reply(h));
    assert_int_equal(vu_dev_queue(h->dev, 0)->call_fd, -1);
    raw_send(h->sock, (uint8_t *)&msg + 14, sizeof(msg) - 14, NULL, 0);
    assert_int_equal(vu_dev_process(h->dev), 0);
    h_recv(h, &reply);
    assert_int_equal(reply.hdr.request, VU_SET_VRING_CALL);
    assert_int_equal(reply.p.u64, 0);
    assert_true(vu_dev_queue(h->dev, 0)->call_fd >= 0);
    /* Nothing read in between: no call at all returns early or blocks. */
    t0 = now_ms();
    assert_int_equal(vu_dev_process(h->dev), 0);
    assert_true(now_ms() - t0 < 2000);
    close(ev);
}

/* A message dripped a byte at a time has msg_timeout_ms from its first
 * byte; a whole message never arms the timer. */
static void test_message_deadline(void **state)
{
    static const struct vu_dev_ops ops = {
        .queue_init = mini_queue_init,
    };
    struct mini mini = { 0 };
    struct vu_dev_config cfg = {
        .name = "slow", .num_queues = 1, .ops = &ops, .ctx = &mini,
        .features = 1ull << VIRTIO_F_VERSION_1,
        .loops = g_loops, .nloops = 1, .msg_timeout_ms = 1000,
    };
    struct vu_hdr hdr = { .request = VU_GET_FEATURES, .flags = VU_VERSION };
    struct pollfd p = { .events = POLLIN };
    struct vu_dev *dev;
    int sv[2], before = count_open_fds();
    int64_t t0;

    (void)state;
    assert_int_equal(vu_dev_create(&cfg, &dev), 0);
    assert_int_equal(vu_dev_timer_fd(dev), -1);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(dev, sv[1]), 0);
    p.fd = vu_dev_timer_fd(dev);
    assert_true(p.fd >= 0);

    t0 = now_ms();
    for (unsigned i = 0; i < 3; i++) {
        raw_send(sv[0], (uint8_t *)&hdr + i, 1, NULL, 0);
        assert_int_equal(vu_dev_process(dev), 0);
        assert_int_equal(poll(&p, 1, 100), 0);   /* each byte does not restart it */
    }
    assert_int_equal(poll(&p, 1, 3000), 1);
    assert_true(now_ms() - t0 >= 950 && now_ms() - t0 < 3000);
    assert_int_equal(vu_dev_timeout(dev), -ETIMEDOUT);
    vu_dev_disconnect(dev);
    assert_int_equal(vu_dev_timer_fd(dev), -1);
    close(sv[0]);

    /* Whole messages: answered, no timer. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(dev, sv[1]), 0);
    p.fd = vu_dev_timer_fd(dev);
    raw_send(sv[0], &hdr, sizeof(hdr), NULL, 0);
    assert_int_equal(vu_dev_process(dev), 0);
    assert_int_equal(poll(&p, 1, 1300), 0);
    assert_int_equal(vu_dev_timeout(dev), 0);
    vu_dev_destroy(dev);
    close(sv[0]);
    assert_int_equal(count_open_fds(), before);
}

/* A frontend that never reads its replies is dropped; the backend never
 * waits for room in the socket. */
static void test_replies_never_read(void **state)
{
    struct h_dev *h = *state;
    struct vu_hdr hdr = { .request = VU_GET_FEATURES, .flags = VU_VERSION };
    int r = 0, i;

    for (i = 0; i < 100000 && r == 0; i++) {
        int64_t t0 = now_ms();
        raw_send(h->sock, &hdr, sizeof(hdr), NULL, 0);
        r = vu_dev_process(h->dev);
        assert_true(now_ms() - t0 < 2000);
    }
    assert_true(r < 0);
    h_reconnect(h);
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "the backend blocked on its backend channel\n";
    if (write(2, m, sizeof(m) - 1) < 0)
        _exit(3);
    _exit(1);
}

/* SET_BACKEND_REQ_FD with a socket that is full and never drained: a
 * capacity change neither blocks nor fails; the notification is dropped. */
static void test_backend_channel_undrained(void **state)
{
    struct h_dev *h = *state;
    uint64_t pf = F(VU_PF_BACKEND_REQ) | F(VU_PF_REPLY_ACK) | F(VU_PF_CONFIG);
    int sv[2], sndbuf = 4096;
    char junk[256] = { 0 };
    int64_t t0;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    while (send(sv[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
        ;
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
    close(sv[1]);
    signal(SIGALRM, on_alarm);
    alarm(10);
    t0 = now_ms();
    for (unsigned i = 1; i <= 3; i++)
        assert_int_equal(vblk_set_capacity(h->blk, (2u << 20) * i), 0);
    alarm(0);
    assert_true(now_ms() - t0 < 2000);
    assert_int_not_equal(h_get_u64(h, VU_GET_FEATURES), 0);
    close(sv[0]);
}

/* Kick, call and err fds must be eventfds. */
static void test_vring_fds_must_be_eventfds(void **state)
{
    struct h_dev *h = *state;
    int pipefd[2], sp[2], bad[5], ev = eventfd(0, EFD_CLOEXEC), before;
    const uint32_t reqs[] = { VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR };
    uint64_t v = 0;

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    close(pipefd[1]);                     /* a pipe whose writer is gone */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    close(sp[1]);                         /* a socket whose peer is gone */
    bad[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
    bad[1] = pipefd[0];
    bad[2] = sp[0];
    bad[3] = memfd("sluice-notev", 4096);
    bad[4] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);   /* anon inode, not eventfd */
    before = count_open_fds();
    for (unsigned r = 0; r < 3; r++)
        for (unsigned i = 0; i < 5; i++) {
            assert_true(bad[i] >= 0);
            if (h_ack(h, reqs[r], &v, 8, &bad[i], 1) != EBADF)
                fail_msg("%s with fd kind %u was not refused", vu_request_name(reqs[r]), i);
        }
    assert_int_equal(count_open_fds(), before);
    assert_int_equal(vu_dev_queue(h->dev, 0)->kick_fd, -1);
    assert_int_equal(vu_dev_queue(h->dev, 0)->call_fd, -1);
    assert_int_equal(vu_dev_queue(h->dev, 0)->err_fd, -1);
    for (unsigned r = 0; r < 3; r++)
        assert_int_equal(h_ack(h, reqs[r], &v, 8, &ev, 1), 0);
    for (unsigned i = 0; i < 5; i++)
        close(bad[i]);
    close(ev);
}

/* Smaller deviations, each a decision (README "Guest input is untrusted"). */
static void test_hostile_deviations(void **state)
{
    struct h_dev *h = *state;
    struct vu_vring_state s;
    struct vu_single_mem_region r = { 0 };
    int fd = memfd("sluice-dup", 65536), other = memfd("sluice-dup2", 65536);
    const uint32_t bad_sizes[] = { 3, 6, 100, 1000, 1023 };

    /* Split ring sizes are powers of two. */
    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        s = ST(0, bad_sizes[i]);
        assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), EINVAL);
    }
    assert_int_equal(vu_dev_queue(h->dev, 0)->num, 0);
    s = ST(0, 256);
    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);

    /* ADD_MEM_REG of the same addresses over other memory is refused; the
     * very same region again only counts a reference. */
    r.region = (struct vu_mem_region_desc){ 0x10000000, 65536, 0x7f0010000000ull, 0 };
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &fd, 1), 0);
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &other, 1), EEXIST);
    assert_false(mapped("sluice-dup2"));
    assert_int_equal(h_ack(h, VU_ADD_MEM_REG, &r, sizeof(r), &fd, 1), 0);
    assert_int_equal(count_mappings("sluice-dup"), 1);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
    assert_false(mapped("sluice-dup"));

    /* The frontend cannot set NEEDS_RESET: the bit is dropped (a status
     * read back and written again carries it); bits beyond the byte are
     * refused. */
    uint64_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_NEEDS_RESET;
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE);
    assert_false(vu_dev_broken(h->dev));
    st = 0x100 | VIRTIO_CONFIG_S_DRIVER;
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), EINVAL);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE);
    st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    assert_int_equal(h_ack(h, VU_SET_STATUS, &st, 8, NULL, 0), 0);
    assert_int_equal(h_get_u64(h, VU_GET_STATUS), st);

    /* GET_VRING_BASE of a queue that never started: its base, in full. */
    struct vu_msg m;
    s = ST(0, 5);
    assert_int_equal(h_ack(h, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
    s = ST(0, 0);
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.hdr.size, sizeof(struct vu_vring_state));
    assert_int_equal(m.p.state.index, 0);
    assert_int_equal(m.p.state.num, 5);
    /* GET_CONFIG past the config space: the protocol's error, a reply
     * without payload; inside it but past the device's fields: zeroes. */
    struct vu_config c = { .offset = VU_MAX_CONFIG_SIZE - 8, .size = 16 };
    h_call(h, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 16, &m);
    assert_int_equal(m.hdr.size, 0);
    c.offset = 200;
    h_call(h, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 16, &m);
    assert_int_equal(m.hdr.size, VU_CONFIG_HDR_SIZE + 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(m.p.config.region[i], 0);
    close(fd);
    close(other);
}

/* REM_MEM_REG of the region holding a running ring is refused; once the
 * ring is stopped it goes. */
static void test_rem_mem_reg_under_running_ring(void **state)
{
    struct h_dev *h = *state;
    struct vu_single_mem_region r = { 0 };
    struct vu_vring_state s = ST(0, 0);
    struct vu_msg m;
    uint8_t buf[512];

    h_start(h, F(VIRTIO_F_VERSION_1));
    r.region = guest_region(&h->g, 0, H_GUEST_SIZE / 2);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), EBUSY);
    assert_true(vu_dev_queue(h->dev, 0)->running);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, sizeof(buf), NULL), VIRTIO_BLK_S_OK);
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(h_ack(h, VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
}

static void test_listen_accept(void **state)
{
    static const struct vu_dev_ops ops = {
        .queue_init = mini_queue_init,
    };
    struct mini mini = { 0 };
    char path[108];
    struct vu_dev_config cfg = {
        .name = "listen", .socket_path = path, .num_queues = 1, .ops = &ops, .ctx = &mini,
        .features = 1ull << VIRTIO_F_VERSION_1,
        .loops = g_loops, .nloops = 1,
    };
    struct vu_dev *dev;
    struct stat st;
    int c1, c2, fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/sluice-unit-%d.sock", getpid());
    /* A regular file is not replaced. */
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(fd);
    assert_int_equal(vu_dev_create(&cfg, &dev), 0);
    assert_int_equal(vu_dev_listen(dev), -ENOTSOCK);
    unlink(path);
    assert_int_equal(vu_dev_listen(dev), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A second device on the same path is refused and leaves it alone. */
    struct vu_dev *dev2;
    cfg.name = "listen2";
    assert_int_equal(vu_dev_create(&cfg, &dev2), 0);
    assert_int_equal(vu_dev_listen(dev2), -EADDRINUSE);
    assert_int_equal(vu_dev_listen_fd(dev2), -1);
    vu_dev_destroy(dev2);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* Its probe (connected, then closed at once) reached the owner. */
    fd = vu_dev_accept(dev);
    assert_true(fd >= 0);
    vu_dev_disconnect(dev);
    assert_int_equal(usock_connect(path, 0, &c1), 0);
    fd = vu_dev_accept(dev);
    assert_true(fd >= 0);
    assert_int_equal(vu_dev_conn_fd(dev), fd);
    /* A second frontend is refused and closed. */
    assert_int_equal(usock_connect(path, 0, &c2), 0);
    assert_int_equal(vu_dev_accept(dev), -EBUSY);
    char b;
    assert_int_equal(recv(c2, &b, 1, 0), 0);   /* EOF */
    /* The first one talks. */
    struct vu_hdr hdr = { VU_GET_QUEUE_NUM, VU_VERSION, 0 };
    struct vu_msg m;
    assert_int_equal(vu_msg_send(c1, &hdr, NULL, NULL, 0), 0);
    assert_int_equal(vu_dev_process(dev), 0);
    assert_int_equal(vu_msg_recv(c1, &m), 0);
    assert_int_equal(m.p.u64, 1);
    close(c1);
    close(c2);
    /* Destroy removes the socket file. */
    vu_dev_destroy(dev);
    assert_int_equal(stat(path, &st), -1);
}

static int group_setup(void **state)
{
    (void)state;
    if (uloop_thread_start("test-backend-0", 256, &g_loops[0]) < 0 ||
        uloop_thread_start("test-backend-1", 256, &g_loops[1]) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    uloop_thread_stop(g_loops[0]);
    uloop_thread_stop(g_loops[1]);
    return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_get_features),
        cmocka_unit_test(test_features_readonly_multiqueue),
        T(test_protocol_features),
        T(test_packed_negotiation),
        T(test_set_features),
        T(test_set_features_applied_to_queue),
        T(test_queue_num_and_mem_slots),
        T(test_owner_gating),
        T(test_mem_table_fd_mismatch),
        T(test_add_rem_mem_reg),
        T(test_truncated_messages),
        T(test_oversized_and_bad_version),
        T(test_too_many_fds),
        T(test_short_payloads),
        T(test_unknown_request),
        T(test_request_table_checks),
        T(test_vring_limits),
        T(test_get_vring_base_bad_index),
        T(test_replies_on_refused_queries),
        T(test_get_config),
        cmocka_unit_test(test_get_config_readonly),
        T(test_get_inflight_fd),
        T(test_full_session),
        T(test_inflight_smaller_than_ring),
        T(test_mem_table_change_while_running),
        T(test_reset_owner),
        T(test_disconnect),
        T(test_status),
        T(test_backend_channel_config_change),
        cmocka_unit_test(test_minimal_device),
        cmocka_unit_test(test_device_config_and_priv),
        cmocka_unit_test(test_device_create_model),
        cmocka_unit_test(test_listen_accept),
        T(test_shrink_under_ring),
        T(test_message_in_pieces),
        cmocka_unit_test(test_message_deadline),
        T(test_replies_never_read),
        T(test_backend_channel_undrained),
        T(test_vring_fds_must_be_eventfds),
        T(test_hostile_deviations),
        T(test_rem_mem_reg_under_running_ring),
    };
    log_init("test-backend", false, getenv("SLUICE_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
