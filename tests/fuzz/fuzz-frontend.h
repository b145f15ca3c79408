/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal, well-behaved vhost-user frontend for the device-model fuzz
 * targets (fuzz-blk, fuzz-net): guest RAM is one memfd of FF_MEM_SIZE bytes
 * that the target fills from the input and offers as two regions that are
 * contiguous in guest-physical space but not in frontend-virtual space (so a
 * buffer across FF_REGION_SPLIT becomes two iovecs). The handshake goes to
 * the real backend (vu_dev_process) over a socketpair, so queues start and
 * stop through vq_start/vq_stop on a real uloop worker, exactly as in
 * sluiced. Header-only (static functions): each target is one source file;
 * fuzz-vhost-msg uses only ff_count_fds(). */
#ifndef SLUICE_FUZZ_FRONTEND_H
#define SLUICE_FUZZ_FRONTEND_H

#include <dirent.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uloop.h"
#include "vhost/backend.h"
#include "msg.h"         /* vhost/ private */

#define FF_MEM_SIZE     (64u * 1024)
#define FF_REGION_SPLIT (32u * 1024)            /* gpa where region 1 starts */
#define FF_UVA0         0x7f0000000000ull       /* frontend address of gpa 0 */
#define FF_UVA1         0x7f2000000000ull       /* ... of gpa FF_REGION_SPLIT */

struct ff {
    struct uloop *worker;
    int memfd;
    uint8_t *mem;        /* the fuzzer's mapping: mem[gpa] */
    int kick, call;      /* the backend gets its own copies (SCM_RIGHTS) */
    int sock;            /* frontend end of the connection, per input */
    struct vu_dev *dev;
};

static inline void ff_init(struct ff *f, const char *name)
{
    log_init("fuzz", false, LOG_LVL_ERR);
    if (uloop_thread_start(name, 256, &f->worker) < 0)
        abort();
    f->memfd = memfd_create(name, MFD_CLOEXEC);
    if (f->memfd < 0 || ftruncate(f->memfd, FF_MEM_SIZE) < 0)
        abort();
    f->mem = mmap(NULL, FF_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    if (f->mem == MAP_FAILED)
        abort();
    f->kick = eventfd(0, EFD_CLOEXEC);
    f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->kick < 0 || f->call < 0)
        abort();
    f->sock = -1;
}

static inline uint64_t ff_uva(uint64_t gpa)
{
    return gpa < FF_REGION_SPLIT ? FF_UVA0 + gpa : FF_UVA1 + (gpa - FF_REGION_SPLIT);
}

static inline int ff_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* Guest memory for one input: @n bytes of @data from gpa 0, zero after. */
static inline void ff_fill(struct ff *f, const uint8_t *data, size_t n)
{
    memset(f->mem, 0, FF_MEM_SIZE);
    memcpy(f->mem, data, n < FF_MEM_SIZE ? n : FF_MEM_SIZE);
}

/* Optional features: @offered without the bits of every entry whose flag
 * is clear in the input's @flags. */
struct ff_optional {
    uint8_t flag;
    uint64_t bits;
};

static inline uint64_t ff_features(uint64_t offered, uint8_t flags,
                                   const struct ff_optional *opt, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!(flags & opt[i].flag))
            offered &= ~opt[i].bits;
    return offered;
}

/* Attach a fresh connection to @dev. */
static inline void ff_connect(struct ff *f, struct vu_dev *dev)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (vu_dev_attach(dev, sv[0]) < 0)
        abort();
    f->sock = sv[1];
    f->dev = dev;
}

/* Send one message (with @fd unless negative) and let the backend handle it;
 * replies are read and dropped. Returns vu_dev_process()'s result. */
static inline int ff_msg(struct ff *f, uint32_t req, const void *payload, uint32_t size,
                         const int *fds, unsigned nfds)
{
    struct vu_hdr h = { .request = req, .flags = VU_VERSION, .size = size };
    char sink[512];
    int r;

    if (vu_msg_send(f->sock, &h, payload, fds, nfds) < 0)
        abort();
    r = vu_dev_process(f->dev);
    while (recv(f->sock, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
    return r;
}

static inline void ff_u64(struct ff *f, uint32_t req, uint64_t v)
{
    if (ff_msg(f, req, &v, sizeof(v), NULL, 0) < 0)
        abort();
}

/* The two-region memory table over @memfd (SET_MEM_TABLE). */
static inline void ff_mem_table(struct ff *f, int memfd)
{
    struct vu_mem_table t = { .nregions = 2 };
    int fds[2] = { memfd, memfd };

    t.regions[0] = (struct vu_mem_region_desc){ 0, FF_REGION_SPLIT, FF_UVA0, 0 };
    t.regions[1] = (struct vu_mem_region_desc){ FF_REGION_SPLIT, FF_MEM_SIZE - FF_REGION_SPLIT,
                                                FF_UVA1, FF_REGION_SPLIT };
    if (ff_msg(f, VU_SET_MEM_TABLE, &t, 8 + 2 * sizeof(t.regions[0]), fds, 2) < 0)
        abort();
}

/* SET_OWNER, SET_FEATURES(@features; no PROTOCOL_FEATURES, so a kicked
 * ring is enabled at once) and the two-region memory table. */
static inline void ff_setup(struct ff *f, uint64_t features)
{
    if (ff_msg(f, VU_SET_OWNER, NULL, 0, NULL, 0) < 0)
        abort();
    ff_u64(f, VU_SET_FEATURES, features);
    ff_mem_table(f, f->memfd);
}

/* Lay out queue @index with @num entries from @ring_gpa: descriptors at
 * @ring_gpa, the avail ring right after them, the used ring at @used_gpa. */
struct ff_ring {
    uint64_t desc, avail, used;
    uint16_t num;
};

static inline struct ff_ring ff_ring_at(uint64_t ring_gpa, uint64_t used_gpa, uint16_t num)
{
    struct ff_ring r = { ring_gpa, ring_gpa + 16u * num, used_gpa, num };
    return r;
}

/* NUM, BASE, ADDR, CALL, KICK: the queue starts on the worker and its
 * handler runs once, over whatever the input put in guest memory. */
static inline void ff_start_ring(struct ff *f, unsigned index, const struct ff_ring *r,
                                 uint16_t base)
{
    struct vu_vring_state s = { index, r->num };
    struct vu_vring_addr a = { .index = index, .desc_user_addr = ff_uva(r->desc),
                               .used_user_addr = ff_uva(r->used),
                               .avail_user_addr = ff_uva(r->avail) };

    if (ff_msg(f, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0) < 0)
        abort();
    s.num = base;
    if (ff_msg(f, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0) < 0 ||
        ff_msg(f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0)
        abort();
    uint64_t v = index;
    if (ff_msg(f, VU_SET_VRING_CALL, &v, sizeof(v), &f->call, 1) < 0 ||
        ff_msg(f, VU_SET_VRING_KICK, &v, sizeof(v), &f->kick, 1) < 0)
        abort();
}

/* GET_VRING_BASE: stops the queue and waits until every chain taken from
 * the ring was given back. */
static inline void ff_stop_ring(struct ff *f, unsigned index)
{
    struct vu_vring_state s = { index, 0 };
    if (ff_msg(f, VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0) < 0)
        abort();
}

static inline void ff_disconnect(struct ff *f)
{
    close(f->sock);
    f->sock = -1;
    f->dev = NULL;
}

#endif
