/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/frontend.c: the frontend protocol against the real
 * backend (a vblk vu_dev over the bdev engine on a temporary file), over a
 * socketpair and over a listening socket (reconnect). The backend's control
 * loop runs on its own thread, as in sluiced. */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/usock.h"
#include "harness.h"
#include "vhost/frontend.h"
#include "vq-int.h"      /* vhost/ private: struct vq */

#define F(x) (1ull << (x))

static struct uloop *g_loop;

struct bt {
    struct h_dev h;
    pthread_t thr;
    atomic_bool stop;
    bool listening;      /* accept new connections (reconnect test) */
    int lfd;             /* or accept on this socket and attach (-1: not) */
};

/* The backend's control thread: accept (when listening) and process. */
static void *backend_thread(void *arg)
{
    struct bt *b = arg;

    while (!atomic_load(&b->stop)) {
        struct pollfd p[2];
        int n = 0, cfd = vu_dev_conn_fd(b->h.dev);
        if (cfd >= 0)
            p[n++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
        else if (b->lfd >= 0)
            p[n++] = (struct pollfd){ .fd = b->lfd, .events = POLLIN };
        else if (b->listening)
            p[n++] = (struct pollfd){ .fd = vu_dev_listen_fd(b->h.dev), .events = POLLIN };
        if (n == 0 || poll(p, (nfds_t)n, 50) <= 0)
            continue;
        if (cfd >= 0) {
            if (vu_dev_process(b->h.dev) < 0)
                vu_dev_disconnect(b->h.dev);
        } else if (b->lfd >= 0) {
            int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0 && vu_dev_attach(b->h.dev, c) < 0)
                close(c);
        } else {
            (void)vu_dev_accept(b->h.dev);
        }
    }
    return NULL;
}

static void bt_start(struct bt *b)
{
    atomic_store(&b->stop, false);
    assert_int_equal(pthread_create(&b->thr, NULL, backend_thread, b), 0);
}

static void bt_stop(struct bt *b)
{
    atomic_store(&b->stop, true);
    pthread_join(b->thr, NULL);
}

static int setup(void **state)
{
    struct bt *b = calloc(1, sizeof(*b));
    h_create(&b->h, &g_loop, 1, NULL);
    b->lfd = -1;
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    struct bt *b = *state;
    h_destroy(&b->h);
    free(b);
    return 0;
}

static struct vuf *connect_pair(struct bt *b)
{
    struct vuf *f = NULL;
    int fd = dup(b->h.sock);

    assert_true(fd >= 0);
    bt_start(b);
    assert_int_equal(vuf_connect_fd(fd, 2000, &f), 0);
    return f;
}

static struct vuf_region whole(struct h_dev *h)
{
    return (struct vuf_region){ .gpa = h->g.gpa, .size = h->g.size, .hva = h->g.base,
                                .fd = h->g.fd, .offset = 0 };
}

static struct vuf_vring ring0(struct h_dev *h)
{
    return (struct vuf_vring){ .num = H_QNUM, .desc_gpa = h->r.desc_gpa,
                               .avail_gpa = h->r.avail_gpa, .used_gpa = h->r.used_gpa,
                               .base = h->r.avail_idx, .kick_fd = h->kick, .call_fd = h->call };
}

/* Bring the device up as a transport does on FEATURES_OK + DRIVER_OK. */
static void bring_up(struct bt *b, struct vuf *f)
{
    struct vuf_region r = whole(&b->h);
    struct vuf_vring v = ring0(&b->h);

    assert_int_equal(vuf_set_features(f, F(VIRTIO_F_VERSION_1)), 0);
    b->h.features = F(VIRTIO_F_VERSION_1);
    assert_int_equal(vuf_set_mem_table(f, &r, 1), 0);
    assert_int_equal(vuf_vring_start(f, 0, &v), 0);
    b->h.used_seen = tring_used_idx(&b->h.r);
}

