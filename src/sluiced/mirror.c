/* SPDX-License-Identifier: Apache-2.0 */
/* The mirror job (storage migration, source side): see mirror.h. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "core/util.h"
#include "mirror.h"
#include "storage/bdev.h"

#define RUN_MAX   (64u << 20)   /* bytes handled per run of dirty blocks */
#define DATA_MAX  (1u << 20)    /* bytes per NBD_CMD_WRITE */
#define SYNC_AT   (4u << 20)    /* go synchronous when this little is dirty */
#define MAX_ROUNDS 12           /* ... or after this many catch-up rounds */
#define BATCH_MAX 256           /* synchronous requests sent before waiting for their replies */
#define PIPE_DEPTH 8            /* copy chunks (DATA_MAX each) in flight to the target */
#define ZERO_MAX  (1u << 30)    /* bytes per NBD_CMD_WRITE_ZEROES */

/* A guest request mirrored synchronously: its state, kept in the request's
 * own struct vblk_io (nothing allocated). The worker does the source's part
 * through the bdev (io_uring); the mirror thread sends the target's part
 * and, when the request's last part is done there, completes it back on
 * the worker's loop (uloop_post_remote).
 * In phase sync (the last round still copies) the target part is queued
 * only once the source part completed (see copy_round); once synced both
 * parts start together (@parallel) and @pending counts them down. */
enum mr_kind { MR_WRITE, MR_ZERO, MR_DISCARD, MR_FLUSH };
struct mreq {
    struct mirror *m;
    struct uloop *loop;
    uloop_op_cb cb;              /* the request's own completion */
    const struct iovec *iov;     /* MR_WRITE: the guest's buffers */
    uint64_t off, len;
    struct mreq *next;           /* the mirror thread's queue */
    unsigned iovcnt;
    int res;                     /* the source's result: the guest's */
    atomic_uint pending;         /* @parallel: parts (source, target) not done */
    unsigned cmds;               /* target commands in flight (mirror thread) */
    uint8_t kind;                /* enum mr_kind */
    bool parallel;
};
_Static_assert(sizeof(struct mreq) <= VBLK_IO_PRIV_BYTES, "struct mreq does not fit struct vblk_io");

static struct mreq *mreq_of(struct uloop_op *done)
{
    return (struct mreq *)(void *)container_of(done, struct vblk_io, op)->priv;
}

enum phase { PH_CONNECT, PH_COPY, PH_CATCHUP, PH_SYNC, PH_SYNCED, PH_FAILED, PH_CANCELLED, PH_COMPLETED };
/* How long the last flush and the goodbye may take when a mirror ends: a
 * device removal waits for them. */
#define CLOSING_TIMEOUT_MS 5000u

static const char *const phase_names[] = {
    "connecting", "copy", "catch-up", "sync", "synced", "failed", "cancelled", "completed",
};

struct mirror {
    struct mirror_dev *md;
    struct nbd_handle *nbd;
    char *uri;
    int fd;                      /* the bdev's buffered descriptor */
    uint64_t size;
    bool blockdev, can_zero, can_flush, can_trim;
    pthread_t thread;
    unsigned timeout_ms;         /* a target request unanswered this long fails the mirror */
    /* Requests whose source part is done, waiting for the mirror thread to
     * send their target part (FIFO: the target sees them in the order the
     * source completed them). */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct mreq *q_head, *q_tail;
    atomic_long sync_inflight;   /* synchronous requests not yet completed */
    atomic_bool diverged;        /* a source part failed whose target part went out */
    /* The batch of requests whose target commands are in flight (mirror
     * thread): a command's completion callback finds its request through
     * its slot, which is cleared when the batch is given up. */
    struct batch_slot {
        struct mirror *m;
        struct mreq *q;
    } slots[BATCH_MAX];
    unsigned nslots, cmds;       /* requests in the batch, commands in flight */
    int cmd_err;                 /* the first failed command's errno */
    _Atomic int phase;
    atomic_bool cancel;
    atomic_bool remote_failed;   /* a synchronous remote write failed */
    bool abandoned;              /* a target request was left unanswered (cancel) */
    bool closing;                /* the last flush: a cancel does not cut it short */
    _Atomic uint64_t *dirty;     /* live bitmap: bit per MIRROR_BLOCK */
    uint64_t *copy;              /* the round's snapshot */
    size_t words;
    _Atomic uint64_t copied, total;
    atomic_uint round;
    _Atomic uint64_t start_ns;  /* read by the control thread (status) */
    _Atomic uint64_t end_ns;
    char error[256];             /* set before phase turns PH_FAILED */
    /* The copy's pipeline (mirror thread): up to PIPE_DEPTH chunks, each
     * read into its slot's buffer and sent as one or more commands whose
     * replies are not waited for one by one; a round ends when all are in. */
    struct pipe_slot {
        struct mirror *m;
        uint8_t *buf;            /* DATA_MAX */
        unsigned cmds;           /* commands in flight, +1 while issuing */
        uint64_t bytes;          /* counted as copied once they are all done */
    } pipe[PIPE_DEPTH];
    unsigned pipe_busy;          /* slots in use */
    uint64_t pipe_done;          /* commands completed (progress) */
    int pipe_err;                /* the first failed copy command's errno */
    uint8_t *bufs;               /* PIPE_DEPTH * DATA_MAX */
    uint8_t *zeroes;             /* DATA_MAX of zeroes, when !can_zero */
};

/* ---- in-flight writes, by epoch ----------------------------------------
 * Asynchronous guest writes issued while a mirror copies are counted in
 * their device's current epoch counter, and uncounted by their completion
 * (the request's own uloop_op, whose callback is swapped for the time of
 * the write; the original callback and the counter are kept in the
 * request's struct vblk_io: nothing allocated). A round flips the device's
 * epoch and waits for the old count to reach zero: then every write that
 * could have marked the round's blocks is on disk. Per device: a device
 * whose writes do not complete (a stalled backing) holds up only its own
 * mirror. Only the device's mirror thread flips (one job at a time). */
