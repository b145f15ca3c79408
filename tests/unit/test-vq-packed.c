/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/vq_packed.c: packed virtqueues on the device side,
 * through the vq API of vhost/vq.h (vq->packed set).
 *
 * The guest is a real memfd mapped through vu_mem_add; the test plays the
 * driver of virtio 1.2 section 2.8 in it (descriptor ring, wrap counters,
 * driver event area). The queue runs on a real uloop worker: vq_pop and
 * vq_push go through uloop_call, and loop_sync() waits until the deferred
 * flush (notification) of earlier calls has run. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/uloop.h"
#include "guest.h"
#include "log.h"         /* vhost/ private */
#include "mem.h"
#include "vqfx.h"
#include "vq-int.h"      /* vhost/ private: struct vq */
#include "../../vhost/vq_packed.h"   /* the poller's helpers */

#define QNUM 8
#define GSIZE (256 * 1024ull)
#define GPA0 0x200000ull
#define UVA0 0x7f4400000000ull
#define MAXIOV 64

#define R 0
#define N VRING_DESC_F_NEXT
#define W VRING_DESC_F_WRITE
#define I VRING_DESC_F_INDIRECT
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)
/* Fresh ring: both positions 0 with wrap counters 1 (QEMU's encoding). */
#define BASE0 0x80008000u


/* The driver half of a packed ring. */
struct pring {
    uint64_t desc_gpa, drv_gpa, dev_gpa;
    struct vring_packed_desc *desc;
    struct vring_packed_desc_event *drv, *dev;
    uint16_t next, used_next;      /* driver's avail / used positions */
    bool wrap, used_wrap;
    uint16_t ndescs[QNUM];         /* per buffer id */
};

struct seg {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;     /* W, I; N is added between segments */
};

struct fx {
    struct vqfx x;          /* guest memory, eventfds, the queue */
    struct pring r;
    int kick2;              /* a restarted backend's kick fd, or -1 */
    unsigned held[QNUM];    /* popped, not pushed, per id (worker) */
    struct vq_inflight_region_packed *ifl;
    struct iovec iov[MAXIOV];
};

/* ---- driver side ------------------------------------------------------ */

static uint16_t avail_flags(bool wrap)
{
    return wrap ? F_AVAIL : F_USED;
}

/* Make one buffer of @n segments available under buffer id @id, the way
 * the spec's driver does: every descriptor but the head first, the head's
 * flags last. Returns the head slot. */
static uint16_t drv_add(struct fx *f, uint16_t id, const struct seg *s, unsigned n)
{
    struct pring *r = &f->r;
    uint16_t head = r->next, head_flags = 0;

    for (unsigned i = 0; i < n; i++) {
        struct vring_packed_desc *d = &r->desc[r->next];
        uint16_t fl = s[i].flags | avail_flags(r->wrap) | (i + 1 < n ? N : 0);
        d->addr = s[i].addr;
        d->len = s[i].len;
        d->id = id;
        if (i == 0)
            head_flags = fl;
        else
            d->flags = fl;
        if (++r->next == QNUM) {
            r->next = 0;
            r->wrap = !r->wrap;
        }
    }
    r->ndescs[id] = (uint16_t)n;
    __atomic_store_n(&r->desc[head].flags, head_flags, __ATOMIC_RELEASE);
    return head;
}

/* Read the next used descriptor; false when there is none. */
static bool drv_used(struct fx *f, uint16_t *id, uint32_t *len)
{
    struct pring *r = &f->r;
    struct vring_packed_desc *d = &r->desc[r->used_next];
    uint16_t fl = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);

    if (!!(fl & F_USED) != r->used_wrap || !!(fl & F_AVAIL) != r->used_wrap)
        return false;
    *id = d->id;
    *len = d->len;
    assert_true(*id < QNUM);
    r->used_next = (uint16_t)(r->used_next + r->ndescs[*id]);
    if (r->used_next >= QNUM) {
        r->used_next -= QNUM;
        r->used_wrap = !r->used_wrap;
    }
    return true;
}

/* ---- worker helpers --------------------------------------------------- */

static void noop(void *arg)
{
    (void)arg;
}

static void loop_sync(void)
{
    uloop_call(g_loop, noop, NULL);
    uloop_call(g_loop, noop, NULL);
}

struct op_call {
    struct fx *f;
    struct vq_elem e;
    unsigned max;
    int r;
    unsigned npush;
    uint16_t ids[QNUM];
    uint32_t len;
    unsigned unpop;
};

static void op_on_loop(void *arg)
{
    struct op_call *c = arg;
    struct vq *vq = &c->f->x.vq;

    if (c->unpop) {
        vq_unpop(vq, c->unpop);
        return;
    }
    if (c->npush) {
        for (unsigned i = 0; i < c->npush; i++) {
            vq_push(vq, c->ids[i], c->len);
            if (c->f->held[c->ids[i] % QNUM])
                c->f->held[c->ids[i] % QNUM]--;
        }
        return;
    }
    c->e.iov = c->f->iov;
    c->r = vq_pop(vq, &c->e, c->max);
    if (c->r == 1)
        c->f->held[c->e.head % QNUM]++;
}

static int pop(struct fx *f, struct vq_elem *e, unsigned max)
{
    struct op_call c = { .f = f, .max = max };

    assert_int_equal(uloop_call(g_loop, op_on_loop, &c), 0);
    if (e)
        *e = c.e;
    return c.r;
}

static uint16_t pop_id(struct fx *f)
{
    struct vq_elem e;

    assert_int_equal(pop(f, &e, MAXIOV), 1);
    return e.head;
}

static void push(struct fx *f, uint16_t id, uint32_t len)
{
    struct op_call c = { .f = f, .npush = 1, .ids = { id }, .len = len };

    assert_int_equal(uloop_call(g_loop, op_on_loop, &c), 0);
    loop_sync();
}

static void unpop(struct fx *f, unsigned n)
{
    struct op_call c = { .f = f, .unpop = n };

    assert_int_equal(uloop_call(g_loop, op_on_loop, &c), 0);
}

