/* SPDX-License-Identifier: Apache-2.0 */
#include "core/uloop.h"
#include "core/io.h"
#include "core/log.h"
#include "core/util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>

struct uloop_call {
    void (*fn)(void *arg);
    void *arg;
    struct uloop_call *next;
    struct completion done;
};

struct uloop {
    struct io_uring ring;
    pid_t tid;
    bool stop;
    /* Cross-thread wake-up: an eventfd read kept armed on the ring. */
    int wake_fd;
    uint64_t wake_buf;
    struct uloop_op wake_op;
    pthread_mutex_t call_lock;
    struct uloop_call *calls;
    bool stopping_remote;
    /* Completions posted from other threads (a LIFO stack, drained on the
     * wake-up read). */
    struct uloop_op *_Atomic remote_posts;
    /* Work queued for after the current batch. */
    struct uloop_defer *defer_head;
    struct uloop_op *post_head, *post_tail;
    /* Thread wrapper state. */
    pthread_t thread;
    const char *thread_name;
    unsigned thread_entries;
    int thread_err;
    struct completion thread_ready;
    /* Adaptive polling (loop thread, except poll_max_ns). */
    struct uloop_poller *pollers;
    uint64_t poll_max_ns;        /* atomic: set from any thread */
    struct uloop_poll_stats pst;
};

void completion_init(struct completion *c)
{
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->done = false;
}

void completion_done(struct completion *c)
{
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void completion_wait(struct completion *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void arm_wake(struct uloop *l)
{
    struct io_uring_sqe *sqe = uloop_sqe(l);
    io_uring_prep_read(sqe, l->wake_fd, &l->wake_buf, sizeof(l->wake_buf), 0);
    uloop_sqe_set_op(sqe, &l->wake_op);
}

static void run_calls(struct uloop *l)
{
    struct uloop_call *c;

    pthread_mutex_lock(&l->call_lock);
    c = l->calls;
    l->calls = NULL;
    if (l->stopping_remote)
        l->stop = true;
    pthread_mutex_unlock(&l->call_lock);
    /* The list is LIFO; reverse to run calls in order. */
    struct uloop_call *rev = NULL;
    while (c) {
        struct uloop_call *n = c->next;
        c->next = rev;
        rev = c;
        c = n;
    }
    while (rev) {
        struct uloop_call *n = rev->next;
        rev->fn(rev->arg);
        completion_done(&rev->done);
        rev = n;
    }
}

/* Move the completions other threads posted onto the local post list, in
 * the order they were posted. */
static void take_remote_posts(struct uloop *l)
{
    struct uloop_op *op = atomic_exchange(&l->remote_posts, NULL), *rev = NULL;

    while (op) {
        struct uloop_op *n = op->post_next;
        op->post_next = rev;
        rev = op;
        op = n;
    }
    while (rev) {
        struct uloop_op *n = rev->post_next;
        uloop_post(l, rev, rev->post_res);
        rev = n;
    }
}

static void wake_cb(struct uloop_op *op, int res, uint32_t flags)
{
    struct uloop *l = container_of(op, struct uloop, wake_op);
    (void)flags;
    if (res < 0 && res != -EINTR && res != -EAGAIN)
        log_err("uloop: wake-up read failed: %s", strerror(-res));
    take_remote_posts(l);
    run_calls(l);
    if (!l->stop)
        arm_wake(l);
}

/* The ring's set-up flags, best first; a kernel that lacks one gets the
 * next. TASKRUN_FLAG makes the kernel raise IORING_SQ_TASKRUN when deferred
 * completions wait, so a polling loop only enters the kernel when needed. */
static int ring_init(unsigned entries, struct io_uring *ring)
{
    static const unsigned flags[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int r = -EINVAL;

    for (size_t i = 0; i < ARRAY_SIZE(flags) && r == -EINVAL; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = flags[i];
        r = io_uring_queue_init_params(entries, ring, &p);
    }
    return r;
}

int uloop_create(unsigned entries, struct uloop **out)
{
    struct io_uring_params p;
    struct uloop *l;
    int r;

    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->wake_fd = -1;
    pthread_mutex_init(&l->call_lock, NULL);
    memset(&p, 0, sizeof(p));
    /* One thread submits and reaps: let the kernel skip cross-thread work. */
    r = ring_init(entries, &l->ring);
    if (r < 0)
        goto err_free;
    l->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        r = neg_errno();
        goto err_ring;
    }
    l->tid = (pid_t)syscall(SYS_gettid);
    l->poll_max_ns = ULOOP_POLL_MAX_NS_DEFAULT;
    l->wake_op.cb = wake_cb;
    arm_wake(l);
    *out = l;
    return 0;

err_ring:
    io_uring_queue_exit(&l->ring);
err_free:
    free(l);
    return r;
}

void uloop_destroy(struct uloop *l)
{
    if (!l)
        return;
    io_uring_queue_exit(&l->ring);
    close_fd(&l->wake_fd);
    pthread_mutex_destroy(&l->call_lock);
    free(l);
}

struct io_uring *uloop_ring(struct uloop *l)
{
    return &l->ring;
}

bool uloop_on_thread(const struct uloop *l)
{
    return l->tid == (pid_t)syscall(SYS_gettid);
}

struct io_uring_sqe *uloop_sqe(struct uloop *l)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    while (!sqe) {
        int r = io_uring_submit(&l->ring);
        if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR) {
            log_err("uloop: io_uring_submit: %s", strerror(-r));
            abort();
        }
        sqe = io_uring_get_sqe(&l->ring);
    }
    return sqe;
}