struct epoch_io {
    struct mirror_dev *md;
    uloop_op_cb cb;              /* the request's own completion */
    unsigned e;
};
_Static_assert(sizeof(struct epoch_io) <= VBLK_IO_PRIV_BYTES, "struct epoch_io does not fit struct vblk_io");

static struct epoch_io *epoch_io_of(struct uloop_op *done)
{
    return (struct epoch_io *)(void *)container_of(done, struct vblk_io, op)->priv;
}

static void done_epoch(struct uloop_op *op, int res, uint32_t flags)
{
    struct epoch_io *x = epoch_io_of(op);
    uloop_op_cb cb = x->cb;

    op->cb = cb;
    atomic_fetch_sub(&x->md->inflight[x->e], 1);
    cb(op, res, flags);
}

static unsigned epoch_enter(struct mirror_dev *md)
{
    for (;;) {
        unsigned e = atomic_load(&md->epoch);
        atomic_fetch_add(&md->inflight[e], 1);
        if (atomic_load(&md->epoch) == e)
            return e;
        atomic_fetch_sub(&md->inflight[e], 1);
    }
}

static void epoch_leave(struct mirror_dev *md, unsigned e)
{
    atomic_fetch_sub(&md->inflight[e], 1);
}

/* Swap @done's callback so its completion leaves epoch @e of @md. */
static void epoch_hook(struct uloop_op *done, struct mirror_dev *md, unsigned e)
{
    struct epoch_io *x = epoch_io_of(done);

    *x = (struct epoch_io){ .md = md, .cb = done->cb, .e = e };
    done->cb = done_epoch;
}

/* Undo epoch_hook for a request that was not started. */
static void epoch_unhook(struct uloop_op *done)
{
    struct epoch_io *x = epoch_io_of(done);

    done->cb = x->cb;
    epoch_leave(x->md, x->e);
}

/* Wait until every write to @md that started before now has completed
 * (or the mirror is cancelled: returns -1). */
static int epoch_flip_and_drain(struct mirror *m)
{
    struct mirror_dev *md = m->md;
    unsigned old = atomic_load(&md->epoch);

    atomic_store(&md->epoch, old ^ 1u);
    while (atomic_load(&md->inflight[old]) > 0) {
        if (atomic_load(&m->cancel))
            return -1;
        usleep(50);
    }
    return 0;
}

/* ---- dirty bitmap ------------------------------------------------------- */

static void mark_dirty(struct mirror *m, uint64_t off, uint64_t len)
{
    uint64_t first, last;

    if (!len || off >= m->size)
        return;
    first = off / MIRROR_BLOCK;
    last = (MIN(off + len, m->size) - 1) / MIRROR_BLOCK;
    /* One atomic OR per bitmap word, not per block: a 2 GiB discard is 512
     * ORs on the worker, not 32768. */
    for (uint64_t w = first / 64; w <= last / 64; w++) {
        uint64_t lo = w == first / 64 ? first % 64 : 0, hi = w == last / 64 ? last % 64 : 63;
        uint64_t mask = (hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);
        atomic_fetch_or(&m->dirty[w], mask);
    }
}

static uint64_t count_dirty(struct mirror *m)
{
    uint64_t n = 0;

    for (size_t i = 0; i < m->words; i++)
        n += (uint64_t)__builtin_popcountll(atomic_load(&m->dirty[i]));
    return n;
}

/* Move the live bitmap into m->copy; returns the blocks taken. */
static uint64_t take_dirty(struct mirror *m)
{
    uint64_t n = 0;

    for (size_t i = 0; i < m->words; i++) {
        m->copy[i] = atomic_exchange(&m->dirty[i], 0);
        n += (uint64_t)__builtin_popcountll(m->copy[i]);
    }
    return n;
}

/* ---- the target --------------------------------------------------------- */

static bool stopping(struct mirror *m)
{
    return atomic_load(&m->cancel) || atomic_load(&m->remote_failed);
}

static void fail(struct mirror *m, const char *what)
{
    if (m->abandoned)            /* cancelled while waiting: not a failure */
        return;
    if (atomic_exchange(&m->remote_failed, true))
        return;
    if (m->error[0])             /* a timeout said why already */
        return;
    snprintf(m->error, sizeof(m->error), "%s: %s", what, nbd_get_error() ?: "failed");
}

/* Wait for the target's reply to @cookie (an nbd_aio_* result), at most
 * m->timeout_ms: a target that stops answering without closing the
 * connection (stopped, hung) must not hold the mirror, and the guest
 * writes waiting for it, until TCP gives up; a cancel stops the wait too
 * (m->abandoned). Returns 0 or -1 (a timeout sets m->error). */
static int remote_wait(struct mirror *m, int64_t cookie)
{
    uint64_t deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;

    if (cookie < 0)
        return -1;
    for (;;) {
        int r = nbd_aio_command_completed(m->nbd, (uint64_t)cookie);
        uint64_t t;
        if (r != 0)
            return r > 0 ? 0 : -1;
        if (atomic_load(&m->cancel) && !m->closing) {
            m->abandoned = true;
            return -1;
        }
        t = now_ns();
        if (t >= deadline) {
            if (!atomic_load(&m->remote_failed))
                snprintf(m->error, sizeof(m->error), "the target did not answer within %u ms",
                         m->timeout_ms);
            return -1;
        }
        if (nbd_poll(m->nbd, (int)MIN((deadline - t) / 1000000u + 1, 100u)) < 0)
            return -1;
    }
}

/* NBD_CMD_DISC, then wait at most CLOSING_TIMEOUT_MS for the target to
 * close (nbd_shutdown() would wait for ever on one that never does). */
static void remote_goodbye(struct mirror *m)
{
    uint64_t deadline = now_ns() + (uint64_t)CLOSING_TIMEOUT_MS * 1000000u;

    if (nbd_aio_disconnect(m->nbd, 0) < 0)
        return;
    while (!nbd_aio_is_closed(m->nbd) && !nbd_aio_is_dead(m->nbd) && now_ns() < deadline)
        if (nbd_poll(m->nbd, 100) < 0)
            break;
}