/* ---- fixture ---------------------------------------------------------- */

static void handle_nothing(struct vq *vq)
{
    (void)vq;
}

/* A queue as the backend configures it before vq_start (also what a
 * restarted backend builds afresh over the same guest memory). */
static void vq_configure(struct fx *f, struct uloop *loop)
{
    struct pring *r = &f->r;

    vqfx_configure(&f->x, loop, handle_nothing, f);
    f->x.vq.num = QNUM;
    f->x.vq.packed = true;
    f->x.vq.base = BASE0;
    f->x.vq.desc_uva = r->desc_gpa - GPA0 + UVA0;
    f->x.vq.avail_uva = r->drv_gpa - GPA0 + UVA0;
    f->x.vq.used_uva = r->dev_gpa - GPA0 + UVA0;
    f->x.vq.addr_set = true;
    f->x.vq.indirect = true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct pring *r = &f->r;

    vqfx_create(&f->x, "test-vq-packed", GSIZE, GPA0, UVA0);
    r->desc_gpa = guest_alloc(&f->x.g, 16 * QNUM, 16);
    r->drv_gpa = guest_alloc(&f->x.g, 4, 4);
    r->dev_gpa = guest_alloc(&f->x.g, 4, 4);
    r->desc = guest_ptr(&f->x.g, r->desc_gpa);
    r->drv = guest_ptr(&f->x.g, r->drv_gpa);
    r->dev = guest_ptr(&f->x.g, r->dev_gpa);
    r->wrap = r->used_wrap = true;
    f->kick2 = -1;
    vq_configure(f, g_loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    /* A failed test may leave chains popped: the stop waits for them. */
    for (uint16_t id = 0; id < QNUM; id++)
        while (f->x.vq.running && f->held[id])
            push(f, id, 0);
    vqfx_destroy(&f->x);
    if (f->kick2 >= 0)
        close(f->kick2);
    free(f->ifl);
    free(f);
    return 0;
}

#define start(f) vqfx_start(&(f)->x)
#define gbuf(f, len, seed) vqfx_gbuf(&(f)->x, len, seed)
#define hva(f, gpa) vqfx_hva(&(f)->x, gpa)

static void add_simple(struct fx *f, uint16_t id)
{
    struct seg s = { gbuf(f, 16, id), 16, R };
    drv_add(f, id, &s, 1);
}

/* The queue broke on the next pop: error, callback, err fd, and nothing
 * more is taken from it. */
static void expect_broken(struct fx *f)
{
    struct vq_elem e;

    assert_true(pop(f, &e, MAXIOV) < 0);
    assert_true(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 1);
    assert_int_equal(eventfd_wait(f->x.err, 2000), 1);
    assert_int_equal(pop(f, &e, MAXIOV), 0);
}

/* ---- normal operation ------------------------------------------------- */

static void test_chain_normal(void **state)
{
    struct fx *f = *state;
    uint64_t a = gbuf(f, 16, 1), b = gbuf(f, 100, 2), c = gbuf(f, 1, 3);
    struct seg s[] = { { a, 16, R }, { b, 100, R }, { c, 1, W } };
    struct vq_elem e;
    uint16_t id;
    uint32_t len;

    /* The device writes ENABLE into its event area at start. */
    f->r.dev->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
    drv_add(f, 5, s, 3);
    start(f);
    assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
    assert_int_equal(pop(f, &e, 3), 1);   /* exactly max_iov segments */
    assert_int_equal(e.head, 5);          /* the buffer id, not a slot */
    assert_int_equal(e.out_num, 2);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_int_equal(e.iov[0].iov_len, 16);
    assert_ptr_equal(e.iov[1].iov_base, hva(f, b));
    assert_int_equal(e.iov[1].iov_len, 100);
    assert_ptr_equal(e.iov[2].iov_base, hva(f, c));
    assert_memory_equal(e.iov[1].iov_base, guest_ptr(&f->x.g, b), 100);
    assert_int_equal(pop(f, &e, MAXIOV), 0);   /* ring empty */
    assert_int_equal(f->x.vq.inuse, 1);
    assert_false(drv_used(f, &id, &len));
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    push(f, 5, 1);
    /* One used descriptor in the head's slot, the driver skips 3. */
    assert_true(drv_used(f, &id, &len));
    assert_int_equal(id, 5);
    assert_int_equal(len, 1);
    assert_int_equal(f->r.desc[0].flags & (F_AVAIL | F_USED | W), F_AVAIL | F_USED | W);
    assert_int_equal(f->r.used_next, 3);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.inuse, 0);
    assert_int_equal(f->x.vq.stats.elems, 1);
    assert_false(f->x.vq.broken);
    /* What a program reads of the opaque queue (sluiced's device stats). */
    struct vq_stats vs;
    vq_stats(&f->x.vq, &vs);
    assert_int_equal(vs.elems, 1);
    assert_int_equal(vs.notifies, f->x.vq.stats.notifies);
    assert_int_equal(vs.kicks, f->x.vq.stats.kicks);
    assert_true(vq_is_packed(&f->x.vq));
}

/* Dirty logging (live migration): the used descriptor the device writes
 * in place marks its page, by guest-physical address, and nothing else
 * does (the buffer was device-readable). */
static void test_dirty_log_used_desc(void **state)
{
    struct fx *f = *state;
    uint8_t bits[(GPA0 + GSIZE) / 4096 / 8];
    struct vu_log log = { .bits = bits, .len = sizeof(bits), .guard = -1 };
    uint64_t pg = f->r.desc_gpa / 4096;
    unsigned marked = 0;
    uint16_t id;
    uint32_t len;

    add_simple(f, 3);
    f->x.vq.log = &log;
    start(f);
    memset(bits, 0, sizeof(bits));
    assert_int_equal(pop_id(f), 3);
    push(f, 3, 0);
    assert_true(drv_used(f, &id, &len));
    for (size_t i = 0; i < sizeof(bits); i++)
        marked += (unsigned)__builtin_popcount(bits[i]);
    assert_int_equal(marked, 1);
    assert_true(bits[pg / 8] & (1u << (pg % 8)));
}

