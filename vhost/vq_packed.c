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
 * (and the device: NEEDS_RESET) through vq_set_broken(). */
#include "vq_packed.h"
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
        /* The vhost-user packed inflight layout is not implemented: taking
         * the region and not tracking would promise a reconnect that loses
         * requests. Devices offering packed rings do not offer
         * INFLIGHT_SHMFD (vhost/backend.c); this catches a frontend that
         * sent the region anyway. */
        log_warn("virtqueue %u: packed ring with an inflight region: not supported", vq->index);
        return -EOPNOTSUPP;
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
    WRITE_ONCE(p->device->off_wrap, 0);
    WRITE_ONCE(p->device->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
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
    if (vq->pk)
        WRITE_ONCE(vq->pk->device->flags, on ? VRING_PACKED_EVENT_FLAG_ENABLE
                                             : VRING_PACKED_EVENT_FLAG_DISABLE);
}

bool vq_packed_avail(const struct vq *vq)
{
    const struct vq_packed *p = vq->pk;

    return p && desc_avail(__atomic_load_n(&p->desc[p->avail_idx].flags, __ATOMIC_ACQUIRE),
                           p->avail_wrap);
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

int vq_packed_pop(struct vq *vq, struct vq_elem *e, unsigned max_iov)
{
    struct vq_packed *p = vq->pk;
    uint16_t slot = p->avail_idx, ndescs = 0, id, flags;
    bool wrap = p->avail_wrap, seen_write = false;
    const char *why = NULL;
    struct pk_buf *b;
    int r;

    flags = __atomic_load_n(&p->desc[slot].flags, __ATOMIC_ACQUIRE);
    if (!desc_avail(flags, wrap)) {
        if (!vq->event_idx)
            return 0;
        /* Ask for a kick when the driver makes this very slot available
         * (not for every batch), then look again to close the race with a
         * driver that just did. */
        WRITE_ONCE(p->device->off_wrap, (uint16_t)(slot | (wrap ? WRAP_BIT : 0)));
        WRITE_ONCE(p->device->flags, VRING_PACKED_EVENT_FLAG_DESC);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        flags = __atomic_load_n(&p->desc[slot].flags, __ATOMIC_ACQUIRE);
        if (!desc_avail(flags, wrap))
            return 0;
    }
    e->out_num = e->in_num = 0;
    for (;;) {
        struct vring_packed_desc d;

        if (ndescs >= vq->num) {
            why = "descriptor chain longer than the queue";
            r = -EINVAL;
            goto bad;
        }
        if (ndescs > 0) {
            /* The driver makes the rest of a chain available before its
             * head: each must carry the flags of the current wrap. */
            flags = __atomic_load_n(&p->desc[slot].flags, __ATOMIC_ACQUIRE);
            if (!desc_avail(flags, wrap)) {
                why = "chained descriptor not available (wrap counter mismatch)";
                r = -EINVAL;
                goto bad;
            }
        }
        /* Copy once; the flags are the ones checked above. */
        memcpy(&d, &p->desc[slot], sizeof(d));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        d.flags = flags;
        ndescs++;
        advance(vq, &slot, &wrap, 1);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (ndescs != 1 || (d.flags & VRING_DESC_F_NEXT)) {
                why = "indirect descriptor not alone in its chain";
                r = -EINVAL;
                goto bad;
            }
            r = walk_indirect(vq, &d, e, max_iov, &why);
            if (r < 0)
                goto bad;
            id = d.id;
            break;
        }
        r = check_order(d.flags, &seen_write, &why);
        if (r < 0)
            goto bad;
        r = vq_elem_map(vq, e, max_iov, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, &why);
        if (r < 0)
            goto bad;
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            id = d.id;   /* the buffer id is in the last descriptor */
            break;
        }
    }
    if (id >= vq->num) {
        why = "buffer id out of range";
        r = -EINVAL;
        goto bad;
    }
    b = &p->bufs[id];
    if (b->busy) {
        why = "buffer id already in flight";
        r = -EINVAL;
        goto bad;
    }
    b->start = p->avail_idx;
    b->start_wrap = p->avail_wrap;
    b->ndescs = ndescs;
    b->busy = true;
    p->log[p->logpos] = id;
    p->logpos = (uint16_t)((p->logpos + 1u) % vq->num);
    p->avail_idx = slot;
    p->avail_wrap = wrap;
    e->head = id;
    return 1;
bad:
    vq_set_broken(vq, why);
    return r;
}

void vq_packed_unpop(struct vq *vq, unsigned n)
{
    struct vq_packed *p = vq->pk;
    unsigned num = vq->num;
    struct pk_buf *oldest;

    if (n == 0)
        return;
    /* The last n pops, newest first; the oldest of them is where the
     * ring is read again. */
    for (unsigned k = 1; k <= n; k++)
        p->bufs[p->log[(p->logpos + num - k) % num]].busy = false;
    oldest = &p->bufs[p->log[(p->logpos + num - n) % num]];
    p->avail_idx = oldest->start;
    p->avail_wrap = oldest->start_wrap;
    p->logpos = (uint16_t)((p->logpos + num - n) % num);
}

void vq_packed_push(struct vq *vq, uint16_t id, uint32_t len)
{
    struct vq_packed *p = vq->pk;
    struct vring_packed_desc *u;
    uint16_t flags;

    if (id >= vq->num || !p->bufs[id].busy) {
        /* A device model bug, not a guest error. */
        log_err("virtqueue %u: push of buffer id %u that is not in flight", vq->index, id);
        return;
    }
    u = &p->desc[p->used_idx];
    flags = p->used_wrap ? (F_AVAIL | F_USED) : 0;
    if (len)
        flags |= VRING_DESC_F_WRITE;
    WRITE_ONCE(u->id, id);
    WRITE_ONCE(u->len, len);
    /* id and len before the flags that hand the slot to the driver. */
    __atomic_store_n(&u->flags, flags, __ATOMIC_RELEASE);
    advance(vq, &p->used_idx, &p->used_wrap, p->bufs[id].ndescs);
    p->bufs[id].busy = false;
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