static void read_sector_ok(struct bt *b, uint64_t sector)
{
    uint8_t buf[512];
    uint8_t st = h_blk(&b->h, VIRTIO_BLK_T_IN, sector, NULL, 0, buf, sizeof(buf), NULL);

    assert_int_equal(st, VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], pattern_byte(H_FILE_SEED, sector * 512 + i));
}

static void test_handshake_and_config(void **state)
{
    struct bt *b = *state;
    struct vuf *f = connect_pair(b);
    uint64_t cap = 0;
    uint32_t segmax = 0;

    assert_true(vuf_device_features(f) & F(VIRTIO_F_VERSION_1));
    assert_true(vuf_device_features(f) & F(VIRTIO_BLK_F_FLUSH));
    assert_false(vuf_device_features(f) & F(30));           /* PROTOCOL_FEATURES hidden */
    assert_true(vuf_protocol_features(f) & F(VU_PF_REPLY_ACK));
    assert_true(vuf_protocol_features(f) & F(VU_PF_CONFIG));
    assert_false(vuf_protocol_features(f) & F(VU_PF_BACKEND_REQ)); /* not asked for */
    assert_int_equal(vuf_queue_num(f), 1);
    assert_int_equal(vuf_get_config(f, offsetof(struct virtio_blk_config, capacity), &cap, 8), 0);
    assert_int_equal(cap, b->h.size / 512);
    assert_int_equal(vuf_get_config(f, offsetof(struct virtio_blk_config, seg_max), &segmax, 4), 0);
    assert_int_equal(segmax, VBLK_SEG_MAX);
    assert_int_equal(vuf_get_config(f, 0, &cap, 0), -EINVAL);
    assert_int_equal(vuf_get_config(f, 0, &cap, VU_MAX_CONFIG_SIZE + 1), -EINVAL);
    /* A feature the backend does not offer. */
    assert_int_equal(vuf_set_features(f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED)), -EINVAL);
    bt_stop(b);
    vuf_destroy(f);
}

static void test_io_stop_reset(void **state)
{
    struct bt *b = *state;
    struct vuf *f = connect_pair(b);
    uint32_t base = 0xffff;

    bring_up(b, f);
    read_sector_ok(b, 0);
    read_sector_ok(b, 7);
    assert_int_equal(vuf_vring_stop(f, 0, &base), 0);
    assert_int_equal(base, b->h.r.avail_idx);
    assert_false(vu_dev_queue(b->h.dev, 0)->running);
    /* Restart from that base, serve again, then a device reset. */
    {
        struct vuf_vring v = ring0(&b->h);
        v.base = base;
        assert_int_equal(vuf_vring_start(f, 0, &v), 0);
    }
    read_sector_ok(b, 3);
    assert_int_equal(vuf_reset(f), 0);
    assert_false(vu_dev_queue(b->h.dev, 0)->running);
    bt_stop(b);
    vuf_destroy(f);
}

/* A packed ring (any size): the event areas are 4 bytes each (one ending
 * at the last byte of guest memory is fine, where a split used ring would
 * not fit), the backend runs the queue packed from the packed base, and
 * GET_VRING_BASE returns both positions. */