/* Many rounds over a ring of 8: chains of 1-3 descriptors, completions out
 * of order, wrap counters toggling on both sides. */
static void test_wrap_and_out_of_order(void **state)
{
    struct fx *f = *state;
    uint16_t id;
    uint32_t len;

    start(f);
    for (unsigned round = 0; round < 40; round++) {
        unsigned n1 = 1 + round % 3, n2 = 1 + (round + 1) % 3;
        struct seg s1[3], s2[3];
        for (unsigned i = 0; i < 3; i++) {
            s1[i] = (struct seg){ gbuf(f, 8, round), 8, R };
            s2[i] = (struct seg){ gbuf(f, 8, round), 8, W };
        }
        /* Buffer ids rotate so that stale ids would show up. */
        uint16_t a = (uint16_t)(round % QNUM), b = (uint16_t)((round + 3) % QNUM);
        drv_add(f, a, s1, n1);
        drv_add(f, b, s2, n2);
        assert_int_equal(pop_id(f), a);
        assert_int_equal(pop_id(f), b);
        /* b completes first: its used descriptor lands in a's head slot. */
        push(f, b, 8);
        push(f, a, 0);
        assert_true(drv_used(f, &id, &len));
        assert_int_equal(id, b);
        assert_int_equal(len, 8);
        assert_true(drv_used(f, &id, &len));
        assert_int_equal(id, a);
        assert_false(drv_used(f, &id, &len));
        if (guest_alloc(&f->x.g, 0, 16) > GPA0 + GSIZE - 4096)
            f->x.g.next = 1024;   /* reuse buffer space */
    }
    assert_false(f->x.vq.broken);
    assert_int_equal(f->x.vq.stats.elems, 80);
}

static void test_indirect_normal(void **state)
{
    struct fx *f = *state;
    uint64_t tbl = guest_alloc(&f->x.g, 3 * 16, 16), a = gbuf(f, 10, 1), b = gbuf(f, 20, 2),
             c = gbuf(f, 30, 3);
    struct vring_packed_desc *t = guest_ptr(&f->x.g, tbl);
    struct seg s = { tbl, 3 * 16, I };
    struct vq_elem e;
    uint16_t id;
    uint32_t len;

    t[0] = (struct vring_packed_desc){ .addr = a, .len = 10, .flags = 0 };
    t[1] = (struct vring_packed_desc){ .addr = b, .len = 20, .flags = 0 };
    t[2] = (struct vring_packed_desc){ .addr = c, .len = 30, .flags = W };
    drv_add(f, 2, &s, 1);
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.head, 2);
    assert_int_equal(e.out_num, 2);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov[2].iov_base, hva(f, c));
    assert_int_equal(e.iov[2].iov_len, 30);
    push(f, 2, 30);
    assert_true(drv_used(f, &id, &len));
    assert_int_equal(id, 2);
    assert_int_equal(f->r.used_next, 1);   /* an indirect buffer takes one slot */
}

/* vq_unpop gives back the newest pops; they come out again, in order. */
static void test_unpop(void **state)
{
    struct fx *f = *state;
    struct seg two[2] = { { gbuf(f, 8, 1), 8, R }, { gbuf(f, 8, 2), 8, W } };
    uint16_t id;
    uint32_t len;

    add_simple(f, 1);
    drv_add(f, 6, two, 2);
    add_simple(f, 4);
    start(f);
    assert_int_equal(pop_id(f), 1);
    assert_int_equal(pop_id(f), 6);
    assert_int_equal(pop_id(f), 4);
    unpop(f, 2);
    assert_int_equal(f->x.vq.inuse, 1);
    assert_int_equal(pop_id(f), 6);
    assert_int_equal(pop_id(f), 4);
    unpop(f, 1);
    assert_int_equal(pop_id(f), 4);
    push(f, 1, 0);
    push(f, 6, 0);
    push(f, 4, 0);
    for (uint16_t want = 0; want < 3; want++)
        assert_true(drv_used(f, &id, &len));
    assert_int_equal(f->r.used_next, 4);
    assert_false(f->x.vq.broken);
}

/* GET_VRING_BASE after stop carries both positions and wrap counters;
 * a restart from it continues where the ring was. */
static void test_stop_base_restart(void **state)
{
    struct fx *f = *state;
    uint16_t id;
    uint32_t len;

    start(f);
    for (uint16_t i = 0; i < 10; i++) {
        add_simple(f, (uint16_t)(i % QNUM));
        assert_int_equal(pop_id(f), i % QNUM);
        push(f, (uint16_t)(i % QNUM), 0);
        assert_true(drv_used(f, &id, &len));
    }
    vq_stop(&f->x.vq);
    /* 10 descriptors on a ring of 8: position 2, wrap counters now 0. */
    assert_int_equal(f->x.vq.base, 2u | (2u << 16));
    add_simple(f, 3);
    start(f);
    assert_int_equal(pop_id(f), 3);
    push(f, 3, 0);
    assert_true(drv_used(f, &id, &len));
    assert_int_equal(id, 3);
    assert_false(f->x.vq.broken);
}

/* The packed twin of test-vq's test_stop_completes_after_late_unpop: a
 * stop whose last chains come back on the loop after the kick read was
 * cancelled, one pushed and one unpopped. The stop must not complete inside
 * vq_unpop() while the queue's deferred flush is still queued (the control
 * thread then frees the packed state under it and vq_init() wipes the
 * queued entry of the loop's list). */
struct late_unpop {
    struct fx *f;
    bool stopped_inside, defer_queued;
};


static void late_unpop_on_loop(void *arg)
{
    struct late_unpop *lu = arg;
    struct vq *vq = &lu->f->x.vq;

    vq_push(vq, 2, 0);
    lu->f->held[2]--;
    vq_unpop(vq, 1);
    lu->f->held[5]--;
    lu->stopped_inside = !vq->running;
    lu->defer_queued = vq->flush_defer.queued;
}


