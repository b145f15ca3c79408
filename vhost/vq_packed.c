/* SPDX-License-Identifier: Apache-2.0 */
/* Packed virtqueues (virtio 1.2 section 2.8) on the device side: one
 * descriptor ring that the driver fills and the device overwrites with used
 * descriptors, availability told by the AVAIL/USED flag bits against a wrap
 * counter on each side, and an event suppression structure each way.
 *
 * Guest input rules are those of the split ring (vhost/vq.c): every
 * descriptor is copied out once, a chain is at most the queue size long
 * and every descriptor of it must be available for the current wrap, buffer
 * ids are below the queue size and not already in flight, indirect tables
 * lie in guest memory and nest no further; any violation breaks the queue
 * (and the device: NEEDS_RESET) through vq_set_broken().
 *
 * Inflight tracking (vhost-user INFLIGHT_SHMFD, the specification's packed
 * layout): every chain taken is copied into entries of a free list in the
 * shared region before it is handed to the device model, and given back
 * when its used descriptor is written; each update ends by copying the
 * state into the old_* fields. A restarted backend commits the update it
 * finds half done when the guest can already see its used descriptor, and
 * rolls it back otherwise, then resubmits the chains still marked in
 * flight from their copies (the ring slots may hold used descriptors by
 * then), oldest first, and continues the ring right after them: the base
 * QEMU sends after a backend died is the stale one of the last start. The
 * region is as untrusted as the ring: every index is bounded, chains may
 * not share entries, and a malformed region refuses the start. */
#include "vq_packed.h"
#include "log.h"
#include "mem.h"
#include "core/log.h"
#include "core/util.h"

#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#define READ_ONCE(x)      (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)  (*(volatile __typeof__(x) *)&(x) = (v))

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)
#define WRAP_BIT 0x8000u
#define IDX_MASK 0x7fffu

/* What the device knows about one buffer id between pop and push. */
struct pk_buf {
    uint16_t start;       /* ring slot of its first descriptor */
    uint16_t ndescs;      /* ring descriptors it took (1 when indirect) */
    bool start_wrap;      /* driver wrap counter at @start */
    bool busy;            /* popped, not pushed or unpopped */
    bool resub;           /* handed out again from the inflight region */
    uint16_t ifl_head;    /* its entries in the inflight region */
    uint16_t ifl_last;
};

struct vq_packed {
    struct vring_packed_desc *desc;
    struct vring_packed_desc_event *driver;   /* driver area: read only */
    struct vring_packed_desc_event *device;   /* device area: written */
    uint16_t avail_idx, used_idx;
    bool avail_wrap, used_wrap;
    bool pushed;               /* used descriptors written since the last flush */
    bool signalled_valid;
    uint16_t signalled;        /* used position at the last notification check */
    uint16_t logpos;           /* next slot of @log */
    uint16_t *log;             /* buffer ids in pop order (the last num pops) */
    struct pk_buf *bufs;       /* by buffer id */
};

/* A position in [0, 2 * num) that grows by one per descriptor across wraps
 * (the wrap counter starts at 1). */
static unsigned lin(const struct vq *vq, uint16_t idx, bool wrap)
{
    return idx + (wrap ? 0u : vq->num);
}

