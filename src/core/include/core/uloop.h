/* SPDX-License-Identifier: Apache-2.0 */
/* uloop: an io_uring-driven event loop owned by one thread.
 *
 * Every asynchronous operation on a worker (eventfd kick reads, block I/O,
 * tap I/O, call-eventfd writes) is an SQE whose user_data points at a
 * struct uloop_op embedded in the caller's own object; its callback runs on the
 * loop thread when the CQE arrives. Nothing is allocated per operation.
 *
 * Other threads talk to a loop only through uloop_call(), which runs a function
 * on the loop thread and waits for it, and uloop_post_remote(), which hands
 * it a completion; so data owned by a loop needs no lock.
 */
#ifndef SLUICE_CORE_ULOOP_H
#define SLUICE_CORE_ULOOP_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct uloop;
struct uloop_op;

/* Completion callback: @res is the CQE result (bytes or -errno), @flags the
 * CQE flags (IORING_CQE_F_MORE for multishot). */
typedef void (*uloop_op_cb)(struct uloop_op *op, int res, uint32_t flags);

struct uloop_op {
    uloop_op_cb cb;
    /* private: used by uloop_post() */
    int post_res;
    struct uloop_op *post_next;
};

/* Work to run once after the current batch of completions (e.g. to send one
 * interrupt for many completed requests). */
struct uloop_defer {
    void (*fn)(struct uloop_defer *d);
    struct uloop_defer *next;   /* private */
    bool queued;                /* private */
};

/* Adaptive polling. After the loop has had work it keeps calling its
 * pollers' poll() (and reaping its completion queue) without sleeping, for a
 * window that grows while polling finds work and shrinks when the loop had to
 * sleep longer than the maximum anyway (QEMU's AioContext poll-max-ns /
 * poll-grow / poll-shrink). Before it sleeps it calls every poller's rearm(),
 * which turns the peer's wake-ups back on and looks once more. */
struct uloop_poller {
    /* Look for work without sleeping and do it; true when it made progress.
     * May turn the peer's wake-ups off (e.g. VRING_USED_F_NO_NOTIFY) for as
     * long as it is polled. */
    bool (*poll)(struct uloop_poller *p);
    /* The loop is about to sleep: turn wake-ups back on, then look again.
     * Returns true when work arrived meanwhile (the loop does not sleep). */
    bool (*rearm)(struct uloop_poller *p);
    struct uloop_poller *next;   /* private */
    bool added;                  /* private */
};

/* Default maximum polling window. QEMU's poll-max-ns default is 32 us, but
 * the sleep a window is judged by includes the worker's own wake-up, and a
 * cross-CPU wake-up in a VM costs 30-60 us: with 32 us the window rarely
 * grew there (measured: randwrite 4k QD1 on null 2-22k IOPS at 32 us,
 * 14-43k at 100 us, 61k at 200 us, qemu-storage-daemon 2k). 100 us covers
 * one such round trip; idle CPU does not depend on it. */
#define ULOOP_POLL_MAX_NS_DEFAULT 100000u

/* Add or remove a poller. Loop thread only; both are idempotent. */
void uloop_poller_add(struct uloop *l, struct uloop_poller *p);
void uloop_poller_remove(struct uloop *l, struct uloop_poller *p);

/* True when the loop will poll after the current work (its window is open):
 * a poller may turn its peer's wake-ups off already. Loop thread only. */
bool uloop_polling(const struct uloop *l);

/* Set the maximum polling window in ns (0: never poll). Any thread. */
void uloop_set_poll_max_ns(struct uloop *l, uint64_t ns);

struct uloop_poll_stats {
    uint64_t poll_ns;        /* current window */
    uint64_t polls_hit;      /* polling found the work (no sleep) */
    uint64_t sleeps;         /* waits in the kernel */
    uint64_t grows, shrinks;
};
/* Racy snapshot of the polling counters, for statistics and tests. */
void uloop_poll_stats(const struct uloop *l, struct uloop_poll_stats *out);

/* Create a loop in the calling thread with an SQ of @entries. The loop must
 * then only be driven from this thread. Returns 0 or -errno. */
int uloop_create(unsigned entries, struct uloop **out);

/* Destroy a loop (from its own thread, after uloop_run returned). NULL-safe. */
void uloop_destroy(struct uloop *l);

/* Start a thread that creates a loop and runs it; *out is valid on return.
 * Returns 0 or -errno. */
int uloop_thread_start(const char *name, unsigned entries, struct uloop **out);

/* Ask the loop thread to stop and join it; destroys the loop. */
void uloop_thread_stop(struct uloop *l);

/* Get an SQE; when the SQ is full it submits first, so it never returns NULL
 * unless the ring is broken (then the process aborts: an invariant). */
struct io_uring_sqe *uloop_sqe(struct uloop *l);

/* Convenience: prepare @sqe with user_data pointing at @op. */
static inline void uloop_sqe_set_op(struct io_uring_sqe *sqe, struct uloop_op *op)
{
    io_uring_sqe_set_data(sqe, op);
}

/* Complete @op with @res later on this loop (after the current batch), for
 * operations finished synchronously. Loop thread only. */
void uloop_post(struct uloop *l, struct uloop_op *op, int res);

/* Complete @op with @res on loop @l from ANY thread (an operation another
 * thread finished for this loop): @op->cb runs on the loop thread after the
 * current batch. Lock-free, allocates nothing (@op's post fields link it);
 * wakes the loop through its eventfd only when the queue was empty. @op
 * must not be posted again before its callback has run. */
void uloop_post_remote(struct uloop *l, struct uloop_op *op, int res);

/* Queue @d to run after the current batch; a no-op when already queued.
 * Loop thread only. */
void uloop_defer(struct uloop *l, struct uloop_defer *d);

/* Run until uloop_request_stop(). Returns 0 or -errno on ring failure. */
int uloop_run(struct uloop *l);

/* Run @fn(@arg) on the loop thread and wait for it to return. From the loop
 * thread itself, runs it directly. Returns 0 or -errno (loop stopped). */
int uloop_call(struct uloop *l, void (*fn)(void *arg), void *arg);

/* Request the loop to stop (any thread). */
void uloop_request_stop(struct uloop *l);

/* True when called on @l's own thread. */
bool uloop_on_thread(const struct uloop *l);

/* The io_uring, for callers that need direct liburing helpers. */
struct io_uring *uloop_ring(struct uloop *l);

/* A one-shot cross-thread completion (mutex + condvar). */
struct completion {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};
void completion_init(struct completion *c);
void completion_done(struct completion *c);
void completion_wait(struct completion *c);

#endif