static void test_stop_completes_after_late_unpop(void **state)
{
    struct fx *f = *state;
    struct late_unpop lu = { .f = f };
    uint16_t id;
    uint32_t len;
    pthread_t t;

    /* The call eventfd is non-blocking, as QEMU's: written with write(2),
     * nothing in flight for the stop to wait for. */
    f->x.vq.call_nonblock = true;
    add_simple(f, 2);
    add_simple(f, 5);
    start(f);
    assert_int_equal(pop_id(f), 2);
    assert_int_equal(pop_id(f), 5);
    vq_stop_begin(&f->x.vq, &t);
    assert_int_equal(uloop_call(g_loop, late_unpop_on_loop, &lu), 0);
    assert_true(lu.defer_queued);
    assert_false(lu.stopped_inside);
    pthread_join(t, NULL);
    assert_false(f->x.vq.running);
    assert_false(f->x.vq.flush_defer.queued);
    /* Buffer 5 is available again at slot 1; slot 0 holds 2's used entry. */
    assert_int_equal(f->x.vq.base, 1u | 0x8000u | ((1u | 0x8000u) << 16));
    assert_true(drv_used(f, &id, &len));
    assert_int_equal(id, 2);
}

/* A frontend that sends only the available half (DPDK's virtio-user sends
 * 1 << 15 on a fresh ring): used starts where available does. */
static void test_base_avail_only(void **state)
{
    struct fx *f = *state;
    uint16_t id;
    uint32_t len;

    f->x.vq.base = 0x8000;
    add_simple(f, 0);
    start(f);
    assert_int_equal(pop_id(f), 0);
    push(f, 0, 0);
    assert_true(drv_used(f, &id, &len));
}

static void test_start_validation(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region ifl = { 0 };

    f->x.vq.base = 8 | 0x8000;                  /* available slot beyond the ring */
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.base = 0x8000 | ((8u | 0x8000) << 16);   /* used slot beyond the ring */
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.base = BASE0;
    f->x.vq.avail_uva += 2;                     /* driver area misaligned */
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.avail_uva -= 2;
    f->x.vq.desc_uva = UVA0 + GSIZE - 64;      /* ring runs past guest memory */
    assert_int_equal(vq_start(&f->x.vq), -EFAULT);
    f->x.vq.desc_uva = f->r.desc_gpa - GPA0 + UVA0;
    /* An inflight region in the split layout: refused. */
    f->x.vq.ifl = &ifl;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.ifl = NULL;
    assert_false(f->x.vq.running);
    start(f);
}

/* ---- event suppression ------------------------------------------------ */

static void test_driver_event_flags(void **state)
{
    struct fx *f = *state;

    for (uint16_t i = 0; i < 3; i++)
        add_simple(f, i);
    start(f);
    for (uint16_t i = 0; i < 3; i++)
        assert_int_equal(pop_id(f), i);
    f->r.drv->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
    push(f, 0, 0);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    f->r.drv->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
    push(f, 1, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    /* DESC without EVENT_IDX negotiated: treated as enabled. */
    f->r.drv->flags = VRING_PACKED_EVENT_FLAG_DESC;
    f->r.drv->off_wrap = 7 | 0x8000;
    push(f, 2, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.stats.notifies, 2);
}

/* EVENT_IDX: notify only when the descriptor named by off/wrap is used. */
static void test_driver_event_desc(void **state)
{
    struct fx *f = *state;

    f->x.vq.event_idx = true;
    for (uint16_t i = 0; i < 6; i++)
        add_simple(f, i);
    f->r.drv->flags = VRING_PACKED_EVENT_FLAG_DESC;
    f->r.drv->off_wrap = 0 | 0x8000;
    start(f);
    for (uint16_t i = 0; i < 6; i++)
        assert_int_equal(pop_id(f), i);
    push(f, 0, 0);                     /* first check after start: notifies */
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    f->r.drv->off_wrap = 3 | 0x8000;   /* wants the used write at slot 3 */
    push(f, 1, 0);                     /* slot 1 */
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    push(f, 2, 0);                     /* slot 2 */
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    push(f, 3, 0);                     /* slot 3: the event */
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    /* Same slot but the other wrap: a whole ring away, not now. */
    f->r.drv->off_wrap = 4;
    push(f, 4, 0);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    f->r.drv->off_wrap = 5 | 0x8000;
    push(f, 5, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.stats.notifies, 3);
}

/* EVENT_IDX: an empty ring asks for a kick at the next slot (with its wrap
 * counter) through the device event area; without it, kicks stay enabled. */
static void test_device_event_desc(void **state)
{
    struct fx *f = *state;
    struct vq_elem e;

    f->x.vq.event_idx = true;
    start(f);
    assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
    for (uint16_t i = 0; i < QNUM + 3; i++) {
        add_simple(f, (uint16_t)(i % QNUM));
        assert_int_equal(pop_id(f), i % QNUM);
        push(f, (uint16_t)(i % QNUM), 0);
        assert_int_equal(pop(f, &e, MAXIOV), 0);
        assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_DESC);
        /* The driver's next slot and wrap counter are where the device waits. */
        assert_int_equal(f->r.dev->off_wrap, f->r.next | (f->r.wrap ? 0x8000 : 0));
    }
}

static void test_device_event_enable_without_event_idx(void **state)
{
    struct fx *f = *state;
    struct vq_elem e;

    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 0);
    assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
}