static int remote_flush(struct mirror *m)
{
    return remote_wait(m, nbd_aio_flush(m->nbd, NBD_NULL_COMPLETION, 0));
}

/* ---- the copy's pipeline ------------------------------------------------ */

static void slot_put(struct pipe_slot *sl)
{
    if (--sl->cmds)
        return;
    atomic_fetch_add(&sl->m->copied, sl->bytes);
    sl->bytes = 0;
    sl->m->pipe_busy--;
}

/* libnbd's completion callback of one copy command (mirror thread, inside
 * an nbd_* call). */
static int pipe_cmd_done(void *user_data, int *error)
{
    struct pipe_slot *sl = user_data;

    if (*error && !sl->m->pipe_err)
        sl->m->pipe_err = *error;
    sl->m->pipe_done++;
    slot_put(sl);
    return 1;
}

/* Count a command of @sl before it is issued (its reply may come within
 * the nbd_aio_* call), take it back when @cookie says it did not go out. */
static void pipe_issued(struct pipe_slot *sl, int64_t cookie)
{
    if (cookie >= 0)
        return;
    sl->cmds--;
    if (!sl->m->pipe_err)
        sl->m->pipe_err = nbd_get_errno() ?: EIO;
}

static void pipe_write(struct pipe_slot *sl, const void *buf, uint64_t len, uint64_t off)
{
    sl->cmds++;
    pipe_issued(sl, nbd_aio_pwrite(sl->m->nbd, buf, len, off,
                                   (nbd_completion_callback){ .callback = pipe_cmd_done, .user_data = sl }, 0));
}

static void pipe_zero(struct pipe_slot *sl, uint64_t off, uint64_t len)
{
    struct mirror *m = sl->m;

    while (len) {
        uint64_t n = MIN(len, m->can_zero ? ZERO_MAX : DATA_MAX);
        sl->cmds++;
        pipe_issued(sl, m->can_zero
                        ? nbd_aio_zero(m->nbd, n, off,
                                       (nbd_completion_callback){ .callback = pipe_cmd_done, .user_data = sl }, 0)
                        : nbd_aio_pwrite(m->nbd, m->zeroes, n, off,
                                         (nbd_completion_callback){ .callback = pipe_cmd_done, .user_data = sl }, 0));
        off += n;
        len -= n;
    }
}

/* Wait until at most @max_busy slots are in use; a target silent for
 * m->timeout_ms (no reply at all) fails the mirror, a cancel ends the wait
 * (m->abandoned). Returns 0, or -1 (the mirror fails or was cancelled). */
static int pipe_wait(struct mirror *m, unsigned max_busy)
{
    uint64_t deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;
    uint64_t last = m->pipe_done;

    while (m->pipe_busy > max_busy && !m->pipe_err) {
        uint64_t t = now_ns();
        if (atomic_load(&m->cancel) && !m->closing) {
            m->abandoned = true;
            return -1;
        }
        if (t >= deadline) {
            if (!atomic_load(&m->remote_failed))
                snprintf(m->error, sizeof(m->error), "the target did not answer within %u ms",
                         m->timeout_ms);
            fail(m, "writing to the target");
            return -1;
        }
        if (nbd_poll(m->nbd, (int)MIN((deadline - t) / 1000000u + 1, 100u)) < 0) {
            fail(m, "writing to the target");
            return -1;
        }
        if (m->pipe_done != last) {  /* progress: the target is alive */
            last = m->pipe_done;
            deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;
        }
    }
    if (m->pipe_err) {
        if (!atomic_load(&m->remote_failed) && !m->error[0])
            snprintf(m->error, sizeof(m->error), "writing to the target: %s", strerror(m->pipe_err));
        fail(m, "writing to the target");
        return -1;
    }
    return 0;
}

/* A free slot, held (its commands cannot complete it) until slot_release;
 * NULL when the mirror failed or was cancelled while waiting for one. */
static struct pipe_slot *slot_get(struct mirror *m)
{
    if (pipe_wait(m, PIPE_DEPTH - 1) < 0)
        return NULL;
    for (unsigned i = 0; i < PIPE_DEPTH; i++) {
        struct pipe_slot *sl = &m->pipe[i];
        if (!sl->cmds) {
            sl->cmds = 1;
            sl->bytes = 0;
            m->pipe_busy++;
            return sl;
        }
    }
    assert(!"no free pipe slot");
    return NULL;
}

/* Its commands are issued: @bytes count as copied once they are done. */
static void slot_release(struct pipe_slot *sl, uint64_t bytes)
{
    sl->bytes = bytes;
    slot_put(sl);
}

/* Read [off, off+len) (len <= DATA_MAX) from the source into a pipeline
 * slot and send it, block by block as data or zeroes, without waiting for
 * the replies. Returns 0 or -1 (m->error set). */
static int copy_data(struct mirror *m, uint64_t off, uint64_t len)
{
    struct pipe_slot *sl = slot_get(m);
    uint64_t done = 0, zrun = 0, drun = 0;

    if (!sl)
        return -1;
    for (uint64_t got = 0; got < len;) {
        ssize_t n = pread(m->fd, sl->buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(m->error, sizeof(m->error), "reading the source at %llu: %s",
                     (unsigned long long)(off + got), n < 0 ? strerror(errno) : "short read");
            slot_release(sl, 0);
            return -1;
        }
        got += (uint64_t)n;
    }
    /* Coalesce neighbouring blocks of the same kind into one request. */
    while (done < len) {
        uint64_t b = MIN(MIRROR_BLOCK, len - done);
        bool z = mem_is_zero(sl->buf + done, b);
        if (z ? drun : zrun) {
            uint64_t at = off + done - (z ? drun : zrun);
            if (z)
                pipe_write(sl, sl->buf + (at - off), drun, at);
            else
                pipe_zero(sl, at, zrun);
            drun = zrun = 0;
        }
        *(z ? &zrun : &drun) += b;
        done += b;
    }
    if (drun)
        pipe_write(sl, sl->buf + (len - drun), drun, off + len - drun);
    if (zrun)
        pipe_zero(sl, off + len - zrun, zrun);
    slot_release(sl, len);
    return 0;
}

