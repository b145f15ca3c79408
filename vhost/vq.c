/* SPDX-License-Identifier: Apache-2.0 */
#include "vq-int.h"
#include "vq_packed.h"
#include "log.h"
#include "mem.h"
#include "core/log.h"
#include "core/util.h"

#include <assert.h>
#include <fcntl.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

/* Guest-shared words are read and written exactly once through these. */
#define READ_ONCE(x)      (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)  (*(volatile __typeof__(x) *)&(x) = (v))

static const uint64_t call_one = 1;

uint64_t vq_inflight_queue_size(uint16_t num)
{
    return ALIGN_UP(sizeof(struct vq_inflight_region) +
                    (uint64_t)num * sizeof(struct vq_inflight_desc), 64u);
}

uint64_t vq_inflight_packed_queue_size(uint16_t num)
{
    return ALIGN_UP(sizeof(struct vq_inflight_region_packed) +
                    (uint64_t)num * sizeof(struct vq_inflight_desc_packed), 64u);
}

void vq_init(struct vq *vq, unsigned index)
{
    memset(vq, 0, sizeof(*vq));
    vq->index = index;
    vq->kick_fd = vq->call_fd = vq->err_fd = -1;
}

void vq_stats(const struct vq *vq, struct vq_stats *out)
{
    *out = vq->stats;
}

bool vq_is_packed(const struct vq *vq)
{
    return vq->packed;
}

void vq_set_broken(struct vq *vq, const char *why)
{
    static __thread struct log_ratelimit rl = { .burst = 10, .interval_ms = 1000 };
    uint64_t one = 1;

    if (vq->broken)
        return;
    vq->broken = true;
    if (log_ratelimit_ok(&rl))
        log_warn("virtqueue %u: guest error, queue stopped until reset: %s", vq->index, why);
    if (vq->err_fd >= 0 && write(vq->err_fd, &one, sizeof(one)) < 0)
        log_debug("virtqueue %u: err fd write: %m", vq->index);
    if (vq->on_broken)
        vq->on_broken(vq);
}

/* ---- notifications ---------------------------------------------------- */

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static void call_cb(struct uloop_op *op, int res, uint32_t flags)
{
    struct vq *vq = container_of(op, struct vq, call_op);
    (void)flags;
    if (res < 0 && res != -ECANCELED)
        log_debug("virtqueue %u: call eventfd write: %s", vq->index, strerror(-res));
    vq->calls_inflight--;
    /* A stop may be waiting for this write (it references vq->call_op). */
    if (vq->stopping)
        uloop_defer(vq->loop, &vq->flush_defer);
}