void uloop_post(struct uloop *l, struct uloop_op *op, int res)
{
    op->post_res = res;
    op->post_next = NULL;
    if (l->post_tail)
        l->post_tail->post_next = op;
    else
        l->post_head = op;
    l->post_tail = op;
}

void uloop_post_remote(struct uloop *l, struct uloop_op *op, int res)
{
    struct uloop_op *head = atomic_load(&l->remote_posts);
    uint64_t one = 1;

    op->post_res = res;
    do
        op->post_next = head;
    while (!atomic_compare_exchange_weak(&l->remote_posts, &head, op));
    /* A non-empty stack: its first poster's wake-up (written after its
     * push) is still to be read, and that read takes this op too. */
    if (!head && write(l->wake_fd, &one, sizeof(one)) != sizeof(one))
        log_err("uloop: wake-up write failed: %m");
}

void uloop_defer(struct uloop *l, struct uloop_defer *d)
{
    if (d->queued)
        return;
    d->queued = true;
    d->next = l->defer_head;
    l->defer_head = d;
}

static bool run_pending(struct uloop *l)
{
    bool did = false;

    /* Posted completions may queue deferred work; deferred work may post. */
    while (l->post_head || l->defer_head) {
        while (l->post_head) {
            struct uloop_op *op = l->post_head;
            l->post_head = op->post_next;
            if (!l->post_head)
                l->post_tail = NULL;
            op->cb(op, op->post_res, 0);
            did = true;
        }
        struct uloop_defer *d = l->defer_head;
        l->defer_head = NULL;
        while (d) {
            struct uloop_defer *n = d->next;
            d->queued = false;
            d->fn(d);
            d = n;
            did = true;
        }
    }
    return did;
}

/* ---- adaptive polling ------------------------------------------------- */

#define POLL_GROW_START_NS 4000u   /* first window after a short sleep */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

void uloop_poller_add(struct uloop *l, struct uloop_poller *p)
{
    if (p->added)
        return;
    p->added = true;
    p->next = l->pollers;
    l->pollers = p;
}

void uloop_poller_remove(struct uloop *l, struct uloop_poller *p)
{
    if (!p->added)
        return;
    for (struct uloop_poller **pp = &l->pollers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->added = false;
    p->next = NULL;
}

bool uloop_polling(const struct uloop *l)
{
    return l->pst.poll_ns && __atomic_load_n(&l->poll_max_ns, __ATOMIC_RELAXED);
}

void uloop_set_poll_max_ns(struct uloop *l, uint64_t ns)
{
    __atomic_store_n(&l->poll_max_ns, ns, __ATOMIC_RELAXED);
}

void uloop_poll_stats(const struct uloop *l, struct uloop_poll_stats *out)
{
    *out = l->pst;
}

/* After a sleep that ended @gap_ns after the last work: grow the window when
 * polling that long would have avoided the sleep, shrink it when even the
 * longest window would not have. */
static void poll_adapt(struct uloop *l, uint64_t gap_ns, uint64_t max_ns)
{
    struct uloop_poll_stats *st = &l->pst;

    if (!max_ns || !l->pollers) {
        st->poll_ns = 0;
        return;
    }
    if (gap_ns <= st->poll_ns)
        return;
    if (gap_ns > max_ns) {
        if (st->poll_ns) {
            st->poll_ns = st->poll_ns / 2 < POLL_GROW_START_NS ? 0 : st->poll_ns / 2;
            st->shrinks++;
        }
    } else if (st->poll_ns < max_ns) {
        st->poll_ns = st->poll_ns ? MIN(st->poll_ns * 2, max_ns) : MIN(POLL_GROW_START_NS, max_ns);
        st->grows++;
    }
    if (st->poll_ns > max_ns)
        st->poll_ns = max_ns;
}

/* Handle what the completion queue holds. Returns the number of CQEs. */
static unsigned reap(struct uloop *l)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&l->ring, head, cqe) {
        struct uloop_op *op = io_uring_cqe_get_data(cqe);
        n++;
        if (op)
            op->cb(op, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&l->ring, n);
    return n;
}

