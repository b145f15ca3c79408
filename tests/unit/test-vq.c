/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/vq.c: split virtqueues on the device side.
 *
 * The guest is a real memfd mapped through vu_mem_add; the test writes the
 * descriptor table and rings in it like a driver would. The queue runs on a
 * real uloop worker thread: everything that must run on the worker (vq_pop,
 * vq_push) goes through uloop_call, and loop_sync() waits until the deferred
 * used-ring flush of earlier calls has run. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"
#include "core/log.h"
#include "core/uloop.h"
#include "guest.h"
#include "mem.h"         /* vhost/ private */
#include "vqfx.h"
#include "vq-int.h"      /* vhost/ private: struct vq */

#define QNUM 8
#define GSIZE (256 * 1024ull)
#define GPA0 0x100000ull
#define UVA0 0x7f3300000000ull
#define MAXIOV 64

#define R 0
#define N VRING_DESC_F_NEXT
#define W VRING_DESC_F_WRITE
#define I VRING_DESC_F_INDIRECT


struct fx {
    struct vqfx x;          /* guest memory, eventfds, the queue */
    struct tring r;
    struct vq_inflight_region *ifl;
    /* Written on the worker (read after a uloop_call). */
    unsigned handled_calls;
    uint16_t heads[64];
    unsigned nheads;
    bool handler_pushes;
    struct iovec iov[MAXIOV];
};

/* ---- worker helpers --------------------------------------------------- */

static void noop(void *arg)
{
    (void)arg;
}

/* After this, every deferred flush queued by earlier calls has run and its
 * call-eventfd write has been submitted. */
static void loop_sync(struct uloop *l)
{
    uloop_call(l, noop, NULL);
    uloop_call(l, noop, NULL);
}

struct pop_call {
    struct fx *f;
    struct vq_elem e;
    unsigned max;
    int r;
};

static void pop_on_loop(void *arg)
{
    struct pop_call *c = arg;
    c->e.iov = c->f->iov;
    c->r = vq_pop(&c->f->x.vq, &c->e, c->max);
}

static int pop(struct fx *f, struct vq_elem *e, unsigned max)
{
    struct pop_call c = { .f = f, .max = max };

    assert_int_equal(uloop_call(f->x.vq.loop, pop_on_loop, &c), 0);
    if (e)
        *e = c.e;
    return c.r;
}

static uint16_t pop_head(struct fx *f)
{
    struct vq_elem e;
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    return e.head;
}

struct push_call {
    struct fx *f;
    unsigned n;
    uint16_t heads[QNUM];
    uint32_t len;
    /* State seen right after the pushes, before the deferred flush. */
    uint16_t used_idx_after;
    uint8_t inflight_after[QNUM];
};

static void push_on_loop(void *arg)
{
    struct push_call *c = arg;
    struct vq *vq = &c->f->x.vq;

    for (unsigned i = 0; i < c->n; i++)
        vq_push(vq, c->heads[i], c->len);
    c->used_idx_after = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
    if (vq->ifl)
        for (unsigned i = 0; i < QNUM; i++)
            c->inflight_after[i] = vq->ifl->desc[i].inflight;
}

static void push(struct fx *f, uint16_t head, uint32_t len)
{
    struct push_call c = { .f = f, .n = 1, .heads = { head }, .len = len };

    assert_int_equal(uloop_call(f->x.vq.loop, push_on_loop, &c), 0);
    loop_sync(f->x.vq.loop);
}

/* ---- fixture ---------------------------------------------------------- */

static void record_handle(struct vq *vq)
{
    struct fx *f = vq->priv;
    struct vq_elem e;

    f->handled_calls++;
    e.iov = f->iov;
    while (vq_pop(vq, &e, MAXIOV) == 1) {
        if (f->nheads < 64)
            f->heads[f->nheads++] = e.head;
        if (f->handler_pushes)
            vq_push(vq, e.head, 0);
    }
}