static bool should_notify(struct vq *vq)
{
    uint16_t old = vq->signalled_used, new_idx = vq->published_idx;
    bool valid = vq->signalled_valid;

    /* The used index store must be visible before we read the guest's
     * event index / flags, and vice versa on the guest side. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    vq->signalled_used = new_idx;
    vq->signalled_valid = true;
    if (!vq->event_idx)
        return !(READ_ONCE(vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t event = READ_ONCE(vq->avail->ring[vq->num]);
    return !valid || need_event(event, new_idx, old);
}

/* Interrupt the guest. A non-blocking eventfd (what QEMU, Cloud Hypervisor,
 * DPDK and sluice-vmm hand over) is written right here: a write(2) never
 * waits on it, and io_uring would hand an eventfd write (no write_iter) to
 * an io-wq thread, a context switch per interrupt. A blocking one goes
 * through io_uring, so a counter at its maximum cannot stall the worker. */
static void signal_guest(struct vq *vq)
{
    vq->stats.notifies++;
    if (vq->call_nonblock) {
        if (write(vq->call_fd, &call_one, sizeof(call_one)) == sizeof(call_one) ||
            errno == EAGAIN)
            return;   /* EAGAIN: the counter is full, the guest is due anyway */
        log_debug("virtqueue %u: call eventfd write: %m", vq->index);
        return;
    }
    struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
    io_uring_prep_write(sqe, vq->call_fd, &call_one, sizeof(call_one), 0);
    uloop_sqe_set_op(sqe, &vq->call_op);
    vq->calls_inflight++;
}

static void flush_used(struct vq *vq)
{
    uint16_t from = vq->published_idx;

    /* packed ring hook (vhost/vq_packed.c) */
    if (vq->packed) {
        if (vq_packed_flush(vq) && vq->call_fd >= 0)
            signal_guest(vq);
        return;
    }
    if (vq->published_idx == vq->used_idx || !vq->used)
        return;
    __atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
    vq_log(vq, &vq->used->idx, sizeof(vq->used->idx));
    vq->published_idx = vq->used_idx;
    if (vq->ifl) {
        /* The guest can now see these completions: stop tracking them. */
        for (uint16_t i = from; i != vq->used_idx; i++) {
            uint32_t id = vq->used->ring[i % vq->num].id;
            if (id < vq->num)
                vq->ifl->desc[id].inflight = 0;
        }
        __atomic_thread_fence(__ATOMIC_RELEASE);
        vq->ifl->used_idx = vq->used_idx;
    }
    if (vq->call_fd >= 0 && should_notify(vq))
        signal_guest(vq);
}

/* ---- stop / drain ----------------------------------------------------- */

/* Only called from flush_deferred(): once the stop completes, the control
 * thread may reset or free the queue, so nothing on the loop may still refer
 * to it (a queued flush_defer, a pending kick read or call write, a device
 * callback that is still running). */
static void check_stopped(struct vq *vq)
{
    if (!vq->stopping || vq->kick_armed || vq->inuse || vq->holds)
        return;
    flush_used(vq);
    if (vq->calls_inflight)
        return;   /* call_cb() comes back */
    vq->stopping = false;
    vq->running = false;
    if (vq->stopped) {
        struct completion *c = vq->stopped;
        vq->stopped = NULL;
        completion_done(c);
    }
}

static void run_handler(struct vq *vq);

/* Runs after the loop's current batch: publishes the used ring, resumes a
 * handler that yielded, and completes a pending stop. */
static void flush_deferred(struct uloop_defer *d)
{
    struct vq *vq = container_of(d, struct vq, flush_defer);
    bool rerun = vq->rerun;

    vq->rerun = false;
    if (vq->stopping) {
        check_stopped(vq);
        return;
    }
    flush_used(vq);
    if (rerun)
        run_handler(vq);
}

void vq_yield(struct vq *vq)
{
    vq->rerun = true;
    uloop_defer(vq->loop, &vq->flush_defer);
}

/* ---- kicks ------------------------------------------------------------ */

static void arm_kick(struct vq *vq)
{
    struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
    io_uring_prep_read(sqe, vq->kick_fd, &vq->kick_buf, sizeof(vq->kick_buf), 0);
    uloop_sqe_set_op(sqe, &vq->kick_op);
    vq->kick_armed = true;
}

static bool can_run(const struct vq *vq);
static void notify_disable(struct vq *vq);

/* A kick while the worker will poll afterwards: the guest need not kick
 * again, so say so before the completions it waits for are published. */
static void poll_on_kick(struct vq *vq)
{
    if (vq->poll && uloop_polling(vq->loop) && can_run(vq))
        notify_disable(vq);
}

/* A handler that yielded resumes from flush_deferred(), after what it
 * completed so far is published: a kick or poll that comes first (the
 * queue's start-up read and the guest's kick in one loop pass) must not
 * resume it early, or a deep queue is worked through unpublished. */
static void run_handler(struct vq *vq)
{
    if (!vq->rerun && can_run(vq))
        vq->handle(vq);
}

static void kick_cb(struct uloop_op *op, int res, uint32_t flags)
{
    struct vq *vq = container_of(op, struct vq, kick_op);
    (void)flags;

    vq->kick_armed = false;
    if (vq->stopping) {
        uloop_defer(vq->loop, &vq->flush_defer);
        return;
    }
    if (res == 0 || (res < 0 && res != -EINTR && res != -EAGAIN)) {
        /* Not an eventfd after all (EOF) or a broken one: re-arming would
         * spin. The queue stops until the frontend resets it. */
        vq_set_broken(vq, res == 0 ? "kick fd read hit end of file" : "kick fd read failed");
        return;
    }
    vq->stats.kicks++;
    vq->active = true;
    poll_on_kick(vq);
    run_handler(vq);
    if (vq->running && !vq->stopping)
        arm_kick(vq);
}

/* ---- polling ---------------------------------------------------------- */

/* While the worker polls this queue the guest need not kick: without
 * EVENT_IDX VRING_USED_F_NO_NOTIFY says so; with it, avail_event is left
 * behind (vq_pop() stops moving it), so the guest's index runs past it and
 * never crosses it again. */
static void notify_disable(struct vq *vq)
{
    if (vq->notify_off)
        return;
    vq->notify_off = true;
    if (vq->packed)     /* packed ring hook: the device event area */
        vq_packed_set_kicks(vq, false);
    else if (!vq->event_idx) {
        __atomic_store_n(&vq->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
        vq_log(vq, &vq->used->flags, sizeof(vq->used->flags));
    }
}

/* True when the driver has made a chain available that we have not taken
 * (or a chain from the inflight region waits to be resubmitted). */
static bool chains_waiting(const struct vq *vq)
{
    if (vq->packed)     /* packed ring hook */
        return vq_packed_avail(vq);
    return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx ||
           vq->resubmit_pos < vq->resubmit_n;
}

/* Ask for kicks again, then look at the ring once more: a guest that added a
 * chain before it could see the request did not kick. The full barrier
 * orders our store before the load of avail->idx (the guest pairs it with
 * one between its avail->idx store and its flags / avail_event load).
 * Returns true when chains are waiting. */
static bool notify_enable(struct vq *vq)
{
    if (vq->notify_off) {
        vq->notify_off = false;
        if (vq->packed)
            vq_packed_set_kicks(vq, true);
        else if (vq->event_idx)
            WRITE_ONCE(*(uint16_t *)&vq->used->ring[vq->num], vq->last_avail_idx);
        else
            __atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
        if (!vq->packed)
            vq_log(vq, vq->event_idx ? (void *)&vq->used->ring[vq->num] : (void *)&vq->used->flags,
                   sizeof(uint16_t));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    return chains_waiting(vq);
}

static bool can_run(const struct vq *vq)
{
    return vq->running && !vq->stopping && vq->enabled && !vq->broken &&
           !(vq->dev_broken && *vq->dev_broken);
}

/* Run the handler when chains wait; true when it took any. */
static bool poll_handle(struct vq *vq)
{
    uint64_t before = vq->stats.elems;

    run_handler(vq);
    return vq->stats.elems != before;
}

static bool vq_poll_cb(struct uloop_poller *p)
{
    struct vq *vq = container_of(p, struct vq, poller);

    if (!vq->active || !can_run(vq))
        return false;
    notify_disable(vq);
    if (!chains_waiting(vq))
        return false;
    return poll_handle(vq);
}

/* Before the loop sleeps: an active queue asks for kicks again and looks
 * once more; found idle, it is not read again until its next kick (the
 * driver kicks a queue whose kicks are on). An idle queue is left alone:
 * no driver said it uses that ring, and its memory may no longer be a ring
 * (SeaBIOS leaves its virtio-blk rings live and the initrd is loaded over
 * them before Linux resets the device). */
static bool vq_rearm_cb(struct uloop_poller *p)
{
    struct vq *vq = container_of(p, struct vq, poller);

    if (!vq->active)
        return false;
    if (!notify_enable(vq)) {
        vq->active = false;
        return false;
    }
    if (!can_run(vq))
        return false;
    return poll_handle(vq);
}

/* The queue starts: kicks on, then the poller when the queue is polled.
 * What the ring's notification fields say is not ours: a backend that died
 * while polling left kicks off (VRING_USED_F_NO_NOTIFY, an avail_event left
 * behind, the packed ring's device event area), and a driver that sees that
 * never kicks an idle ring again. So kicks are asked for from where the ring
 * is now (split and packed rings alike), whatever notify_off says. */
static void poll_start(struct vq *vq)
{
    vq->notify_off = true;
    notify_enable(vq);
    if (!vq->poll)
        return;
    vq->poller.poll = vq_poll_cb;
    vq->poller.rearm = vq_rearm_cb;
    uloop_poller_add(vq->loop, &vq->poller);
}

/* The queue stops: no more polling, and kicks back on for whoever drives
 * the ring next. */
static void poll_stop(struct vq *vq)
{
    uloop_poller_remove(vq->loop, &vq->poller);
    notify_enable(vq);
}

/* ---- start ------------------------------------------------------------ */

/* Reconnect: rebuild the set of chains the previous backend took but never
 * completed, from the inflight region, oldest first. */
static int restore_inflight(struct vq *vq)
{
    struct vq_inflight_region *ifl = vq->ifl;
    uint16_t used = READ_ONCE(vq->used->idx);
    unsigned n = 0;

    if (ifl->desc_num != vq->num) {
        /* Fresh region (or a different size): start clean. */
        memset(ifl, 0, vq_inflight_queue_size(vq->num));
        ifl->version = 1;
        ifl->desc_num = vq->num;
        ifl->used_idx = used;
        return 0;
    }
    /* Completions published after the region was last updated. */
    for (uint16_t i = ifl->used_idx, k = 0; i != used && k < vq->num; i++, k++) {
        uint32_t id = READ_ONCE(vq->used->ring[i % vq->num].id);
        if (id < vq->num)
            ifl->desc[id].inflight = 0;
    }
    ifl->used_idx = used;
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->resubmit_n = vq->resubmit_pos = 0;
    for (unsigned i = 0; i < vq->num; i++)
        if (ifl->desc[i].inflight)
            n++;
    if (n) {
        vq->resubmit = malloc(n * sizeof(*vq->resubmit));
        if (!vq->resubmit)
            return -ENOMEM;
        for (unsigned i = 0; i < vq->num; i++)
            if (ifl->desc[i].inflight)
                vq->resubmit[vq->resubmit_n++] = (uint16_t)i;
        /* Oldest first (insertion sort: n is at most the queue size). */
        for (unsigned i = 1; i < n; i++) {
            uint16_t h = vq->resubmit[i];
            unsigned j = i;
            while (j > 0 && ifl->desc[vq->resubmit[j - 1]].counter > ifl->desc[h].counter) {
                vq->resubmit[j] = vq->resubmit[j - 1];
                j--;
            }
            vq->resubmit[j] = h;
        }
        for (unsigned i = 0; i < n; i++)
            if (ifl->desc[vq->resubmit[i]].counter > vq->ifl_counter)
                vq->ifl_counter = ifl->desc[vq->resubmit[i]].counter;
        log_info("virtqueue %u: resubmitting %u inflight requests", vq->index, n);
    }
    /* Every chain taken is either used or still inflight. */
    vq->last_avail_idx = (uint16_t)(used + n);
    return 0;
}

static void start_on_loop(void *arg)
{
    struct vq *vq = arg;

    vq->running = true;
    vq->stopping = false;
    /* One look at start (a reconnected backend takes over a ring the
     * driver already kicked), then until the loop finds it idle. */
    vq->active = true;
    poll_start(vq);
    arm_kick(vq);
    run_handler(vq);
}

int vq_start(struct vq *vq)
{
    uint64_t n = vq->num;
    int r;

    if (vq->running)
        return 0;
    if (!vq->addr_set || n == 0 || n > VQ_MAX_SIZE || vq->kick_fd < 0 || !vq->loop)
        return -EINVAL;
    /* The inflight region has room for ifl_num entries per queue (the
     * queue_size of GET/SET_INFLIGHT_FD): a larger ring would have its
     * start-up and bookkeeping write past the region, into whatever the
     * process mapped next to it. */
    if ((vq->ifl || vq->ifl_packed) && n > vq->ifl_num) {
        log_warn("virtqueue %u: ring of %u entries, inflight region sized for %u; refused",
                 vq->index, (unsigned)n, (unsigned)vq->ifl_num);
        return -EINVAL;
    }
    /* packed ring hook (vhost/vq_packed.c) */
    if (vq->packed) {
        r = vq_packed_start(vq);
        if (r < 0)
            return r;
        goto common;
    }
    if ((vq->desc_uva & 15) || (vq->avail_uva & 1) || (vq->used_uva & 3))
        return -EINVAL;
    if (vq->ifl_packed) {
        log_warn("virtqueue %u: split ring with a packed-layout inflight region; refused",
                 vq->index);
        return -EINVAL;
    }
    vq->desc = vu_mem_uva_range(vq->mem, vq->desc_uva, 16 * n);
    vq->avail = vu_mem_uva_range(vq->mem, vq->avail_uva, 6 + 2 * n);
    vq->used = vu_mem_uva_range(vq->mem, vq->used_uva, 6 + 8 * n);
    if (!vq->desc || !vq->avail || !vq->used)
        return -EFAULT;
    /* The mapping keeps the frontend's region offsets, so an aligned ring
     * address can still land misaligned here: check where we read. */
    if (((uintptr_t)vq->desc & 15) || ((uintptr_t)vq->avail & 1) || ((uintptr_t)vq->used & 3))
        return -EINVAL;
    vq->last_avail_idx = vq->base;
    vq->used_idx = vq->published_idx = READ_ONCE(vq->used->idx);
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->resubmit_n = vq->resubmit_pos = 0;
    if (vq->ifl) {
        r = restore_inflight(vq);
        if (r < 0)
            return r;
    }
common:
    vq->signalled_valid = false;
    vq->broken = false;
    vq->inuse = 0;
    vq->rerun = false;
    vq->kick_op.cb = kick_cb;
    vq->call_op.cb = call_cb;
    vq->flush_defer.fn = flush_deferred;
    r = uloop_call(vq->loop, start_on_loop, vq);
    if (r < 0 && vq->packed)
        vq_packed_free(vq);
    return r;
}

static void stop_on_loop(void *arg)
{
    struct vq *vq = arg;

    vq->stopping = true;
    poll_stop(vq);
    /* The device gives back what it holds (e.g. receive buffers taken
     * ahead of packets) before the queue waits for in-flight requests. */
    if (vq->on_stop)
        vq->on_stop(vq);
    if (vq->kick_armed) {
        struct io_uring_sqe *sqe = uloop_sqe(vq->loop);
        io_uring_prep_cancel(sqe, &vq->kick_op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    uloop_defer(vq->loop, &vq->flush_defer);
}

void vq_stop(struct vq *vq)
{
    struct completion done;

    if (!vq->running)
        return;
    completion_init(&done);
    vq->stopped = &done;
    uloop_call(vq->loop, stop_on_loop, vq);
    completion_wait(&done);
    /* packed ring hook: its base carries both positions and wrap counters */
    if (vq->packed) {
        vq->base = vq_packed_base(vq);
        vq_packed_free(vq);
    } else {
        vq->base = vq->last_avail_idx;
    }
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->resubmit_n = vq->resubmit_pos = 0;
}

static void enable_on_loop(void *arg)
{
    struct vq *vq = arg;
    run_handler(vq);
}

void vq_set_enabled(struct vq *vq, bool enabled)
{
    vq->enabled = enabled;
    if (vq->running && enabled)
        uloop_call(vq->loop, enable_on_loop, vq);
}

struct set_call {
    struct vq *vq;
    int fd;
    bool nonblock;
};

static void set_call_on_loop(void *arg)
{
    struct set_call *sc = arg;
    int old = sc->vq->call_fd;
    sc->vq->call_fd = sc->fd;
    sc->vq->call_nonblock = sc->nonblock;
    sc->fd = old;
}

/* True for an fd whose writes never block (see signal_guest()). */
static bool fd_nonblocking(int fd)
{
    int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    return fl >= 0 && (fl & O_NONBLOCK);
}

void vq_set_call_fd(struct vq *vq, int fd)
{
    struct set_call sc = { vq, fd, fd_nonblocking(fd) };

    if (vq->running)
        uloop_call(vq->loop, set_call_on_loop, &sc);
    else
        set_call_on_loop(&sc);
    /* A pending io_uring write holds its own file reference. */
    close_fd(&sc.fd);
}

/* ---- chains ----------------------------------------------------------- */

int vq_elem_map(struct vq *vq, struct vq_elem *e, unsigned max_iov, uint64_t addr,
                uint32_t len, bool write, const char **why)
{
    uint64_t left = len;

    /* A zero-length descriptor carries nothing: skip it. */
    while (left) {
        uint64_t chunk = left;
        void *p = vu_mem_gpa(vq->mem, addr, &chunk);
        unsigned k = (unsigned)e->out_num + e->in_num;
        if (!p) {
            *why = "buffer outside guest memory";
            return -EINVAL;
        }
        if (k >= max_iov) {
            *why = "chain has more segments than the device supports";
            return -E2BIG;
        }
        e->iov[k].iov_base = p;
        e->iov[k].iov_len = (size_t)chunk;
        if (write)
            e->in_num++;
        else
            e->out_num++;
        addr += chunk;
        left -= chunk;
    }
    return 0;
}

static int walk_chain(struct vq *vq, uint16_t head, struct vq_elem *e, unsigned max_iov,
                      const char **walk_error)
{
    /* Bytes, not struct vring_desc: an indirect table may sit at any guest
     * address, and nothing may assume its alignment. */
    const uint8_t *table = (const uint8_t *)vq->desc;
    unsigned max = vq->num, count = 0;
    bool indirect = false, seen_write = false;
    uint16_t i = head;

    e->head = head;
    e->out_num = e->in_num = 0;
    for (;;) {
        struct vring_desc d;
        int r;

        if (count++ >= max) {
            *walk_error = "descriptor chain loops or is longer than the queue";
            return -EINVAL;
        }
        /* Copy the descriptor once; the guest may rewrite it under us. */
        memcpy(&d, table + (size_t)i * sizeof(d), sizeof(d));
        __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* no re-reads of the guest copy */

        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (indirect) {
                *walk_error = "nested indirect descriptor";
                return -EINVAL;
            }
            if (!vq->indirect) {
                *walk_error = "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
                return -EINVAL;
            }
            if (i != head || (d.flags & VRING_DESC_F_NEXT)) {
                *walk_error = "indirect descriptor not alone in its chain";
                return -EINVAL;
            }
            if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
                d.len / sizeof(struct vring_desc) > 65536) {
                *walk_error = "indirect table length invalid";
                return -EINVAL;
            }
            table = vu_mem_gpa_range(vq->mem, d.addr, d.len);
            if (!table) {
                *walk_error = "indirect table outside guest memory";
                return -EINVAL;
            }
            indirect = true;
            max = d.len / sizeof(struct vring_desc);
            count = 0;
            i = 0;
            continue;
        }
        if (d.flags & VRING_DESC_F_WRITE) {
            seen_write = true;
        } else if (seen_write) {
            *walk_error = "device-readable descriptor after a writable one";
            return -EINVAL;
        }
        r = vq_elem_map(vq, e, max_iov, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, walk_error);
        if (r < 0)
            return r;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        if (d.next >= max) {
            *walk_error = "next index out of range";
            return -EINVAL;
        }
        i = d.next;
    }
}

int vq_pop(struct vq *vq, struct vq_elem *e, unsigned max_iov)
{
    const char *why = NULL;
    uint16_t avail_idx, head;
    int r;

    if (vq->broken || !vq->running || vq->stopping || (vq->dev_broken && *vq->dev_broken))
        return 0;
    /* packed ring hook (vhost/vq_packed.c) */
    if (vq->packed) {
        r = vq_packed_pop(vq, e, max_iov);
        if (r > 0) {
            vq->inuse++;
            vq->stats.elems++;
        }
        return r;
    }
    if (vq->resubmit_pos < vq->resubmit_n) {
        head = vq->resubmit[vq->resubmit_pos++];
        goto walk;
    }
    avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
    if (avail_idx == vq->last_avail_idx) {
        if (!vq->event_idx || vq->notify_off)
            return 0;   /* polled: the worker looks again without a kick */
        /* Ask for a kick at the next entry, then look again to close the
         * race with a guest that added one meanwhile. */
        WRITE_ONCE(*(uint16_t *)&vq->used->ring[vq->num], vq->last_avail_idx);
        vq_log(vq, &vq->used->ring[vq->num], sizeof(uint16_t));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
        if (avail_idx == vq->last_avail_idx)
            return 0;
    }
    if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->num) {
        vq_set_broken(vq, "available index moved more than the queue size");
        return -EINVAL;
    }
    /* A driver has at most one chain out per head: another available entry
     * while num chains are out reuses a head still in flight. Refused, so
     * no device ever holds more chains than the queue has entries. */
    if (vq->inuse >= vq->num) {
        vq_set_broken(vq, "more chains available than the queue size allows in flight");
        return -EINVAL;
    }
    head = READ_ONCE(vq->avail->ring[vq->last_avail_idx % vq->num]);
    if (head >= vq->num) {
        vq_set_broken(vq, "head index out of range");
        return -EINVAL;
    }
    vq->last_avail_idx++;
walk:
    r = walk_chain(vq, head, e, max_iov, &why);
    if (r < 0) {
        vq_set_broken(vq, why);
        return r;
    }
    if (vq->ifl) {
        vq->ifl->desc[head].counter = ++vq->ifl_counter;
        vq->ifl->desc[head].inflight = 1;
    }
    vq->inuse++;
    vq->stats.elems++;
    return 1;
}

void vq_hold(struct vq *vq)
{
    vq->holds++;
}

void vq_release(struct vq *vq)
{
    assert(vq->holds);
    vq->holds--;
    /* A pending stop completes in flush_deferred(), after the caller. */
    if (vq->stopping)
        uloop_defer(vq->loop, &vq->flush_defer);
}

void vq_unpop(struct vq *vq, unsigned n)
{
    assert(n <= vq->inuse);
    /* packed ring hook (vhost/vq_packed.c) */
    if (vq->packed) {
        vq_packed_unpop(vq, n);
        vq->inuse -= n;
        if (vq->stopping)
            uloop_defer(vq->loop, &vq->flush_defer);
        return;
    }
    vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - n);
    vq->inuse -= n;
    if (vq->ifl) {
        /* They are available again, not in flight. */
        for (unsigned i = 0; i < n; i++) {
            uint16_t slot = (uint16_t)(vq->last_avail_idx + i) % vq->num;
            uint16_t head = READ_ONCE(vq->avail->ring[slot]);
            if (head < vq->num)
                vq->ifl->desc[head].inflight = 0;
        }
    }
    /* A pending stop completes in flush_deferred(), never here: the caller
     * may still be running, and a flush it queued must have run first. */
    if (vq->stopping)
        uloop_defer(vq->loop, &vq->flush_defer);
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    struct vring_used_elem *u;

    /* packed ring hook (vhost/vq_packed.c) */
    if (vq->packed) {
        vq_packed_push(vq, head, len);
        if (vq->inuse)
            vq->inuse--;
        uloop_defer(vq->loop, &vq->flush_defer);
        return;
    }
    u = &vq->used->ring[vq->used_idx % vq->num];
    WRITE_ONCE(u->id, head);
    WRITE_ONCE(u->len, len);
    vq_log(vq, u, sizeof(*u));
    if (vq->ifl)
        vq->ifl->last_batch_head = head;
    vq->used_idx++;
    if (vq->inuse)
        vq->inuse--;
    /* Also completes a pending stop, after the caller returned. */
    uloop_defer(vq->loop, &vq->flush_defer);
}

/* ---- iovec helpers ---------------------------------------------------- */

size_t iov_size(const struct iovec *iov, unsigned n)
{
    size_t s = 0;
    for (unsigned i = 0; i < n; i++)
        s += iov[i].iov_len;
    return s;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, c);
        done += c;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, c);
        done += c;
        off = 0;
    }
    return done;
}

unsigned iov_discard_front(struct iovec **iovp, unsigned n, size_t bytes)
{
    struct iovec *iov = *iovp;
    while (n && bytes) {
        if (bytes >= iov->iov_len) {
            bytes -= iov->iov_len;
            iov++;
            n--;
        } else {
            iov->iov_base = (uint8_t *)iov->iov_base + bytes;
            iov->iov_len -= bytes;
            bytes = 0;
        }
    }
    *iovp = iov;
    return n;
}

unsigned iov_discard_back(struct iovec *iov, unsigned n, size_t bytes)
{
    while (n && bytes) {
        struct iovec *last = &iov[n - 1];
        if (bytes >= last->iov_len) {
            bytes -= last->iov_len;
            n--;
        } else {
            last->iov_len -= bytes;
            bytes = 0;
        }
    }
    return n;
}