static bool desc_avail(uint16_t flags, bool wrap)
{
    return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static void advance(const struct vq *vq, uint16_t *idx, bool *wrap, uint16_t by)
{
    unsigned i = (unsigned)*idx + by;
    if (i >= vq->num) {
        i -= vq->num;
        *wrap = !*wrap;
    }
    *idx = (uint16_t)i;
}

/* ---- inflight region ------------------------------------------------- */

/* The region is written in program order, each step one store: a backend
 * killed between two of them leaves a state the restart can judge. */
#define IFL_STEP() __atomic_signal_fence(__ATOMIC_SEQ_CST)

_Static_assert(sizeof(struct vq_inflight_desc_packed) == 32, "DescStatePacked is 32 bytes");
_Static_assert(offsetof(struct vq_inflight_region_packed, desc) == 32,
               "QueueRegionPacked header is 32 bytes");
_Static_assert(offsetof(struct vq_inflight_region_packed, free_head) % 4 == 0 &&
               offsetof(struct vq_inflight_region_packed, used_idx) % 8 == 0,
               "free heads and used positions are stored whole");

/* used_idx, old_used_idx and both wrap counters in one 8-byte store, so
 * the position and its wrap counter never disagree in the region. */
static void ifl_set_used(struct vq_inflight_region_packed *I, uint16_t used, bool wrap,
                         uint16_t old, bool old_wrap)
{
    struct { uint16_t used, old; uint8_t wrap, old_wrap, pad[2]; } v =
        { used, old, wrap, old_wrap, { 0, 0 } };
    uint64_t x;

    memcpy(&x, &v, sizeof(x));
    __atomic_store_n((uint64_t *)(void *)&I->used_idx, x, __ATOMIC_RELAXED);
}

/* Both free heads in one 4-byte store. */
static void ifl_set_free(struct vq_inflight_region_packed *I, uint16_t head)
{
    uint32_t x = (uint32_t)head | (uint32_t)head << 16;

    __atomic_store_n((uint32_t *)(void *)&I->free_head, x, __ATOMIC_RELAXED);
}

/* A region the frontend got fresh (GET_INFLIGHT_FD) or for another size:
 * nothing in flight, every entry free, the used position from the base. */
static void ifl_fresh(struct vq *vq, uint16_t used, bool used_wrap)
{
    struct vq_inflight_region_packed *I = vq->ifl_packed;

    memset(I, 0, vq_inflight_packed_queue_size(vq->num));
    I->desc_num = vq->num;
    for (uint16_t i = 0; i < vq->num; i++)
        I->desc[i].next = (uint16_t)(i + 1);   /* desc_num ends the list */
    ifl_set_free(I, 0);
    ifl_set_used(I, used, used_wrap, used, used_wrap);
    IFL_STEP();
    WRITE_ONCE(I->version, 1);
}

/* A chain's descriptor copy from the region, read once. */
static void ifl_read_desc(const struct vq_inflight_desc_packed *s, struct vring_packed_desc *d)
{
    d->addr = READ_ONCE(s->addr);
    d->len = READ_ONCE(s->len);
    d->id = READ_ONCE(s->id);
    d->flags = READ_ONCE(s->flags);
}

enum { M_NONE, M_FREE, M_HEAD, M_CHAIN };

/* What the restart reads of the region before it writes anything. */
struct ifl_scan {
    uint16_t used;         /* used position after commit or roll-back */
    uint8_t used_wrap;
    uint16_t free_head;    /* free list after commit or roll-back */
    uint8_t *mark;         /* M_* per entry */
    uint8_t *ids;          /* buffer ids in flight */
    uint16_t *heads;       /* head entries in flight (oldest first once sorted) */
    uint16_t nheads;
    uint16_t total;        /* ring descriptors the chains in flight took */
};

/* The update the dead backend left half done: commit it when its used
 * descriptor is visible to the guest, else roll it back. Sets the used
 * position and free head to go on from. */
static int ifl_settle(const struct vq *vq, const struct vq_packed *p, struct ifl_scan *s,
                      const char **why)
{
    const struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t n = vq->num, uidx, oidx, fh, ofh;
    uint8_t uw, ow;

    uidx = READ_ONCE(I->used_idx);
    oidx = READ_ONCE(I->old_used_idx);
    uw = READ_ONCE(I->used_wrap_counter);
    ow = READ_ONCE(I->old_used_wrap_counter);
    fh = READ_ONCE(I->free_head);
    ofh = READ_ONCE(I->old_free_head);
    if (oidx >= n || ow > 1 || ofh > n) {
        *why = "used position or free head out of range";
        return -EINVAL;
    }
    if (uidx != oidx || uw != ow) {
        /* An update was under way. Its used descriptor is visible to the
         * guest (the slot no longer looks available for the old lap):
         * commit it; otherwise roll it back. */
        uint16_t flags = __atomic_load_n(&p->desc[oidx].flags, __ATOMIC_ACQUIRE);
        if (!desc_avail(flags, ow)) {
            if (uidx >= n || uw > 1 || fh > n) {
                *why = "used position or free head out of range";
                return -EINVAL;
            }
            oidx = uidx;
            ow = uw;
            ofh = fh;
        }
    }
    s->used = oidx;
    s->used_wrap = ow;
    s->free_head = ofh;
    return 0;
}

/* Mark the free list's entries (after commit or roll-back: its heads are
 * not in flight, whatever their flag says), then collect the heads in
 * flight. */
static int ifl_find_heads(const struct vq *vq, struct ifl_scan *s, const char **why)
{
    const struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t n = vq->num;

    for (unsigned k = 0, e = s->free_head; e != n; k++) {
        if (e > n || k >= n || s->mark[e]) {
            *why = "free list loops or leaves the region";
            return -EINVAL;
        }
        s->mark[e] = M_FREE;
        e = READ_ONCE(I->desc[e].next);
    }
    for (uint16_t h = 0; h < n; h++) {
        uint8_t f;
        if (s->mark[h] == M_FREE || !(f = READ_ONCE(I->desc[h].inflight)))
            continue;
        if (f != 1) {
            *why = "inflight flag is neither 0 nor 1";
            return -EINVAL;
        }
        s->mark[h] = M_HEAD;
        s->heads[s->nheads++] = h;
    }
    return 0;
}

/* The chain at head entry @h: num entries along next, ending at last, no
 * entry shared, a well-formed descriptor chain, a buffer id of its own, and
 * with the chains before it no more descriptors than the ring holds. */
static int ifl_check_chain(const struct vq *vq, struct ifl_scan *s, uint16_t h, const char **why)
{
    const struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t n = vq->num, num = READ_ONCE(I->desc[h].num), e = h, id;

    if (num == 0 || num > n - s->total) {
        *why = "chain length out of range";
        return -EINVAL;
    }
    for (uint16_t k = 0;; k++) {
        uint16_t fl = READ_ONCE(I->desc[e].flags);
        if (!!(fl & VRING_DESC_F_NEXT) != (k + 1 < num) ||
            ((fl & VRING_DESC_F_INDIRECT) && num != 1)) {
            *why = "descriptor copy does not fit its chain";
            return -EINVAL;
        }
        if (k + 1 == num)
            break;
        e = READ_ONCE(I->desc[e].next);
        if (e >= n || s->mark[e] != M_NONE) {
            *why = "chain entry out of range or shared";
            return -EINVAL;
        }
        s->mark[e] = M_CHAIN;
    }
    if (e != READ_ONCE(I->desc[h].last)) {
        *why = "chain does not end at its last entry";
        return -EINVAL;
    }
    id = READ_ONCE(I->desc[e].id);
    if (id >= n || s->ids[id]) {
        *why = "buffer id out of range or in flight twice";
        return -EINVAL;
    }
    s->ids[id] = 1;
    s->total = (uint16_t)(s->total + num);
    return 0;
}

/* Put the heads oldest first (insertion sort: at most n) and check that
 * every counter is there once; the queue's counter goes on from the
 * newest. */
static int ifl_sort_heads(struct vq *vq, struct ifl_scan *s, const char **why)
{
    const struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t *heads = s->heads;

    for (uint16_t i = 1; i < s->nheads; i++) {
        uint16_t h = heads[i];
        uint64_t c = READ_ONCE(I->desc[h].counter);
        uint16_t j = i;
        while (j > 0 && READ_ONCE(I->desc[heads[j - 1]].counter) > c) {
            heads[j] = heads[j - 1];
            j--;
        }
        heads[j] = h;
    }
    for (uint16_t i = 0; i < s->nheads; i++) {
        uint64_t c = READ_ONCE(I->desc[heads[i]].counter);
        if (c == 0 || (i > 0 && c == READ_ONCE(I->desc[heads[i - 1]].counter))) {
            *why = "inflight counters zero or repeated";
            return -EINVAL;
        }
        vq->ifl_counter = c;
    }
    return 0;
}

/* The region is sound: write it back. Free heads get their flag cleared,
 * then every entry outside a chain is linked, highest first, each to the
 * next higher free one: a walk of the list stays finite at every step.
 * Everything taken is used or in flight: the ring goes on after the chains
 * in flight. */
static void ifl_write_back(struct vq *vq, struct vq_packed *p, const struct ifl_scan *s)
{
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t n = vq->num, first_free = n;

    for (uint16_t i = 0; i < n; i++)
        if (s->mark[i] == M_FREE)
            WRITE_ONCE(I->desc[i].inflight, 0);
    IFL_STEP();
    for (uint16_t i = n; i-- > 0;) {
        if (s->mark[i] == M_FREE || s->mark[i] == M_NONE) {
            WRITE_ONCE(I->desc[i].next, first_free);
            first_free = i;
        }
    }
    IFL_STEP();
    ifl_set_free(I, first_free);
    IFL_STEP();
    ifl_set_used(I, s->used, s->used_wrap, s->used, s->used_wrap);
    p->used_idx = s->used;
    p->used_wrap = s->used_wrap;
    p->avail_idx = s->used;
    p->avail_wrap = s->used_wrap;
    advance(vq, &p->avail_idx, &p->avail_wrap, s->total);
}

/* Reconnect: judge the update the dead backend left half done, find the
 * chains it took and never completed, and the ring positions. Nothing is
 * written unless the whole region is sound. Returns 0 or -EINVAL (malformed
 * region; *why says how) or -ENOMEM. */
static int ifl_restore(struct vq *vq, struct vq_packed *p, const char **why)
{
    struct ifl_scan s = { 0 };
    uint16_t n = vq->num;
    int r;

    r = ifl_settle(vq, p, &s, why);
    if (r < 0)
        return r;
    s.mark = calloc(n, 1);
    s.ids = calloc(n, 1);
    s.heads = calloc(n, sizeof(*s.heads));
    if (!s.mark || !s.ids || !s.heads) {
        r = -ENOMEM;
        goto out;
    }
    r = ifl_find_heads(vq, &s, why);
    for (uint16_t i = 0; r == 0 && i < s.nheads; i++)
        r = ifl_check_chain(vq, &s, s.heads[i], why);
    if (r == 0)
        r = ifl_sort_heads(vq, &s, why);
    if (r < 0)
        goto out;
    ifl_write_back(vq, p, &s);
    if (s.nheads) {
        vq->resubmit = s.heads;
        vq->resubmit_n = s.nheads;
        s.heads = NULL;
        log_info("virtqueue %u: resubmitting %u inflight requests", vq->index, vq->resubmit_n);
    }
out:
    free(s.mark);
    free(s.ids);
    free(s.heads);
    return r;
}

void vq_packed_free(struct vq *vq)
{
    if (!vq->pk)
        return;
    free(vq->pk->log);
    free(vq->pk->bufs);
    free(vq->pk);
    vq->pk = NULL;
}

int vq_packed_start(struct vq *vq)
{
    uint64_t n = vq->num;
    uint16_t avail = vq->base & IDX_MASK, used = (vq->base >> 16) & IDX_MASK;
    bool avail_wrap = vq->base & WRAP_BIT, used_wrap = (vq->base >> 16) & WRAP_BIT;
    struct vq_packed *p;

    if (vq->ifl) {
        log_warn("virtqueue %u: packed ring with a split-layout inflight region; refused",
                 vq->index);
        return -EINVAL;
    }
    if ((vq->desc_uva & 15) || (vq->avail_uva & 3) || (vq->used_uva & 3))
        return -EINVAL;
    /* Only the available half given (DPDK's virtio-user): the ring was
     * stopped with nothing in flight, so used and available agree. */
    if ((vq->base >> 16) == 0) {
        used = avail;
        used_wrap = avail_wrap;
    }
    if (avail >= n || used >= n)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->desc = vu_mem_uva_range(vq->mem, vq->desc_uva, 16 * n);
    p->driver = vu_mem_uva_range(vq->mem, vq->avail_uva, sizeof(*p->driver));
    p->device = vu_mem_uva_range(vq->mem, vq->used_uva, sizeof(*p->device));
    if (!p->desc || !p->driver || !p->device) {
        free(p);
        return -EFAULT;
    }
    /* The mapping keeps the frontend's region offsets, so an aligned ring
     * address can still land misaligned here: check where we read. */
    if (((uintptr_t)p->desc & 15) || ((uintptr_t)p->driver & 3) || ((uintptr_t)p->device & 3)) {
        free(p);
        return -EINVAL;
    }
    p->log = calloc(n, sizeof(*p->log));
    p->bufs = calloc(n, sizeof(*p->bufs));
    vq_packed_free(vq);
    vq->pk = p;
    if (!p->log || !p->bufs) {
        vq_packed_free(vq);
        return -ENOMEM;
    }
    p->avail_idx = avail;
    p->avail_wrap = avail_wrap;
    p->used_idx = used;
    p->used_wrap = used_wrap;
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->resubmit_n = vq->resubmit_pos = 0;
    if (vq->ifl_packed) {
        struct vq_inflight_region_packed *I = vq->ifl_packed;
        const char *why = NULL;
        int r;

        vq->ifl_counter = 0;
        if (READ_ONCE(I->version) != 1 || READ_ONCE(I->desc_num) != n) {
            ifl_fresh(vq, used, used_wrap);
        } else if ((r = ifl_restore(vq, p, &why)) < 0) {
            if (why)
                log_warn("virtqueue %u: inflight region malformed (%s); refused", vq->index, why);
            vq_packed_free(vq);
            return r;
        }
    }
    WRITE_ONCE(p->device->off_wrap, 0);
    WRITE_ONCE(p->device->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
    vq_log(vq, p->device, sizeof(*p->device));
    return 0;
}

uint32_t vq_packed_base(const struct vq *vq)
{
    const struct vq_packed *p = vq->pk;

    if (!p)
        return vq->base;
    return (uint32_t)p->avail_idx | (p->avail_wrap ? WRAP_BIT : 0) |
           ((uint32_t)p->used_idx | (p->used_wrap ? WRAP_BIT : 0)) << 16;
}

void vq_packed_set_kicks(struct vq *vq, bool on)
{
    if (!vq->pk)
        return;
    WRITE_ONCE(vq->pk->device->flags, on ? VRING_PACKED_EVENT_FLAG_ENABLE
                                         : VRING_PACKED_EVENT_FLAG_DISABLE);
    vq_log(vq, vq->pk->device, sizeof(*vq->pk->device));
}

bool vq_packed_avail(const struct vq *vq)
{
    const struct vq_packed *p = vq->pk;

    return p && (vq->resubmit_pos < vq->resubmit_n ||
                 desc_avail(__atomic_load_n(&p->desc[p->avail_idx].flags, __ATOMIC_ACQUIRE),
                           p->avail_wrap));
}

/* ---- chains ----------------------------------------------------------- */

static int check_order(uint16_t flags, bool *seen_write, const char **why)
{
    if (flags & VRING_DESC_F_WRITE) {
        *seen_write = true;
    } else if (*seen_write) {
        *why = "device-readable descriptor after a writable one";
        return -EINVAL;
    }
    return 0;
}

static int walk_indirect(struct vq *vq, const struct vring_packed_desc *ind, struct vq_elem *e,
                         unsigned max_iov, const char **why)
{
    const uint8_t *table;
    bool seen_write = false;
    uint32_t n;
    int r;

    if (!vq->indirect) {
        *why = "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
        return -EINVAL;
    }
    if (ind->len == 0 || ind->len % sizeof(struct vring_packed_desc) ||
        ind->len / sizeof(struct vring_packed_desc) > 65536) {
        *why = "indirect table length invalid";
        return -EINVAL;
    }
    /* Bytes: the table may sit at any guest address. */
    table = vu_mem_gpa_range(vq->mem, ind->addr, ind->len);
    if (!table) {
        *why = "indirect table outside guest memory";
        return -EINVAL;
    }
    n = ind->len / sizeof(struct vring_packed_desc);
    for (uint32_t i = 0; i < n; i++) {
        struct vring_packed_desc d;

        memcpy(&d, table + (size_t)i * sizeof(d), sizeof(d));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* no re-reads of the guest copy */
        if (d.flags & VRING_DESC_F_INDIRECT) {
            *why = "nested indirect descriptor";
            return -EINVAL;
        }
        r = check_order(d.flags, &seen_write, why);
        if (r < 0)
            return r;
        r = vq_elem_map(vq, e, max_iov, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, why);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One descriptor of a chain, already copied out: its buffer as iovecs, or
 * its indirect table's. @k is its place in the chain. */
static int take_desc(struct vq *vq, const struct vring_packed_desc *d, uint16_t k,
                     struct vq_elem *e, unsigned max_iov, bool *seen_write, const char **why)
{
    int r;

    if (d->flags & VRING_DESC_F_INDIRECT) {
        if (k != 0 || (d->flags & VRING_DESC_F_NEXT)) {
            *why = "indirect descriptor not alone in its chain";
            return -EINVAL;
        }
        return walk_indirect(vq, d, e, max_iov, why);
    }
    r = check_order(d->flags, seen_write, why);
    if (r < 0)
        return r;
    return vq_elem_map(vq, e, max_iov, d->addr, d->len, d->flags & VRING_DESC_F_WRITE, why);
}

/* The next chain of the resubmit list, from its copies in the region.
 * Sets *id, *ndescs and *last (its last entry). */
static int pop_resubmit(struct vq *vq, struct vq_elem *e, unsigned max_iov, uint16_t *id,
                        uint16_t *ndescs, uint16_t *last, const char **why)
{
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    uint16_t h = vq->resubmit[vq->resubmit_pos], ent = h, num;
    bool seen_write = false;
    int r;

    /* Checked at start; the frontend holds the region too, so bounds again. */
    num = READ_ONCE(I->desc[h].num);
    if (num == 0 || num > vq->num) {
        *why = "inflight chain length out of range";
        return -EINVAL;
    }
    for (uint16_t k = 0;; k++) {
        struct vring_packed_desc d;

        ifl_read_desc(&I->desc[ent], &d);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* no re-reads of the copy */
        if (!!(d.flags & VRING_DESC_F_NEXT) != (k + 1 < num)) {
            *why = "inflight descriptor copy does not fit its chain";
            return -EINVAL;
        }
        r = take_desc(vq, &d, k, e, max_iov, &seen_write, why);
        if (r < 0)
            return r;
        if (k + 1 == num) {
            *id = d.id;
            break;
        }
        ent = READ_ONCE(I->desc[ent].next);
        if (ent >= vq->num) {
            *why = "inflight chain entry out of range";
            return -EINVAL;
        }
    }
    *ndescs = num;
    *last = ent;
    return 0;
}

/* One chain being taken, from the ring or from the resubmit list. */
struct pk_take {
    uint16_t slot;         /* ring slot after the chain */
    bool wrap;             /* driver wrap counter at @slot */
    uint16_t ndescs;       /* ring descriptors it took (region entries) */
    uint16_t id;           /* buffer id */
    bool resub;            /* from the resubmit list */
    uint16_t ifl_head;     /* its first and last region entries */
    uint16_t ifl_last;
    uint16_t ifl_next;     /* the free entry after them */
};

/* Whether the driver made the slot at the ring position available; *flags
 * are the slot's flags as read. Empty with EVENT_IDX: asks for a kick when
 * the driver makes this very slot available (not for every batch), then
 * looks again to close the race with a driver that just did. */
static bool ring_head_avail(struct vq *vq, struct vq_packed *p, uint16_t *flags)
{
    uint16_t slot = p->avail_idx;
    bool wrap = p->avail_wrap;

    *flags = __atomic_load_n(&p->desc[slot].flags, __ATOMIC_ACQUIRE);
    if (desc_avail(*flags, wrap))
        return true;
    if (!vq->event_idx)
        return false;
    WRITE_ONCE(p->device->off_wrap, (uint16_t)(slot | (wrap ? WRAP_BIT : 0)));
    WRITE_ONCE(p->device->flags, VRING_PACKED_EVENT_FLAG_DESC);
    vq_log(vq, p->device, sizeof(*p->device));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *flags = __atomic_load_n(&p->desc[slot].flags, __ATOMIC_ACQUIRE);
    return desc_avail(*flags, wrap);
}

/* Copy descriptor @d into the next free entry of the region; the list head
 * moves only when the whole chain is claimed (claim_chain). */
static int ifl_copy_desc(struct vq *vq, const struct vring_packed_desc *d, struct pk_take *t,
                         const char **why)
{
    struct vq_inflight_desc_packed *s;

    if (t->ifl_next >= vq->num) {
        *why = "inflight free list exhausted";
        return -EINVAL;
    }
    s = &vq->ifl_packed->desc[t->ifl_next];
    WRITE_ONCE(s->addr, d->addr);
    WRITE_ONCE(s->len, d->len);
    WRITE_ONCE(s->id, d->id);
    WRITE_ONCE(s->flags, d->flags);
    t->ifl_last = t->ifl_next;
    t->ifl_next = READ_ONCE(s->next);
    return 0;
}

/* The chain at t->slot, whose head's available @flags were read: its
 * buffers into @e, each descriptor copied once (and into the region). Sets
 * t->slot and t->wrap past it, t->ndescs, t->id and the region entries. */
static int take_ring_chain(struct vq *vq, struct vq_packed *p, struct vq_elem *e,
                           unsigned max_iov, uint16_t flags, struct pk_take *t, const char **why)
{
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    bool seen_write = false;
    int r;

    if (I)
        t->ifl_head = t->ifl_next = READ_ONCE(I->free_head);
    for (;;) {
        struct vring_packed_desc d;

        if (t->ndescs >= vq->num) {
            *why = "descriptor chain longer than the queue";
            return -EINVAL;
        }
        if (t->ndescs > 0) {
            /* The driver makes the rest of a chain available before its
             * head: each must carry the flags of the current wrap. */
            flags = __atomic_load_n(&p->desc[t->slot].flags, __ATOMIC_ACQUIRE);
            if (!desc_avail(flags, t->wrap)) {
                *why = "chained descriptor not available (wrap counter mismatch)";
                return -EINVAL;
            }
        }
        /* Copy once; the flags are the ones checked above. */
        memcpy(&d, &p->desc[t->slot], sizeof(d));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        d.flags = flags;
        r = take_desc(vq, &d, t->ndescs, e, max_iov, &seen_write, why);
        if (r == 0 && I)
            r = ifl_copy_desc(vq, &d, t, why);
        if (r < 0)
            return r;
        t->ndescs++;
        advance(vq, &t->slot, &t->wrap, 1);
        if (!(d.flags & VRING_DESC_F_NEXT) || (d.flags & VRING_DESC_F_INDIRECT)) {
            t->id = d.id;   /* the buffer id is in the last descriptor */
            return 0;
        }
    }
}

/* The chain's buffer id becomes busy: checked, recorded, and for a chain
 * from the ring marked in flight in the region and the ring position moved
 * past it. */
static int claim_chain(struct vq *vq, struct vq_packed *p, const struct pk_take *t,
                       const char **why)
{
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    struct pk_buf *b;

    if (t->id >= vq->num) {
        *why = "buffer id out of range";
        return -EINVAL;
    }
    b = &p->bufs[t->id];
    if (b->busy) {
        *why = "buffer id already in flight";
        return -EINVAL;
    }
    if (t->resub) {
        vq->resubmit_pos++;
    } else {
        if (I) {
            /* The head entry marks the chain in flight, then the free
             * list gives up its entries (free_head, then old_free_head:
             * a restart between the two rolls the take back). */
            struct vq_inflight_desc_packed *h = &I->desc[t->ifl_head];
            WRITE_ONCE(h->num, t->ndescs);
            WRITE_ONCE(h->last, t->ifl_last);
            WRITE_ONCE(h->counter, ++vq->ifl_counter);
            IFL_STEP();
            WRITE_ONCE(h->inflight, 1);
            IFL_STEP();
            WRITE_ONCE(I->free_head, t->ifl_next);
            IFL_STEP();
            WRITE_ONCE(I->old_free_head, t->ifl_next);
        }
        b->start = p->avail_idx;
        b->start_wrap = p->avail_wrap;
        p->avail_idx = t->slot;
        p->avail_wrap = t->wrap;
    }
    b->ndescs = t->ndescs;
    b->busy = true;
    b->resub = t->resub;
    b->ifl_head = t->ifl_head;
    b->ifl_last = t->ifl_last;
    p->log[p->logpos] = t->id;
    p->logpos = (uint16_t)((p->logpos + 1u) % vq->num);
    return 0;
}

int vq_packed_pop(struct vq *vq, struct vq_elem *e, unsigned max_iov)
{
    struct vq_packed *p = vq->pk;
    struct pk_take t = { .slot = p->avail_idx, .wrap = p->avail_wrap };
    const char *why = NULL;
    uint16_t flags;
    int r;

    e->out_num = e->in_num = 0;
    if (vq->resubmit_pos < vq->resubmit_n) {
        t.resub = true;
        t.ifl_head = vq->resubmit[vq->resubmit_pos];
        r = pop_resubmit(vq, e, max_iov, &t.id, &t.ndescs, &t.ifl_last, &why);
    } else {
        if (!ring_head_avail(vq, p, &flags))
            return 0;
        if (vq->inuse >= vq->num) {   /* as for split rings (vq_pop) */
            vq_set_broken(vq, "more chains available than the queue size allows in flight");
            return -EINVAL;
        }
        r = take_ring_chain(vq, p, e, max_iov, flags, &t, &why);
    }
    if (r == 0)
        r = claim_chain(vq, p, &t, &why);
    if (r < 0) {
        vq_set_broken(vq, why);
        return r;
    }
    e->head = t.id;
    return 1;
}

/* Give a chain's entries back to the free list (its used descriptor is
 * written, or it was given back unused). Returns the new free head. */
static uint16_t ifl_release(struct vq_inflight_region_packed *I, const struct pk_buf *b)
{
    WRITE_ONCE(I->desc[b->ifl_last].next, READ_ONCE(I->free_head));
    IFL_STEP();
    WRITE_ONCE(I->free_head, b->ifl_head);
    IFL_STEP();
    return b->ifl_head;
}

void vq_packed_unpop(struct vq *vq, unsigned n)
{
    struct vq_packed *p = vq->pk;
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    unsigned num = vq->num;
    struct pk_buf *oldest = NULL;

    if (n == 0)
        return;
    /* The last n pops, newest first; the oldest taken from the ring is
     * where the ring is read again. Chains handed out again from the
     * inflight region (always older than ring pops) go back to the
     * resubmit list and stay in flight in the region. */
    for (unsigned k = 1; k <= n; k++) {
        struct pk_buf *b = &p->bufs[p->log[(p->logpos + num - k) % num]];
        b->busy = false;
        if (b->resub) {
            vq->resubmit_pos--;
            continue;
        }
        oldest = b;
        if (I) {
            uint16_t head = ifl_release(I, b);
            WRITE_ONCE(I->desc[head].inflight, 0);
            IFL_STEP();
            WRITE_ONCE(I->old_free_head, head);
        }
    }
    if (oldest) {
        p->avail_idx = oldest->start;
        p->avail_wrap = oldest->start_wrap;
    }
    p->logpos = (uint16_t)((p->logpos + num - n) % num);
}

void vq_packed_push(struct vq *vq, uint16_t id, uint32_t len)
{
    struct vq_packed *p = vq->pk;
    struct vq_inflight_region_packed *I = vq->ifl_packed;
    struct vring_packed_desc *u;
    struct pk_buf *b;
    uint16_t flags, head = 0, nidx;
    bool nwrap;

    if (id >= vq->num || !p->bufs[id].busy) {
        /* A device model bug, not a guest error. */
        log_err("virtqueue %u: push of buffer id %u that is not in flight", vq->index, id);
        return;
    }
    b = &p->bufs[id];
    nidx = p->used_idx;
    nwrap = p->used_wrap;
    advance(vq, &nidx, &nwrap, b->ndescs);
    if (I) {
        /* The spec's order: entries back to the free list, the new used
         * position (old_* still the previous state), the used descriptor,
         * the in-flight flag off, then old_* := current. */
        head = ifl_release(I, b);
        ifl_set_used(I, nidx, nwrap, p->used_idx, p->used_wrap);
        IFL_STEP();
    }
    u = &p->desc[p->used_idx];
    flags = p->used_wrap ? (F_AVAIL | F_USED) : 0;
    if (len)
        flags |= VRING_DESC_F_WRITE;
    WRITE_ONCE(u->id, id);
    WRITE_ONCE(u->len, len);
    /* id and len before the flags that hand the slot to the driver. */
    __atomic_store_n(&u->flags, flags, __ATOMIC_RELEASE);
    vq_log(vq, u, sizeof(*u));   /* the descriptor, rewritten in place */
    p->used_idx = nidx;
    p->used_wrap = nwrap;
    if (I) {
        IFL_STEP();
        WRITE_ONCE(I->desc[head].inflight, 0);
        IFL_STEP();
        WRITE_ONCE(I->old_free_head, head);
        IFL_STEP();
        ifl_set_used(I, nidx, nwrap, nidx, nwrap);
    }
    b->busy = false;
    p->pushed = true;
}

/* ---- notifications ---------------------------------------------------- */

bool vq_packed_flush(struct vq *vq)
{
    struct vq_packed *p = vq->pk;
    unsigned m = 2u * vq->num, now, old, ev;
    uint16_t flags, off_wrap;
    bool valid;

    if (!p || !p->pushed)
        return false;
    p->pushed = false;
    now = lin(vq, p->used_idx, p->used_wrap);
    old = p->signalled;
    valid = p->signalled_valid;
    p->signalled = (uint16_t)now;
    p->signalled_valid = true;
    /* Our used flags are visible before the driver's suppression is read. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    flags = READ_ONCE(p->driver->flags) & 3;
    off_wrap = READ_ONCE(p->driver->off_wrap);
    if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
        return false;
    if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid ||
        (off_wrap & IDX_MASK) >= vq->num)
        return true;
    /* Notify when the descriptor the driver named was among those just
     * used: ev in [old, now) on the 2*num circle. */
    ev = lin(vq, off_wrap & IDX_MASK, off_wrap & WRAP_BIT);
    return (now + m - ev - 1) % m < (now + m - old) % m;
}
