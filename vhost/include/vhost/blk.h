/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk device model (virtio 1.2 section 5.2) on top of the vhost-user
 * backend. Block I/O goes through struct vblk_ops, which the program fills
 * from storage/; this code never opens a file. */
#ifndef SLUICE_VHOST_BLK_H
#define SLUICE_VHOST_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/tbucket.h"
#include "core/uloop.h"
#include "vhost/backend.h"

/* Room an I/O layer may use for one request without allocating: @done of
 * every vblk_ops call is the op of one of these (container_of(done, struct
 * vblk_io, op)); priv belongs to the layer from the call until it runs
 * @done->cb (e.g. a mirror that completes the request from another thread
 * keeps the request's state and list link there). */
#define VBLK_IO_PRIV_BYTES 96u
struct vblk_io {
    struct uloop_op op;
    _Alignas(8) unsigned char priv[VBLK_IO_PRIV_BYTES];
};

/* Block I/O entry points. Each starts one operation on @loop (the queue's
 * worker) and arranges for @done->cb to run there later with the result:
 * bytes transferred (rw) or 0 (others) on success, -errno on failure. They
 * return 0 when started, or -errno when nothing was started (then @done is not
 * called). @ctx is vblk_config.io_ctx. @done is embedded in a struct
 * vblk_io (above). */
struct vblk_ops {
    /* Read (write=false) or write @iovcnt buffers at byte @offset. Required. */
    int (*rw)(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
              const struct iovec *iov, unsigned iovcnt, uint64_t offset);
    /* Make completed writes durable. Required. */
    int (*flush)(void *ctx, struct uloop *loop, struct uloop_op *done);
    /* Deallocate [offset, offset+len). NULL: DISCARD not offered. */
    int (*discard)(void *ctx, struct uloop *loop, struct uloop_op *done,
                   uint64_t offset, uint64_t len);
    /* Zero [offset, offset+len), deallocating when @unmap. NULL: not offered. */
    int (*write_zeroes)(void *ctx, struct uloop *loop, struct uloop_op *done,
                        uint64_t offset, uint64_t len, bool unmap);
};

struct vblk_config {
    uint64_t capacity;        /* bytes; a multiple of 512 */
    uint32_t blk_size;        /* logical block size reported to the guest */
    bool readonly;
    unsigned num_queues;
    const char *serial;       /* GET_ID string, up to 20 bytes; may be NULL */
    const struct vblk_ops *io;
    void *io_ctx;
    bool no_poll;             /* never poll the queues (poll=off): the worker
                               * waits for the guest's kicks only */
    struct tb_limiter *limiter;  /* I/O limits (core/tbucket.h), borrowed: must
                               * outlive the device; shared (tb_limiter_create())
                               * when another device or a queue on another
                               * worker takes from it too. NULL: never limited */
};

/* Per-device statistics, summed over queues on request. */
#define VBLK_LAT_BUCKETS 32

struct vblk_stats {
    uint64_t reads, writes, flushes, discards, write_zeroes, other;
    uint64_t bytes_read, bytes_written;
    uint64_t errors;
    /* I/O limits: time some request waited for tokens (ns), and the
     * requests waiting now. */
    uint64_t throttled_ns, waiting;
    /* Completion latency (request taken from the ring to status written,
     * the wait for tokens included):
     * bucket 0 counts requests under 1 us, bucket k > 0 those in
     * [2^(k-1), 2^k) us; the last bucket takes everything longer. */
    uint64_t lat_us[VBLK_LAT_BUCKETS];
};

struct vblk;

/* Supported limits, exposed for tests. */
#define VBLK_SEG_MAX        126u
#define VBLK_MAX_DISCARD_SEG 1u

/* Build the device; @vcfg supplies the program's part (name, socket, loops,
 * packed); the model's part (ops, state, features, queues) is filled in here
 * (vu_dev_create_model()). The struct vblk lives inside its vu_dev
 * (vu_dev_priv()): the device is served, queried (vu_dev_features()) and
 * destroyed (vu_dev_destroy()) through vblk_vu_dev(). Returns 0, -EINVAL or
 * -ENOMEM. */
int vblk_create(const struct vblk_config *cfg, const struct vu_dev_config *vcfg,
                struct vblk **out);
struct vu_dev *vblk_vu_dev(struct vblk *b);

/* Capacity in bytes. */
uint64_t vblk_capacity(const struct vblk *b);
void vblk_stats(const struct vblk *b, struct vblk_stats *out);

/* The limiter's limits changed (tb_limiter_set()): each queue looks at its
 * waiting requests again now, on its worker, rather than at its next timeout.
 * Control thread. */
void vblk_limits_changed(struct vblk *b);

/* Change the capacity (volume resized); tells the frontend when connected. */
int vblk_set_capacity(struct vblk *b, uint64_t capacity);

#endif