/* What a poller uses: "is a chain waiting" and kick suppression. */
static void test_poller_helpers(void **state)
{
    struct fx *f = *state;

    start(f);
    assert_false(vq_packed_avail(&f->x.vq));
    add_simple(f, 3);
    assert_true(vq_packed_avail(&f->x.vq));
    vq_packed_set_kicks(&f->x.vq, false);
    assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
    vq_packed_set_kicks(&f->x.vq, true);
    assert_int_equal(f->r.dev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
    assert_int_equal(pop_id(f), 3);
    assert_false(vq_packed_avail(&f->x.vq));
    push(f, 3, 0);
}

/* ---- malformed rings break the queue ---------------------------------- */

/* The head is available but a chained descriptor carries the previous
 * lap's flags (or was never written). */
static void test_bad_wrap_in_chain(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = { { gbuf(f, 8, 1), 8, R }, { gbuf(f, 8, 2), 8, W } };

    drv_add(f, 1, s, 2);
    f->r.desc[1].flags = W | avail_flags(false);
    start(f);
    expect_broken(f);
}

/* Flags with AVAIL and USED both set for the current wrap look "used":
 * not available, so not taken, and not an error. */
static void test_used_looking_not_taken(void **state)
{
    struct fx *f = *state;
    struct vq_elem e;

    add_simple(f, 0);
    f->r.desc[0].flags = F_AVAIL | F_USED;
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 0);
    assert_false(f->x.vq.broken);
}

/* Every descriptor of the ring chained: longer than the queue. */
static void test_bad_chain_longer_than_queue(void **state)
{
    struct fx *f = *state;
    struct seg s[QNUM];

    for (unsigned i = 0; i < QNUM; i++)
        s[i] = (struct seg){ gbuf(f, 8, i), 8, R };
    drv_add(f, 0, s, QNUM);
    f->r.desc[QNUM - 1].flags |= N;   /* ... and the last one says "more" */
    start(f);
    expect_broken(f);
}

/* A chain of exactly the queue size is fine. */
static void test_chain_of_queue_size(void **state)
{
    struct fx *f = *state;
    struct seg s[QNUM];
    struct vq_elem e;

    for (unsigned i = 0; i < QNUM; i++)
        s[i] = (struct seg){ gbuf(f, 8, i), 8, R };
    drv_add(f, 0, s, QNUM);
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.out_num, QNUM);
    push(f, 0, 0);
}

static void test_bad_id_out_of_range(void **state)
{
    struct fx *f = *state;

    add_simple(f, 0);
    f->r.desc[0].id = QNUM;
    start(f);
    expect_broken(f);
}

static void test_bad_id_in_flight(void **state)
{
    struct fx *f = *state;

    add_simple(f, 2);
    add_simple(f, 2);
    start(f);
    assert_int_equal(pop_id(f), 2);
    expect_broken(f);
    push(f, 2, 0);   /* the first one still completes */
}

static void test_bad_buffer_outside(void **state)
{
    struct fx *f = *state;
    struct seg s = { GPA0 + GSIZE - 8, 16, R };   /* crosses the end */

    drv_add(f, 0, &s, 1);
    start(f);
    expect_broken(f);
}

static void test_bad_readable_after_writable(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = { { gbuf(f, 8, 1), 8, W }, { gbuf(f, 8, 2), 8, R } };

    drv_add(f, 0, s, 2);
    start(f);
    expect_broken(f);
}

static void test_bad_too_many_segments(void **state)
{
    struct fx *f = *state;
    struct seg s[3] = { { gbuf(f, 8, 1), 8, R }, { gbuf(f, 8, 2), 8, R }, { gbuf(f, 8, 3), 8, R } };
    struct vq_elem e;

    drv_add(f, 0, s, 3);
    start(f);
    assert_int_equal(pop(f, &e, 2), -E2BIG);
    assert_true(f->x.vq.broken);
}

static void indirect_case(struct fx *f, uint16_t tflags, uint32_t tlen, uint64_t taddr,
                          bool with_next)
{
    uint64_t tbl = guest_alloc(&f->x.g, 64, 16);
    struct vring_packed_desc *t = guest_ptr(&f->x.g, tbl);
    struct seg s[2] = { { taddr ? taddr : tbl, tlen, I }, { gbuf(f, 8, 9), 8, W } };

    t[0] = (struct vring_packed_desc){ .addr = gbuf(f, 8, 1), .len = 8, .flags = tflags };
    t[1] = (struct vring_packed_desc){ .addr = gbuf(f, 8, 2), .len = 8, .flags = W };
    drv_add(f, 0, s, with_next ? 2 : 1);
    start(f);
    expect_broken(f);
}

static void test_bad_indirect_in_indirect(void **state)
{
    indirect_case(*state, I, 32, 0, false);
}

static void test_bad_indirect_with_next(void **state)
{
    indirect_case(*state, 0, 32, 0, true);
}

static void test_bad_indirect_len(void **state)
{
    indirect_case(*state, 0, 24, 0, false);
}

static void test_bad_indirect_len_zero(void **state)
{
    indirect_case(*state, 0, 0, 0, false);
}

static void test_bad_indirect_table_outside(void **state)
{
    indirect_case(*state, 0, 32, GPA0 + GSIZE - 16, false);
}

static void test_bad_indirect_without_feature(void **state)
{
    struct fx *f = *state;

    f->x.vq.indirect = false;
    indirect_case(f, 0, 32, 0, false);
}

static void test_bad_indirect_readable_after_writable(void **state)
{
    struct fx *f = *state;
    uint64_t tbl = guest_alloc(&f->x.g, 32, 16);
    struct vring_packed_desc *t = guest_ptr(&f->x.g, tbl);
    struct seg s = { tbl, 32, I };

    t[0] = (struct vring_packed_desc){ .addr = gbuf(f, 8, 1), .len = 8, .flags = W };
    t[1] = (struct vring_packed_desc){ .addr = gbuf(f, 8, 2), .len = 8, .flags = R };
    drv_add(f, 0, &s, 1);
    start(f);
    expect_broken(f);
}


/* ---- inflight tracking (vhost-user packed layout) --------------------- */

static struct vq_inflight_region_packed *ifl_alloc(struct fx *f)
{
    size_t sz = vq_inflight_packed_queue_size(QNUM);

    assert_int_equal(sz % 64, 0);
    assert_true(sz >= 32 + QNUM * 32);   /* the spec's 32-byte header and entries */
    f->ifl = aligned_alloc(64, sz);
    memset(f->ifl, 0, sz);
    return f->ifl;
}