/* Copy [off, off+len): holes of a file go as zeroes without reading. The
 * commands may still be in flight on return (pipe_wait). */
static int copy_range(struct mirror *m, uint64_t off, uint64_t len)
{
    uint64_t end = off + len, pos = off;

    while (pos < end) {
        uint64_t data = pos, hole = end;
        if (!m->blockdev) {
            off_t d = lseek(m->fd, (off_t)pos, SEEK_DATA);
            data = d < 0 ? end : MIN((uint64_t)d, end);
            if (data < end) {
                off_t h = lseek(m->fd, (off_t)data, SEEK_HOLE);
                hole = h < 0 ? end : MIN((uint64_t)h, end);
            }
        }
        if (data > pos) {
            struct pipe_slot *sl = slot_get(m);
            if (!sl)
                return -1;
            pipe_zero(sl, pos, data - pos);
            slot_release(sl, data - pos);
        }
        for (pos = data; pos < hole;) {
            uint64_t n = MIN(hole - pos, DATA_MAX);
            if (copy_data(m, pos, n) < 0)
                return -1;
            pos += n;
        }
        pos = MAX(pos, hole);
    }
    return 0;
}

/* ---- the synchronous phase: the target's half of guest requests ---------- */

/* Complete @q to the guest on its worker, with the source's result. */
static void sync_complete(struct mirror *m, struct mreq *q)
{
    struct uloop_op *op = &((struct vblk_io *)(void *)((char *)q - offsetof(struct vblk_io, priv)))->op;

    op->cb = q->cb;
    uloop_post_remote(q->loop, op, q->res);
    atomic_fetch_sub(&m->sync_inflight, 1);
}

/* @q's target part is done (sent, or not to be sent): complete it unless
 * its source part still runs (then the worker completes it). */
static void sync_target_done(struct mirror *m, struct mreq *q)
{
    if (q->parallel && atomic_fetch_sub(&q->pending, 1) != 1)
        return;
    sync_complete(m, q);
}

/* libnbd's completion callback of one target command (mirror thread,
 * inside an nbd_* call). */
static int sync_cmd_done(void *user_data, int *error)
{
    struct batch_slot *sl = user_data;
    struct mirror *m = sl->m;
    struct mreq *q = sl->q;

    if (!q)                      /* the batch was given up */
        return 1;
    if (*error && !m->cmd_err)
        m->cmd_err = *error;
    m->cmds--;
    if (--q->cmds == 0) {
        sl->q = NULL;
        sync_target_done(m, q);
    }
    return 1;
}

/* Count a target command for @q before it is issued (its reply may come
 * within the nbd_aio_* call itself), and take it back when @cookie says it
 * did not go out. */
static void cmd_begin(struct mirror *m, struct mreq *q)
{
    q->cmds++;
    m->cmds++;
}

static void cmd_issued(struct mirror *m, struct mreq *q, int64_t cookie)
{
    if (cookie >= 0)
        return;
    q->cmds--;
    m->cmds--;
    if (!m->cmd_err)
        m->cmd_err = nbd_get_errno() ?: EIO;
}

/* Wait until every command of the batch has its reply; a target silent
 * for m->timeout_ms (no reply at all) fails the mirror. Requests whose
 * commands are given up complete with the source's result. */
static void sync_wait_batch(struct mirror *m)
{
    uint64_t deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;
    unsigned last = m->cmds;

    while (m->cmds) {
        uint64_t t = now_ns();
        if (atomic_load(&m->cancel)) {
            m->abandoned = true;
            break;
        }
        if (t >= deadline) {
            if (!atomic_load(&m->remote_failed))
                snprintf(m->error, sizeof(m->error), "the target did not answer within %u ms",
                         m->timeout_ms);
            fail(m, "writing to the target");
            break;
        }
        if (nbd_poll(m->nbd, (int)MIN((deadline - t) / 1000000u + 1, 100u)) < 0) {
            fail(m, "writing to the target");
            break;
        }
        if (m->cmds < last) {    /* progress: the target is alive */
            last = m->cmds;
            deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;
        }
    }
    if (m->cmd_err && !atomic_load(&m->remote_failed) && !m->abandoned) {
        snprintf(m->error, sizeof(m->error), "writing to the target: %s", strerror(m->cmd_err));
        fail(m, "writing to the target");
    }
    for (unsigned i = 0; i < m->nslots; i++) {
        struct mreq *q = m->slots[i].q;
        if (q) {
            m->slots[i].q = NULL;
            sync_target_done(m, q);
        }
    }
    m->nslots = 0;
    m->cmds = 0;
}

/* Send @q's target part: its commands go out without waiting (from the
 * guest's buffers); the batch is waited for as a whole. */
