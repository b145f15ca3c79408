/* SPDX-License-Identifier: Apache-2.0 */
#include "guest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "vq-int.h"      /* vhost/ private: struct vq */

void guest_create(struct guest *g, const char *name, uint64_t size, uint64_t gpa, uint64_t uva)
{
    memset(g, 0, sizeof(*g));
    g->fd = memfd_create(name, MFD_CLOEXEC);
    assert_true(g->fd >= 0);
    assert_int_equal(ftruncate(g->fd, (off_t)size), 0);
    g->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
    assert_true(g->base != MAP_FAILED);
    g->size = size;
    g->gpa = gpa;
    g->uva = uva;
    g->next = 0;
}

void guest_destroy(struct guest *g)
{
    if (g->base && g->base != MAP_FAILED)
        munmap(g->base, g->size);
    if (g->fd >= 0)
        close(g->fd);
    memset(g, 0, sizeof(*g));
    g->fd = -1;
}

void *guest_ptr(const struct guest *g, uint64_t gpa)
{
    assert_true(gpa >= g->gpa && gpa - g->gpa < g->size);
    return g->base + (gpa - g->gpa);
}

uint64_t guest_alloc(struct guest *g, uint64_t size, uint64_t align)
{
    uint64_t off = (g->next + align - 1) & ~(align - 1);
    assert_true(off + size <= g->size);
    g->next = off + size;
    return g->gpa + off;
}

struct vu_mem_region_desc guest_region(const struct guest *g, uint64_t off, uint64_t size)
{
    struct vu_mem_region_desc d = {
        .guest_phys_addr = g->gpa + off,
        .memory_size = size,
        .userspace_addr = g->uva + off,
        .mmap_offset = off,
    };
    return d;
}

void tring_init(struct tring *r, struct guest *g, uint16_t num)
{
    memset(r, 0, sizeof(*r));
    r->g = g;
    r->num = num;
    r->desc_gpa = guest_alloc(g, 16ull * num, 16);
    r->avail_gpa = guest_alloc(g, 6 + 2ull * num, 2);
    r->used_gpa = guest_alloc(g, 6 + 8ull * num, 4);
    r->desc = guest_ptr(g, r->desc_gpa);
    r->avail = guest_ptr(g, r->avail_gpa);
    r->used = guest_ptr(g, r->used_gpa);
}

uint64_t tring_desc_uva(const struct tring *r)
{
    return r->g->uva + (r->desc_gpa - r->g->gpa);
}

uint64_t tring_avail_uva(const struct tring *r)
{
    return r->g->uva + (r->avail_gpa - r->g->gpa);
}

uint64_t tring_used_uva(const struct tring *r)
{
    return r->g->uva + (r->used_gpa - r->g->gpa);
}

void tring_desc(struct tring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next)
{
    assert_true(i < r->num);
    r->desc[i].addr = addr;
    r->desc[i].len = len;
    r->desc[i].flags = flags;
    r->desc[i].next = next;
}

void tring_avail(struct tring *r, uint16_t head)
{
    r->avail->ring[r->avail_idx % r->num] = head;
    r->avail_idx++;
    __atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

void tring_set_avail_idx(struct tring *r, uint16_t idx)
{
    r->avail_idx = idx;
    __atomic_store_n(&r->avail->idx, idx, __ATOMIC_RELEASE);
}

uint16_t tring_used_idx(const struct tring *r)
{
    return __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
}

struct vring_used_elem tring_used(const struct tring *r, uint16_t i)
{
    return r->used->ring[i % r->num];
}

volatile uint16_t *tring_used_event(struct tring *r)
{
    return &r->avail->ring[r->num];
}

volatile uint16_t *tring_avail_event(struct tring *r)
{
    return (volatile uint16_t *)&r->used->ring[r->num];
}

int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;   /* the directory's own fd */
}

int count_mappings(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

bool mapped(const char *needle)
{
    return count_mappings(needle) > 0;
}

uint64_t eventfd_wait(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    uint64_t v = 0;

    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

uint8_t pattern_byte(uint32_t seed, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32 | seed);
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (uint8_t)(x | 1);   /* never zero: zeroed ranges stand out */
}

void pattern_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_byte(seed, off + i);
}

int make_temp_file(char *path, size_t pathlen, uint64_t size, uint32_t seed)
{
    const char *dir = getenv("TMPDIR");
    uint8_t buf[4096];
    int fd;

    snprintf(path, pathlen, "%s/sluice-unit-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    for (uint64_t off = 0; off < size; off += sizeof(buf)) {
        size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        pattern_fill(buf, n, seed, off);
        assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    }
    close(fd);
    return 0;
}

static void *stop_thread(void *arg)
{
    vq_stop(arg);
    return NULL;
}

struct stop_probe {
    struct vq *vq;
    bool begun;
};

static void probe_stop_on_loop(void *arg)
{
    struct stop_probe *sp = arg;
    sp->begun = sp->vq->stopping && !sp->vq->kick_armed;
}

void vq_stop_begin(struct vq *vq, pthread_t *t)
{
    struct stop_probe sp = { vq, false };

    assert_int_equal(pthread_create(t, NULL, stop_thread, vq), 0);
    for (int i = 0; i < 2000 && !sp.begun; i++) {
        usleep(1000);
        assert_int_equal(uloop_call(vq->loop, probe_stop_on_loop, &sp), 0);
    }
    assert_true(sp.begun);
}