/* The backend dies: its loop goes away with chains taken, the queue is
 * never stopped. A new backend configures the queue afresh over the same
 * guest memory and region, with the stale base QEMU sends after a crash
 * (the one of the last start), and a new kick eventfd. */
static void die_and_restart(struct fx *f, struct uloop *dead)
{
    uloop_thread_stop(dead);
    vq_packed_free(&f->x.vq);
    free(f->x.vq.resubmit);
    memset(f->held, 0, sizeof(f->held));
    vq_configure(f, g_loop);
    f->kick2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(f->kick2 >= 0);
    f->x.vq.kick_fd = f->kick2;
    f->x.vq.ifl_packed = f->ifl;
    f->x.vq.base = BASE0;
}

static void test_inflight_tracking(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    struct seg two[2] = { { gbuf(f, 16, 1), 16, R }, { gbuf(f, 32, 2), 32, W } };
    uint16_t id;
    uint32_t len;

    rg->desc_num = 3;   /* a region for another size: started afresh */
    rg->version = 1;
    drv_add(f, 3, two, 2);
    add_simple(f, 5);
    f->x.vq.ifl_packed = rg;
    start(f);
    assert_int_equal(rg->version, 1);
    assert_int_equal(rg->desc_num, QNUM);
    assert_int_equal(rg->free_head, 0);
    assert_int_equal(rg->used_wrap_counter, 1);
    assert_int_equal(rg->old_used_wrap_counter, 1);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    /* Entries 0-1 hold the first chain, 2 the second; copies of the ring. */
    assert_int_equal(rg->desc[0].inflight, 1);
    assert_int_equal(rg->desc[0].num, 2);
    assert_int_equal(rg->desc[0].last, 1);
    assert_int_equal(rg->desc[0].next, 1);
    assert_true(rg->desc[0].addr == two[0].addr);
    assert_int_equal(rg->desc[0].len, 16);
    assert_int_equal(rg->desc[0].flags & (N | W), N);
    assert_int_equal(rg->desc[1].id, 3);
    assert_int_equal(rg->desc[1].flags & (N | W), W);
    assert_int_equal(rg->desc[1].inflight, 0);
    assert_int_equal(rg->desc[2].inflight, 1);
    assert_int_equal(rg->desc[2].num, 1);
    assert_int_equal(rg->desc[2].id, 5);
    assert_true(rg->desc[0].counter < rg->desc[2].counter);
    assert_int_equal(rg->free_head, 3);
    assert_int_equal(rg->old_free_head, 3);
    /* A completion gives its entries back and moves the used position. */
    push(f, 5, 0);
    assert_int_equal(rg->desc[2].inflight, 0);
    assert_int_equal(rg->free_head, 2);
    assert_int_equal(rg->desc[2].next, 3);
    assert_int_equal(rg->old_free_head, 2);
    assert_int_equal(rg->used_idx, 1);
    assert_int_equal(rg->old_used_idx, 1);
    push(f, 3, 0);
    assert_int_equal(rg->desc[0].inflight, 0);
    assert_int_equal(rg->used_idx, 3);
    assert_int_equal(rg->old_used_idx, 3);
    assert_int_equal(rg->free_head, 0);
    assert_true(drv_used(f, &id, &len) && id == 5);
    assert_true(drv_used(f, &id, &len) && id == 3);
}

/* Four chains taken, two completed (one of them written over the slot of
 * a chain still in flight), then the backend dies. The next one resubmits
 * the other two exactly once from the region's copies, oldest first, and
 * the ring continues after them. */
static void test_inflight_crash_resubmit(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    uint64_t a = gbuf(f, 16, 1), b = gbuf(f, 32, 2), tbl = guest_alloc(&f->x.g, 32, 16),
             c1 = gbuf(f, 8, 3), c2 = gbuf(f, 24, 4);
    struct vring_packed_desc *t = guest_ptr(&f->x.g, tbl);
    struct seg sa[2] = { { a, 16, R }, { b, 32, W } }, sc = { tbl, 32, I };
    struct vq_elem e;
    struct uloop *l1;
    uint16_t id;
    uint32_t len;

    t[0] = (struct vring_packed_desc){ .addr = c1, .len = 8, .flags = 0 };
    t[1] = (struct vring_packed_desc){ .addr = c2, .len = 24, .flags = W };
    assert_int_equal(uloop_thread_start("test-vq-packed-crash", 64, &l1), 0);
    vq_configure(f, l1);
    f->x.vq.ifl_packed = rg;
    drv_add(f, 3, sa, 2);   /* slots 0-1 */
    add_simple(f, 5);       /* slot 2 */
    drv_add(f, 1, &sc, 1);  /* slot 3, indirect */
    add_simple(f, 6);       /* slot 4 */
    start(f);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    assert_int_equal(pop_id(f), 1);
    assert_int_equal(pop_id(f), 6);
    push(f, 5, 0);
    push(f, 6, 0);
    assert_true(drv_used(f, &id, &len) && id == 5);
    assert_true(drv_used(f, &id, &len) && id == 6);
    assert_int_equal(f->r.desc[0].id, 5);   /* chain 3's head slot is gone */

    die_and_restart(f, l1);
    add_simple(f, 2);       /* slot 5: new work after the restart */
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.head, 3);
    assert_int_equal(e.out_num, 1);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_int_equal(e.iov[0].iov_len, 16);
    assert_ptr_equal(e.iov[1].iov_base, hva(f, b));
    assert_int_equal(e.iov[1].iov_len, 32);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.head, 1);
    assert_int_equal(e.out_num, 1);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov[1].iov_base, hva(f, c2));
    assert_int_equal(pop_id(f), 2);
    assert_int_equal(pop(f, &e, MAXIOV), 0);   /* 5 and 6 are not taken again */
    push(f, 1, 24);
    push(f, 3, 32);
    push(f, 2, 0);
    assert_true(drv_used(f, &id, &len) && id == 1 && len == 24);
    assert_true(drv_used(f, &id, &len) && id == 3 && len == 32);
    assert_true(drv_used(f, &id, &len) && id == 2);
    assert_false(drv_used(f, &id, &len));
    assert_int_equal(f->r.used_next, 6);
    for (unsigned i = 0; i < QNUM; i++)
        assert_int_equal(rg->desc[i].inflight, 0);
    vq_stop(&f->x.vq);
    assert_int_equal(f->x.vq.base, (6u | 0x8000u) | (6u | 0x8000u) << 16);
    assert_false(f->x.vq.broken);
}

