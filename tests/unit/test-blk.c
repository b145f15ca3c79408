/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/blk.c: virtio-blk request parsing and status codes,
 * through the whole vhost-user path (socketpair, memfd guest RAM, uloop
 * worker). Block I/O is the real bdev engine on a temporary file, except
 * where in-test ops inject I/O errors or hold completions. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"
#include "core/log.h"
#include "core/tbucket.h"
#include "harness.h"
#include "vqfx.h"

#define F(x) (1ull << (x))
#define FEAT (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC))
#define SECTORS (1u << 20) / 512u


static int setup_dev(void **state, const struct h_opts *o)
{
    struct h_dev *h = calloc(1, sizeof(*h));
    h_create(h, &g_loop, 1, o);
    h_start(h, FEAT);
    *state = h;
    return 0;
}

static int setup(void **state)
{
    return setup_dev(state, NULL);
}

static int setup_ro(void **state)
{
    struct h_opts o = { .readonly = true, .serial = "ro-disk" };
    return setup_dev(state, &o);
}

static int setup_serial(void **state)
{
    struct h_opts o = { .serial = "sluice-serial-0001" };
    return setup_dev(state, &o);
}

static int teardown(void **state)
{
    struct h_dev *h = *state;
    h_destroy(h);
    free(h);
    return 0;
}

/* A discard / write-zeroes request with @len bytes of segment payload. */
static uint8_t dwz(struct h_dev *h, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags,
                   uint32_t len)
{
    struct virtio_blk_discard_write_zeroes seg[2] = {
        { .sector = sector, .num_sectors = num, .flags = flags },
        { .sector = sector, .num_sectors = num, .flags = flags },
    };
    assert_true(len <= sizeof(seg));
    return h_blk(h, type, 0, seg, len, NULL, 0, NULL);
}

static bool zeroes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static bool is_pattern(const uint8_t *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern_byte(H_FILE_SEED, off + i))
            return false;
    return true;
}

/* ---- reads and writes ------------------------------------------------- */

static void test_read_write(void **state)
{
    struct h_dev *h = *state;
    uint8_t w[8192], r[8192], f[8192];
    uint32_t used;
    struct vblk_stats st;

    /* Read what the file holds. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 100, NULL, 0, r, 4096, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 4096 + 1);
    assert_true(is_pattern(r, 4096, 100 * 512));
    /* Write, check the file, read back. */
    pattern_fill(w, sizeof(w), 1234, 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, 16, w, sizeof(w), NULL, 0, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    h_file_read(h, 16 * 512, f, sizeof(f));
    assert_memory_equal(f, w, sizeof(w));
    assert_true(h_file_pristine(h, 15 * 512, 512));
    assert_true(h_file_pristine(h, 32 * 512, 512));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 16, NULL, 0, r, sizeof(r), &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, sizeof(r) + 1);
    assert_memory_equal(r, w, sizeof(w));
    /* The last sector is in range. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, SECTORS - 1, w, 512, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, SECTORS - 1, NULL, 0, r, 512, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(r, w, 512);
    /* A zero-length read is a no-op success. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, NULL, 0, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);

    vblk_stats(h->blk, &st);
    assert_int_equal(st.reads, 4);
    assert_int_equal(st.writes, 2);
    assert_int_equal(st.bytes_read, 4096 + 8192 + 512);
    assert_int_equal(st.bytes_written, 8192 + 512);
    assert_int_equal(st.errors, 0);
}

static void test_scattered_segments(void **state)
{
    struct h_dev *h = *state;
    /* Data split over three descriptors: a misaligned 512-byte buffer (the
     * engine's buffered path), 3 KiB aligned, and 512 bytes that cross the
     * boundary between the two guest memory regions. */
    uint64_t mid = H_GPA0 + H_GUEST_SIZE / 2;
    uint64_t hdr = h_alloc(h, 16, 16), st = h_alloc(h, 1, 1);
    uint64_t d0 = h_alloc(h, 600, 64) + 8, d1 = h_alloc(h, 3072, 4096), d2 = mid - 200;
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_OUT, .sector = 64 };
    uint8_t w[4096], f[4096];
    struct h_seg segs[5] = {
        { hdr, 16, false }, { d0, 512, false }, { d1, 3072, false }, { d2, 512, false },
        { st, 1, true },
    };

    pattern_fill(w, sizeof(w), 42, 0);
    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    memcpy(guest_ptr(&h->g, d0), w, 512);
    memcpy(guest_ptr(&h->g, d1), w + 512, 3072);
    memcpy(guest_ptr(&h->g, d2), w + 3584, 512);
    *(uint8_t *)guest_ptr(&h->g, st) = 0xff;
    h_post(h, 10, segs, 5, false);
    h_kick(h);
    assert_true(h_wait_used(h, 1, 5000));
    assert_int_equal(tring_used(&h->r, 0).id, 10);
    assert_int_equal(*(uint8_t *)guest_ptr(&h->g, st), VIRTIO_BLK_S_OK);
    h_file_read(h, 64 * 512, f, sizeof(f));
    assert_memory_equal(f, w, sizeof(w));

    /* Read it back into one buffer across the region boundary, with the
     * header split over two descriptors and the status in its own. */
    uint64_t h1 = h_alloc(h, 8, 8), h2 = h_alloc(h, 8, 8), rd = mid - 1000;
    oh.type = VIRTIO_BLK_T_IN;
    memcpy(guest_ptr(&h->g, h1), &oh, 8);
    memcpy(guest_ptr(&h->g, h2), (uint8_t *)&oh + 8, 8);
    memset(guest_ptr(&h->g, rd), 0, 4096);
    *(uint8_t *)guest_ptr(&h->g, st) = 0xff;
    struct h_seg rs[4] = { { h1, 8, false }, { h2, 8, false }, { rd, 4096, true }, { st, 1, true } };
    h_post(h, 20, rs, 4, false);
    h_kick(h);
    assert_true(h_wait_used(h, 2, 5000));
    assert_int_equal(tring_used(&h->r, 1).id, 20);
    assert_int_equal(tring_used(&h->r, 1).len, 4097);
    assert_int_equal(*(uint8_t *)guest_ptr(&h->g, st), VIRTIO_BLK_S_OK);
    assert_memory_equal(guest_ptr(&h->g, rd), w, 4096);
}

