/* SPDX-License-Identifier: Apache-2.0 */
/* Private to vhost/ (tests include it explicitly). Guest memory as shared by
 * a vhost-user frontend: regions received as fds,
 * mapped once, translated from guest-physical (gpa) or frontend-virtual (uva)
 * addresses. Every translation is bounds-checked; nothing here trusts the peer. */
#ifndef SLUICE_VHOST_MEM_H
#define SLUICE_VHOST_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include "vhost/proto.h"

struct vu_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva;
    uint64_t mmap_offset;
    uint8_t *hva;          /* host address of gpa (mmap base + offset) */
    void *map_base;
    size_t map_len;
    unsigned refs;         /* extra ADD_MEM_REG of the same region */
    bool sealed;           /* the file carries F_SEAL_SHRINK */
    dev_t file_dev;        /* the file behind the fd (identical-region test) */
    ino_t file_ino;
    int guard;             /* slot in the fault guard (vu_mem_guard_add) */
};

struct vu_mem {
    unsigned n;
    struct vu_mem_region r[VU_MAX_MEM_SLOTS];
    /* Set by the owner, kept by vu_mem_clear(): the name in the fault log
     * line, and the flag a fault in any region sets (NULL-able). */
    const char *owner;
    volatile bool *broken;
};

/* Guest memory may be a file the peer can shrink after we mapped it (a
 * memfd without F_SEAL_SHRINK, a regular or hugetlbfs file): touching a page
 * past the new end raises SIGBUS. Every mapping of peer memory is therefore
 * registered with a process-wide SIGBUS handler (installed on first use,
 * chaining to the handler it replaces for faults elsewhere). On a fault
 * inside a registered mapping it replaces the whole mapping with anonymous
 * zero pages (mmap MAP_FIXED, async-signal-safe), sets *@broken, logs one
 * line (log_from_signal) and lets the access resume on the zero pages: the
 * process survives and only the owner of the mapping breaks. Kernel accesses
 * (io_uring, readv/writev) into such memory fail with -EFAULT instead.
 *
 * Register [@base, @base+@len) for @owner (borrowed; must outlive the
 * registration). Returns the slot (>= 0) or -ENOSPC. Thread-safe. */
int vu_mem_guard_add(void *base, size_t len, const char *owner, volatile bool *broken);
/* Forget slot @slot (before the mapping is unmapped); -1 is ignored. */
void vu_mem_guard_remove(int slot);
/* True once a fault hit slot @slot. */
bool vu_mem_guard_faulted(int slot);

/* Map @fd as described by @d and add it (guarded, see above; r->sealed says
 * whether the file can shrink at all). The fd is not consumed (the caller
 * closes it; the mapping stays valid). Rejects: zero or overflowing sizes,
 * ranges beyond the file's size, overlap with another region's gpa or uva
 * range, a full table or guard. Returns 0, -EINVAL, -ENOSPC, -EEXIST or
 * -errno of mmap. */
int vu_mem_add(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd);

/* Unmap and remove the region matching @d's gpa and size. Returns 0 or
 * -ENOENT. */
int vu_mem_remove(struct vu_mem *m, const struct vu_mem_region_desc *d);

/* A region identical to @d (same gpa, size, uva and mmap offset, backed by
 * the same file as @fd) exists: take one more reference and return 0; else
 * -ENOENT (no such region) or -EEXIST (same range, other memory). */
int vu_mem_ref(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd);
/* Drop one extra reference of the region matching @d: returns 0 when a
 * reference was dropped (the region stays), -ENOENT when none is left (the
 * caller removes the region). */
int vu_mem_unref(struct vu_mem *m, const struct vu_mem_region_desc *d);

/* The region containing uva range [@uva, @uva+@len), or NULL. */
const struct vu_mem_region *vu_mem_uva_region(const struct vu_mem *m, uint64_t uva,
                                              uint64_t len);

/* Unmap everything (owner and broken stay). */
void vu_mem_clear(struct vu_mem *m);

/* Translate [gpa, gpa+*len): returns the host address and shrinks *len to
 * the bytes contiguous in one region, or NULL when gpa is unmapped or *len is 0. */
void *vu_mem_gpa(const struct vu_mem *m, uint64_t gpa, uint64_t *len);

/* Translate a whole range that must lie in one region, by gpa or uva.
 * Returns NULL otherwise. */
void *vu_mem_gpa_range(const struct vu_mem *m, uint64_t gpa, uint64_t len);
void *vu_mem_uva_range(const struct vu_mem *m, uint64_t uva, uint64_t len);

#endif