/* A queue on a loop of its own (to die with it), with a fresh region, that
 * took chains 3 and 5 (one descriptor each: entries 0 and 1). */
static struct uloop *take_two(struct fx *f)
{
    struct uloop *l1;

    assert_int_equal(uloop_thread_start("test-vq-packed-crash", 64, &l1), 0);
    vq_configure(f, l1);
    f->x.vq.ifl_packed = f->ifl;
    add_simple(f, 3);
    add_simple(f, 5);
    start(f);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    return l1;
}

/* Killed inside a completion, after its used descriptor was written but
 * before the region said so: the restart commits it (not resubmitted). */
static void test_inflight_crash_commit(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    struct uloop *l1 = take_two(f);
    uint16_t id;
    uint32_t len;

    push(f, 5, 0);
    assert_true(drv_used(f, &id, &len) && id == 5);
    /* The state between the used descriptor and the in-flight flag. */
    rg->desc[1].inflight = 1;
    rg->old_free_head = 2;
    rg->old_used_idx = 0;

    die_and_restart(f, l1);
    start(f);
    assert_int_equal(rg->desc[1].inflight, 0);
    assert_int_equal(rg->used_idx, 1);
    assert_int_equal(rg->old_used_idx, 1);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 3, 0);
    assert_true(drv_used(f, &id, &len) && id == 3);
}

/* Killed inside a completion before its used descriptor was written: the
 * restart rolls it back, and that chain is resubmitted too. */
static void test_inflight_crash_rollback(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    struct uloop *l1 = take_two(f);
    uint16_t id;
    uint32_t len;

    /* The completion of 5 got as far as the free list and used position. */
    rg->desc[1].next = rg->free_head;
    rg->free_head = 1;
    rg->used_idx = 1;

    die_and_restart(f, l1);
    start(f);
    assert_int_equal(rg->used_idx, 0);
    assert_int_equal(rg->free_head, 2);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 5, 0);
    push(f, 3, 0);
    assert_true(drv_used(f, &id, &len) && id == 5);
    assert_true(drv_used(f, &id, &len) && id == 3);
    assert_false(drv_used(f, &id, &len));
}

/* Killed while taking a chain, its entries filled and the free head moved
 * but not old_free_head: the take is rolled back, and the chain is read
 * from the ring again, once. */
static void test_inflight_crash_mid_take(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    struct uloop *l1 = take_two(f);

    add_simple(f, 6);   /* slot 2 */
    rg->desc[2] = (struct vq_inflight_desc_packed){ .inflight = 1, .last = 2, .num = 1,
        .counter = 99, .id = 6, .len = 16, .addr = f->r.desc[2].addr, .next = 3 };
    rg->free_head = 3;

    die_and_restart(f, l1);
    start(f);
    assert_int_equal(rg->desc[2].inflight, 0);
    assert_int_equal(rg->free_head, 2);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    assert_int_equal(pop_id(f), 6);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 6, 0);
    push(f, 3, 0);
    push(f, 5, 0);
    assert_int_equal(f->r.used_next, 0);
    vq_stop(&f->x.vq);
    assert_int_equal(f->x.vq.base, 3u | 0x8000u | (3u | 0x8000u) << 16);
}

/* Chains given back unused leave the region; a resubmitted chain given
 * back stays in flight and comes out again. */
static void test_inflight_unpop(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    struct seg two[2] = { { gbuf(f, 8, 1), 8, R }, { gbuf(f, 8, 2), 8, W } };
    struct uloop *l1;

    assert_int_equal(uloop_thread_start("test-vq-packed-crash", 64, &l1), 0);
    vq_configure(f, l1);
    f->x.vq.ifl_packed = rg;
    add_simple(f, 3);
    drv_add(f, 5, two, 2);
    start(f);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    unpop(f, 1);
    assert_int_equal(rg->desc[1].inflight, 0);
    assert_int_equal(rg->free_head, 1);
    assert_int_equal(rg->old_free_head, 1);
    assert_int_equal(pop_id(f), 5);
    assert_int_equal(rg->desc[1].inflight, 1);
    assert_true(rg->desc[1].counter > rg->desc[0].counter);

    die_and_restart(f, l1);
    start(f);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    unpop(f, 2);
    assert_int_equal(rg->desc[0].inflight, 1);
    assert_int_equal(rg->desc[1].inflight, 1);
    assert_int_equal(pop_id(f), 3);
    assert_int_equal(pop_id(f), 5);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 5, 8);
    push(f, 3, 0);
    assert_int_equal(f->r.used_next, 0);   /* not read by the driver here */
    vq_stop(&f->x.vq);
    assert_int_equal(f->x.vq.base, 3u | 0x8000u | (3u | 0x8000u) << 16);
}

/* A region a previous backend could have left: one chain in flight (entries
 * 0 -> 1, buffer id 4), entries 2..7 free. */
static void ifl_valid(struct fx *f, uint64_t a, uint64_t b)
{
    struct vq_inflight_region_packed *rg = f->ifl;

    memset(rg, 0, vq_inflight_packed_queue_size(QNUM));
    rg->version = 1;
    rg->desc_num = QNUM;
    rg->used_wrap_counter = rg->old_used_wrap_counter = 1;
    rg->free_head = rg->old_free_head = 2;
    for (uint16_t i = 2; i < QNUM; i++)
        rg->desc[i].next = (uint16_t)(i + 1);
    rg->desc[0] = (struct vq_inflight_desc_packed){ .inflight = 1, .next = 1, .last = 1,
        .num = 2, .counter = 7, .id = 4, .flags = N, .len = 16, .addr = a };
    rg->desc[1] = (struct vq_inflight_desc_packed){ .id = 4, .flags = W, .len = 16, .addr = b };
}