static void sync_send(struct mirror *m, struct mreq *q)
{
    struct batch_slot *sl;

    /* A flush covers what completed before it; a write that overlaps one
     * in flight could land before it: wait for the batch first. */
    for (unsigned i = 0; i < m->nslots; i++) {
        struct mreq *o = m->slots[i].q;
        if (q->kind == MR_FLUSH || (o && o->kind == MR_FLUSH) ||
            (o && q->off < o->off + o->len && o->off < q->off + q->len)) {
            sync_wait_batch(m);
            break;
        }
    }
    if (m->nslots == BATCH_MAX)
        sync_wait_batch(m);
    if (stopping(m)) {
        sync_target_done(m, q);
        return;
    }
    sl = &m->slots[m->nslots++];
    sl->m = m;
    sl->q = q;
    q->cmds = 1;                 /* held while issuing */
    switch (q->kind) {
    case MR_WRITE: {
        /* The bytes the source took (sequential), or all of them. */
        uint64_t todo = q->parallel ? q->len : (uint64_t)q->res, at = q->off;
        for (unsigned i = 0; i < q->iovcnt && todo; i++) {
            for (uint64_t done = 0; done < q->iov[i].iov_len && todo;) {
                uint64_t n = MIN(MIN(q->iov[i].iov_len - done, todo), DATA_MAX);
                cmd_begin(m, q);
                cmd_issued(m, q, nbd_aio_pwrite(m->nbd, (const uint8_t *)q->iov[i].iov_base + done, n, at,
                                                 (nbd_completion_callback){ .callback = sync_cmd_done,
                                                                            .user_data = sl }, 0));
                done += n;
                at += n;
                todo -= n;
            }
        }
        break;
    }
    case MR_ZERO:
    case MR_DISCARD:
        if (m->can_zero) {
            cmd_begin(m, q);
            cmd_issued(m, q, nbd_aio_zero(m->nbd, q->len, q->off,
                                           (nbd_completion_callback){ .callback = sync_cmd_done,
                                                                      .user_data = sl }, 0));
        } else {
            for (uint64_t done = 0; done < q->len;) {
                uint64_t n = MIN(q->len - done, DATA_MAX);
                cmd_begin(m, q);
                cmd_issued(m, q, nbd_aio_pwrite(m->nbd, m->zeroes, n, q->off + done,
                                                 (nbd_completion_callback){ .callback = sync_cmd_done,
                                                                            .user_data = sl }, 0));
                done += n;
            }
        }
        break;
    case MR_FLUSH:
        cmd_begin(m, q);
        cmd_issued(m, q, nbd_aio_flush(m->nbd, (nbd_completion_callback){ .callback = sync_cmd_done,
                                                                          .user_data = sl }, 0));
        break;
    }
    if (--q->cmds == 0) {        /* nothing went out, or all replied already */
        sl->q = NULL;
        sync_target_done(m, q);
    }
}

/* Send the queued requests' target parts, wait for the replies and
 * complete them; with @wait_ms, wait that long for one to arrive. Once the
 * mirror stops they complete without being sent. Returns the number
 * handled. */
static unsigned sync_serve(struct mirror *m, unsigned wait_ms)
{
    struct mreq *list;
    unsigned n = 0;

    pthread_mutex_lock(&m->q_lock);
    if (!m->q_head && wait_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
        ts.tv_sec += wait_ms / 1000u + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&m->q_cond, &m->q_lock, &ts);
    }
    list = m->q_head;
    m->q_head = m->q_tail = NULL;
    pthread_mutex_unlock(&m->q_lock);
    while (list) {
        struct mreq *q = list;
        list = q->next;
        if (stopping(m))
            sync_target_done(m, q);
        else
            sync_send(m, q);
        n++;
    }
    if (m->nslots)
        sync_wait_batch(m);
    if (atomic_load(&m->diverged) && !atomic_load(&m->remote_failed)) {
        snprintf(m->error, sizeof(m->error), "a write failed on the source after it was sent to the target");
        atomic_store(&m->remote_failed, true);
    }
    return n;
}

static bool sync_queued(struct mirror *m)
{
    bool r;

    pthread_mutex_lock(&m->q_lock);
    r = m->q_head != NULL;
    pthread_mutex_unlock(&m->q_lock);
    return r;
}

/* Synced and idle (nothing in flight): has the target closed the
 * connection? Reads what it sent without waiting. */
static bool target_closed(struct mirror *m)
{
    if (m->nslots || atomic_load(&m->remote_failed))
        return false;
    nbd_poll(m->nbd, 0);
    return nbd_aio_is_closed(m->nbd) == 1 || nbd_aio_is_dead(m->nbd) == 1;
}

/* Copy every block of m->copy; @last: the synchronous round, which serves
 * queued guest requests between its chunks. */
static int copy_round(struct mirror *m, bool last)
{
    uint64_t nblocks = (m->size + MIRROR_BLOCK - 1) / MIRROR_BLOCK;
    /* Guest requests wait for the chunk: one request's worth at most. */
    uint64_t run_max = last ? DATA_MAX : RUN_MAX;

    for (uint64_t b = 0; b < nblocks;) {
        uint64_t e, off, len;
        int r;
        if (!(m->copy[b / 64] & (1ull << (b % 64)))) {
            b++;
            continue;
        }
        for (e = b + 1; e < nblocks && (e - b) * MIRROR_BLOCK < run_max &&
                        (m->copy[e / 64] & (1ull << (e % 64))); e++)
            ;
        off = b * MIRROR_BLOCK;
        len = MIN(e * MIRROR_BLOCK, m->size) - off;
        if (stopping(m))
            return -1;
        /* A guest write's target part is sent only after its source part
         * completed, by this thread: a block read here before such a write
         * landed is sent (and answered: NBD does not order overlapping
         * requests in flight) before the write; one read after holds it. */
        if (last && sync_queued(m)) {
            if (pipe_wait(m, 0) < 0)
                return -1;
            sync_serve(m, 0);
        }
        r = copy_range(m, off, len);
        if (r < 0)
            return -1;
        b = e;
    }
    /* The next round may copy the same blocks again: this one's are in. */
    return pipe_wait(m, 0);
}

static void barrier_fn(void *arg)
{
    (void)arg;
}

/* The datapath stops seeing @m: after this no worker is inside its hooks. */
static void detach(struct mirror *m)
{
    struct mirror_dev *md = m->md;

    atomic_store(&md->active, NULL);
    for (unsigned i = 0; i < md->nloops; i++)
        uloop_call(md->loops[i], barrier_fn, NULL);
}

/* Connect and do the handshake, at most m->timeout_ms (a target that
 * accepts and never answers must not hold the job, nor a cancel or the
 * device's removal). Returns 0, -1 (libnbd's error), -ETIMEDOUT or
 * -ECANCELED. */
static int connect_wait(struct mirror *m)
{
    uint64_t deadline = now_ns() + (uint64_t)m->timeout_ms * 1000000u;

    if (nbd_aio_connect_uri(m->nbd, m->uri) < 0)
        return -1;
    while (nbd_aio_is_connecting(m->nbd) == 1) {
        uint64_t t = now_ns();
        if (atomic_load(&m->cancel))
            return -ECANCELED;
        if (t >= deadline)
            return -ETIMEDOUT;
        if (nbd_poll(m->nbd, (int)MIN((deadline - t) / 1000000u + 1, 100u)) < 0)
            return -1;
    }
    return nbd_aio_is_ready(m->nbd) == 1 ? 0 : -1;
}

