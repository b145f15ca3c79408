/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"
#include "core/util.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/stat.h>

uint64_t vu_log_size_needed(const struct vu_mem *m)
{
    uint64_t end = 0;

    for (unsigned i = 0; i < m->n; i++)
        if (m->r[i].gpa + m->r[i].size > end)
            end = m->r[i].gpa + m->r[i].size;
    /* bits for every page below @end, rounded up to whole bytes */
    return (end / VU_LOG_PAGE + (end % VU_LOG_PAGE != 0) + 7) / 8;
}

int vu_log_map(struct vu_log *out, int fd, uint64_t len, uint64_t offset, const char *owner,
               volatile bool *broken)
{
    struct stat st;
    uint64_t end;
    void *base;
    int guard;

    if (len == 0 || add_overflows_u64(offset, len, &end) || end > SIZE_MAX)
        return -EINVAL;
    if (fstat(fd, &st) < 0)
        return neg_errno();
    if ((uint64_t)st.st_size < end)
        return -EINVAL;
    /* Only the page-aligned window that holds the log: the frontend picks
     * the offset, and mapping from 0 would map all of the file before it. */
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), start = offset & ~(pg - 1);
    size_t maplen = (size_t)(end - start);
    base = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
    if (base == MAP_FAILED)
        return neg_errno();
    guard = vu_mem_guard_add(base, maplen, owner, broken);
    if (guard < 0) {
        munmap(base, maplen);
        return guard;
    }
    out->map_base = base;
    out->map_len = maplen;
    out->bits = (uint8_t *)base + (offset - start);
    out->len = len;
    out->guard = guard;
    return 0;
}

void vu_log_unmap(struct vu_log *log)
{
    if (log->map_base) {
        vu_mem_guard_remove(log->guard);
        munmap(log->map_base, log->map_len);
    }
    log->map_base = NULL;
    log->map_len = 0;
    log->bits = NULL;
    log->len = 0;
    log->guard = -1;
}

static void mark_gpa(const struct vu_log *log, uint64_t gpa, uint64_t len)
{
    uint64_t first = gpa / VU_LOG_PAGE, last = (gpa + len - 1) / VU_LOG_PAGE;

    for (uint64_t pg = first; pg <= last && pg / 8 < log->len; pg++)
        __atomic_fetch_or(&log->bits[pg / 8], (uint8_t)(1u << (pg % 8)), __ATOMIC_RELAXED);
}

void vu_log_write(const struct vu_log *log, const struct vu_mem *m, const void *p, size_t len)
{
    const uint8_t *h = p;

    if (!log->bits || len == 0)
        return;
    for (unsigned i = 0; i < m->n; i++) {
        const struct vu_mem_region *r = &m->r[i];
        if (h >= r->hva && (uint64_t)(h - r->hva) < r->size) {
            uint64_t off = (uint64_t)(h - r->hva);
            mark_gpa(log, r->gpa + off, MIN((uint64_t)len, r->size - off));
            return;
        }
    }
}

void vu_log_iov(const struct vu_log *log, const struct vu_mem *m, const struct iovec *iov,
                unsigned n, size_t len)
{
    for (unsigned i = 0; i < n && len; i++) {
        size_t c = MIN(iov[i].iov_len, len);
        vu_log_write(log, m, iov[i].iov_base, c);
        len -= c;
    }
}
