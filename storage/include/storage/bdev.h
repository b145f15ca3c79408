/* SPDX-License-Identifier: Apache-2.0 */
/* The io_uring block engine: reads, writes, flushes, discards and write-zeroes
 * on a file or block device, submitted on the caller's uloop (one io_uring per
 * worker) and completed through its struct uloop_op. No allocation and no
 * extra syscall per request: the SQE goes out with the loop's next batch.
 *
 * O_DIRECT is used where the file system allows it; a buffer that does not
 * meet the direct-I/O alignment goes through a second, buffered descriptor of
 * the same file (Linux keeps the two coherent). */
#ifndef SLUICE_STORAGE_BDEV_H
#define SLUICE_STORAGE_BDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/uloop.h"

struct bdev;

struct bdev_info {
    uint64_t size;             /* bytes, rounded down to 512 */
    uint32_t logical_block;    /* 512 or the device's logical block size */
    uint32_t dio_align;        /* memory/offset alignment for O_DIRECT */
    bool is_blockdev;
    bool direct;               /* O_DIRECT in use */
    bool readonly;
};

enum {
    BDEV_RDONLY = 1u << 0,
    BDEV_NO_DIRECT = 1u << 1,  /* never use O_DIRECT */
};

/* Open @path (regular file or block device). Returns 0, -ENOENT, -EACCES,
 * -EINVAL (not a file or block device, or empty), or another -errno. */
int bdev_open(const char *path, unsigned flags, struct bdev **out);
/* NULL-safe. In-flight operations must have completed. */
void bdev_close(struct bdev *bd);
const struct bdev_info *bdev_get_info(const struct bdev *bd);
/* The buffered descriptor of the file (for locks and ioctls; not for I/O
 * while the device runs). */
int bdev_fd(const struct bdev *bd);
/* Re-read the size (after the volume grew). Returns 0 or -errno. */
int bdev_refresh_size(struct bdev *bd);

/* The operations below start on @loop and complete via @done (res = bytes,
 * or 0, or -errno). They return 0 when started, -errno when not (then @done
 * is not called). Offsets and lengths were validated by the caller. */
int bdev_rw(struct bdev *bd, struct uloop *loop, struct uloop_op *done, bool write,
            const struct iovec *iov, unsigned iovcnt, uint64_t offset);
int bdev_flush(struct bdev *bd, struct uloop *loop, struct uloop_op *done);
/* Deallocate: hole punch on files, BLKDISCARD on block devices. */
int bdev_discard(struct bdev *bd, struct uloop *loop, struct uloop_op *done,
                 uint64_t offset, uint64_t len);
/* Zero: hole punch on files (reads back zeroes), FALLOC_FL_ZERO_RANGE on
 * block devices (the kernel uses WRITE ZEROES or writes zeroes). */
int bdev_write_zeroes(struct bdev *bd, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len, bool unmap);

#endif