/* Malformed regions from a hostile frontend: the queue refuses to start,
 * says why, and the region is left as it was. A sound one then works. */
static void test_inflight_hostile_regions(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region_packed *rg = ifl_alloc(f);
    size_t sz = vq_inflight_packed_queue_size(QNUM);
    uint64_t a = gbuf(f, 16, 1), b = gbuf(f, 16, 2);
    void *snap = malloc(sz);
    struct vq_elem e;
    uint16_t id;
    uint32_t len;
    enum { NCASES = 18 };

    f->x.vq.ifl_packed = rg;
    for (int c = 0; c < NCASES; c++) {
        ifl_valid(f, a, b);
        switch (c) {
        case 0: rg->old_used_idx = QNUM; rg->used_idx = QNUM; break;
        case 1: rg->old_used_wrap_counter = 2; rg->used_wrap_counter = 2; break;
        case 2: rg->old_free_head = QNUM + 1; rg->free_head = QNUM + 1; break;
        case 3: rg->desc[7].next = 2; break;                  /* free list loops */
        case 4: rg->desc[3].next = 200; break;                /* leaves the region */
        case 5: rg->desc[0].inflight = 2; break;
        case 6: rg->desc[0].num = 0; break;
        case 7: rg->desc[0].num = QNUM + 1; break;
        case 8: rg->desc[0].next = 50; break;                 /* chain leaves the region */
        case 9: rg->desc[0].next = 3; rg->desc[0].last = 3;    /* chain entry also free */
                rg->desc[3].flags = W; break;
        case 10: rg->desc[0].last = 0; break;
        case 11: rg->desc[1].flags |= N; break;               /* chain runs on */
        case 12: rg->desc[0].flags |= I; break;               /* indirect inside a chain */
        case 13: rg->desc[1].id = QNUM; break;
        case 14: case 15: case 16:
            /* A second chain at entry 2 (free list from 3) with the same
             * buffer id, or counters that give no order. */
            rg->free_head = rg->old_free_head = 3;
            rg->desc[2] = (struct vq_inflight_desc_packed){ .inflight = 1, .last = 2, .num = 1,
                .counter = c == 15 ? 7 : 9, .id = c == 14 ? 4 : 6, .len = 8, .addr = a };
            if (c == 16)
                rg->desc[0].counter = 0;
            break;
        case 17: rg->used_idx = QNUM + 3; break;   /* an update to commit, out of range */
        }
        memcpy(snap, rg, sz);
        assert_int_equal(vq_start(&f->x.vq), -EINVAL);
        assert_false(f->x.vq.running);
        assert_null(f->x.vq.pk);
        assert_memory_equal(snap, rg, sz);
    }
    free(snap);
    assert_int_equal(f->x.broken_cbs, 0);

    ifl_valid(f, a, b);
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.head, 4);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_ptr_equal(e.iov[1].iov_base, hva(f, b));
    assert_int_equal(pop(f, &e, MAXIOV), 0);
    /* Its chain had two descriptors: the ring goes on at slot 2. */
    add_simple(f, 1);
    add_simple(f, 2);
    add_simple(f, 3);
    assert_int_equal(pop_id(f), 3);
    push(f, 4, 0);
    push(f, 3, 0);
    f->r.used_next = 0;
    f->r.ndescs[4] = 2;
    assert_true(drv_used(f, &id, &len) && id == 4);
    assert_true(drv_used(f, &id, &len) && id == 3);
    assert_false(f->x.vq.broken);
}

/* A region whose chain copy points outside guest memory is well formed;
 * resubmitting it breaks the queue (NEEDS_RESET), nothing else. */
static void test_inflight_bad_copy(void **state)
{
    struct fx *f = *state;

    ifl_alloc(f);
    ifl_valid(f, GPA0 + GSIZE, gbuf(f, 16, 2));
    f->x.vq.ifl_packed = f->ifl;
    start(f);
    expect_broken(f);
}

/* A packed-layout region on a split ring: refused. */
static void test_inflight_layout_mismatch(void **state)
{
    struct fx *f = *state;

    f->x.vq.ifl_packed = ifl_alloc(f);
    f->x.vq.packed = false;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    assert_false(f->x.vq.running);
    assert_int_equal(f->ifl->version, 0);
}

/* ---- main ------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chain_normal),
        T(test_dirty_log_used_desc),
        T(test_wrap_and_out_of_order),
        T(test_indirect_normal),
        T(test_unpop),
        T(test_stop_base_restart),
        T(test_stop_completes_after_late_unpop),
        T(test_base_avail_only),
        T(test_start_validation),
        T(test_driver_event_flags),
        T(test_driver_event_desc),
        T(test_device_event_desc),
        T(test_device_event_enable_without_event_idx),
        T(test_poller_helpers),
        T(test_bad_wrap_in_chain),
        T(test_used_looking_not_taken),
        T(test_bad_chain_longer_than_queue),
        T(test_chain_of_queue_size),
        T(test_bad_id_out_of_range),
        T(test_bad_id_in_flight),
        T(test_bad_buffer_outside),
        T(test_bad_readable_after_writable),
        T(test_bad_too_many_segments),
        T(test_bad_indirect_in_indirect),
        T(test_bad_indirect_with_next),
        T(test_bad_indirect_len),
        T(test_bad_indirect_len_zero),
        T(test_bad_indirect_table_outside),
        T(test_bad_indirect_without_feature),
        T(test_bad_indirect_readable_after_writable),
        T(test_inflight_tracking),
        T(test_inflight_crash_resubmit),
        T(test_inflight_crash_commit),
        T(test_inflight_crash_rollback),
        T(test_inflight_crash_mid_take),
        T(test_inflight_unpop),
        T(test_inflight_hostile_regions),
        T(test_inflight_bad_copy),
        T(test_inflight_layout_mismatch),
    };
    return cmocka_run_group_tests(tests, vqfx_group_setup, vqfx_group_teardown);
}