static void test_status_shares_data_buffer(void **state)
{
    struct h_dev *h = *state;
    /* Data and status in one writable descriptor: the last byte is status. */
    uint64_t hdr = h_alloc(h, 16, 16), buf = h_alloc(h, 513, 16);
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_IN, .sector = 3 };
    uint8_t *p = guest_ptr(&h->g, buf);
    struct h_seg segs[2] = { { hdr, 16, false }, { buf, 513, true } };

    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    memset(p, 0xee, 513);
    h_post(h, 0, segs, 2, false);
    h_kick(h);
    assert_true(h_wait_used(h, 1, 5000));
    assert_int_equal(p[512], VIRTIO_BLK_S_OK);
    assert_true(is_pattern(p, 512, 3 * 512));
    assert_int_equal(tring_used(&h->r, 0).len, 513);
}

static void test_indirect_request(void **state)
{
    struct h_dev *h = *state;
    struct h_req req;
    uint8_t w[1024];

    pattern_fill(w, sizeof(w), 5, 0);
    h_blk_post(h, 7, VIRTIO_BLK_T_OUT, 200, w, sizeof(w), 0, true, &req);
    h_kick(h);
    assert_true(h_wait_used(h, 1, 5000));
    assert_int_equal(tring_used(&h->r, 0).id, 7);
    assert_int_equal(h_req_status(h, &req), VIRTIO_BLK_S_OK);
    h_blk_post(h, 3, VIRTIO_BLK_T_IN, 200, NULL, 0, sizeof(w), true, &req);
    h_kick(h);
    assert_true(h_wait_used(h, 2, 5000));
    assert_int_equal(tring_used(&h->r, 1).id, 3);
    assert_int_equal(h_req_status(h, &req), VIRTIO_BLK_S_OK);
    assert_memory_equal(guest_ptr(&h->g, req.in_gpa), w, sizeof(w));
}

static void test_many_in_flight(void **state)
{
    struct h_dev *h = *state;
    enum { NREQ = 40 };
    struct h_req reqs[NREQ];
    bool seen[NREQ] = { false };
    struct vblk_stats st;

    /* Forty reads made available at once, one kick. */
    for (unsigned i = 0; i < NREQ; i++)
        h_blk_post(h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, 7 * i, NULL, 0, 1024, false, &reqs[i]);
    h_kick(h);
    assert_true(h_wait_used(h, NREQ, 5000));
    for (unsigned i = 0; i < NREQ; i++) {
        struct vring_used_elem u = tring_used(&h->r, (uint16_t)i);
        assert_int_equal(u.id % 3, 0);
        assert_true(u.id / 3 < NREQ);
        assert_false(seen[u.id / 3]);
        seen[u.id / 3] = true;
        assert_int_equal(u.len, 1025);
    }
    for (unsigned i = 0; i < NREQ; i++) {
        assert_int_equal(h_req_status(h, &reqs[i]), VIRTIO_BLK_S_OK);
        assert_true(is_pattern(guest_ptr(&h->g, reqs[i].in_gpa), 1024, 7ull * i * 512));
    }
    vblk_stats(h->blk, &st);
    assert_int_equal(st.reads, NREQ);
    assert_int_equal(st.bytes_read, NREQ * 1024);
}

/* ---- bad requests ----------------------------------------------------- */

static void test_out_of_range(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[1024];
    struct stat sb;
    struct vblk_stats st;

    memset(buf, 0x11, sizeof(buf));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, SECTORS, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(buf[0], 0xee);   /* nothing read into it */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, SECTORS - 1, NULL, 0, buf, 1024, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, SECTORS, buf, 512, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, SECTORS - 1, buf, 1024, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    /* Sector numbers whose byte offset overflows. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, buf, 512, NULL, 0, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, (UINT64_MAX - 511) / 512, NULL, 0, buf, 1024, NULL),
                     VIRTIO_BLK_S_IOERR);
    /* The file neither changed nor grew. */
    assert_true(h_file_pristine(h, 0, h->size));
    assert_int_equal(stat(h->path, &sb), 0);
    assert_true((uint64_t)sb.st_size == h->size);
    vblk_stats(h->blk, &st);
    assert_int_equal(st.errors, 7);
    /* The queue is fine afterwards. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, SECTORS - 2, NULL, 0, buf, 1024, NULL), VIRTIO_BLK_S_OK);
}

static void test_length_not_sector_multiple(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[1024];

    memset(buf, 0x22, sizeof(buf));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, 0, buf, 100, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, 0, buf, 513, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 1000, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(buf[0], 0xee);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 1, NULL), VIRTIO_BLK_S_IOERR);
    assert_true(h_file_pristine(h, 0, 4096));
}

static void test_write_with_writable_data(void **state)
{
    struct h_dev *h = *state;
    uint64_t hdr = h_alloc(h, 16, 16), d = h_alloc(h, 512, 512), st = h_alloc(h, 1, 1);
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_OUT, .sector = 0 };
    struct h_seg segs[3] = { { hdr, 16, false }, { d, 512, true }, { st, 1, true } };

    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    memset(guest_ptr(&h->g, d), 0, 512);
    h_post(h, 0, segs, 3, false);
    h_kick(h);
    assert_true(h_wait_used(h, 1, 5000));
    assert_int_equal(*(uint8_t *)guest_ptr(&h->g, st), VIRTIO_BLK_S_IOERR);
    assert_true(h_file_pristine(h, 0, 512));
}

static void test_short_header(void **state)
{
    struct h_dev *h = *state;
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_IN, .sector = 0 };
    uint64_t hdr = h_alloc(h, 16, 16), d = h_alloc(h, 512, 512), st = h_alloc(h, 1, 1);
    struct h_seg segs[3] = { { hdr, 15, false }, { d, 512, true }, { st, 1, true } };

    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    memset(guest_ptr(&h->g, d), 0xee, 512);
    /* 15 header bytes; then 8; then none at all. */
    for (unsigned k = 0; k < 3; k++) {
        uint32_t lens[3] = { 15, 8, 0 };
        *(uint8_t *)guest_ptr(&h->g, st) = 0xff;
        if (lens[k]) {
            segs[0].len = lens[k];
            h_post(h, 0, segs, 3, false);
        } else {
            h_post(h, 0, segs + 1, 2, false);
        }
        h_kick(h);
        assert_true(h_wait_used(h, (uint16_t)(k + 1), 5000));
        assert_int_equal(*(uint8_t *)guest_ptr(&h->g, st), VIRTIO_BLK_S_IOERR);
        assert_int_equal(tring_used(&h->r, (uint16_t)k).len, 1);
        assert_int_equal(*(uint8_t *)guest_ptr(&h->g, d), 0xee);
    }
    assert_false(vu_dev_broken(h->dev));
}