static void vq_configure(struct fx *f, struct uloop *loop)
{
    vqfx_configure(&f->x, loop, record_handle, f);
    f->x.vq.num = QNUM;
    f->x.vq.desc_uva = tring_desc_uva(&f->r);
    f->x.vq.avail_uva = tring_avail_uva(&f->r);
    f->x.vq.used_uva = tring_used_uva(&f->r);
    f->x.vq.addr_set = true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    vqfx_create(&f->x, "test-vq", GSIZE, GPA0, UVA0);
    tring_init(&f->r, &f->x.g, QNUM);
    vq_configure(f, g_loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    vqfx_destroy(&f->x);
    free(f->ifl);
    free(f);
    return 0;
}

#define start(f) vqfx_start(&(f)->x)
/* A guest buffer filled with pattern(seed); the device's view of a gpa. */
#define gbuf(f, len, seed) vqfx_gbuf(&(f)->x, len, seed)
#define hva(f, gpa) vqfx_hva(&(f)->x, gpa)

/* One single-descriptor chain at @head: 16 readable bytes. */
static void simple_chain(struct fx *f, uint16_t head)
{
    tring_desc(&f->r, head, gbuf(f, 16, head), 16, R, 0);
}

/* ---- start / stop ----------------------------------------------------- */

/* A kick fd that reads 0 (EOF: /dev/null, a pipe whose writer is gone) or
 * fails breaks the queue once instead of being re-armed in a loop. */
static void test_kick_eof_breaks_queue(void **state)
{
    struct fx *f = *state;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

    assert_true(devnull >= 0);
    f->x.vq.kick_fd = devnull;
    start(f);
    usleep(200000);
    loop_sync(f->x.vq.loop);
    assert_true(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 1);
    assert_true(f->x.vq.stats.kicks < 2);
    assert_false(f->x.vq.kick_armed);
    vq_stop(&f->x.vq);
    close(devnull);
}

static void test_start_validation(void **state)
{
    struct fx *f = *state;

    f->x.vq.num = 0;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.num = VQ_MAX_SIZE + 1;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.num = QNUM;
    f->x.vq.kick_fd = -1;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.kick_fd = f->x.kick;
    f->x.vq.addr_set = false;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.addr_set = true;
    /* Alignment: desc 16, avail 2, used 4. */
    f->x.vq.desc_uva += 8;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.desc_uva -= 8;
    f->x.vq.avail_uva += 1;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.avail_uva -= 1;
    f->x.vq.used_uva += 2;
    assert_int_equal(vq_start(&f->x.vq), -EINVAL);
    f->x.vq.used_uva -= 2;
    /* Rings outside guest memory (uva space), or running off its end. */
    f->x.vq.desc_uva = GPA0;   /* a gpa, not a uva */
    assert_int_equal(vq_start(&f->x.vq), -EFAULT);
    f->x.vq.desc_uva = tring_desc_uva(&f->r);
    f->x.vq.used_uva = UVA0 + GSIZE - 8;
    assert_int_equal(vq_start(&f->x.vq), -EFAULT);
    f->x.vq.used_uva = tring_used_uva(&f->r);
    f->x.vq.avail_uva = UVA0 + GSIZE - 6;   /* header fits, the ring does not */
    assert_int_equal(vq_start(&f->x.vq), -EFAULT);
    f->x.vq.avail_uva = tring_avail_uva(&f->r);
    assert_false(f->x.vq.running);
    start(f);
    /* Starting a running queue is a no-op. */
    assert_int_equal(vq_start(&f->x.vq), 0);
}

static void test_stop_reports_base_and_restarts(void **state)
{
    struct fx *f = *state;

    for (uint16_t h = 0; h < 4; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    start(f);
    for (uint16_t h = 0; h < 3; h++) {
        assert_int_equal(pop_head(f), h);
        push(f, h, 0);
    }
    vq_stop(&f->x.vq);
    assert_false(f->x.vq.running);
    assert_int_equal(f->x.vq.base, 3);
    assert_int_equal(tring_used_idx(&f->r), 3);
    /* Stopped: nothing pops. */
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    /* Restart from the base: the fourth chain comes next. */
    start(f);
    assert_int_equal(pop_head(f), 3);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 3, 0);
    assert_int_equal(tring_used_idx(&f->r), 4);
    assert_int_equal(tring_used(&f->r, 3).id, 3);
    /* A restart with another base (as SET_VRING_BASE would give). */
    vq_stop(&f->x.vq);
    assert_int_equal(f->x.vq.base, 4);
    simple_chain(f, 5);
    tring_avail(&f->r, 5);     /* avail idx 5, slot 4 */
    f->x.vq.base = 4;
    start(f);
    assert_int_equal(pop_head(f), 5);
    push(f, 5, 0);
}

struct late_push {
    struct fx *f;
    uint16_t head;
};

static void *late_push_thread(void *arg)
{
    struct late_push *lp = arg;
    struct push_call c = { .f = lp->f, .n = 1, .heads = { lp->head } };

    usleep(50 * 1000);
    uloop_call(lp->f->x.vq.loop, push_on_loop, &c);
    return NULL;
}

static void test_stop_waits_for_inflight(void **state)
{
    struct fx *f = *state;
    struct late_push lp = { f, 2 };
    pthread_t t;

    simple_chain(f, 2);
    tring_avail(&f->r, 2);
    start(f);
    assert_int_equal(pop_head(f), 2);
    assert_int_equal(pthread_create(&t, NULL, late_push_thread, &lp), 0);
    /* Returns only once the popped chain was pushed and published. */
    vq_stop(&f->x.vq);
    assert_int_equal(tring_used_idx(&f->r), 1);
    assert_int_equal(tring_used(&f->r, 0).id, 2);
    assert_int_equal(f->x.vq.inuse, 0);
    assert_false(f->x.vq.running);
    assert_int_equal(f->x.vq.base, 1);
    pthread_join(t, NULL);
}

/* A stop in progress (kick read cancelled) whose last chains come back
 * from the device later, on the loop: one pushed, one unpopped (what
 * virtio-net does with receive reads that complete after the stop began).
 * Once the stop completes the control thread may reset the queue (vq_init
 * wipes flush_defer) or free it, so it must not complete while the loop
 * still has the queue's deferred flush queued: that corrupted the loop's
 * deferred list, and another queue on the worker never published again. */
struct late_unpop {
    struct fx *f;
    bool stopped_inside;    /* the stop completed inside vq_unpop() */
    bool defer_queued;
};


static void late_unpop_on_loop(void *arg)
{
    struct late_unpop *lu = arg;
    struct vq *vq = &lu->f->x.vq;

    vq_push(vq, 0, 0);
    vq_unpop(vq, 1);
    lu->stopped_inside = !vq->running;
    lu->defer_queued = vq->flush_defer.queued;
}


static void test_stop_completes_after_late_unpop(void **state)
{
    struct fx *f = *state;
    struct late_unpop lu = { .f = f };
    pthread_t t;

    /* The call eventfd is non-blocking, as QEMU's: written with write(2),
     * nothing in flight for the stop to wait for. */
    f->x.vq.call_nonblock = true;
    for (uint16_t h = 0; h < 2; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    start(f);
    assert_int_equal(pop_head(f), 0);
    assert_int_equal(pop_head(f), 1);
    vq_stop_begin(&f->x.vq, &t);
    assert_int_equal(uloop_call(f->x.vq.loop, late_unpop_on_loop, &lu), 0);
    assert_true(lu.defer_queued);
    assert_false(lu.stopped_inside);
    pthread_join(t, NULL);
    assert_false(f->x.vq.running);
    assert_false(f->x.vq.flush_defer.queued);
    assert_int_equal(f->x.vq.base, 1);              /* chain 1 is available again */
    assert_int_equal(tring_used_idx(&f->r), 1);
    assert_int_equal(tring_used(&f->r, 0).id, 0);
}

/* ---- chains ----------------------------------------------------------- */

static void test_chain_normal(void **state)
{
    struct fx *f = *state;
    uint64_t a = gbuf(f, 16, 1), b = gbuf(f, 100, 2), c = gbuf(f, 1, 3);
    struct vq_elem e;

    /* head 3 -> 5 -> 1: two readable buffers, then one writable. */
    tring_desc(&f->r, 3, a, 16, R | N, 5);
    tring_desc(&f->r, 5, b, 100, R | N, 1);
    tring_desc(&f->r, 1, c, 1, W, 0);
    tring_avail(&f->r, 3);
    start(f);
    assert_int_equal(pop(f, &e, 3), 1);   /* exactly max_iov segments */
    assert_int_equal(e.head, 3);
    assert_int_equal(e.out_num, 2);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov, f->iov);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_int_equal(e.iov[0].iov_len, 16);
    assert_ptr_equal(e.iov[1].iov_base, hva(f, b));
    assert_int_equal(e.iov[1].iov_len, 100);
    assert_ptr_equal(e.iov[2].iov_base, hva(f, c));
    assert_int_equal(e.iov[2].iov_len, 1);
    assert_memory_equal(e.iov[1].iov_base, guest_ptr(&f->x.g, b), 100);
    /* The device's writes reach the guest. */
    *(uint8_t *)e.iov[2].iov_base = 0x77;
    assert_int_equal(*(uint8_t *)guest_ptr(&f->x.g, c), 0x77);
    assert_int_equal(f->x.vq.inuse, 1);
    /* Ring empty now. */
    assert_int_equal(pop(f, &e, MAXIOV), 0);
    assert_int_equal(f->x.vq.inuse, 1);

    /* Nothing published yet; push publishes id/len and notifies once. */
    assert_int_equal(tring_used_idx(&f->r), 0);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    push(f, 3, 1);
    assert_int_equal(tring_used_idx(&f->r), 1);
    assert_int_equal(tring_used(&f->r, 0).id, 3);
    assert_int_equal(tring_used(&f->r, 0).len, 1);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.inuse, 0);
    assert_int_equal(f->x.vq.stats.elems, 1);
    assert_int_equal(f->x.vq.stats.notifies, 1);
    assert_false(f->x.vq.broken);
    /* What a program reads of the opaque queue (sluiced's device stats). */
    struct vq_stats vs;
    vq_stats(&f->x.vq, &vs);
    assert_int_equal(vs.elems, 1);
    assert_int_equal(vs.notifies, 1);
    assert_int_equal(vs.kicks, f->x.vq.stats.kicks);
    assert_false(vq_is_packed(&f->x.vq));
}

static void test_batch_single_notify(void **state)
{
    struct fx *f = *state;
    struct push_call c = { .f = f, .n = 3, .heads = { 4, 0, 6 }, .len = 9 };

    for (unsigned i = 0; i < 3; i++) {
        simple_chain(f, c.heads[i]);
        tring_avail(&f->r, c.heads[i]);
    }
    start(f);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(pop_head(f), c.heads[i]);
    /* Three pushes in one loop iteration: one used-index store, one call. */
    assert_int_equal(uloop_call(g_loop, push_on_loop, &c), 0);
    assert_int_equal(c.used_idx_after, 0);   /* deferred until the batch ends */
    loop_sync(g_loop);
    assert_int_equal(tring_used_idx(&f->r), 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(tring_used(&f->r, i).id, c.heads[i]);
        assert_int_equal(tring_used(&f->r, i).len, 9);
    }
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.stats.notifies, 1);
}

