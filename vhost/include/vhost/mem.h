/* SPDX-License-Identifier: Apache-2.0 */
/* Guest memory as shared by a vhost-user frontend: regions received as fds,
 * mapped once, translated from guest-physical (gpa) or frontend-virtual (uva)
 * addresses. Every translation is bounds-checked; nothing here trusts the peer. */
#ifndef SLUICE_VHOST_MEM_H
#define SLUICE_VHOST_MEM_H

#include <stdint.h>
#include <stddef.h>
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
};

struct vu_mem {
    unsigned n;
    struct vu_mem_region r[VU_MAX_MEM_SLOTS];
};

/* Map @fd as described by @d and add it. The fd is not consumed (the caller
 * closes it; the mapping stays valid). Rejects: zero or overflowing sizes,
 * ranges beyond the file's size, overlap with another region's gpa or uva
 * range, a full table. Returns 0, -EINVAL, -ENOSPC, -EEXIST or -errno of mmap. */
int vu_mem_add(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd);

/* Unmap and remove the region matching @d's gpa and size. Returns 0 or
 * -ENOENT. */
int vu_mem_remove(struct vu_mem *m, const struct vu_mem_region_desc *d);

/* A region identical to @d (same gpa, size and uva) exists: take one more
 * reference and return 0; else -ENOENT. */
int vu_mem_ref(struct vu_mem *m, const struct vu_mem_region_desc *d);
/* Drop one extra reference of the region matching @d: returns 0 when a
 * reference was dropped (the region stays), -ENOENT when none is left (the
 * caller removes the region). */
int vu_mem_unref(struct vu_mem *m, const struct vu_mem_region_desc *d);

/* Unmap everything. */
void vu_mem_clear(struct vu_mem *m);

/* Translate [gpa, gpa+*len): returns the host address and shrinks *len to
 * the bytes contiguous in one region, or NULL when gpa is unmapped or *len is 0. */
void *vu_mem_gpa(const struct vu_mem *m, uint64_t gpa, uint64_t *len);

/* Translate a whole range that must lie in one region, by gpa or uva.
 * Returns NULL otherwise. */
void *vu_mem_gpa_range(const struct vu_mem *m, uint64_t gpa, uint64_t len);
void *vu_mem_uva_range(const struct vu_mem *m, uint64_t uva, uint64_t len);

#endif