static void test_unsupported_types(void **state)
{
    struct h_dev *h = *state;
    const uint32_t types[] = { 2, 3, 5, 10, 14, 99, 0x80000000u, UINT32_MAX };
    uint8_t buf[512];
    uint32_t used;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        assert_int_equal(h_blk(h, types[i], 0, NULL, 0, buf, 512, &used), VIRTIO_BLK_S_UNSUPP);
        assert_int_equal(used, 1);
        assert_int_equal(buf[0], 0xee);
    }
    assert_true(h_file_pristine(h, 0, 4096));
}

/* ---- other request types ---------------------------------------------- */

static void test_get_id(void **state)
{
    struct h_dev *h = *state;
    uint8_t id[32];
    uint32_t used;

    assert_int_equal(h_blk(h, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, VIRTIO_BLK_ID_BYTES, &used),
                     VIRTIO_BLK_S_OK);
    assert_int_equal(used, VIRTIO_BLK_ID_BYTES + 1);
    assert_memory_equal(id, "sluice-serial-0001\0\0", VIRTIO_BLK_ID_BYTES);
    /* A smaller buffer gets a prefix. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 8, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 9);
    assert_memory_equal(id, "sluice-s", 8);
    /* A larger one gets 20 bytes, the rest untouched. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 32, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, VIRTIO_BLK_ID_BYTES + 1);
    assert_memory_equal(id, "sluice-serial-0001\0\0", VIRTIO_BLK_ID_BYTES);
    assert_int_equal(id[20], 0xee);
    assert_int_equal(id[30], 0xee);
}

static void test_get_id_long_and_missing(void **state)
{
    struct h_dev a, b;
    struct h_opts oa = { .serial = "0123456789abcdefghijKLMN" }, ob = { 0 };
    uint8_t id[20];

    (void)state;
    h_create(&a, &g_loop, 1, &oa);
    h_start(&a, FEAT);
    assert_int_equal(h_blk(&a, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 20, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(id, "0123456789abcdefghij", 20);   /* truncated, no NUL */
    h_destroy(&a);
    h_create(&b, &g_loop, 1, &ob);
    h_start(&b, FEAT);
    assert_int_equal(h_blk(&b, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 20, NULL), VIRTIO_BLK_S_OK);
    assert_true(zeroes(id, 20));
    h_destroy(&b);
}

static void test_flush(void **state)
{
    struct h_dev *h = *state;
    uint8_t w[4096];
    uint32_t used;
    struct vblk_stats st;

    pattern_fill(w, sizeof(w), 9, 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    /* The sector field of a flush is ignored. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_FLUSH, UINT64_MAX, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    vblk_stats(h->blk, &st);
    assert_int_equal(st.flushes, 2);
}

static void test_discard_write_zeroes(void **state)
{
    struct h_dev *h = *state;
    const uint32_t s = sizeof(struct virtio_blk_discard_write_zeroes);
    uint8_t buf[16 * 512];
    struct vblk_stats st;

    /* DISCARD of 16 sectors from sector 8: reads back as zeroes. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 8, 16, 0, s), VIRTIO_BLK_S_OK);
    h_file_read(h, 8 * 512, buf, sizeof(buf));
    assert_true(zeroes(buf, sizeof(buf)));
    assert_true(h_file_pristine(h, 0, 8 * 512));
    assert_true(h_file_pristine(h, 24 * 512, 4096));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 8, NULL, 0, buf, sizeof(buf), NULL), VIRTIO_BLK_S_OK);
    assert_true(zeroes(buf, sizeof(buf)));

    /* WRITE_ZEROES with and without the unmap flag. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 40, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, s),
                     VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 60, 1, 0, s), VIRTIO_BLK_S_OK);
    h_file_read(h, 40 * 512, buf, 8 * 512);
    assert_true(zeroes(buf, 8 * 512));
    h_file_read(h, 60 * 512, buf, 512);
    assert_true(zeroes(buf, 512));
    assert_true(h_file_pristine(h, 48 * 512, 12 * 512));
    assert_true(h_file_pristine(h, 61 * 512, 512));
    /* The last sectors; zero sectors is a no-op. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, SECTORS - 2, 2, 0, s), VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 100, 0, 0, s), VIRTIO_BLK_S_OK);
    assert_true(h_file_pristine(h, 100 * 512, 512));

    /* One segment only: other payload sizes are unsupported. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 200, 1, 0, 2 * s), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 200, 1, 0, 8), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 200, 1, 0, s + 1), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 200, 1, 0, 0), VIRTIO_BLK_S_UNSUPP);
    /* Flags the command does not define (virtio 1.2 5.2.6.2): unsupported. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 200, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, s),
                     VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 200, 1, 2, s), VIRTIO_BLK_S_UNSUPP);
    /* Out of range, or beyond max_*_sectors. */
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, SECTORS - 1, 2, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, SECTORS, 1, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, UINT64_MAX / 512 + 1, 1, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 0, UINT32_MAX, 0, s), VIRTIO_BLK_S_IOERR);
    assert_true(h_file_pristine(h, 200 * 512, 512));
    assert_true(h_file_pristine(h, 0, 512));

    vblk_stats(h->blk, &st);
    assert_int_equal(st.discards, 1);
    assert_int_equal(st.write_zeroes, 3);
}

