/* SPDX-License-Identifier: Apache-2.0 */
/* Private to vhost/ (tests include it explicitly). The dirty-page log of
 * live migration (vhost-user SET_LOG_BASE with LOG_SHMFD, VHOST_F_LOG_ALL):
 * a bitmap shared with the frontend, one bit per 4 KiB page of guest-physical
 * memory (bit 0 of byte 0 is page 0). While the frontend has LOG_ALL on,
 * every byte sluiced writes into guest memory marks its page here, before
 * the used entry that tells the guest about it is published; the frontend
 * reads and clears the bitmap to resend those pages. */
#ifndef SLUICE_VHOST_LOG_H
#define SLUICE_VHOST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"
#include "vq-int.h"

#define VU_LOG_PAGE 4096u

struct vu_log {
    uint8_t *bits;          /* the bitmap (map_base + the frontend's offset) */
    uint64_t len;           /* bytes of bitmap */
    void *map_base;
    size_t map_len;
    int guard;              /* fault guard slot (vu_mem_guard_add), or -1 */
};

/* Bytes of bitmap that cover every page of @m's regions. */
uint64_t vu_log_size_needed(const struct vu_mem *m);

/* Map @len bytes of bitmap at @offset of @fd (an fd of the frontend's,
 * not consumed) into @out, guarded against the file shrinking like guest
 * memory. Returns 0, -EINVAL (empty, overflowing, beyond the file) or -errno
 * of fstat/mmap; @out is untouched on failure. @owner and @broken as for
 * vu_mem_guard_add(). */
int vu_log_map(struct vu_log *out, int fd, uint64_t len, uint64_t offset, const char *owner,
               volatile bool *broken);
/* Unmap (safe on an empty or zeroed log; leaves it empty). */
void vu_log_unmap(struct vu_log *log);

/* Mark the pages of host range [@p, @p+@len) dirty: @p points into one of
 * @m's regions (the guest-physical address comes from the region), an
 * atomic OR per page. Bytes outside every region or beyond the bitmap are
 * not marked (the frontend sized the log for the memory it gave). Any
 * thread. */
void vu_log_write(const struct vu_log *log, const struct vu_mem *m, const void *p, size_t len);
/* The same for the first @len bytes of an iovec array. */
void vu_log_iov(const struct vu_log *log, const struct vu_mem *m, const struct iovec *iov,
                unsigned n, size_t len);

/* Worker: what a queue's device writes into guest memory, logged while the
 * queue logs (vq->log set at start); one predictable branch otherwise. */
static inline void vq_log(const struct vq *vq, const void *p, size_t len)
{
    if (__builtin_expect(vq->log != NULL, 0))
        vu_log_write(vq->log, vq->mem, p, len);
}

static inline void vq_log_iov(const struct vq *vq, const struct iovec *iov, unsigned n,
                              size_t len)
{
    if (__builtin_expect(vq->log != NULL, 0))
        vu_log_iov(vq->log, vq->mem, iov, n, len);
}

#endif
