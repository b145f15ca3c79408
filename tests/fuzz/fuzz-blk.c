/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the descriptor-chain walker and the virtio-blk request parser
 * (vhost/blk.c) over a synthetic guest memory. A real virtio-blk device is
 * brought up through the vhost-user backend (fuzz-frontend.h) with guest
 * memory the input fills, its queue started on a real uloop worker and then
 * stopped, so every request the input lays out is taken from the ring,
 * parsed (type, sector, data segments, status byte; IN, OUT, FLUSH, GET_ID,
 * DISCARD, WRITE_ZEROES, unknown types; read-only device; out-of-range
 * sectors) and completed. Block I/O goes to a small in-memory disk through
 * struct vblk_ops, completed with uloop_post() (as the unit tests' ops do),
 * optionally failing, short, or refused at submission.
 *
 * Input: [u8 flags][u8 queue size][u8 capacity in sectors][u8 -][u32 faults]
 * [u16 ring base][guest memory from gpa 0...]. Ring: descriptors at gpa 0,
 * avail ring right after them, used ring at gpa 4096; buffers anywhere in
 * the 64 KiB (two regions split at 32 KiB).
 * flags: 1 read-only, 2 INDIRECT_DESC, 4 EVENT_IDX, 8 no discard op,
 * 16 no write-zeroes op, 32 faults: I/O call k behaves as bits 2k..2k+1 of
 * faults (mod 16) say: 0 ok, 1 -EIO, 2 one byte short, 3 refused.
 * Checked per input: the ops only see sector-aligned ranges inside the
 * capacity, the process survives (ASan/UBSan), no fd leaks. */
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "fuzz-frontend.h"
#include "vhost/blk.h"

#define HDR 10
#define MAX_SECTORS 255u
#define USED_GPA 4096u

static struct ff f;
static uint8_t disk[MAX_SECTORS * 512];

struct fio {
    uint64_t capacity;
    uint32_t faults;
    bool faulty;
    unsigned calls;
};

static unsigned next_fault(struct fio *io)
{
    unsigned k = io->calls++ % 16;
    return io->faulty ? (io->faults >> (2 * k)) & 3 : 0;
}

/* What the model may ask of the disk: sector-aligned and inside it. */
static void check_range(const struct fio *io, uint64_t offset, uint64_t len)
{
    if (offset % 512 || len % 512 || !range_within(offset, len, io->capacity))
        abort();
}

static int finish_op(struct uloop *loop, struct uloop_op *done, unsigned fault, int res)
{
    switch (fault) {
    case 1: res = -EIO; break;
    case 2: res = res > 0 ? res - 1 : -EIO; break;
    case 3: return -EIO;   /* nothing started: done is not called */
    default: break;
    }
    uloop_post(loop, done, res);
    return 0;
}

static int mem_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                  const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    struct fio *io = ctx;
    unsigned fault = next_fault(io);
    size_t len = iov_size(iov, iovcnt);
    uint64_t pos = offset;

    if (iovcnt == 0 || len == 0)
        abort();   /* the model completes empty transfers itself */
    check_range(io, offset, len);
    if (fault == 3)
        return -EIO;
    for (unsigned i = 0; i < iovcnt; i++) {
        if (write)
            memcpy(disk + pos, iov[i].iov_base, iov[i].iov_len);
        else
            memcpy(iov[i].iov_base, disk + pos, iov[i].iov_len);
        pos += iov[i].iov_len;
    }
    return finish_op(loop, done, fault, (int)len);
}

static int mem_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    return finish_op(loop, done, next_fault(ctx), 0);
}

static int mem_discard(void *ctx, struct uloop *loop, struct uloop_op *done, uint64_t offset,
                       uint64_t len)
{
    struct fio *io = ctx;

    if (len == 0)
        abort();
    check_range(io, offset, len);
    memset(disk + offset, 0, len);
    return finish_op(loop, done, next_fault(io), 0);
}

static int mem_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                            uint64_t offset, uint64_t len, bool unmap)
{
    (void)unmap;
    return mem_discard(ctx, loop, done, offset, len);
}

static const struct ff_optional optional[] = {
    { 2, 1ull << VIRTIO_RING_F_INDIRECT_DESC },
    { 4, 1ull << VIRTIO_RING_F_EVENT_IDX },
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    ff_init(&f, "fuzz-blk");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vblk_ops ops;
    struct fio io = { 0 };
    struct vblk_config bc = { .blk_size = 512, .num_queues = 1,
                              .serial = "sluice-fuzz-serial-0", .io = &ops, .io_ctx = &io };
    struct vu_dev_config vc = { .name = "fuzz-blk", .loops = &f.worker, .nloops = 1 };
    struct vblk *b = NULL;
    struct vblk_stats st;
    struct ff_ring ring;
    uint8_t flags;
    uint16_t base;
    uint64_t features;
    int before;

    if (size < HDR)
        return 0;
    flags = data[0];
    /* Split ring sizes are powers of two (the device refuses others). */
    ring = ff_ring_at(0, USED_GPA, (uint16_t)(1u << (data[1] % 7)));
    io.capacity = (uint64_t)data[2] * 512;
    memcpy(&io.faults, data + 4, 4);
    io.faulty = flags & 32;
    memcpy(&base, data + 8, 2);
    ops = (struct vblk_ops){ .rw = mem_rw, .flush = mem_flush,
                             .discard = flags & 8 ? NULL : mem_discard,
                             .write_zeroes = flags & 16 ? NULL : mem_write_zeroes };
    bc.capacity = io.capacity;
    bc.readonly = flags & 1;
    memset(disk, 0xd5, io.capacity);
    ff_fill(&f, data + HDR, size - HDR);

    before = ff_count_fds();
    if (vblk_create(&bc, &vc, &b) < 0)
        abort();
    features = ff_features(vu_dev_features(vblk_vu_dev(b)), flags, optional, ARRAY_SIZE(optional));
    ff_connect(&f, vblk_vu_dev(b));
    ff_setup(&f, features);
    ff_start_ring(&f, 0, &ring, base);
    ff_stop_ring(&f, 0);
    vblk_stats(b, &st);
    vu_dev_destroy(vblk_vu_dev(b));
    ff_disconnect(&f);
    if (ff_count_fds() != before)
        abort();   /* an fd leaked */
    return 0;
}