static void test_readonly(void **state)
{
    struct h_dev *h = *state;
    const uint32_t s = sizeof(struct virtio_blk_discard_write_zeroes);
    uint8_t buf[4096], id[20];

    assert_true(h_get_u64(h, VU_GET_FEATURES) & F(VIRTIO_BLK_F_RO));
    memset(buf, 0, sizeof(buf));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_OUT, 0, buf, 4096, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_DISCARD, 0, 8, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(h, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, s),
                     VIRTIO_BLK_S_IOERR);
    assert_true(h_file_pristine(h, 0, h->size));
    /* Reads, flushes and GET_ID work. */
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 4096, NULL), VIRTIO_BLK_S_OK);
    assert_true(is_pattern(buf, 4096, 0));
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 20, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(id, "ro-disk", 8);
}

/* ---- guest protocol errors -------------------------------------------- */

static bool wait_broken(struct vu_dev *dev)
{
    for (int i = 0; i < 2000; i++) {
        if (vu_dev_broken(dev))
            return true;
        usleep(1000);
    }
    return false;
}

static void test_no_status_byte(void **state)
{
    struct h_dev *h = *state, other;
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_IN, .sector = 0 };
    uint64_t hdr = h_alloc(h, 16, 16), d = h_alloc(h, 512, 512);
    struct h_seg segs[2] = { { hdr, 16, false }, { d, 512, false } };
    struct vu_vring_state s = { 0, 0 };
    struct vu_msg m;
    uint8_t buf[512];

    /* Only device-readable buffers: nowhere to put the status. */
    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    memset(guest_ptr(&h->g, d), 0x33, 512);
    h_post(h, 0, segs, 2, false);
    h_kick(h);
    assert_true(wait_broken(h->dev));
    assert_true(h_get_u64(h, VU_GET_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_int_equal(*(uint8_t *)guest_ptr(&h->g, d), 0x33);   /* nothing written */
    /* The chain is handed back unused, so the ring can drain. */
    assert_true(h_wait_used(h, 1, 2000));
    assert_int_equal(tring_used(&h->r, 0).id, 0);
    assert_int_equal(tring_used(&h->r, 0).len, 0);
    /* The device takes nothing more... */
    struct h_req req;
    h_blk_post(h, 10, VIRTIO_BLK_T_IN, 0, NULL, 0, 512, false, &req);
    h_kick(h);
    assert_false(h_wait_used(h, 2, 100));
    assert_int_equal(h_req_status(h, &req), 0xff);

    /* ...while another device on the same worker is unaffected. */
    h_create(&other, &g_loop, 1, NULL);
    h_start(&other, FEAT);
    assert_int_equal(h_blk(&other, VIRTIO_BLK_T_IN, 1, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_true(is_pattern(buf, 512, 512));
    assert_false(vu_dev_broken(other.dev));

    /* The frontend stops the ring: this must not wait for the bad chain. */
    h_call(h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.hdr.size, sizeof(s));
    assert_int_equal(m.p.state.num, 1);   /* the bad chain was taken, the next not */
    assert_false(vu_dev_queue(h->dev, 0)->running);
    /* A reset (new session) brings the device back. */
    h_reconnect(h);
    assert_false(vu_dev_broken(h->dev));
    h->r.used->idx = 0;
    h->r.avail_idx = 0;
    h->r.avail->idx = 0;
    h_start(h, FEAT);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 2, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_true(is_pattern(buf, 512, 1024));
    assert_int_equal(h_blk(&other, VIRTIO_BLK_T_IN, 3, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    h_destroy(&other);
}

static void test_zero_length_status(void **state)
{
    struct h_dev *h = *state;
    struct virtio_blk_outhdr oh = { .type = VIRTIO_BLK_T_FLUSH };
    uint64_t hdr = h_alloc(h, 16, 16), st = h_alloc(h, 1, 1);
    struct h_seg segs[2] = { { hdr, 16, false }, { st, 0, true } };

    /* A writable descriptor of length zero is no status byte either. */
    memcpy(guest_ptr(&h->g, hdr), &oh, sizeof(oh));
    h_post(h, 0, segs, 2, false);
    h_kick(h);
    assert_true(wait_broken(h->dev));
    /* Disconnecting a broken device does not hang. */
    vu_dev_disconnect(h->dev);
    assert_false(vu_dev_queue(h->dev, 0)->running);
}

static void test_bad_chain_breaks_device(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[512];

    /* A descriptor pointing outside guest memory: the vq layer refuses it
     * and the whole device needs a reset. */
    struct h_seg segs[2] = { { H_GPA0 + H_GUEST_SIZE + 4096, 16, false }, { h_alloc(h, 1, 1), 1, true } };
    h_post(h, 0, segs, 2, false);
    h_kick(h);
    assert_true(wait_broken(h->dev));
    assert_true(h_get_u64(h, VU_GET_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* RESET_DEVICE clears it; the same connection carries on. */
    assert_int_equal(h_ack(h, VU_RESET_DEVICE, NULL, 0, NULL, 0), 0);
    assert_false(vu_dev_broken(h->dev));
    assert_false(h_get_u64(h, VU_GET_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    h->r.used->idx = 0;
    h->r.avail_idx = 0;
    h->r.avail->idx = 0;
    uint64_t f = FEAT | F(VU_F_PROTOCOL_FEATURES);
    assert_int_equal(h_ack(h, VU_SET_FEATURES, &f, 8, NULL, 0), 0);
    assert_int_equal(h_set_mem_table(h), 0);
    h_start_vring(h, 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
}

/* ---- I/O errors and in-flight requests, with in-test ops -------------- */

struct tio {
    int rw_ret;          /* nonzero: rw fails synchronously with this */
    int res_override;    /* nonzero: complete with this result */
    int short_by;        /* complete with bytes - short_by */
    int flush_res;
    bool hold;           /* keep completions until released */
    struct uloop *loop;
    struct uloop_op *held[64];
    int held_res[64];
    unsigned nheld;
    unsigned rw_calls, flushes;
    struct h_dev *watch;    /* non-NULL: note the used index at each rw */
    uint16_t used_at[64];
};

static int t_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    struct tio *t = ctx;
    size_t n = iov_size(iov, iovcnt), off = 0;
    int res;

    if (t->watch && t->rw_calls < 64)
        t->used_at[t->rw_calls] = tring_used_idx(&t->watch->r);
    t->rw_calls++;
    if (t->rw_ret)
        return t->rw_ret;
    if (!write)
        for (unsigned i = 0; i < iovcnt; i++) {
            pattern_fill(iov[i].iov_base, iov[i].iov_len, 0x7e57, offset + off);
            off += iov[i].iov_len;
        }
    res = t->res_override ? t->res_override : (int)n - t->short_by;
    if (t->hold) {
        t->loop = loop;
        t->held_res[t->nheld] = res;
        t->held[t->nheld++] = done;
        return 0;
    }
    uloop_post(loop, done, res);
    return 0;
}

static int t_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    struct tio *t = ctx;
    t->flushes++;
    uloop_post(loop, done, t->flush_res);
    return 0;
}

static int t_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                     uint64_t offset, uint64_t len)
{
    struct tio *t = ctx;
    (void)offset;
    (void)len;
    t->rw_calls++;
    uloop_post(loop, done, 0);
    return 0;
}

static int t_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                          uint64_t offset, uint64_t len, bool unmap)
{
    (void)unmap;
    return t_discard(ctx, loop, done, offset, len);
}

static const struct vblk_ops tio_ops = { .rw = t_rw, .flush = t_flush };
static const struct vblk_ops tio_ops_full = {
    .rw = t_rw, .flush = t_flush, .discard = t_discard, .write_zeroes = t_write_zeroes,
};

static void test_readonly_refused_before_io(void **state)
{
    struct tio t = { 0 };
    struct h_opts o = { .readonly = true, .io = &tio_ops_full, .io_ctx = &t };
    const uint32_t s = sizeof(struct virtio_blk_discard_write_zeroes);
    struct h_dev h;
    uint8_t buf[512] = { 0 };
    uint64_t f;

    (void)state;
    /* Whatever the I/O layer would do, a read-only device never calls it
     * for writes, and offers neither DISCARD nor WRITE_ZEROES. */
    h_create(&h, &g_loop, 1, &o);
    f = h_get_u64(&h, VU_GET_FEATURES);
    assert_true(f & F(VIRTIO_BLK_F_RO));
    assert_false(f & F(VIRTIO_BLK_F_DISCARD));
    assert_false(f & F(VIRTIO_BLK_F_WRITE_ZEROES));
    h_start(&h, FEAT);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_DISCARD, 0, 1, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, s), VIRTIO_BLK_S_IOERR);
    assert_int_equal(t.rw_calls, 0);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(t.rw_calls, 1);
    h_destroy(&h);

    /* The same ops on a writable device are called. */
    o.readonly = false;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_DISCARD, 0, 1, 0, s), VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, s), VIRTIO_BLK_S_OK);
    assert_int_equal(t.rw_calls, 4);
    h_destroy(&h);
}

static void test_io_errors(void **state)
{
    struct tio t = { 0 };
    struct h_opts o = { .io = &tio_ops, .io_ctx = &t };
    struct h_dev h;
    uint8_t buf[2048];
    struct vblk_stats st;
    const uint32_t s = sizeof(struct virtio_blk_discard_write_zeroes);

    (void)state;
    h_create(&h, &g_loop, 1, &o);
    /* No discard / write-zeroes ops: not offered, and refused as unsupported. */
    uint64_t f = h_get_u64(&h, VU_GET_FEATURES);
    assert_false(f & F(VIRTIO_BLK_F_DISCARD));
    assert_false(f & F(VIRTIO_BLK_F_WRITE_ZEROES));
    h_start(&h, FEAT);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_DISCARD, 0, 1, 0, s), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(&h, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, s), VIRTIO_BLK_S_UNSUPP);

    /* Works normally. */
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 4, NULL, 0, buf, 2048, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 2048; i++)
        assert_int_equal(buf[i], pattern_byte(0x7e57, 4 * 512 + i));
    /* Synchronous failure: nothing started. */
    t.rw_ret = -ENOMEM;
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
    t.rw_ret = 0;
    /* Completed with an error. */
    t.res_override = -EIO;
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    t.res_override = 0;
    /* A short transfer is an error too. */
    t.short_by = 512;
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 2048, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 0, buf, 1024, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    t.short_by = 0;
    t.flush_res = -EIO;
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_IOERR);
    t.flush_res = 0;
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(t.flushes, 2);
    assert_int_equal(t.rw_calls, 5);
    vblk_stats(h.blk, &st);
    assert_int_equal(st.errors, 2 + 5);
    assert_false(vu_dev_broken(h.dev));
    h_destroy(&h);
}