/* Connect to the target and check it will do (mirror thread: a connect
 * may take long, and must not hold up the control thread). Returns 0 or
 * -errno with @err saying why. */
static int target_open(struct mirror *m, struct sl_err *err)
{
    int64_t tsize;
    int r;

    if (nbd_set_uri_allow_transports(m->nbd, LIBNBD_ALLOW_TRANSPORT_TCP | LIBNBD_ALLOW_TRANSPORT_UNIX) < 0 ||
        nbd_set_uri_allow_tls(m->nbd, LIBNBD_TLS_DISABLE) < 0 || (r = connect_wait(m)) == -1) {
        r = nbd_get_errno() == EINVAL ? -EINVAL : -ECONNREFUSED;
        return err_set(err, r, "%s", nbd_get_error() ?: "cannot connect");
    }
    if (r == -ETIMEDOUT)
        return err_set(err, r, "the target did not answer within %u ms", m->timeout_ms);
    if (r < 0)
        return err_set(err, r, "cancelled while connecting");
    /* Requests go out whole: no Nagle delay between a request's header
     * and its payload, or before the next request (fails on unix sockets:
     * nothing to do there). */
    {
        int one = 1, fd = nbd_aio_get_fd(m->nbd);
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    tsize = nbd_get_size(m->nbd);
    if (tsize < 0)
        return err_set(err, -EIO, "%s", nbd_get_error());
    if ((uint64_t)tsize < m->size)
        return err_set(err, -ENOSPC, "target too small (%lld bytes, the device has %llu)",
                       (long long)tsize, (unsigned long long)m->size);
    if (nbd_is_read_only(m->nbd) == 1) {
        return err_set(err, -EROFS, "the target is read-only");
    }
    m->can_zero = nbd_can_zero(m->nbd) == 1;
    m->can_flush = nbd_can_flush(m->nbd) == 1;
    m->can_trim = nbd_can_trim(m->nbd) == 1;
    if (!m->can_zero && !(m->zeroes = calloc(1, DATA_MAX)))
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static void *mirror_thread(void *arg)
{
    struct mirror *m = arg;
    struct sl_err err = ERR_INIT;
    uint64_t prev = UINT64_MAX;
    int end = PH_CANCELLED;

    if (target_open(m, &err) < 0) {
        snprintf(m->error, sizeof(m->error), "%s", err.msg);
        atomic_store(&m->end_ns, now_ns());
        if (atomic_load(&m->cancel)) {
            atomic_store(&m->phase, PH_CANCELLED);
            log_info("%s: mirror to %s cancelled while connecting", m->md->id, m->uri);
            return NULL;
        }
        atomic_store(&m->phase, PH_FAILED);
        log_warn("%s: mirror to %s: %s", m->md->id, m->uri, m->error);
        return NULL;
    }
    /* Round 0 copies everything; from now on the datapath tracks writes. */
    for (size_t i = 0; i < m->words; i++)
        atomic_store(&m->dirty[i], ~0ull);
    m->total = m->size;
    atomic_store(&m->start_ns, now_ns());
    atomic_store(&m->phase, PH_COPY);
    atomic_store(&m->md->active, m);
    log_info("%s: mirroring to %s (%llu bytes)", m->md->id, m->uri, (unsigned long long)m->size);

    for (unsigned round = 0; !stopping(m); round++) {
        bool last = false;
        uint64_t n;
        atomic_store(&m->round, round);
        if (round > 0) {
            n = count_dirty(m);
            /* Converged, or not converging: the guest outruns the link. */
            if (n * MIRROR_BLOCK <= SYNC_AT || round >= MAX_ROUNDS || (round >= 4 && n >= prev)) {
                atomic_store(&m->phase, PH_SYNC);
                last = true;
            }
            prev = n;
        }
        if (last) {
            /* Writes from now on go to both copies; the ones before are
             * waited for, then their blocks copied a last time. */
            if (epoch_flip_and_drain(m) < 0)
                break;
            n = take_dirty(m);
        } else {
            n = take_dirty(m);
            if (epoch_flip_and_drain(m) < 0)
                break;
        }
        if (round > 0)
            atomic_fetch_add(&m->total, n * MIRROR_BLOCK);
        if (copy_round(m, last) < 0)
            break;
        if (last) {
            atomic_store(&m->phase, PH_SYNCED);
            log_info("%s: mirror synced to %s after %u round%s", m->md->id, m->uri, round + 1,
                     round ? "s" : "");
            while (!stopping(m)) {
                sync_serve(m, 50);
                if (target_closed(m)) {
                    if (atomic_load(&m->md->frontend_queues) == 0) {
                        end = PH_COMPLETED;
                        atomic_store(&m->cancel, true);   /* stopping() from now on */
                        break;
                    }
                    snprintf(m->error, sizeof(m->error),
                             "the target closed the connection while this device's frontend runs");
                    fail(m, "the target closed the connection");
                }
            }
            break;
        }
        if (round == 0)
            atomic_store(&m->phase, PH_CATCHUP);
    }
    if (atomic_load(&m->remote_failed) || m->error[0])
        end = PH_FAILED;
    detach(m);
    /* No worker enters the hooks any more; the requests still on their
     * way (source part in flight, or queued) complete with the source's
     * result. */
    while (atomic_load(&m->sync_inflight) > 0)
        sync_serve(m, 10);
    /* The target's copy is flushed for whoever uses it next, and told
     * goodbye; a failed target is just closed (it may not answer). */
    if (end == PH_CANCELLED && !m->abandoned) {
        m->closing = true;
        /* Bounded: a device removal waits for this thread. */
        m->timeout_ms = MIN(m->timeout_ms, CLOSING_TIMEOUT_MS);
        if (pipe_wait(m, 0) == 0 && (!m->can_flush || remote_flush(m) == 0))
            remote_goodbye(m);
    }
    atomic_store(&m->end_ns, now_ns());
    if (end == PH_FAILED && !m->error[0])
        snprintf(m->error, sizeof(m->error), "failed");
    atomic_store(&m->phase, end);
    if (end == PH_FAILED)
        log_warn("%s: mirror to %s failed: %s (the source is unchanged)", m->md->id, m->uri, m->error);
    else if (end == PH_COMPLETED)
        log_info("%s: mirror to %s completed: the target ended its export (switch-over)", m->md->id, m->uri);
    else
        log_info("%s: mirror to %s cancelled", m->md->id, m->uri);
    return NULL;
}

/* ---- job lifetime ------------------------------------------------------- */

static void mirror_free(struct mirror *m)
{
    if (!m)
        return;
    if (m->nbd)
        nbd_close(m->nbd);
    pthread_mutex_destroy(&m->q_lock);
    pthread_cond_destroy(&m->q_cond);
    free(m->dirty);
    free(m->copy);
    free(m->bufs);
    free(m->zeroes);
    free(m->uri);
    free(m);
}

static bool running(const struct mirror *m)
{
    int p = atomic_load(&m->phase);
    return p != PH_FAILED && p != PH_CANCELLED && p != PH_COMPLETED;
}

bool mirror_running(const struct mirror_dev *md)
{
    return md->job && running(md->job);
}

int mirror_uri_check(const char *uri, struct sl_err *err)
{
    if (!strncmp(uri, "nbd://", 6) && uri[6] && uri[6] != '/')
        return 0;
    if (!strncmp(uri, "nbd+unix:///", 12) && strstr(uri, "socket="))
        return 0;
    return err_set(err, -EINVAL, "expected nbd://HOST[:PORT]/NAME or nbd+unix:///NAME?socket=PATH, not '%s'",
                   uri);
}

int mirror_start(struct mirror_dev *md, const char *uri, unsigned timeout_ms, struct sl_err *err)
{
    const struct bdev_info *bi = bdev_get_info(md->bd);
    struct mirror *m;
    int r;

    if ((r = mirror_uri_check(uri, err)) < 0)
        return r;
    if (md->job && running(md->job))
        return err_set(err, -EBUSY, "a mirror is running (to %s)", md->job->uri);
    if (md->job) {
        pthread_join(md->job->thread, NULL);
        mirror_free(md->job);
        md->job = NULL;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        return err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&m->q_lock, NULL);
    pthread_cond_init(&m->q_cond, NULL);
    m->md = md;
    m->timeout_ms = timeout_ms ? timeout_ms : MIRROR_TIMEOUT_MS_DEFAULT;
    m->fd = bdev_fd(md->bd);
    m->size = bi->size;
    m->blockdev = bi->is_blockdev;
    m->words = ((m->size + MIRROR_BLOCK - 1) / MIRROR_BLOCK + 63) / 64;
    m->uri = strdup(uri);
    m->dirty = calloc(m->words, sizeof(*m->dirty));
    m->copy = calloc(m->words, sizeof(*m->copy));
    m->bufs = aligned_alloc(4096, (size_t)PIPE_DEPTH * DATA_MAX);
    if (!m->uri || !m->dirty || !m->copy || !m->bufs) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < PIPE_DEPTH; i++)
        m->pipe[i] = (struct pipe_slot){ .m = m, .buf = m->bufs + (size_t)i * DATA_MAX };
    m->nbd = nbd_create();
    if (!m->nbd) {
        r = err_set(err, -ENOMEM, "libnbd: %s", nbd_get_error());
        goto fail;
    }
    m->start_ns = now_ns();
    atomic_store(&m->phase, PH_CONNECT);
    r = -pthread_create(&m->thread, NULL, mirror_thread, m);
    if (r < 0) {
        err_set(err, r, "cannot start the mirror thread");
        goto fail;
    }
    md->job = m;
    return 0;
fail:
    mirror_free(m);
    return r;
}

int mirror_cancel(struct mirror_dev *md)
{
    if (!md->job || !running(md->job))
        return -ENOENT;
    atomic_store(&md->job->cancel, true);
    return 0;
}

void mirror_dev_stop(struct mirror_dev *md)
{
    if (!md->job)
        return;
    atomic_store(&md->job->cancel, true);
    pthread_join(md->job->thread, NULL);
    mirror_free(md->job);
    md->job = NULL;
}

struct json_object *mirror_status_json(struct mirror_dev *md)
{
    struct mirror *m = md->job;
    struct json_object *o;
    uint64_t end, copied, el;
    int p;

    if (!m)
        return NULL;
    p = atomic_load(&m->phase);
    end = atomic_load(&m->end_ns);
    copied = atomic_load(&m->copied);
    el = (end ? end : now_ns()) - atomic_load(&m->start_ns);
    o = json_object_new_object();
    json_object_object_add(o, "target", json_object_new_string(m->uri));
    json_object_object_add(o, "phase", json_object_new_string(phase_names[p]));
    json_object_object_add(o, "bytes_copied", json_object_new_int64((int64_t)copied));
    json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)atomic_load(&m->total)));
    json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)m->size));
    json_object_object_add(o, "dirty_bytes",
                           json_object_new_int64(running(m) ? (int64_t)(count_dirty(m) * MIRROR_BLOCK) : 0));
    json_object_object_add(o, "round", json_object_new_int((int)atomic_load(&m->round)));
    json_object_object_add(o, "elapsed_ms", json_object_new_int64((int64_t)(el / 1000000)));
    json_object_object_add(o, "rate_bytes_per_s",
                           json_object_new_int64(el ? (int64_t)((double)copied * 1e9 / (double)el) : 0));
    json_object_object_add(o, "error", p == PH_FAILED ? json_object_new_string(m->error) : NULL);
    return o;
}

