/* SPDX-License-Identifier: Apache-2.0 */
#include "mem.h"
#include "core/log.h"
#include "core/util.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* ---- SIGBUS guard ----------------------------------------------------- */

/* 256 devices with every memory slot used, plus their inflight regions. */
#define GUARD_SLOTS (256 * (VU_MAX_MEM_SLOTS + 1))

struct guard_slot {
    uintptr_t start;             /* 0: free; published last (release) */
    size_t len;
    const char *owner;
    volatile bool *broken;
    volatile sig_atomic_t faulted;
};

static struct guard_slot *guard;
static unsigned guard_used;      /* slots [0, guard_used) may be live */
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static struct sigaction guard_prev;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    unsigned used = __atomic_load_n(&guard_used, __ATOMIC_ACQUIRE);

    for (unsigned i = 0; i < used; i++) {
        struct guard_slot *g = &guard[i];
        uintptr_t s = __atomic_load_n(&g->start, __ATOMIC_ACQUIRE);
        char msg[200] = "";
        if (!s || a < s || a - s >= g->len)
            continue;
        /* Zero pages instead of the file: the access that faulted resumes
         * on them, and no later access faults again. */
        if (mmap((void *)s, g->len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            break;
        if (g->broken)
            *g->broken = true;
        if (!g->faulted) {
            g->faulted = 1;
            strncat(msg, g->owner ? g->owner : "vhost-user", 64);
            strcat(msg, ": guest memory shrank under a mapped region (SIGBUS); "
                        "it reads as zeroes now, device needs reset");
            log_from_signal(msg);
        }
        return;
    }
    /* Not guest memory: what would have happened without us. */
    if ((guard_prev.sa_flags & SA_SIGINFO) && guard_prev.sa_sigaction) {
        guard_prev.sa_sigaction(sig, si, uctx);
        return;
    }
    if (guard_prev.sa_handler != SIG_DFL && guard_prev.sa_handler != SIG_IGN) {
        guard_prev.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL);   /* the access faults again and ends the process */
}

static void guard_alloc(void)
{
    guard = calloc(GUARD_SLOTS, sizeof(*guard));
}

/* (Re)install the handler when someone else took SIGBUS since (a test
 * framework does per test), chaining to theirs. Under guard_lock. */
static int guard_install(void)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO }, cur;

    if (sigaction(SIGBUS, NULL, &cur) < 0)
        return neg_errno();
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
        return 0;
    sigemptyset(&sa.sa_mask);
    guard_prev = cur;
    if (sigaction(SIGBUS, &sa, NULL) < 0)
        return neg_errno();
    return 0;
}

int vu_mem_guard_add(void *base, size_t len, const char *owner, volatile bool *broken)
{
    int slot = -ENOSPC;

    pthread_once(&guard_once, guard_alloc);
    if (!guard)
        return -ENOMEM;
    pthread_mutex_lock(&guard_lock);
    if (guard_install() < 0)
        goto out;
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        struct guard_slot *g = &guard[i];
        if (g->start)
            continue;
        g->len = len;
        g->owner = owner;
        g->broken = broken;
        g->faulted = 0;
        __atomic_store_n(&g->start, (uintptr_t)base, __ATOMIC_RELEASE);
        if (i >= guard_used)
            __atomic_store_n(&guard_used, i + 1, __ATOMIC_RELEASE);
        slot = (int)i;
        break;
    }
out:
    pthread_mutex_unlock(&guard_lock);
    return slot;
}

void vu_mem_guard_remove(int slot)
{
    if (slot < 0 || !guard)
        return;
    pthread_mutex_lock(&guard_lock);
    __atomic_store_n(&guard[slot].start, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&guard_lock);
}

bool vu_mem_guard_faulted(int slot)
{
    return slot >= 0 && guard && guard[slot].faulted;
}

/* ---- regions ---------------------------------------------------------- */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int vu_mem_add(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd)
{
    struct vu_mem_region *r;
    uint64_t map_len, end;
    int seals, guard_slot;
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
    seals = fcntl(fd, F_GET_SEALS);
    guard_slot = vu_mem_guard_add(base, (size_t)map_len, m->owner, m->broken);
    if (guard_slot < 0) {
        munmap(base, (size_t)map_len);
        return guard_slot;
    }
    r = &m->r[m->n++];
    r->guard = guard_slot;
    r->sealed = seals >= 0 && (seals & F_SEAL_SHRINK);
    r->file_dev = st.st_dev;
    r->file_ino = st.st_ino;
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
        vu_mem_guard_remove(r->guard);
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

int vu_mem_ref(struct vu_mem *m, const struct vu_mem_region_desc *d, int fd)
{
    struct vu_mem_region *r = find_same(m, d);
    struct stat st;

    if (!r)
        return -ENOENT;
    /* The same addresses over other memory is not the same region. */
    if (r->mmap_offset != d->mmap_offset || fd < 0 || fstat(fd, &st) < 0 ||
        st.st_dev != r->file_dev || st.st_ino != r->file_ino || r->refs == UINT_MAX)
        return -EEXIST;
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
    const char *owner = m->owner;
    volatile bool *broken = m->broken;

    for (unsigned i = 0; i < m->n; i++) {
        vu_mem_guard_remove(m->r[i].guard);
        munmap(m->r[i].map_base, m->r[i].map_len);
    }
    memset(m, 0, sizeof(*m));
    m->owner = owner;
    m->broken = broken;
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

const struct vu_mem_region *vu_mem_uva_region(const struct vu_mem *m, uint64_t uva,
                                              uint64_t len)
{
    if (len == 0)
        return NULL;
    for (unsigned i = 0; i < m->n; i++) {
        const struct vu_mem_region *r = &m->r[i];
        if (uva >= r->uva && uva - r->uva < r->size && len <= r->size - (uva - r->uva))
            return r;
    }
    return NULL;
}

void *vu_mem_uva_range(const struct vu_mem *m, uint64_t uva, uint64_t len)
{
    const struct vu_mem_region *r = vu_mem_uva_region(m, uva, len);

    return r ? r->hva + (uva - r->uva) : NULL;
}