static void test_packed_ring(void **state)
{
    struct bt *b = *state;
    struct vuf *f;
    struct vuf_region r;
    struct vuf_vring v;
    const struct vq *vq;
    uint32_t base = 0;

    h_destroy(&b->h);
    h_create(&b->h, &g_loop, 1, &(struct h_opts){ .packed = true });
    f = connect_pair(b);
    r = whole(&b->h);
    assert_true(vuf_device_features(f) & F(VIRTIO_F_RING_PACKED));
    assert_int_equal(vuf_set_features(f, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_PACKED)), 0);
    assert_int_equal(vuf_set_mem_table(f, &r, 1), 0);
    v = (struct vuf_vring){ .num = 100, .packed = true, .desc_gpa = h_alloc(&b->h, 1600, 16),
                            .avail_gpa = h_alloc(&b->h, 4, 4), .used_gpa = b->h.g.size - 4,
                            .base = VUF_PACKED_BASE0, .kick_fd = b->h.kick, .call_fd = b->h.call };
    assert_int_equal(vuf_vring_start(f, 0, &v), 0);
    vq = vu_dev_queue(b->h.dev, 0);
    assert_true(vq->running);
    assert_true(vq->packed);
    assert_int_equal(vq->num, 100);
    assert_true(vq->base == VUF_PACKED_BASE0);
    assert_int_equal(vuf_vring_stop(f, 0, &base), 0);
    assert_true(base == VUF_PACKED_BASE0);
    /* The same layout as a split ring: its used ring does not fit. */
    v.packed = false;
    v.num = 128;
    v.base = 0;
    assert_int_equal(vuf_vring_start(f, 0, &v), -EINVAL);
    bt_stop(b);
    vuf_destroy(f);
}