/* ---- the datapath hooks ------------------------------------------------- */

static void sync_enqueue(struct mirror *m, struct mreq *q)
{
    q->next = NULL;
    pthread_mutex_lock(&m->q_lock);
    if (m->q_tail)
        m->q_tail->next = q;
    else
        m->q_head = q;
    m->q_tail = q;
    pthread_cond_signal(&m->q_cond);
    pthread_mutex_unlock(&m->q_lock);
}

/* Complete @q on this worker (its last part is done here). */
static void sync_complete_here(struct uloop_op *op, struct mreq *q, int res)
{
    struct mirror *m = q->m;

    op->cb = q->cb;
    atomic_fetch_sub(&m->sync_inflight, 1);
    op->cb(op, res, 0);
}

/* The source part of a synchronous request completed (worker). Sequential:
 * queue the target part for the mirror thread, or complete at once when
 * there is nothing to send (the source failed, or the mirror has).
 * Parallel: the target part went out already; a failed source part makes
 * the copies differ, which fails the mirror (never the guest). */
static void sync_source_done(struct uloop_op *op, int res, uint32_t flags)
{
    struct mreq *q = mreq_of(op);
    struct mirror *m = q->m;
    bool ok = q->kind == MR_WRITE ? res > 0 : res >= 0;

    (void)flags;
    q->res = res;
    if (q->parallel) {
        if (q->kind == MR_WRITE ? (uint64_t)res != q->len : res < 0)
            atomic_store(&m->diverged, true);
        if (atomic_fetch_sub(&q->pending, 1) == 1)
            sync_complete_here(op, q, res);
        return;
    }
    if (!ok || atomic_load(&m->remote_failed)) {
        sync_complete_here(op, q, res);
        return;
    }
    sync_enqueue(m, q);
}

