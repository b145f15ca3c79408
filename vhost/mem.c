/* SPDX-License-Identifier: Apache-2.0 */
#include "vhost/mem.h"
#include "core/util.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int vu_mem_add(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd)
{
    struct vu_mem_region *r;
    uint64_t map_len, end;
    struct stat st;
    void *base;

    if (m->n >= VU_MAX_MEM_SLOTS)
        return -ENOSPC;
    if (d->memory_size == 0 || fd < 0)
        return -EINVAL;
    if (add_overflows_u64(d->guest_phys_addr, d->memory_size, &end) ||
        add_overflows_u64(d->userspace_addr, d->memory_size, &end) ||
        add_overflows_u64(d->mmap_offset, d->memory_size, &map_len) ||
        map_len > SIZE_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < m->n; i++) {
        if (overlaps(d->guest_phys_addr, d->memory_size, m->r[i].gpa, m->r[i].size) ||
            overlaps(d->userspace_addr, d->memory_size, m->r[i].uva, m->r[i].size))
            return -EEXIST;
    }
    /* Touching a mapping past the end of its file raises SIGBUS: refuse
     * regions the file cannot back. */
    if (fstat(fd, &st) < 0)
        return neg_errno();
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < map_len)
        return -EINVAL;
    base = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (base == MAP_FAILED)
        return neg_errno();
    r = &m->r[m->n++];
    r->gpa = d->guest_phys_addr;
    r->size = d->memory_size;
    r->uva = d->userspace_addr;
    r->mmap_offset = d->mmap_offset;
    r->map_base = base;
    r->map_len = (size_t)map_len;
    r->hva = (uint8_t *)base + d->mmap_offset;
    return 0;
}

int vu_mem_remove(struct vu_mem *m, const struct vu_mem_region_desc *d)
{
    for (unsigned i = 0; i < m->n; i++) {
        struct vu_mem_region *r = &m->r[i];
        if (r->gpa != d->guest_phys_addr || r->size != d->memory_size)
            continue;
        munmap(r->map_base, r->map_len);
        m->r[i] = m->r[--m->n];
        memset(&m->r[m->n], 0, sizeof(m->r[m->n]));
        return 0;
    }
    return -ENOENT;
}

static struct vu_mem_region *find_same(struct vu_mem *m, const struct vu_mem_region_desc *d)
{
    for (unsigned i = 0; i < m->n; i++)
        if (m->r[i].gpa == d->guest_phys_addr && m->r[i].size == d->memory_size &&
            m->r[i].uva == d->userspace_addr)
            return &m->r[i];
    return NULL;
}

int vu_mem_ref(struct vu_mem *m, const struct vu_mem_region_desc *d)
{
    struct vu_mem_region *r = find_same(m, d);

    if (!r)
        return -ENOENT;
    r->refs++;
    return 0;
}

int vu_mem_unref(struct vu_mem *m, const struct vu_mem_region_desc *d)
{
    struct vu_mem_region *r = find_same(m, d);

    if (!r || r->refs == 0)
        return -ENOENT;
    r->refs--;
    return 0;
}

void vu_mem_clear(struct vu_mem *m)
{
    for (unsigned i = 0; i < m->n; i++)
        munmap(m->r[i].map_base, m->r[i].map_len);
    memset(m, 0, sizeof(*m));
}

void *vu_mem_gpa(const struct vu_mem *m, uint64_t gpa, uint64_t *len)
{
    if (*len == 0)
        return NULL;
    for (unsigned i = 0; i < m->n; i++) {
        const struct vu_mem_region *r = &m->r[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
            uint64_t off = gpa - r->gpa;
            if (*len > r->size - off)
                *len = r->size - off;
            return r->hva + off;
        }
    }
    return NULL;
}

void *vu_mem_gpa_range(const struct vu_mem *m, uint64_t gpa, uint64_t len)
{
    uint64_t got = len;
    void *p = vu_mem_gpa(m, gpa, &got);
    return p && got == len ? p : NULL;
}

void *vu_mem_uva_range(const struct vu_mem *m, uint64_t uva, uint64_t len)
{
    if (len == 0)
        return NULL;
    for (unsigned i = 0; i < m->n; i++) {
        const struct vu_mem_region *r = &m->r[i];
        if (uva >= r->uva && uva - r->uva < r->size && len <= r->size - (uva - r->uva))
            return r->hva + (uva - r->uva);
    }
    return NULL;
}
