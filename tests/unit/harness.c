/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"
#include "bdev-ops.h"
#include "core/io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

/* ---- device ----------------------------------------------------------- */

static void attach_pair(struct h_dev *h)
{
    struct timeval tv = { .tv_sec = 2 };
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vu_dev_attach(h->dev, sv[1]), 0);
    assert_int_equal(vu_dev_conn_fd(h->dev), sv[1]);
    h->sock = sv[0];
    /* A missing reply fails the test instead of hanging it. */
    setsockopt(h->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void h_create(struct h_dev *h, struct uloop **loops, unsigned nloops, const struct h_opts *o)
{
    struct h_opts def = { 0 };
    struct vblk_config bc = { 0 };
    struct vu_dev_config vc = { 0 };

    if (!o)
        o = &def;
    memset(h, 0, sizeof(*h));
    h->sock = h->kick = h->call = -1;
    h->size = o->size ? o->size : (1u << 20);
    make_temp_file(h->path, sizeof(h->path), h->size, H_FILE_SEED);
    assert_int_equal(bdev_open(h->path, o->readonly ? BDEV_RDONLY : 0, &h->bd), 0);
    assert_true(bdev_get_info(h->bd)->size == h->size);

    bc.capacity = h->size;
    bc.blk_size = bdev_get_info(h->bd)->logical_block;
    bc.readonly = o->readonly;
    bc.num_queues = o->num_queues ? o->num_queues : 1;
    bc.serial = o->serial;
    bc.no_poll = o->no_poll;
    bc.limiter = o->limiter;
    bc.io = o->io ? o->io : &bdev_vblk_ops;   /* what sluiced uses */
    bc.io_ctx = o->io ? o->io_ctx : h->bd;
    vc.name = "test-blk";
    vc.loops = loops;
    vc.nloops = nloops;
    vc.packed = o->packed;
    assert_int_equal(vblk_create(&bc, &vc, &h->blk), 0);
    h->dev = vblk_vu_dev(h->blk);
    assert_int_equal(vu_dev_conn_fd(h->dev), -1);
    attach_pair(h);

    guest_create(&h->g, o->guest_name ? o->guest_name : "sluice-test-guest", H_GUEST_SIZE,
                 H_GPA0, H_UVA0);
    tring_init(&h->r, &h->g, H_QNUM);
    h->scratch = h->g.next;
    h->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(h->kick >= 0 && h->call >= 0);
}

void h_destroy(struct h_dev *h)
{
    vu_dev_destroy(vblk_vu_dev(h->blk));
    bdev_close(h->bd);
    if (h->sock >= 0)
        close(h->sock);
    if (h->kick >= 0)
        close(h->kick);
    if (h->call >= 0)
        close(h->call);
    guest_destroy(&h->g);
    if (h->path[0])
        unlink(h->path);
    memset(h, 0, sizeof(*h));
}

void h_reconnect(struct h_dev *h)
{
    vu_dev_disconnect(h->dev);
    assert_int_equal(vu_dev_conn_fd(h->dev), -1);
    close(h->sock);
    attach_pair(h);
}

/* ---- messages --------------------------------------------------------- */

int h_send(struct h_dev *h, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
           const int *fds, unsigned nfds)
{
    struct vu_hdr hdr = { .request = req, .flags = flags, .size = size };

    assert_int_equal(vu_msg_send(h->sock, &hdr, payload, fds, nfds), 0);
    return vu_dev_process(h->dev);
}

void h_recv(struct h_dev *h, struct vu_msg *m)
{
    int r = vu_msg_recv(h->sock, m);

    if (r < 0)
        fail_msg("no reply from the backend: %s", strerror(-r));
    assert_int_equal(m->hdr.flags, VU_VERSION | VU_FLAG_REPLY);
}

bool h_no_reply(struct h_dev *h)
{
    char c;
    ssize_t n = recv(h->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

uint64_t h_ack(struct h_dev *h, uint32_t req, const void *payload, uint32_t size,
               const int *fds, unsigned nfds)
{
    struct vu_msg m;

    assert_int_equal(h_send(h, req, VU_VERSION | VU_FLAG_NEED_REPLY, payload, size, fds, nfds), 0);
    h_recv(h, &m);
    assert_int_equal(m.hdr.request, req);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    assert_int_equal(m.nfds, 0);
    assert_true(h_no_reply(h));
    return m.p.u64;
}

void h_call(struct h_dev *h, uint32_t req, const void *payload, uint32_t size, struct vu_msg *m)
{
    assert_int_equal(h_send(h, req, VU_VERSION, payload, size, NULL, 0), 0);
    h_recv(h, m);
    assert_int_equal(m->hdr.request, req);
    assert_true(h_no_reply(h));
}

uint64_t h_get_u64(struct h_dev *h, uint32_t req)
{
    struct vu_msg m;

    h_call(h, req, NULL, 0, &m);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    assert_int_equal(m.nfds, 0);
    return m.p.u64;
}

/* ---- bring-up --------------------------------------------------------- */

uint64_t h_set_mem_table(struct h_dev *h)
{
    struct vu_mem_table t = { .nregions = 2 };
    int fds[2] = { h->g.fd, h->g.fd };

    t.regions[0] = guest_region(&h->g, 0, H_GUEST_SIZE / 2);
    t.regions[1] = guest_region(&h->g, H_GUEST_SIZE / 2, H_GUEST_SIZE / 2);
    t.regions[1].userspace_addr += H_UVA_GAP;
    return h_ack(h, VU_SET_MEM_TABLE, &t, 8 + 2 * sizeof(t.regions[0]), fds, 2);
}

void h_start_vring(struct h_dev *h, uint16_t base)
{
    struct vu_vring_state num = { 0, H_QNUM }, st = { 0, base }, en = { 0, 1 };
    struct vu_vring_addr a = {
        .index = 0,
        .desc_user_addr = tring_desc_uva(&h->r),
        .avail_user_addr = tring_avail_uva(&h->r),
        .used_user_addr = tring_used_uva(&h->r),
    };
    uint64_t idx0 = 0;

    assert_int_equal(h_ack(h, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_CALL, &idx0, sizeof(idx0), &h->call, 1), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_KICK, &idx0, sizeof(idx0), &h->kick, 1), 0);
    assert_int_equal(h_ack(h, VU_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0), 0);
    assert_true(vu_dev_queue(h->dev, 0)->running);
    assert_true(vu_dev_queue(h->dev, 0)->enabled);
    h->used_seen = tring_used_idx(&h->r);
}

void h_start(struct h_dev *h, uint64_t features)
{
    uint64_t offered, pf, f = features | (1ull << VU_F_PROTOCOL_FEATURES);

    assert_int_equal(h_ack(h, VU_SET_OWNER, NULL, 0, NULL, 0), 0);
    offered = h_get_u64(h, VU_GET_FEATURES);
    assert_true((offered & f) == f);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    h->features = f;
    pf = h_get_u64(h, VU_GET_PROTOCOL_FEATURES);
    pf &= (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | (1ull << VU_PF_MQ) |
          (1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_INFLIGHT_SHMFD);
    assert_int_equal(h_ack(h, VU_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0), 0);
    assert_int_equal(h_set_mem_table(h), 0);
    h_start_vring(h, h->r.avail_idx);
}

/* ---- requests --------------------------------------------------------- */

void h_scratch_reset(struct h_dev *h)
{
    h->g.next = h->scratch;
}

uint64_t h_alloc(struct h_dev *h, uint32_t len, uint32_t align)
{
    return guest_alloc(&h->g, len ? len : 1, align);
}

uint16_t h_post(struct h_dev *h, uint16_t first, const struct h_seg *segs, unsigned n,
                bool indirect)
{
    struct tring *r = &h->r;

    if (indirect) {
        uint64_t t = h_alloc(h, n * 16, 16);
        struct vring_desc *tab = guest_ptr(&h->g, t);
        for (unsigned i = 0; i < n; i++) {
            tab[i].addr = segs[i].gpa;
            tab[i].len = segs[i].len;
            tab[i].flags = (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
                                      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
            tab[i].next = (uint16_t)(i + 1);
        }
        tring_desc(r, first, t, n * 16, VRING_DESC_F_INDIRECT, 0);
    } else {
        for (unsigned i = 0; i < n; i++) {
            uint16_t d = (uint16_t)((first + i) % r->num);
            tring_desc(r, d, segs[i].gpa, segs[i].len,
                       (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
                                  (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
                       (uint16_t)((d + 1) % r->num));
        }
    }
    /* With EVENT_IDX: ask for an interrupt on the next used entry. */
    *tring_used_event(r) = tring_used_idx(r);
    tring_avail(r, first);
    return first;
}

void h_kick(struct h_dev *h)
{
    uint64_t one = 1;
    assert_int_equal(write(h->kick, &one, sizeof(one)), sizeof(one));
}

bool h_wait_used(struct h_dev *h, uint16_t idx, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;

    for (;;) {
        if (tring_used_idx(&h->r) == idx)
            return true;
        int64_t left = end - now_ms();
        if (left <= 0)
            return tring_used_idx(&h->r) == idx;
        /* The call eventfd is the interrupt; poll briefly in case the
         * driver asked for none (EVENT_IDX). */
        eventfd_wait(h->call, left < 20 ? (int)left : 20);
    }
}

void h_blk_post(struct h_dev *h, uint16_t first, uint32_t type, uint64_t sector,
                const void *out, uint32_t out_len, uint32_t in_len, bool indirect,
                struct h_req *req)
{
    struct virtio_blk_outhdr hdr = { .type = type, .ioprio = 0, .sector = sector };
    struct h_seg segs[4];
    unsigned n = 0;
    uint64_t hdr_gpa, out_gpa;

    memset(req, 0, sizeof(*req));
    hdr_gpa = h_alloc(h, sizeof(hdr), 16);
    memcpy(guest_ptr(&h->g, hdr_gpa), &hdr, sizeof(hdr));
    segs[n++] = (struct h_seg){ hdr_gpa, sizeof(hdr), false };
    if (out_len) {
        out_gpa = h_alloc(h, out_len, 4096);
        memcpy(guest_ptr(&h->g, out_gpa), out, out_len);
        segs[n++] = (struct h_seg){ out_gpa, out_len, false };
    }
    if (in_len) {
        req->in_gpa = h_alloc(h, in_len, 4096);
        req->in_len = in_len;
        memset(guest_ptr(&h->g, req->in_gpa), 0xee, in_len);
        segs[n++] = (struct h_seg){ req->in_gpa, in_len, true };
    }
    req->status_gpa = h_alloc(h, 1, 1);
    *(uint8_t *)guest_ptr(&h->g, req->status_gpa) = 0xff;
    segs[n++] = (struct h_seg){ req->status_gpa, 1, true };
    req->head = h_post(h, first, segs, n, indirect);
}

uint8_t h_req_status(struct h_dev *h, const struct h_req *req)
{
    return *(volatile uint8_t *)guest_ptr(&h->g, req->status_gpa);
}

uint8_t h_blk(struct h_dev *h, uint32_t type, uint64_t sector, const void *out, uint32_t out_len,
              void *in, uint32_t in_len, uint32_t *used_len)
{
    uint16_t want = (uint16_t)(tring_used_idx(&h->r) + 1);
    struct vring_used_elem u;
    struct h_req req;

    h_scratch_reset(h);
    h_blk_post(h, 0, type, sector, out, out_len, in_len, false, &req);
    h_kick(h);
    if (!h_wait_used(h, want, 5000))
        fail_msg("request type %u did not complete", type);
    u = tring_used(&h->r, (uint16_t)(want - 1));
    assert_int_equal(u.id, req.head);
    if (used_len)
        *used_len = u.len;
    if (in && in_len)
        memcpy(in, guest_ptr(&h->g, req.in_gpa), in_len);
    return h_req_status(h, &req);
}

void h_file_read(struct h_dev *h, uint64_t off, void *buf, size_t len)
{
    int fd = open(h->path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

bool h_file_pristine(struct h_dev *h, uint64_t off, uint64_t len)
{
    uint8_t *buf = malloc(len);
    bool ok = true;

    assert_non_null(buf);
    h_file_read(h, off, buf, len);
    for (uint64_t i = 0; i < len && ok; i++)
        ok = buf[i] == pattern_byte(H_FILE_SEED, off + i);
    free(buf);
    return ok;
}