/* One pass without sleeping: submit what is queued, collect completions the
 * kernel holds back (IORING_SQ_TASKRUN), handle CQEs, poll every poller.
 * Returns true when anything was done. */
static bool poll_once(struct uloop *l)
{
    bool did = false;

    if (io_uring_sq_ready(&l->ring) ||
        (IO_URING_READ_ONCE(*l->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))) {
        int r = io_uring_submit_and_get_events(&l->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            log_err("uloop: io_uring_enter: %s", strerror(-r));
    }
    if (reap(l))
        did = true;
    for (struct uloop_poller *p = l->pollers, *next; p; p = next) {
        next = p->next;
        if (p->poll(p))
            did = true;
    }
    if (run_pending(l))
        did = true;
    return did;
}

/* Before sleeping: every poller turns its wake-ups back on and looks once
 * more. Returns true when one found work (then the loop must not sleep). */
static bool poll_rearm(struct uloop *l)
{
    bool did = false;

    for (struct uloop_poller *p = l->pollers, *next; p; p = next) {
        next = p->next;
        if (p->rearm(p))
            did = true;
    }
    if (run_pending(l))
        did = true;
    return did;
}

int uloop_run(struct uloop *l)
{
    uint64_t idle_since = now_ns();

    while (!l->stop) {
        uint64_t max_ns = __atomic_load_n(&l->poll_max_ns, __ATOMIC_RELAXED);
        uint64_t t;
        int r;

        if (max_ns && l->pollers && l->pst.poll_ns) {
            if (poll_once(l)) {
                l->pst.polls_hit++;
                idle_since = now_ns();
                continue;
            }
            if (now_ns() - idle_since < l->pst.poll_ns) {
                cpu_relax();
                continue;
            }
        }
        /* Every time, not only after polling: a poller may have turned
         * wake-ups off while handling work, and the window closed since. */
        if (l->pollers && poll_rearm(l)) {
            idle_since = now_ns();
            continue;
        }
        r = io_uring_submit_and_wait(&l->ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            log_err("uloop: io_uring_submit_and_wait: %s", strerror(-r));
            return r;
        }
        l->pst.sleeps++;
        t = now_ns();
        poll_adapt(l, t - idle_since, max_ns);
        reap(l);
        run_pending(l);
        idle_since = now_ns();
    }
    return 0;
}

int uloop_call(struct uloop *l, void (*fn)(void *arg), void *arg)
{
    struct uloop_call c = { .fn = fn, .arg = arg };
    uint64_t one = 1;

    if (uloop_on_thread(l)) {
        fn(arg);
        return 0;
    }
    completion_init(&c.done);
    pthread_mutex_lock(&l->call_lock);
    c.next = l->calls;
    l->calls = &c;
    pthread_mutex_unlock(&l->call_lock);
    if (write(l->wake_fd, &one, sizeof(one)) != sizeof(one))
        return neg_errno();
    completion_wait(&c.done);
    return 0;
}

void uloop_request_stop(struct uloop *l)
{
    uint64_t one = 1;

    if (uloop_on_thread(l)) {
        l->stop = true;
        return;
    }
    pthread_mutex_lock(&l->call_lock);
    l->stopping_remote = true;
    pthread_mutex_unlock(&l->call_lock);
    if (write(l->wake_fd, &one, sizeof(one)) != sizeof(one))
        log_err("uloop: wake-up write failed: %m");
}

static void *thread_main(void *arg)
{
    struct uloop *shell = arg;   /* carries parameters and the result */
    struct uloop *l = NULL;
    int r;

    pthread_setname_np(pthread_self(), shell->thread_name);
    r = uloop_create(shell->thread_entries, &l);
    shell->thread_err = r;
    /* Hand the real loop back through the shell's calls pointer. */
    shell->calls = (struct uloop_call *)l;
    completion_done(&shell->thread_ready);
    if (r < 0)
        return NULL;
    uloop_run(l);
    /* Run any call that raced with stop so no caller waits forever. */
    take_remote_posts(l);
    run_pending(l);
    run_calls(l);
    return NULL;
}

int uloop_thread_start(const char *name, unsigned entries, struct uloop **out)
{
    struct uloop shell;
    struct uloop *l;
    pthread_t t;
    int r;

    memset(&shell, 0, sizeof(shell));
    shell.thread_name = name;
    shell.thread_entries = entries;
    completion_init(&shell.thread_ready);
    r = pthread_create(&t, NULL, thread_main, &shell);
    if (r)
        return -r;
    completion_wait(&shell.thread_ready);
    if (shell.thread_err < 0) {
        pthread_join(t, NULL);
        return shell.thread_err;
    }
    l = (struct uloop *)shell.calls;
    l->thread = t;
    *out = l;
    return 0;
}

void uloop_thread_stop(struct uloop *l)
{
    if (!l)
        return;
    uloop_request_stop(l);
    pthread_join(l->thread, NULL);
    uloop_destroy(l);
}
