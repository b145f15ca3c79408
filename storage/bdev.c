/* SPDX-License-Identifier: Apache-2.0 */
#include "storage/bdev.h"
#include "core/log.h"
#include "core/util.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>

struct bdev {
    int fd;          /* O_DIRECT when info.direct, else buffered */
    int fd_buffered; /* for misaligned buffers; == fd when not direct */
    struct bdev_info info;
    char *path;
    /* A file in memory (tmpfs, ramfs): read and written in place. io_uring
     * cannot issue I/O on such a file without blocking (no NOWAIT support)
     * and hands every request to an io-wq thread, a wake-up and a context
     * switch per request, while the copy itself never waits on a device. */
    bool in_memory;
};

static int read_size(struct bdev *bd)
{
    struct stat st;
    uint64_t size;

    if (fstat(bd->fd, &st) < 0)
        return neg_errno();
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(bd->fd, BLKGETSIZE64, &size) < 0)
            return neg_errno();
    } else {
        size = (uint64_t)st.st_size;
    }
    bd->info.size = size & ~511ull;
    return 0;
}

static bool in_memory_fs(int fd)
{
    struct statfs sfs;

    if (fstatfs(fd, &sfs) < 0)
        return false;
    return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

int bdev_open(const char *path, unsigned flags, struct bdev **out)
{
    int oflags = O_CLOEXEC | ((flags & BDEV_RDONLY) ? O_RDONLY : O_RDWR);
    struct bdev *bd;
    struct stat st;
    int r;

    bd = calloc(1, sizeof(*bd));
    if (!bd)
        return -ENOMEM;
    bd->fd = bd->fd_buffered = -1;
    bd->path = strdup(path);
    if (!bd->path) {
        r = -ENOMEM;
        goto err;
    }
    bd->fd_buffered = open(path, oflags);
    if (bd->fd_buffered < 0) {
        r = neg_errno();
        goto err;
    }
    if (fstat(bd->fd_buffered, &st) < 0) {
        r = neg_errno();
        goto err;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        r = -EINVAL;
        goto err;
    }
    bd->info.is_blockdev = S_ISBLK(st.st_mode);
    bd->in_memory = S_ISREG(st.st_mode) && in_memory_fs(bd->fd_buffered);
    bd->info.readonly = flags & BDEV_RDONLY;
    bd->info.logical_block = 512;
    if (bd->info.is_blockdev) {
        int lbs = 0;
        if (ioctl(bd->fd_buffered, BLKSSZGET, &lbs) == 0 && lbs >= 512)
            bd->info.logical_block = (uint32_t)lbs;
        bd->info.dio_align = bd->info.logical_block;
    } else {
        /* Conservative without STATX_DIOALIGN: the file system block. */
        bd->info.dio_align = st.st_blksize >= 512 ? (uint32_t)st.st_blksize : 4096;
    }
    bd->fd = -1;
    if (!(flags & BDEV_NO_DIRECT)) {
        bd->fd = open(path, oflags | O_DIRECT);
        if (bd->fd < 0 && errno != EINVAL) {
            r = neg_errno();
            goto err;
        }
        if (bd->fd < 0)
            log_info("%s: file system does not support O_DIRECT; using the page cache", path);
    }
    if (bd->fd >= 0) {
        bd->info.direct = true;
    } else {
        bd->fd = bd->fd_buffered;
    }
    r = read_size(bd);
    if (r < 0)
        goto err;
    if (bd->info.size == 0) {
        r = -EINVAL;
        goto err;
    }
    *out = bd;
    return 0;

err:
    bdev_close(bd);
    return r;
}

void bdev_close(struct bdev *bd)
{
    if (!bd)
        return;
    if (bd->fd != bd->fd_buffered)
        close_fd(&bd->fd);
    close_fd(&bd->fd_buffered);
    free(bd->path);
    free(bd);
}

const struct bdev_info *bdev_get_info(const struct bdev *bd)
{
    return &bd->info;
}

int bdev_fd(const struct bdev *bd)
{
    return bd->fd_buffered;
}

int bdev_refresh_size(struct bdev *bd)
{
    return read_size(bd);
}

static bool aligned(const struct bdev *bd, const struct iovec *iov, unsigned n, uint64_t off)
{
    uint64_t mask = bd->info.dio_align - 1;

    if (off & mask)
        return false;
    for (unsigned i = 0; i < n; i++)
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & mask)
            return false;
    return true;
}

int bdev_rw(struct bdev *bd, struct uloop *loop, struct uloop_op *done, bool write,
            const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    struct io_uring_sqe *sqe;
    int fd = bd->fd;

    if (write && bd->info.readonly)
        return -EROFS;
    if (bd->in_memory) {
        ssize_t n = write ? pwritev(bd->fd_buffered, iov, (int)iovcnt, (off_t)offset)
                          : preadv(bd->fd_buffered, iov, (int)iovcnt, (off_t)offset);
        uloop_post(loop, done, n < 0 ? neg_errno() : (int)n);
        return 0;
    }
    if (bd->info.direct && !aligned(bd, iov, iovcnt, offset))
        fd = bd->fd_buffered;
    sqe = uloop_sqe(loop);
    if (iovcnt == 1) {
        if (write)
            io_uring_prep_write(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len, offset);
        else
            io_uring_prep_read(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len, offset);
    } else if (write) {
        io_uring_prep_writev(sqe, fd, iov, iovcnt, offset);
    } else {
        io_uring_prep_readv(sqe, fd, iov, iovcnt, offset);
    }
    uloop_sqe_set_op(sqe, done);
    return 0;
}

int bdev_flush(struct bdev *bd, struct uloop *loop, struct uloop_op *done)
{
    struct io_uring_sqe *sqe;

    if (bd->in_memory) {
        /* Nothing to write back; the call keeps the file's semantics. */
        uloop_post(loop, done, fdatasync(bd->fd_buffered) < 0 ? neg_errno() : 0);
        return 0;
    }
    sqe = uloop_sqe(loop);

    io_uring_prep_fsync(sqe, bd->fd, IORING_FSYNC_DATASYNC);
    uloop_sqe_set_op(sqe, done);
    return 0;
}

static void prep_fallocate(struct uloop *loop, struct uloop_op *done, int fd, int mode,
                           uint64_t offset, uint64_t len)
{
    struct io_uring_sqe *sqe = uloop_sqe(loop);
    io_uring_prep_fallocate(sqe, fd, mode, (off_t)offset, (off_t)len);
    uloop_sqe_set_op(sqe, done);
}

int bdev_discard(struct bdev *bd, struct uloop *loop, struct uloop_op *done,
                 uint64_t offset, uint64_t len)
{
    if (bd->info.readonly)
        return -EROFS;
    if (bd->info.is_blockdev) {
        /* No io_uring opcode for a plain discard on this kernel baseline:
         * the ioctl runs here and completes through the loop. Discards are
         * rare and batched by the guest. */
        uint64_t range[2] = { offset, len };
        int r = ioctl(bd->fd_buffered, BLKDISCARD, range) < 0 ? neg_errno() : 0;
        uloop_post(loop, done, r);
        return 0;
    }
    prep_fallocate(loop, done, bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
    return 0;
}

int bdev_write_zeroes(struct bdev *bd, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len, bool unmap)
{
    (void)unmap;
    if (bd->info.readonly)
        return -EROFS;
    if (bd->info.is_blockdev)
        prep_fallocate(loop, done, bd->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, len);
    else
        prep_fallocate(loop, done, bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
    return 0;
}