static void test_bad_ring_address(void **state)
{
    struct bt *b = *state;
    struct vuf *f = connect_pair(b);
    struct vuf_region r = whole(&b->h);
    struct vuf_vring v = ring0(&b->h);

    assert_int_equal(vuf_set_features(f, F(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(vuf_set_mem_table(f, &r, 1), 0);
    v.used_gpa = b->h.g.size - 4;            /* runs past the table */
    assert_int_equal(vuf_vring_start(f, 0, &v), -EINVAL);
    v = ring0(&b->h);
    v.num = 100;                             /* not a power of two */
    assert_int_equal(vuf_vring_start(f, 0, &v), -EINVAL);
    assert_int_equal(vuf_set_mem_table(f, &r, 0), -EINVAL);
    bt_stop(b);
    vuf_destroy(f);
}

static void test_unreachable(void **state)
{
    struct vuf *f = NULL;
    char path[64];
    int fd;

    (void)state;
    assert_int_equal(vuf_connect("/nonexistent/sluice-vuf.sock", 500, &f), -ENOENT);
    /* A socket file nobody listens on. */
    snprintf(path, sizeof(path), "/tmp/sluice-vuf-%d.sock", getpid());
    unlink(path);
    assert_int_equal(usock_listen(path, 1, 0, &fd), 0);
    close(fd);     /* the file stays: a stale socket */
    assert_int_equal(vuf_connect(path, 500, &f), -ECONNREFUSED);
    unlink(path);
    assert_null(f);
}

/* The backend dies with one request in flight and one completed out of
 * order; a new backend comes up on the same socket. vuf_reconnect() replays
 * the session and hands over the inflight region: the new backend runs the
 * lost request (and only it), and the ring goes on. Without the region the
 * ring would restart at the used index and run the completed one again. */
static void test_reconnect_inflight(void **state)
{
    struct bt *b = *state;
    struct h_dev *h = &b->h;
    char path[64];
    struct vuf_region reg = whole(h);
    struct vuf_vring v = ring0(h);
    struct vq_inflight_region *ifl;
    size_t ifl_len = vq_inflight_queue_size(H_QNUM);
    struct h_req a, c;
    struct vuf *f = NULL;
    struct vring_used *used;
    uint16_t u;
    uint8_t *data;

    snprintf(path, sizeof(path), "/tmp/sluice-vuf-rc-%d.sock", getpid());
    unlink(path);
    assert_int_equal(usock_listen(path, 4, 0, &b->lfd), 0);
    vu_dev_disconnect(h->dev);              /* the harness's socketpair */
    bt_start(b);
    assert_int_equal(vuf_connect(path, 2000, &f), 0);
    assert_true(vuf_protocol_features(f) & F(VU_PF_INFLIGHT_SHMFD));
    assert_int_equal(vuf_inflight_fd(f), -1);
    assert_int_equal(vuf_set_features(f, F(VIRTIO_F_VERSION_1)), 0);
    h->features = F(VIRTIO_F_VERSION_1);
    assert_int_equal(vuf_set_mem_table(f, &reg, 1), 0);
    assert_int_equal(vuf_get_inflight(f, 0, H_QNUM), -EINVAL);
    assert_int_equal(vuf_get_inflight(f, 1, H_QNUM), 0);
    assert_true(vuf_inflight_fd(f) >= 0);
    assert_int_equal(vuf_vring_start(f, 0, &v), 0);
    read_sector_ok(b, 0);

    /* The backend goes away (its queue stops; nothing of it is left). */
    bt_stop(b);
    vu_dev_disconnect(h->dev);
    u = tring_used_idx(&h->r);
    /* The driver had made two reads available, A (head 40) then C (head
     * 50); the dead backend took both and completed only C. */
    h_scratch_reset(h);
    h_blk_post(h, 40, VIRTIO_BLK_T_IN, 3, NULL, 0, 512, false, &a);
    h_blk_post(h, 50, VIRTIO_BLK_T_IN, 4, NULL, 0, 512, false, &c);
    ifl = mmap(NULL, ifl_len, PROT_READ | PROT_WRITE, MAP_SHARED, vuf_inflight_fd(f), 0);
    assert_true(ifl != MAP_FAILED);
    assert_int_equal(ifl->desc_num, H_QNUM);
    ifl->desc[40].inflight = 1;
    ifl->desc[40].counter = 1000;
    ifl->desc[50].counter = 1001;
    *(uint8_t *)guest_ptr(&h->g, c.status_gpa) = VIRTIO_BLK_S_OK;
    used = guest_ptr(&h->g, h->r.used_gpa);
    used->ring[u % H_QNUM].id = 50;
    used->ring[u % H_QNUM].len = 513;
    __atomic_store_n(&used->idx, (uint16_t)(u + 1), __ATOMIC_RELEASE);
    ifl->used_idx = (uint16_t)(u + 1);

    /* A new backend on the same socket. */
    bt_start(b);
    assert_int_equal(vuf_reconnect(f), 0);
    assert_true(h_wait_used(h, (uint16_t)(u + 2), 5000));
    assert_int_equal(tring_used(&h->r, (uint16_t)(u + 1)).id, 40);
    assert_int_equal(h_req_status(h, &a), VIRTIO_BLK_S_OK);
    data = guest_ptr(&h->g, a.in_gpa);
    for (unsigned i = 0; i < 512; i++)
        assert_int_equal(data[i], pattern_byte(H_FILE_SEED, 3 * 512 + i));
    assert_int_equal(ifl->desc[40].inflight, 0);
    /* C was not run again, and the ring goes on after both. */
    assert_false(h_wait_used(h, (uint16_t)(u + 3), 200));
    read_sector_ok(b, 7);
    assert_int_equal(tring_used_idx(&h->r), (uint16_t)(u + 3));

    /* A device reset drops the region; the next start gets a fresh one. */
    assert_int_equal(vuf_reset(f), 0);
    assert_int_equal(vuf_inflight_fd(f), -1);
    bt_stop(b);
    munmap(ifl, ifl_len);
    vuf_destroy(f);
    close(b->lfd);
    b->lfd = -1;
    unlink(path);
}

/* A peer that never answers: the call times out instead of hanging. */
static void test_timeout(void **state)
{
    struct vuf *f = NULL;
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(vuf_connect_fd(sv[0], 200, &f), -ETIMEDOUT);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_stop_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ring_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_inflight, setup, teardown),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_timeout),
    };
    int r;

    log_init("test-frontend", false, LOG_LVL_ERR);
    assert_int_equal(uloop_thread_start("test-w0", 64, &g_loop), 0);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    uloop_thread_stop(g_loop);
    return r;
}