static void test_full_ring_and_wrap(void **state)
{
    struct fx *f = *state;

    /* Start near the 16-bit wrap of the indices. */
    f->r.avail_idx = 0xfffc;
    f->r.used->idx = 0xfffc;
    f->x.vq.base = 0xfffc;
    for (uint16_t h = 0; h < QNUM; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, (uint16_t)(QNUM - 1 - h));
    }
    assert_int_equal(f->r.avail->idx, (uint16_t)(0xfffc + QNUM));
    start(f);
    /* A full ring (avail idx exactly num ahead) is legal. */
    for (uint16_t h = 0; h < QNUM; h++)
        assert_int_equal(pop_head(f), QNUM - 1 - h);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    for (uint16_t h = 0; h < QNUM; h++)
        push(f, (uint16_t)(QNUM - 1 - h), h);
    assert_int_equal(tring_used_idx(&f->r), (uint16_t)(0xfffc + QNUM));
    for (uint16_t h = 0; h < QNUM; h++) {
        assert_int_equal(tring_used(&f->r, (uint16_t)(0xfffc + h)).id, QNUM - 1 - h);
        assert_int_equal(tring_used(&f->r, (uint16_t)(0xfffc + h)).len, h);
    }
    assert_false(f->x.vq.broken);
}

static void test_chain_max_length(void **state)
{
    struct fx *f = *state;
    struct vq_elem e;

    /* A chain using every descriptor once is the longest legal chain. */
    for (uint16_t i = 0; i < QNUM; i++)
        tring_desc(&f->r, i, gbuf(f, 8, i), 8, R | (i + 1 < QNUM ? N : 0), i + 1);
    tring_avail(&f->r, 0);
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.out_num, QNUM);
    assert_int_equal(e.in_num, 0);
    push(f, 0, 0);
}

static void test_zero_length_skipped(void **state)
{
    struct fx *f = *state;
    uint64_t a = gbuf(f, 16, 1), c = gbuf(f, 4, 2);
    struct vq_elem e;

    /* Zero-length descriptors carry nothing, even with a bogus address. */
    tring_desc(&f->r, 0, a, 16, R | N, 1);
    tring_desc(&f->r, 1, 0xdead00000000ull, 0, R | N, 2);
    tring_desc(&f->r, 2, c, 4, W | N, 3);
    tring_desc(&f->r, 3, 0, 0, W, 0);
    tring_avail(&f->r, 0);
    start(f);
    assert_int_equal(pop(f, &e, 2), 1);
    assert_int_equal(e.out_num, 1);
    assert_int_equal(e.in_num, 1);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_ptr_equal(e.iov[1].iov_base, hva(f, c));
    assert_int_equal(e.iov[1].iov_len, 4);
    push(f, 0, 4);
}

static void test_buffer_across_regions(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc lo = guest_region(&f->x.g, 0, GSIZE / 2);
    struct vu_mem_region_desc hi = guest_region(&f->x.g, GSIZE / 2, GSIZE / 2);
    uint64_t span = GPA0 + GSIZE / 2 - 10;
    struct vq_elem e;
    uint8_t buf[30];

    /* Same guest, as two regions adjacent in gpa but not in uva. */
    hi.userspace_addr += 0x10000000;
    vu_mem_clear(&f->x.mem);
    assert_int_equal(vu_mem_add(&f->x.mem, &lo, f->x.g.fd), 0);
    assert_int_equal(vu_mem_add(&f->x.mem, &hi, f->x.g.fd), 0);
    pattern_fill(guest_ptr(&f->x.g, span), 30, 9, 0);
    tring_desc(&f->r, 0, span, 30, R, 0);
    tring_avail(&f->r, 0);
    tring_desc(&f->r, 1, span, 30, R, 0);
    tring_avail(&f->r, 1);
    start(f);
    /* One descriptor, two segments, same bytes. */
    assert_int_equal(pop(f, &e, 2), 1);
    assert_int_equal(e.out_num, 2);
    assert_int_equal(e.iov[0].iov_len, 10);
    assert_int_equal(e.iov[1].iov_len, 20);
    assert_int_equal(iov_to_buf(e.iov, 2, 0, buf, sizeof(buf)), 30);
    assert_memory_equal(buf, guest_ptr(&f->x.g, span), 30);
    push(f, 0, 0);
    /* The split counts against max_iov. */
    assert_int_equal(pop(f, &e, 1), -E2BIG);
    assert_true(f->x.vq.broken);
}

static void test_indirect_normal(void **state)
{
    struct fx *f = *state;
    uint64_t t = guest_alloc(&f->x.g, 3 * 16, 16);
    struct vring_desc *tab = guest_ptr(&f->x.g, t);
    uint64_t a = gbuf(f, 16, 1), b = gbuf(f, 512, 2), c = gbuf(f, 1, 3);
    struct vq_elem e;

    /* The table's own chain order: 0 -> 2 -> 1. */
    tab[0] = (struct vring_desc){ a, 16, N, 2 };
    tab[2] = (struct vring_desc){ b, 512, W | N, 1 };
    tab[1] = (struct vring_desc){ c, 1, W, 0 };
    tring_desc(&f->r, 6, t, 3 * 16, I, 0);
    tring_avail(&f->r, 6);
    f->x.vq.indirect = true;
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.head, 6);
    assert_int_equal(e.out_num, 1);
    assert_int_equal(e.in_num, 2);
    assert_ptr_equal(e.iov[0].iov_base, hva(f, a));
    assert_ptr_equal(e.iov[1].iov_base, hva(f, b));
    assert_int_equal(e.iov[1].iov_len, 512);
    assert_ptr_equal(e.iov[2].iov_base, hva(f, c));
    push(f, 6, 513);
    assert_int_equal(tring_used(&f->r, 0).id, 6);
    assert_int_equal(tring_used(&f->r, 0).len, 513);
}

static void test_indirect_long_table(void **state)
{
    struct fx *f = *state;
    /* An indirect table may be longer than the queue. */
    const unsigned n = 3 * QNUM;
    uint64_t t = guest_alloc(&f->x.g, n * 16, 16);
    struct vring_desc *tab = guest_ptr(&f->x.g, t);
    struct vq_elem e;

    for (unsigned i = 0; i < n; i++)
        tab[i] = (struct vring_desc){ gbuf(f, 4, i), 4, (uint16_t)(i + 1 < n ? N : 0),
                                      (uint16_t)(i + 1) };
    tring_desc(&f->r, 0, t, n * 16, I, 0);
    tring_avail(&f->r, 0);
    f->x.vq.indirect = true;
    start(f);
    assert_int_equal(pop(f, &e, MAXIOV), 1);
    assert_int_equal(e.out_num, n);
    push(f, 0, 0);
}

/* ---- malicious chains: each must break the queue ---------------------- */

static void expect_broken(struct fx *f, int want, unsigned max_iov)
{
    struct vq_elem e;
    int r;

    if (!f->x.vq.running)
        start(f);
    r = pop(f, &e, max_iov);
    assert_int_equal(r, want);
    assert_true(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 1);
    assert_int_equal(f->x.vq.inuse, 0);
    assert_int_equal(eventfd_wait(f->x.err, 0), 1);   /* err eventfd signalled */
    /* The queue stays stopped, even with a valid chain available. */
    simple_chain(f, 7);
    tring_avail(&f->r, 7);
    assert_int_equal(pop(f, &e, MAXIOV), 0);
    assert_int_equal(f->x.broken_cbs, 1);
    loop_sync(g_loop);
    assert_int_equal(tring_used_idx(&f->r), 0);
    /* A restart (what a reset does) clears the broken state. */
    vq_stop(&f->x.vq);
    start(f);
    assert_false(f->x.vq.broken);
}