struct release_arg {
    struct tio *t;
    unsigned delay_ms;
};

/* A ring holding more requests than one pass of the device takes (the
 * backend completes each before it returns, as null= does): the pass
 * publishes and signals what it completed before it starts the rest, so a
 * sleeping driver can refill while the rest is worked through. */
static void test_deep_queue_published_in_passes(void **state)
{
    enum { NREQ = 40 };
    struct tio t = { 0 };
    struct h_opts o = { .io = &tio_ops, .io_ctx = &t };
    struct h_req reqs[NREQ];
    struct h_dev h;

    (void)state;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    t.watch = &h;
    for (unsigned i = 0; i < NREQ; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    assert_true(h_wait_used(&h, NREQ, 5000));
    assert_int_equal(t.rw_calls, NREQ);
    for (unsigned i = 0; i < NREQ; i++)
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
    /* When the last request started, earlier ones were visible to the
     * guest, and it was interrupted more than once for the one kick. */
    assert_true(t.used_at[NREQ - 1] >= 1);
    assert_true(vu_dev_queue(h.dev, 0)->stats.notifies >= 2);
    h_destroy(&h);
}

static void release_on_loop(void *arg)
{
    struct tio *t = arg;
    for (unsigned i = 0; i < t->nheld; i++)
        uloop_post(t->loop, t->held[i], t->held_res[i]);
    t->nheld = 0;
    t->hold = false;
}

static void *release_thread(void *arg)
{
    struct release_arg *ra = arg;
    usleep(ra->delay_ms * 1000);
    uloop_call(g_loop, release_on_loop, ra->t);
    return NULL;
}

struct held_q {
    struct tio *t;
    unsigned n;
};

static void count_held_on_loop(void *arg)
{
    struct held_q *q = arg;
    q->n = q->t->nheld;
}

/* The worker-owned count of held completions, read on the worker. */
static unsigned held(struct tio *t)
{
    struct held_q q = { t, 0 };
    uloop_call(g_loop, count_held_on_loop, &q);
    return q.n;
}

/* Four 512-byte reads posted and kicked, all held by @t, none used. */
static void post_held_reads(struct h_dev *h, struct tio *t, struct h_req reqs[4])
{
    for (unsigned i = 0; i < 4; i++)
        h_blk_post(h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(h);
    for (int i = 0; i < 2000 && held(t) < 4; i++)
        usleep(1000);
    assert_int_equal(held(t), 4);
    assert_int_equal(tring_used_idx(&h->r), 0);
}

static void test_stop_waits_for_inflight_io(void **state)
{
    struct tio t = { .hold = true };
    struct h_opts o = { .io = &tio_ops, .io_ctx = &t };
    struct release_arg ra = { &t, 50 };
    struct vu_vring_state s = { 0, 0 };
    struct h_req reqs[4];
    struct h_dev h;
    struct vu_msg m;
    pthread_t th;

    (void)state;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    post_held_reads(&h, &t, reqs);
    /* GET_VRING_BASE while four requests are in flight: the reply comes
     * once they completed, and the base counts them. */
    assert_int_equal(pthread_create(&th, NULL, release_thread, &ra), 0);
    h_call(&h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.p.state.num, 4);
    assert_int_equal(tring_used_idx(&h.r), 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
        for (int k = 0; k < 512; k++)
            assert_int_equal(((uint8_t *)guest_ptr(&h.g, reqs[i].in_gpa))[k],
                             pattern_byte(0x7e57, i * 512ull + k));
    }
    pthread_join(th, NULL);
    h_destroy(&h);
}

/* Migration turns LOG_ALL on under running queues (SET_FEATURES): the
 * requests in flight complete and are published before the reply, so none
 * is taken before the switch and completed unlogged after it; the queue
 * then runs on. */
static void test_log_all_waits_for_inflight_io(void **state)
{
    struct tio t = { .hold = true };
    struct h_opts o = { .io = &tio_ops, .io_ctx = &t };
    struct release_arg ra = { &t, 50 };
    struct h_req reqs[4];
    struct h_dev h;
    pthread_t th;
    uint64_t f;

    (void)state;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    post_held_reads(&h, &t, reqs);
    assert_int_equal(pthread_create(&th, NULL, release_thread, &ra), 0);
    f = h.features | (1ull << VU_F_LOG_ALL);
    assert_int_equal(h_ack(&h, VU_SET_FEATURES, &f, sizeof(f), NULL, 0), 0);
    assert_int_equal(tring_used_idx(&h.r), 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
    assert_true(vu_dev_queue(h.dev, 0)->running);
    pthread_join(th, NULL);
    /* Still serving after the switch. */
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 8, NULL, 0, NULL, 512, NULL), VIRTIO_BLK_S_OK);
    h_destroy(&h);
}

static void test_disconnect_waits_for_inflight_io(void **state)
{
    struct tio t = { .hold = true };
    struct h_opts o = { .io = &tio_ops, .io_ctx = &t };
    struct release_arg ra = { &t, 50 };
    struct h_req reqs[3];
    struct h_dev h;
    pthread_t th;

    (void)state;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    for (unsigned i = 0; i < 3; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    for (int i = 0; i < 2000 && held(&t) < 3; i++)
        usleep(1000);
    assert_int_equal(held(&t), 3);
    /* The frontend disappears with three requests in flight: disconnect
     * waits for them (they still write guest memory), then unmaps. */
    assert_int_equal(pthread_create(&th, NULL, release_thread, &ra), 0);
    vu_dev_disconnect(h.dev);
    assert_int_equal(tring_used_idx(&h.r), 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
    assert_int_equal(count_mappings("sluice-test-guest"), 1);
    pthread_join(th, NULL);
    /* The worker is healthy: a new session on the same device works. */
    h_reconnect(&h);
    h.r.used->idx = 0;
    h.r.avail_idx = 0;
    h.r.avail->idx = 0;
    h_start(&h, FEAT);
    h_scratch_reset(&h);
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    h_destroy(&h);
}

static void test_event_idx(void **state)
{
    struct h_dev h;
    uint8_t buf[512];

    (void)state;
    h_create(&h, &g_loop, 1, NULL);
    h_start(&h, FEAT | F(VIRTIO_RING_F_EVENT_IDX));
    assert_true(vu_dev_queue(h.dev, 0)->event_idx);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, i, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
        assert_true(is_pattern(buf, 512, i * 512ull));
    }
    /* The device asked to be kicked at the next entry, at the latest when it
     * stopped polling and went to sleep. */
    for (unsigned ms = 0; ms < 2000 && __atomic_load_n(tring_avail_event(&h.r), __ATOMIC_ACQUIRE) != 5; ms++)
        usleep(1000);
    assert_int_equal(*tring_avail_event(&h.r), 5);
    h_destroy(&h);
}

static void get_tid(void *arg)
{
    *(pid_t *)arg = (pid_t)syscall(SYS_gettid);
}

/* Is there an io_uring worker thread (io-wq) of thread @tid? io_uring
 * starts one for a request it cannot issue without blocking. */
static bool has_iowq_thread(pid_t tid)
{
    char want[32], comm[64], path[300];
    struct dirent *e;
    bool found = false;
    DIR *d = opendir("/proc/self/task");

    assert_non_null(d);
    snprintf(want, sizeof(want), "iou-wrk-%d\n", (int)tid);
    while ((e = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        if (fgets(comm, sizeof(comm), fp) && !strcmp(comm, want))
            found = true;
        fclose(fp);
    }
    closedir(d);
    return found;
}

/* A file in memory (tmpfs) is read and written in place on the worker: the
 * data is right, and no request went through an io-wq thread (which
 * io_uring uses for every request on such a file: a wake-up and a context
 * switch each). */
static void test_tmpfs_in_place(void **state)
{
    struct uloop *l;
    struct h_dev h;
    uint8_t w[4096], r[4096];
    pid_t tid = 0;
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;

    (void)state;
    if (access("/dev/shm", W_OK) < 0)
        skip();
    assert_int_equal(uloop_thread_start("test-blk-shm", 64, &l), 0);
    uloop_call(l, get_tid, &tid);
    setenv("TMPDIR", "/dev/shm", 1);
    h_create(&h, &l, 1, NULL);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    h_start(&h, FEAT);
    pattern_fill(w, sizeof(w), 77, 0);
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(h_blk(&h, VIRTIO_BLK_T_OUT, 8 * i, w, sizeof(w), NULL, 0, NULL), VIRTIO_BLK_S_OK);
        assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 8 * i, NULL, 0, r, sizeof(r), NULL), VIRTIO_BLK_S_OK);
        assert_memory_equal(r, w, sizeof(w));
        assert_int_equal(h_blk(&h, VIRTIO_BLK_T_IN, 8 * i + 200, NULL, 0, r, 512, NULL), VIRTIO_BLK_S_OK);
        assert_true(is_pattern(r, 512, (8 * i + 200) * 512ull));
    }
    assert_int_equal(h_blk(&h, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
    assert_false(has_iowq_thread(tid));
    h_destroy(&h);
    uloop_thread_stop(l);
}

static void test_capacity_change(void **state)
{
    struct h_dev *h = *state;
    uint8_t buf[512];

    assert_int_equal(vblk_set_capacity(h->blk, 256 * 1024), 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 511, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 512, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(vblk_set_capacity(h->blk, h->size), 0);
    assert_int_equal(h_blk(h, VIRTIO_BLK_T_IN, 512, NULL, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
}

/* ---- I/O limits --------------------------------------------------------- */

/* CPU time of the whole process (the worker thread included). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
    return now_ns() / 1000000u;
}

/* Requests over the limit wait in ring order and start as tokens come. */
static void test_limits_pace_in_order(void **state)
{
    struct tb_limits l;
    struct tb_limiter *t;
    struct h_opts o = { 0 };
    struct h_req reqs[10];
    struct vblk_stats st;
    struct h_dev h;
    uint64_t t0, ms;

    (void)state;
    tb_limits_init(&l);
    l.rate[TB_IOPS] = 40;
    l.burst_ms = 50;         /* 2 requests */
    assert_int_equal(tb_limiter_create(&l, false, &t), 0);
    o.limiter = t;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    t0 = mono_ms();
    for (unsigned i = 0; i < 10; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    /* Two at once, then one each 25 ms: the waiting ones are counted. */
    for (int i = 0; i < 2000 && tring_used_idx(&h.r) < 2; i++)
        usleep(1000);
    vblk_stats(h.blk, &st);
    assert_true(st.waiting >= 6 && st.waiting <= 8);
    assert_true(h_wait_used(&h, 10, 5000));
    ms = mono_ms() - t0;
    assert_true(ms >= 8 * 25 - 10 && ms < 1000);
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(tring_used(&h.r, i).id, reqs[i].head);
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
    }
    vblk_stats(h.blk, &st);
    assert_int_equal(st.waiting, 0);
    assert_true(st.throttled_ns >= 150000000u && st.throttled_ns < 1000000000u);
    h_destroy(&h);
    tb_limiter_destroy(t);
}

/* A new limit reaches requests that already wait for the old one, and a
 * stop starts what waits rather than waiting for tokens. */
static void test_limits_live_change_and_stop(void **state)
{
    struct tb_limits l;
    struct tb_limiter *t;
    struct h_opts o = { 0 };
    struct h_req reqs[8];
    struct vu_vring_state s = { 0, 0 };
    struct vu_msg m;
    struct h_dev h;
    uint64_t t0;

    (void)state;
    tb_limits_init(&l);
    l.rate[TB_BPS] = 512;     /* one 512-byte read a second */
    l.burst_ms = 1;
    assert_int_equal(tb_limiter_create(&l, false, &t), 0);
    o.limiter = t;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    for (unsigned i = 0; i < 4; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    assert_true(h_wait_used(&h, 1, 2000));
    /* Three wait for tokens: the worker sleeps meanwhile (its adaptive
     * polling does not spin on a queue whose chains all wait). */
    uint64_t cpu0 = cpu_ns();
    usleep(300000);
    assert_true(cpu_ns() - cpu0 < 30000000u);
    assert_int_equal(tring_used_idx(&h.r), 1);
    /* 1 MiB/s: the other three go within a refill period, not in 3 s. */
    t0 = mono_ms();
    l.rate[TB_BPS] = 1 << 20;
    tb_limiter_set(t, &l);
    vblk_limits_changed(h.blk);
    assert_true(h_wait_used(&h, 4, 2000));
    assert_true(mono_ms() - t0 < 500);
    /* Back to 1 request a second: four more, one goes, the stop sees the
     * rest through at once. */
    l.rate[TB_BPS] = 512;
    tb_limiter_set(t, &l);
    usleep(1100000);   /* a full bucket again */
    for (unsigned i = 4; i < 8; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    assert_true(h_wait_used(&h, 5, 2000));
    t0 = mono_ms();
    h_call(&h, VU_GET_VRING_BASE, &s, sizeof(s), &m);
    assert_int_equal(m.p.state.num, 8);
    assert_true(mono_ms() - t0 < 500);
    assert_int_equal(tring_used_idx(&h.r), 8);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(h_req_status(&h, &reqs[i]), VIRTIO_BLK_S_OK);
    h_destroy(&h);
    tb_limiter_destroy(t);
}

/* A limited device never delays another one on the same worker. */
static void test_limits_neighbour_unaffected(void **state)
{
    struct tb_limits l;
    struct tb_limiter *t;
    struct h_opts o = { 0 };
    struct h_req reqs[4], r2;
    struct h_dev h, h2;
    uint64_t t0;

    (void)state;
    tb_limits_init(&l);
    l.rate[TB_IOPS] = 1;
    l.burst_ms = 1;
    assert_int_equal(tb_limiter_create(&l, false, &t), 0);
    o.limiter = t;
    h_create(&h, &g_loop, 1, &o);
    h_start(&h, FEAT);
    h_create(&h2, &g_loop, 1, NULL);
    h_start(&h2, FEAT);
    for (unsigned i = 0; i < 4; i++)
        h_blk_post(&h, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i, NULL, 0, 512, false, &reqs[i]);
    h_kick(&h);
    assert_true(h_wait_used(&h, 1, 2000));
    t0 = mono_ms();
    for (unsigned i = 0; i < 50; i++) {
        h_blk_post(&h2, 0, VIRTIO_BLK_T_IN, i, NULL, 0, 4096, false, &r2);
        h_kick(&h2);
        assert_true(h_wait_used(&h2, (uint16_t)(i + 1), 2000));
    }
    assert_true(mono_ms() - t0 < 900);
    assert_int_equal(tring_used_idx(&h.r), 1);
    h_destroy(&h2);
    h_destroy(&h);
    tb_limiter_destroy(t);
}

static void test_create_validation(void **state)
{
    struct tio t = { 0 };
    struct vblk_config bc = { .capacity = 1 << 20, .blk_size = 512, .num_queues = 1,
                              .io = &tio_ops, .io_ctx = &t };
    struct vu_dev_config vc = { .name = "v", .loops = &g_loop, .nloops = 1 };
    struct vblk_ops no_flush = { .rw = t_rw };
    struct vblk *b;

    (void)state;
    assert_int_equal(vblk_create(&bc, &vc, &b), 0);
    vu_dev_destroy(vblk_vu_dev(b));
    vu_dev_destroy(NULL);
    bc.capacity = 1000;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.capacity = 1 << 20;
    bc.blk_size = 256;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.blk_size = 1536;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.blk_size = 4096;
    bc.num_queues = 0;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.num_queues = VU_MAX_QUEUES + 1;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.num_queues = 2;
    bc.io = &no_flush;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.io = NULL;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    bc.io = &tio_ops;
    vc.nloops = 0;
    assert_int_equal(vblk_create(&bc, &vc, &b), -EINVAL);
    vc.nloops = 1;
    assert_int_equal(vblk_create(&bc, &vc, &b), 0);
    assert_true(vu_dev_features(vblk_vu_dev(b)) & F(VIRTIO_BLK_F_MQ));
    vu_dev_destroy(vblk_vu_dev(b));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_read_write),
        T(test_scattered_segments),
        T(test_status_shares_data_buffer),
        T(test_indirect_request),
        T(test_many_in_flight),
        T(test_out_of_range),
        T(test_length_not_sector_multiple),
        T(test_write_with_writable_data),
        T(test_short_header),
        T(test_unsupported_types),
        cmocka_unit_test_setup_teardown(test_get_id, setup_serial, teardown),
        cmocka_unit_test(test_get_id_long_and_missing),
        T(test_flush),
        T(test_discard_write_zeroes),
        cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
        T(test_no_status_byte),
        T(test_zero_length_status),
        T(test_bad_chain_breaks_device),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_deep_queue_published_in_passes),
        cmocka_unit_test(test_readonly_refused_before_io),
        cmocka_unit_test(test_stop_waits_for_inflight_io),
        cmocka_unit_test(test_log_all_waits_for_inflight_io),
        cmocka_unit_test(test_disconnect_waits_for_inflight_io),
        cmocka_unit_test(test_event_idx),
        cmocka_unit_test(test_tmpfs_in_place),
        T(test_capacity_change),
        cmocka_unit_test(test_limits_pace_in_order),
        cmocka_unit_test(test_limits_live_change_and_stop),
        cmocka_unit_test(test_limits_neighbour_unaffected),
        cmocka_unit_test(test_create_validation),
    };
    log_init("test-blk", false, getenv("SLUICE_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, vqfx_group_setup, vqfx_group_teardown);
}