/* Start a synchronous request: the source part now through the bdev (the
 * worker goes on with other work), the target part at once (synced) or
 * when the source part completed (sync: the last round still copies). */
static int sync_start(struct mirror *m, struct mirror_dev *md, struct uloop *loop, struct uloop_op *done,
                      enum mr_kind kind, const struct iovec *iov, unsigned iovcnt, uint64_t off,
                      uint64_t len, bool unmap)
{
    struct mreq *q = mreq_of(done);
    int r;

    *q = (struct mreq){ .m = m, .loop = loop, .cb = done->cb, .iov = iov, .iovcnt = iovcnt,
                        .off = off, .len = len, .kind = (uint8_t)kind,
                        .parallel = atomic_load(&m->phase) == PH_SYNCED };
    atomic_store(&q->pending, 2);
    atomic_fetch_add(&m->sync_inflight, 1);
    done->cb = sync_source_done;
    switch (kind) {
    case MR_WRITE:
        r = bdev_rw(md->bd, loop, done, true, iov, iovcnt, off);
        break;
    case MR_ZERO:
        r = bdev_write_zeroes(md->bd, loop, done, off, len, unmap);
        break;
    case MR_DISCARD:
        r = bdev_discard(md->bd, loop, done, off, len);
        break;
    default:
        r = bdev_flush(md->bd, loop, done);
        break;
    }
    if (r < 0) {
        done->cb = q->cb;
        atomic_fetch_sub(&m->sync_inflight, 1);
        return r;
    }
    /* After the submission: a source part the bdev completed at once
     * (uloop_post) still runs later, on this loop. */
    if (q->parallel)
        sync_enqueue(m, q);
    return 0;
}

/* How a mutating request goes while mirror @m is attached. Returns 1 when
 * it is to be done asynchronously and counted (*e is its epoch), 0 when
 * synchronously on both copies, 2 when only on the source (failed). */
static int classify(struct mirror *m, uint64_t off, uint64_t len, unsigned *e)
{
    int p;

    *e = epoch_enter(m->md);
    p = atomic_load(&m->phase);
    if (p < PH_SYNC && !atomic_load(&m->remote_failed)) {
        mark_dirty(m, off, len);
        return 1;
    }
    epoch_leave(m->md, *e);
    return p == PH_SYNC || p == PH_SYNCED ? (atomic_load(&m->remote_failed) ? 2 : 0) : 2;
}

static int io_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                 const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    struct mirror_dev *md = ctx;
    struct mirror *m = atomic_load_explicit(&md->active, memory_order_acquire);
    uint64_t len = 0;
    unsigned e;
    int r;

    if (likely(!m || !write))
        return bdev_rw(md->bd, loop, done, write, iov, iovcnt, offset);
    for (unsigned i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    switch (classify(m, offset, len, &e)) {
    case 0:
        return sync_start(m, md, loop, done, MR_WRITE, iov, iovcnt, offset, len, false);
    case 1:
        epoch_hook(done, md, e);
        r = bdev_rw(md->bd, loop, done, write, iov, iovcnt, offset);
        if (r < 0)
            epoch_unhook(done);
        return r;
    default:
        return bdev_rw(md->bd, loop, done, write, iov, iovcnt, offset);
    }
}

static int io_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    struct mirror_dev *md = ctx;
    struct mirror *m = atomic_load_explicit(&md->active, memory_order_acquire);

    if (unlikely(m != NULL) && m->can_flush && atomic_load(&m->phase) == PH_SYNCED &&
        !atomic_load(&m->remote_failed))
        return sync_start(m, md, loop, done, MR_FLUSH, NULL, 0, 0, 0, false);
    return bdev_flush(md->bd, loop, done);
}

static int zero_or_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                           uint64_t offset, uint64_t len, bool unmap, bool discard)
{
    struct mirror_dev *md = ctx;
    struct mirror *m = atomic_load_explicit(&md->active, memory_order_acquire);
    unsigned e;
    int r, how = m ? classify(m, offset, len, &e) : 2;

    if (how == 0)
        return sync_start(m, md, loop, done, discard ? MR_DISCARD : MR_ZERO, NULL, 0, offset, len, unmap);
    if (how == 1)
        epoch_hook(done, md, e);
    r = discard ? bdev_discard(md->bd, loop, done, offset, len)
                : bdev_write_zeroes(md->bd, loop, done, offset, len, unmap);
    if (r < 0 && how == 1)
        epoch_unhook(done);
    return r;
}

static int io_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len)
{
    return zero_or_discard(ctx, loop, done, offset, len, true, true);
}

static int io_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                           uint64_t offset, uint64_t len, bool unmap)
{
    return zero_or_discard(ctx, loop, done, offset, len, unmap, false);
}

const struct vblk_ops mirror_vblk_ops = {
    .rw = io_rw,
    .flush = io_flush,
    .discard = io_discard,
    .write_zeroes = io_write_zeroes,
};
