/* SPDX-License-Identifier: Apache-2.0 */
/* bdev_vblk_ops: see bdev-ops.h. */
#include "bdev-ops.h"
#include "storage/bdev.h"

static int io_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                 const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    return bdev_rw(ctx, loop, done, write, iov, iovcnt, offset);
}

static int io_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    return bdev_flush(ctx, loop, done);
}

static int io_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len)
{
    return bdev_discard(ctx, loop, done, offset, len);
}

static int io_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                           uint64_t offset, uint64_t len, bool unmap)
{
    return bdev_write_zeroes(ctx, loop, done, offset, len, unmap);
}

const struct vblk_ops bdev_vblk_ops = {
    .rw = io_rw,
    .flush = io_flush,
    .discard = io_discard,
    .write_zeroes = io_write_zeroes,
};