static void test_bad_loop(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, gbuf(f, 8, 0), 8, R | N, 1);
    tring_desc(&f->r, 1, gbuf(f, 8, 0), 8, R | N, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_self_loop(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 2, gbuf(f, 8, 0), 8, W | N, 2);
    tring_avail(&f->r, 2);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_next_out_of_range(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, gbuf(f, 8, 0), 8, R | N, QNUM);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_head_out_of_range(void **state)
{
    struct fx *f = *state;
    tring_avail(&f->r, QNUM);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_avail_idx_jump(void **state)
{
    struct fx *f = *state;
    for (uint16_t h = 0; h < QNUM; h++)
        simple_chain(f, h);
    tring_set_avail_idx(&f->r, QNUM + 1);
    expect_broken(f, -EINVAL, MAXIOV);
}

/* The driver makes a head available again while all num chains are out
 * (a head reused in flight): refused, so a device never holds more chains
 * than the queue has entries (net receive keeps chains across reads). */
static void test_bad_more_in_flight_than_num(void **state)
{
    struct fx *f = *state;
    struct vq_elem e;

    for (uint16_t h = 0; h < QNUM; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    start(f);
    for (uint16_t h = 0; h < QNUM; h++)
        assert_int_equal(pop_head(f), h);
    tring_avail(&f->r, 0);   /* head 0 again, still in flight */
    assert_int_equal(pop(f, &e, MAXIOV), -EINVAL);
    assert_true(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 1);
    assert_int_equal(f->x.vq.inuse, QNUM);
    for (uint16_t h = 0; h < QNUM; h++)
        push(f, h, 0);
}

static void test_bad_avail_idx_backwards(void **state)
{
    struct fx *f = *state;
    simple_chain(f, 0);
    f->x.vq.base = 5;
    tring_set_avail_idx(&f->r, 4);   /* 65535 entries ahead */
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_buffer_outside(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, GPA0 + GSIZE + 4096, 16, R, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_buffer_below(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, gbuf(f, 8, 0), 8, R | N, 1);
    tring_desc(&f->r, 1, GPA0 - 16, 16, W, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_buffer_crosses_end(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, GPA0 + GSIZE - 8, 16, W, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_buffer_wraps(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, UINT64_MAX - 3, 16, R, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_readable_after_writable(void **state)
{
    struct fx *f = *state;
    tring_desc(&f->r, 0, gbuf(f, 8, 0), 8, R | N, 1);
    tring_desc(&f->r, 1, gbuf(f, 8, 0), 8, W | N, 2);
    tring_desc(&f->r, 2, gbuf(f, 8, 0), 8, R, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_too_many_segments(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < 4; i++)
        tring_desc(&f->r, i, gbuf(f, 8, i), 8, R | (i < 3 ? N : 0), i + 1);
    tring_avail(&f->r, 0);
    expect_broken(f, -E2BIG, 3);
}

/* Indirect descriptors. */
static uint64_t itable(struct fx *f, unsigned n, struct vring_desc **tab)
{
    uint64_t t = guest_alloc(&f->x.g, n * 16ull, 16);
    *tab = guest_ptr(&f->x.g, t);
    f->x.vq.indirect = true;
    return t;
}

static void test_bad_indirect_nested(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab, *tab2;
    uint64_t t = itable(f, 2, &tab), t2 = itable(f, 1, &tab2);

    tab2[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R | N, 1 };
    tab[1] = (struct vring_desc){ t2, 16, I, 0 };
    tring_desc(&f->r, 0, t, 32, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_nested_alone(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab, *tab2;
    uint64_t t = itable(f, 1, &tab), t2 = itable(f, 1, &tab2);

    /* The table's first (and only) entry is itself indirect. */
    tab2[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tab[0] = (struct vring_desc){ t2, 16, I, 0 };
    tring_desc(&f->r, 0, t, 16, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_without_feature(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 1, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tring_desc(&f->r, 0, t, 16, I, 0);
    tring_avail(&f->r, 0);
    f->x.vq.indirect = false;
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_with_next(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 1, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tring_desc(&f->r, 0, t, 16, I | N, 1);
    tring_desc(&f->r, 1, gbuf(f, 1, 0), 1, W, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_not_head(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 1, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, W, 0 };
    tring_desc(&f->r, 0, gbuf(f, 8, 0), 8, R | N, 1);
    tring_desc(&f->r, 1, t, 16, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_len_zero(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 1, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tring_desc(&f->r, 0, t, 0, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_len_not_multiple(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 2, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tring_desc(&f->r, 0, t, 24, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_table_outside(void **state)
{
    struct fx *f = *state;
    f->x.vq.indirect = true;
    tring_desc(&f->r, 0, GPA0 + GSIZE, 16, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_table_crosses_end(void **state)
{
    struct fx *f = *state;
    f->x.vq.indirect = true;
    tring_desc(&f->r, 0, GPA0 + GSIZE - 16, 32, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_loop(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 2, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R | N, 1 };
    tab[1] = (struct vring_desc){ gbuf(f, 8, 0), 8, R | N, 0 };
    tring_desc(&f->r, 0, t, 32, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_next_out_of_table(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    /* A valid-looking descriptor right after the table must not be used. */
    uint64_t t = itable(f, 3, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, R | N, 2 };
    tab[2] = (struct vring_desc){ gbuf(f, 1, 0), 1, W, 0 };
    tring_desc(&f->r, 0, t, 32, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_readable_after_writable(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 2, &tab);

    tab[0] = (struct vring_desc){ gbuf(f, 8, 0), 8, W | N, 1 };
    tab[1] = (struct vring_desc){ gbuf(f, 8, 0), 8, R, 0 };
    tring_desc(&f->r, 0, t, 32, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_buffer_outside(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 1, &tab);

    tab[0] = (struct vring_desc){ GPA0 + GSIZE - 4, 8, W, 0 };
    tring_desc(&f->r, 0, t, 16, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -EINVAL, MAXIOV);
}

static void test_bad_indirect_too_many_segments(void **state)
{
    struct fx *f = *state;
    struct vring_desc *tab;
    uint64_t t = itable(f, 5, &tab);

    for (uint16_t i = 0; i < 5; i++)
        tab[i] = (struct vring_desc){ gbuf(f, 8, 0), 8, (uint16_t)(i < 4 ? N : 0), i + 1 };
    tring_desc(&f->r, 0, t, 5 * 16, I, 0);
    tring_avail(&f->r, 0);
    expect_broken(f, -E2BIG, 4);
}

static void test_device_broken_flag(void **state)
{
    struct fx *f = *state;
    volatile bool dev_broken = true;

    f->x.vq.dev_broken = &dev_broken;
    simple_chain(f, 0);
    tring_avail(&f->r, 0);
    start(f);
    /* The device is broken (another queue failed): nothing pops. */
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    dev_broken = false;
    assert_int_equal(pop_head(f), 0);
    push(f, 0, 0);
}

/* ---- kicks, handler, enable ------------------------------------------- */

struct snapshot {
    struct fx *f;
    unsigned handled_calls, nheads;
    uint64_t kicks;
};

static void snapshot_on_loop(void *arg)
{
    struct snapshot *s = arg;
    s->handled_calls = s->f->handled_calls;
    s->nheads = s->f->nheads;
    s->kicks = s->f->x.vq.stats.kicks;
}

static struct snapshot snap(struct fx *f)
{
    struct snapshot s = { .f = f };
    uloop_call(f->x.vq.loop, snapshot_on_loop, &s);
    return s;
}

static void kick(struct fx *f)
{
    uint64_t one = 1;
    assert_int_equal(write(f->x.kick, &one, sizeof(one)), sizeof(one));
}

/* Wait until the worker handled @nheads chains / saw @kicks kicks. */
static struct snapshot wait_for(struct fx *f, unsigned nheads, uint64_t kicks)
{
    struct snapshot s;

    for (int i = 0; i < 2000; i++) {
        s = snap(f);
        if (s.nheads >= nheads && s.kicks >= kicks)
            return s;
        usleep(1000);
    }
    fail_msg("worker did not handle %u chains / %llu kicks (has %u / %llu)", nheads,
             (unsigned long long)kicks, s.nheads, (unsigned long long)s.kicks);
    return s;
}

static void test_kick_runs_handler(void **state)
{
    struct fx *f = *state;
    struct snapshot s;

    f->x.vq.enabled = true;
    f->handler_pushes = true;
    start(f);
    /* vq_start runs the handler once (the ring may already hold work). */
    s = snap(f);
    assert_int_equal(s.handled_calls, 1);
    assert_int_equal(s.nheads, 0);

    simple_chain(f, 4);
    tring_avail(&f->r, 4);
    kick(f);
    s = wait_for(f, 1, 1);
    assert_int_equal(f->heads[0], 4);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(tring_used_idx(&f->r), 1);
    assert_int_equal(tring_used(&f->r, 0).id, 4);

    /* Two chains, one kick: both handled. */
    simple_chain(f, 1);
    tring_avail(&f->r, 1);
    simple_chain(f, 2);
    tring_avail(&f->r, 2);
    kick(f);
    s = wait_for(f, 3, 2);
    assert_int_equal(f->heads[1], 1);
    assert_int_equal(f->heads[2], 2);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(tring_used_idx(&f->r), 3);
}

static void test_enable_gates_handler(void **state)
{
    struct fx *f = *state;
    struct snapshot s;

    f->handler_pushes = true;
    simple_chain(f, 0);
    tring_avail(&f->r, 0);
    start(f);
    kick(f);
    s = wait_for(f, 0, 1);
    /* Disabled: kicks are consumed but the handler does not run. */
    assert_int_equal(s.handled_calls, 0);
    assert_int_equal(s.nheads, 0);
    /* Enabling a running queue runs the handler right away. */
    vq_set_enabled(&f->x.vq, true);
    s = snap(f);
    assert_int_equal(s.handled_calls, 1);
    assert_int_equal(s.nheads, 1);
    /* Disabled again: a kick does nothing. */
    vq_set_enabled(&f->x.vq, false);
    simple_chain(f, 1);
    tring_avail(&f->r, 1);
    kick(f);
    s = wait_for(f, 1, 2);
    assert_int_equal(s.nheads, 1);
    assert_int_equal(s.handled_calls, 1);
    vq_set_enabled(&f->x.vq, true);
    s = snap(f);
    assert_int_equal(s.nheads, 2);
}

static void test_set_call_fd(void **state)
{
    struct fx *f = *state;
    int old = f->x.call, nfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    simple_chain(f, 0);
    tring_avail(&f->r, 0);
    simple_chain(f, 1);
    tring_avail(&f->r, 1);
    start(f);
    assert_int_equal(pop_head(f), 0);
    push(f, 0, 0);
    assert_int_equal(eventfd_wait(old, 2000), 1);
    /* Replacing the call fd closes the old one; notifications go to the new. */
    vq_set_call_fd(&f->x.vq, nfd);
    f->x.call = nfd;
    assert_int_equal(fcntl(old, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(pop_head(f), 1);
    push(f, 1, 0);
    assert_int_equal(eventfd_wait(nfd, 2000), 1);
    /* No call fd: used ring still published, nothing signalled. */
    vq_set_call_fd(&f->x.vq, -1);
    f->x.call = -1;
    assert_int_equal(fcntl(nfd, F_GETFD), -1);
    simple_chain(f, 2);
    tring_avail(&f->r, 2);
    assert_int_equal(pop_head(f), 2);
    push(f, 2, 0);
    assert_int_equal(tring_used_idx(&f->r), 3);
    assert_int_equal(f->x.vq.stats.notifies, 2);
}

/* ---- notification suppression ----------------------------------------- */

static void test_no_interrupt_flag(void **state)
{
    struct fx *f = *state;

    for (uint16_t h = 0; h < 2; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    start(f);
    assert_int_equal(pop_head(f), 0);
    assert_int_equal(pop_head(f), 1);
    f->r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    push(f, 0, 0);
    assert_int_equal(tring_used_idx(&f->r), 1);
    loop_sync(g_loop);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    assert_int_equal(f->x.vq.stats.notifies, 0);
    f->r.avail->flags = 0;
    push(f, 1, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    assert_int_equal(f->x.vq.stats.notifies, 1);
}

static void test_event_idx_used_event(void **state)
{
    struct fx *f = *state;

    for (uint16_t h = 0; h < 5; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    f->x.vq.event_idx = true;
    /* NO_INTERRUPT is ignored under EVENT_IDX. */
    f->r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    *tring_used_event(&f->r) = 0;
    start(f);
    for (uint16_t h = 0; h < 5; h++)
        assert_int_equal(pop_head(f), h);

    /* The first publication after start always notifies. */
    push(f, 0, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    /* used_event 0: the driver already saw past it -> suppressed. */
    push(f, 1, 0);
    assert_int_equal(tring_used_idx(&f->r), 2);
    loop_sync(g_loop);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    /* used_event 2: notify when the used index moves past 2 (to 3). */
    *tring_used_event(&f->r) = 2;
    push(f, 2, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    /* used_event far ahead: suppressed. */
    *tring_used_event(&f->r) = 10;
    push(f, 3, 0);
    loop_sync(g_loop);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    /* used_event 3 asked for the move past 3 (to 4), which happened in the
     * previous, suppressed flush; this one (4 -> 5) does not cross it. */
    *tring_used_event(&f->r) = 3;
    push(f, 4, 0);
    loop_sync(g_loop);
    assert_int_equal(eventfd_wait(f->x.call, 0), 0);
    assert_int_equal(tring_used_idx(&f->r), 5);
    assert_int_equal(f->x.vq.stats.notifies, 2);
}

static void test_event_idx_batch_crossing(void **state)
{
    struct fx *f = *state;
    struct push_call c = { .f = f, .n = 3, .heads = { 0, 1, 2 } };

    for (uint16_t h = 0; h < 4; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    f->x.vq.event_idx = true;
    start(f);
    for (uint16_t h = 0; h < 4; h++)
        assert_int_equal(pop_head(f), h);
    push(f, 3, 0);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
    /* One batch moves used from 1 to 4; used_event 2 lies inside: notify. */
    *tring_used_event(&f->r) = 2;
    uloop_call(g_loop, push_on_loop, &c);
    loop_sync(g_loop);
    assert_int_equal(tring_used_idx(&f->r), 4);
    assert_int_equal(eventfd_wait(f->x.call, 2000), 1);
}

static void test_event_idx_avail_event(void **state)
{
    struct fx *f = *state;

    for (uint16_t h = 0; h < 2; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    f->x.vq.event_idx = true;
    /* left behind by a backend that died while polling */
    *tring_avail_event(&f->r) = 0xabcd;
    start(f);
    /* The start asks for a kick from where the ring is. */
    assert_int_equal(*tring_avail_event(&f->r), 0);
    assert_int_equal(pop_head(f), 0);
    assert_int_equal(pop_head(f), 1);
    /* Not moved while chains were available. */
    assert_int_equal(*tring_avail_event(&f->r), 0);
    /* Empty: ask for a kick at the next entry. */
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    assert_int_equal(*tring_avail_event(&f->r), 2);
    simple_chain(f, 2);
    tring_avail(&f->r, 2);
    assert_int_equal(pop_head(f), 2);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    assert_int_equal(*tring_avail_event(&f->r), 3);
    for (uint16_t h = 0; h < 3; h++)
        push(f, h, 0);
}

/* A backend that died while polling left VRING_USED_F_NO_NOTIFY set: the
 * next one clears it at start, or the driver never kicks an idle ring. */
static void test_start_clears_stale_no_notify(void **state)
{
    struct fx *f = *state;

    f->r.used->flags = VRING_USED_F_NO_NOTIFY;
    start(f);
    assert_int_equal(f->r.used->flags, 0);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
}

static void test_no_event_idx_no_avail_event(void **state)
{
    struct fx *f = *state;

    *tring_avail_event(&f->r) = 0xabcd;
    start(f);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    assert_int_equal(*tring_avail_event(&f->r), 0xabcd);
}

/* ---- call signalling -------------------------------------------------- */

static void check_call_signalled(struct fx *f, bool nonblock)
{
    struct uloop *l;
    int fd = eventfd(0, EFD_CLOEXEC | (nonblock ? EFD_NONBLOCK : 0));

    assert_true(fd >= 0);
    assert_int_equal(uloop_thread_start("test-vq-call", 64, &l), 0);
    vq_configure(f, l);
    vq_set_call_fd(&f->x.vq, fd);
    close(f->x.call);
    f->x.call = fd;
    for (uint16_t h = 0; h < 3; h++) {
        simple_chain(f, h);
        tring_avail(&f->r, h);
    }
    start(f);
    for (uint16_t h = 0; h < 3; h++) {
        assert_int_equal(pop_head(f), h);
        push(f, h, 0);
        if (!nonblock)
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);   /* for eventfd_wait */
        assert_int_equal(eventfd_wait(fd, 2000), 1);
        if (!nonblock)
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    /* A non-blocking call fd is written directly (write(2) cannot wait on
     * it); a blocking one goes through io_uring, so it can never stall the
     * worker. */
    assert_int_equal(f->x.vq.call_nonblock, nonblock);
    vq_stop(&f->x.vq);
    uloop_thread_stop(l);
}

static void test_call_nonblocking_direct(void **state)
{
    check_call_signalled(*state, true);
}

static void test_call_blocking_through_ring(void **state)
{
    check_call_signalled(*state, false);
}

/* ---- adaptive polling ------------------------------------------------- */

static uint16_t used_flags(struct fx *f)
{
    return __atomic_load_n(&f->r.used->flags, __ATOMIC_ACQUIRE);
}

/* Wait until the used index reaches @idx; false after @ms. */
static bool wait_used(struct fx *f, uint16_t idx, unsigned ms)
{
    for (unsigned i = 0; i < ms * 10; i++) {
        if (tring_used_idx(&f->r) == idx)
            return true;
        usleep(100);
    }
    return tring_used_idx(&f->r) == idx;
}

/* wait_used() without sleeping, as a driver polling its used ring. */
static bool spin_used(struct fx *f, uint16_t idx, unsigned ms)
{
    int64_t t0 = now_ms();

    for (;;) {
        if (tring_used_idx(&f->r) == idx)
            return true;
        if (now_ms() - t0 > ms)
            return false;
    }
}

/* The driver side of kick suppression, as Linux's virtqueue_kick_prepare():
 * publish, full barrier, then kick only if the device asks for it. */
static void add_and_maybe_kick(struct fx *f, uint16_t head)
{
    uint16_t old = f->r.avail_idx;

    tring_avail(&f->r, head);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (f->x.vq.event_idx) {
        uint16_t ev = *tring_avail_event(&f->r), nw = f->r.avail_idx;
        if ((uint16_t)(nw - ev - 1) < (uint16_t)(nw - old))
            kick(f);
    } else if (!(used_flags(f) & VRING_USED_F_NO_NOTIFY)) {
        kick(f);
    }
}

static struct uloop_poll_stats poll_stats(void)
{
    struct uloop_poll_stats st;
    uloop_poll_stats(g_loop, &st);
    return st;
}

/* Kicked requests until the worker's polling window is at least @ns: each
 * comes a little after the current window ran out, so the worker slept for
 * less than the maximum and grows the window. */
static uint16_t grow_window(struct fx *f, uint64_t ns)
{
    uint16_t n = 0;
    uint64_t w;

    while ((w = poll_stats().poll_ns) < ns) {
        assert_true(n < 200);
        usleep((useconds_t)(w * 3 / 2 / 1000 + 100));
        simple_chain(f, n % QNUM);
        tring_avail(&f->r, n % QNUM);
        kick(f);
        n++;
        assert_true(wait_used(f, n, 2000));
    }
    return n;
}

static void check_poll_suppresses_kicks(struct fx *f, bool event_idx)
{
    uint16_t n;
    uint64_t kicks;

    f->x.vq.enabled = true;
    f->x.vq.event_idx = event_idx;
    f->x.vq.poll = true;
    f->handler_pushes = true;
    *tring_avail_event(&f->r) = 0xabcd;
    uloop_set_poll_max_ns(g_loop, 10000000000ull);
    start(f);
    n = grow_window(f, 200000000ull);
    /* One more, found by polling: kicks are off while the worker polls. */
    simple_chain(f, n % QNUM);
    tring_avail(&f->r, n % QNUM);
    kick(f);
    n++;
    assert_true(wait_used(f, n, 2000));
    if (event_idx) {
        assert_int_equal(used_flags(f), 0);
        /* avail_event lags: the driver's index has run past it. */
        assert_int_not_equal(*tring_avail_event(&f->r), n);
    } else {
        assert_int_equal(used_flags(f), VRING_USED_F_NO_NOTIFY);
    }
    /* A chain without a kick is taken by the polling worker. */
    kicks = snap(f).kicks;
    simple_chain(f, n % QNUM);
    add_and_maybe_kick(f, n % QNUM);
    n++;
    assert_true(wait_used(f, n, 2000));
    assert_int_equal(snap(f).kicks, kicks);
    assert_true(poll_stats().polls_hit > 0);

    /* Polling off: the worker turns kicks back on before it sleeps. */
    uloop_set_poll_max_ns(g_loop, 0);
    for (unsigned i = 0; i < 2000; i++) {
        if (event_idx ? *tring_avail_event(&f->r) == n : used_flags(f) == 0)
            break;
        usleep(1000);
    }
    assert_int_equal(used_flags(f), 0);
    if (event_idx)
        assert_int_equal(*tring_avail_event(&f->r), n);
    /* Now it sleeps: an unkicked chain waits, the kick brings it in. */
    simple_chain(f, n % QNUM);
    tring_avail(&f->r, n % QNUM);
    assert_false(wait_used(f, (uint16_t)(n + 1), 50));
    kick(f);
    n++;
    assert_true(wait_used(f, n, 2000));
    uloop_set_poll_max_ns(g_loop, ULOOP_POLL_MAX_NS_DEFAULT);
}

static void test_poll_suppresses_kicks(void **state)
{
    check_poll_suppresses_kicks(*state, false);
}

static void test_poll_suppresses_kicks_event_idx(void **state)
{
    check_poll_suppresses_kicks(*state, true);
}

/* A queue that is not polled never turns kicks off. */
static void test_poll_off_keeps_kicks(void **state)
{
    struct fx *f = *state;
    uint16_t n = 0;

    f->x.vq.enabled = true;
    f->handler_pushes = true;
    uloop_set_poll_max_ns(g_loop, 10000000000ull);
    start(f);
    for (; n < 40; n++) {
        simple_chain(f, n % QNUM);
        tring_avail(&f->r, n % QNUM);
        kick(f);
        assert_true(wait_used(f, (uint16_t)(n + 1), 2000));
        assert_int_equal(used_flags(f), 0);
    }
    uloop_set_poll_max_ns(g_loop, ULOOP_POLL_MAX_NS_DEFAULT);
}

/* A ring its driver left idle is read again on its next kick, not each
 * time the worker wakes for other work: SeaBIOS leaves its virtio-blk rings
 * live (DRIVER_OK) and QEMU's -initrd is then loaded over them before Linux
 * resets the device (blk-qemu-multidev). Garbage there is no guest error
 * until the driver kicks; a kick still finds it. */
static void test_idle_ring_read_on_kick_only(void **state)
{
    struct fx *f = *state;

    f->x.vq.enabled = true;
    f->x.vq.poll = true;
    f->handler_pushes = true;
    uloop_set_poll_max_ns(g_loop, 0);
    start(f);
    simple_chain(f, 0);
    tring_avail(&f->r, 0);
    kick(f);
    assert_true(wait_used(f, 1, 2000));
    loop_sync(g_loop);
    /* The memory is reused: the avail index jumps, no kick. */
    tring_set_avail_idx(&f->r, 1000);
    for (unsigned i = 0; i < 5; i++) {
        loop_sync(g_loop);    /* the worker wakes (another queue's work) */
        usleep(2000);
    }
    assert_false(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 0);
    kick(f);
    for (unsigned i = 0; i < 2000 && !f->x.vq.broken; i++)
        usleep(1000);
    loop_sync(g_loop);
    assert_true(f->x.vq.broken);
    assert_int_equal(f->x.broken_cbs, 1);
    uloop_set_poll_max_ns(g_loop, ULOOP_POLL_MAX_NS_DEFAULT);
}

/* A driver that kicks only when asked, at every phase of the worker's
 * poll / re-arm / sleep cycle: no chain may be left waiting for a kick that
 * was suppressed. */
static void check_no_lost_kick(struct fx *f, bool event_idx)
{
    uint64_t seed = 0x243F6A8885A308D3ull, hits0 = poll_stats().polls_hit;

    f->x.vq.enabled = true;
    f->x.vq.event_idx = event_idx;
    f->x.vq.poll = true;
    f->handler_pushes = true;
    uloop_set_poll_max_ns(g_loop, 200000);
    start(f);
    for (uint16_t n = 0; n < 3000; n++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* 0-300 us apart: inside and beyond the window. */
        struct timespec ts = { 0, (long)(seed % 300000) };
        if (seed & 1)
            nanosleep(&ts, NULL);
        simple_chain(f, n % QNUM);
        add_and_maybe_kick(f, n % QNUM);
        if (!spin_used(f, (uint16_t)(n + 1), 2000))
            fail_msg("chain %u was never taken (a kick was lost)", n);
    }
    /* The run did exercise polling. */
    assert_true(poll_stats().polls_hit > hits0);
    uloop_set_poll_max_ns(g_loop, ULOOP_POLL_MAX_NS_DEFAULT);
}

static void test_poll_no_lost_kick(void **state)
{
    check_no_lost_kick(*state, false);
}

static void test_poll_no_lost_kick_event_idx(void **state)
{
    check_no_lost_kick(*state, true);
}

/* ---- inflight tracking ------------------------------------------------ */

static struct vq_inflight_region *ifl_alloc(struct fx *f)
{
    size_t sz = vq_inflight_queue_size(QNUM);

    assert_true(sz >= sizeof(struct vq_inflight_region) + QNUM * sizeof(struct vq_inflight_desc));
    assert_int_equal(sz % 64, 0);
    f->ifl = aligned_alloc(64, sz);
    memset(f->ifl, 0, sz);
    return f->ifl;
}

static void test_inflight_tracking(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region *ifl = ifl_alloc(f);
    struct push_call c = { .f = f, .n = 1, .heads = { 4 } };

    f->r.used->idx = 2;   /* a ring that already did some work */
    f->r.avail_idx = 2;
    f->x.vq.base = 2;
    simple_chain(f, 4);
    tring_avail(&f->r, 4);
    simple_chain(f, 6);
    tring_avail(&f->r, 6);
    f->x.vq.ifl = ifl;
    start(f);
    /* A fresh region is initialised. */
    assert_int_equal(ifl->version, 1);
    assert_int_equal(ifl->desc_num, QNUM);
    assert_int_equal(ifl->used_idx, 2);

    assert_int_equal(pop_head(f), 4);
    assert_int_equal(pop_head(f), 6);
    assert_int_equal(ifl->desc[4].inflight, 1);
    assert_int_equal(ifl->desc[6].inflight, 1);
    assert_true(ifl->desc[4].counter < ifl->desc[6].counter);
    for (unsigned i = 0; i < QNUM; i++)
        if (i != 4 && i != 6)
            assert_int_equal(ifl->desc[i].inflight, 0);

    /* Still inflight right after the push; cleared once published. */
    assert_int_equal(uloop_call(g_loop, push_on_loop, &c), 0);
    assert_int_equal(c.inflight_after[4], 1);
    assert_int_equal(c.used_idx_after, 2);
    loop_sync(g_loop);
    assert_int_equal(tring_used_idx(&f->r), 3);
    assert_int_equal(ifl->desc[4].inflight, 0);
    assert_int_equal(ifl->desc[6].inflight, 1);
    assert_int_equal(ifl->used_idx, 3);
    assert_int_equal(ifl->last_batch_head, 4);
    push(f, 6, 0);
    assert_int_equal(ifl->desc[6].inflight, 0);
    assert_int_equal(ifl->used_idx, 4);
    assert_int_equal(ifl->last_batch_head, 6);
}

static void test_inflight_restore(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region *ifl = ifl_alloc(f);

    /* What a previous backend left: used idx 5 in the ring, the region last
     * updated at 4; head 3 completed in slot 4 after that; heads 7, 5, 2
     * (taken in that order) still inflight; head 1 newly available. */
    ifl->version = 1;
    ifl->desc_num = QNUM;
    ifl->used_idx = 4;
    ifl->desc[3] = (struct vq_inflight_desc){ .inflight = 1, .counter = 5 };
    ifl->desc[2] = (struct vq_inflight_desc){ .inflight = 1, .counter = 30 };
    ifl->desc[7] = (struct vq_inflight_desc){ .inflight = 1, .counter = 10 };
    ifl->desc[5] = (struct vq_inflight_desc){ .inflight = 1, .counter = 20 };
    f->r.used->idx = 5;
    f->r.used->ring[4].id = 3;
    f->r.avail_idx = 5;
    tring_avail(&f->r, 7);
    tring_avail(&f->r, 5);
    tring_avail(&f->r, 2);
    tring_avail(&f->r, 1);
    for (uint16_t h = 0; h < QNUM; h++)
        simple_chain(f, h);
    f->x.vq.base = 0;   /* superseded by the inflight state */
    f->x.vq.ifl = ifl;
    start(f);

    assert_int_equal(f->x.vq.last_avail_idx, 8);   /* used idx + inflight count */
    assert_int_equal(ifl->desc[3].inflight, 0);
    assert_int_equal(ifl->used_idx, 5);
    /* Oldest first, then the ring continues. */
    assert_int_equal(pop_head(f), 7);
    assert_int_equal(pop_head(f), 5);
    assert_int_equal(pop_head(f), 2);
    assert_int_equal(pop_head(f), 1);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    assert_true(ifl->desc[1].counter > 30);
    assert_true(ifl->desc[2].counter > ifl->desc[7].counter);
    push(f, 5, 0);
    push(f, 7, 0);
    push(f, 1, 0);
    push(f, 2, 0);
    assert_int_equal(tring_used_idx(&f->r), 9);
    for (unsigned i = 0; i < QNUM; i++)
        assert_int_equal(ifl->desc[i].inflight, 0);
    assert_int_equal(ifl->used_idx, 9);
    vq_stop(&f->x.vq);
    assert_int_equal(f->x.vq.base, 9);
}

static void test_inflight_restore_after_crash(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region *ifl = ifl_alloc(f);
    struct uloop *l1;
    int kick2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    assert_int_equal(uloop_thread_start("test-vq-crash", 64, &l1), 0);
    f->x.vq.loop = l1;
    f->x.vq.ifl = ifl;
    for (uint16_t h = 0; h < QNUM; h++)
        simple_chain(f, h);
    tring_avail(&f->r, 2);
    tring_avail(&f->r, 0);
    tring_avail(&f->r, 1);
    start(f);
    assert_int_equal(pop_head(f), 2);
    assert_int_equal(pop_head(f), 0);
    assert_int_equal(pop_head(f), 1);
    push(f, 0, 0);
    assert_int_equal(tring_used_idx(&f->r), 1);
    assert_int_equal(ifl->desc[0].inflight, 0);
    assert_int_equal(ifl->desc[1].inflight, 1);
    assert_int_equal(ifl->desc[2].inflight, 1);

    /* The backend dies with two chains taken: its loop goes away, the queue
     * is never stopped. */
    uloop_thread_stop(l1);
    free(f->x.vq.resubmit);

    /* A new backend gets the same region and guest memory. */
    vq_configure(f, g_loop);
    f->x.vq.kick_fd = kick2;
    f->x.vq.ifl = ifl;
    tring_avail(&f->r, 3);
    start(f);
    assert_int_equal(f->x.vq.last_avail_idx, 3);
    assert_int_equal(pop_head(f), 2);   /* oldest first, not by head */
    assert_int_equal(pop_head(f), 1);
    assert_int_equal(pop_head(f), 3);
    assert_int_equal(pop(f, NULL, MAXIOV), 0);
    push(f, 2, 0);
    push(f, 1, 0);
    push(f, 3, 0);
    assert_int_equal(tring_used_idx(&f->r), 4);
    vq_stop(&f->x.vq);
    for (unsigned i = 0; i < QNUM; i++)
        assert_int_equal(ifl->desc[i].inflight, 0);
    close(kick2);
    f->x.vq.kick_fd = f->x.kick;
}

static void test_inflight_region_other_size(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_region *ifl = ifl_alloc(f);

    /* A region laid out for another queue size is not trusted. */
    ifl->version = 1;
    ifl->desc_num = QNUM / 2;
    ifl->desc[1] = (struct vq_inflight_desc){ .inflight = 1, .counter = 3 };
    f->r.used->idx = 1;
    f->r.avail_idx = 1;
    f->x.vq.base = 1;
    simple_chain(f, 6);
    tring_avail(&f->r, 6);
    f->x.vq.ifl = ifl;
    start(f);
    assert_int_equal(ifl->desc_num, QNUM);
    assert_int_equal(ifl->desc[1].inflight, 0);
    assert_int_equal(ifl->used_idx, 1);
    assert_int_equal(f->x.vq.last_avail_idx, 1);
    assert_int_equal(pop_head(f), 6);
    push(f, 6, 0);
}

/* ---- iovec helpers ---------------------------------------------------- */

static void test_iov_helpers(void **state)
{
    uint8_t a[4], b[6], c[3], out[16], in[13];
    struct iovec iov[3] = { { a, 4 }, { b, 6 }, { c, 3 } };
    struct iovec *p = iov;
    unsigned n;

    (void)state;
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i + 1);
    assert_int_equal(iov_size(iov, 3), 13);
    assert_int_equal(iov_size(iov, 0), 0);
    assert_int_equal(iov_from_buf(iov, 3, 0, in, sizeof(in)), 13);
    assert_int_equal(a[0], 1);
    assert_int_equal(b[0], 5);
    assert_int_equal(c[2], 13);
    /* With an offset inside the second iovec, limited by the buffer. */
    memset(out, 0, sizeof(out));
    assert_int_equal(iov_to_buf(iov, 3, 6, out, sizeof(out)), 7);
    assert_memory_equal(out, in + 6, 7);
    assert_int_equal(iov_to_buf(iov, 3, 2, out, 3), 3);
    assert_memory_equal(out, in + 2, 3);
    assert_int_equal(iov_to_buf(iov, 3, 13, out, 4), 0);
    assert_int_equal(iov_to_buf(iov, 3, 100, out, 4), 0);
    assert_int_equal(iov_from_buf(iov, 3, 12, in, 5), 1);
    /* Discard from the front: partial, then whole iovecs. */
    n = iov_discard_front(&p, 3, 2);
    assert_int_equal(n, 3);
    assert_ptr_equal(p, iov);
    assert_ptr_equal(p[0].iov_base, a + 2);
    assert_int_equal(p[0].iov_len, 2);
    n = iov_discard_front(&p, n, 5);
    assert_int_equal(n, 2);
    assert_ptr_equal(p, iov + 1);
    assert_ptr_equal(p[0].iov_base, b + 3);
    assert_int_equal(p[0].iov_len, 3);
    /* From the back. */
    n = iov_discard_back(p, n, 1);
    assert_int_equal(n, 2);
    assert_int_equal(p[1].iov_len, 2);
    n = iov_discard_back(p, n, 3);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].iov_len, 2);
    n = iov_discard_back(p, n, 100);
    assert_int_equal(n, 0);
    p = iov;
    iov[0].iov_len = 4;
    n = iov_discard_front(&p, 1, 100);
    assert_int_equal(n, 0);
}

/* ---- main ------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_start_validation),
        T(test_kick_eof_breaks_queue),
        T(test_stop_reports_base_and_restarts),
        T(test_stop_waits_for_inflight),
        T(test_stop_completes_after_late_unpop),
        T(test_chain_normal),
        T(test_batch_single_notify),
        T(test_full_ring_and_wrap),
        T(test_chain_max_length),
        T(test_zero_length_skipped),
        T(test_buffer_across_regions),
        T(test_indirect_normal),
        T(test_indirect_long_table),
        T(test_bad_loop),
        T(test_bad_self_loop),
        T(test_bad_next_out_of_range),
        T(test_bad_head_out_of_range),
        T(test_bad_avail_idx_jump),
        T(test_bad_more_in_flight_than_num),
        T(test_bad_avail_idx_backwards),
        T(test_bad_buffer_outside),
        T(test_bad_buffer_below),
        T(test_bad_buffer_crosses_end),
        T(test_bad_buffer_wraps),
        T(test_bad_readable_after_writable),
        T(test_bad_too_many_segments),
        T(test_bad_indirect_nested),
        T(test_bad_indirect_nested_alone),
        T(test_bad_indirect_without_feature),
        T(test_bad_indirect_with_next),
        T(test_bad_indirect_not_head),
        T(test_bad_indirect_len_zero),
        T(test_bad_indirect_len_not_multiple),
        T(test_bad_indirect_table_outside),
        T(test_bad_indirect_table_crosses_end),
        T(test_bad_indirect_loop),
        T(test_bad_indirect_next_out_of_table),
        T(test_bad_indirect_readable_after_writable),
        T(test_bad_indirect_buffer_outside),
        T(test_bad_indirect_too_many_segments),
        T(test_device_broken_flag),
        T(test_kick_runs_handler),
        T(test_enable_gates_handler),
        T(test_set_call_fd),
        T(test_no_interrupt_flag),
        T(test_event_idx_used_event),
        T(test_event_idx_batch_crossing),
        T(test_event_idx_avail_event),
        T(test_call_nonblocking_direct),
        T(test_call_blocking_through_ring),
        T(test_poll_suppresses_kicks),
        T(test_poll_suppresses_kicks_event_idx),
        T(test_poll_off_keeps_kicks),
        T(test_idle_ring_read_on_kick_only),
        T(test_poll_no_lost_kick),
        T(test_poll_no_lost_kick_event_idx),
        T(test_no_event_idx_no_avail_event),
        T(test_start_clears_stale_no_notify),
        T(test_inflight_tracking),
        T(test_inflight_restore),
        T(test_inflight_restore_after_crash),
        T(test_inflight_region_other_size),
        cmocka_unit_test(test_iov_helpers),
    };
    log_init("test-vq", false, getenv("SLUICE_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, vqfx_group_setup, vqfx_group_teardown);
}
