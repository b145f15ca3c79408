/* SPDX-License-Identifier: Apache-2.0 */
/* Split virtqueues (virtio 1.2 section 2.7) on the device side, run on a
 * uloop worker: descriptor-chain walking with every guest value validated,
 * used-ring publication batched per loop iteration, EVENT_IDX notification
 * suppression, kick eventfd reads and call eventfd writes through io_uring,
 * and inflight tracking in a shared region (vhost-user INFLIGHT_SHMFD).
 *
 * struct vq is opaque outside vhost/: its fields are in the private header
 * vhost/vq-int.h, used by the device models in vhost/ (and tests); programs
 * read a queue through vq_stats() and vq_is_packed(). */
#ifndef SLUICE_VHOST_VQ_H
#define SLUICE_VHOST_VQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/uloop.h"
#include "vhost/proto.h"

struct vu_mem;   /* guest memory map, private to vhost/ (mem.h) */
struct vu_log;   /* migration dirty log, private to vhost/ (log.h) */

#define VQ_MAX_SIZE 1024u

struct vq;   /* opaque: vhost/vq-int.h */

/* One popped descriptor chain: out_num device-readable iovecs followed by
 * in_num device-writable ones, all pointing into mapped guest memory. */
struct vq_elem {
    uint16_t head;
    uint16_t out_num;
    uint16_t in_num;
    struct iovec *iov;
};

/* Called on the worker when the queue has work (kick, enable, start). */
typedef void (*vq_handle_cb)(struct vq *vq);
/* Called on the worker when the queue was found broken by a guest error. */
typedef void (*vq_broken_cb)(struct vq *vq);
/* Called on the worker when a stop begins, before in-flight chains are
 * awaited: the device cancels what it started on its own and gives back
 * chains it holds unused (vq_unpop). */
typedef void (*vq_stop_cb)(struct vq *vq);

/* Layout of one queue's part of the inflight region (split rings), as the
 * vhost-user specification describes it. */
struct vq_inflight_desc {
    uint8_t inflight;
    uint8_t padding[5];
    uint16_t next;
    uint64_t counter;
};
struct vq_inflight_region {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t last_batch_head;
    uint16_t used_idx;
    struct vq_inflight_desc desc[];
};
/* Bytes one queue of @num entries uses in the inflight region. */
uint64_t vq_inflight_queue_size(uint16_t num);

/* The packed-ring layout of one queue's part of the inflight region (the
 * vhost-user specification's DescStatePacked / QueueRegionPacked): one
 * entry per ring descriptor taken, linked in a free list; a chain's entries
 * are its head's @num entries along @next, the last one @last. @old_* is
 * the state at the last completed update: a restarted backend commits or
 * rolls back to it (vhost/vq_packed.c). */
struct vq_inflight_desc_packed {
    uint8_t inflight;      /* head entry: taken, not yet used */
    uint8_t padding;
    uint16_t next;         /* next free entry / next entry of the chain */
    uint16_t last;         /* head entry: the chain's last entry */
    uint16_t num;          /* head entry: ring descriptors in the chain */
    uint64_t counter;      /* head entry: order of taking */
    uint16_t id;           /* copy of the ring descriptor */
    uint16_t flags;
    uint32_t len;
    uint64_t addr;
};
struct vq_inflight_region_packed {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t free_head;
    uint16_t old_free_head;
    uint16_t used_idx;
    uint16_t old_used_idx;
    uint8_t used_wrap_counter;
    uint8_t old_used_wrap_counter;
    uint8_t padding[7];
    struct vq_inflight_desc_packed desc[];
};
/* Bytes one packed queue of @num entries uses in the inflight region. */
uint64_t vq_inflight_packed_queue_size(uint16_t num);

/* A queue's counters since it was created. */
struct vq_stats {
    uint64_t kicks;       /* guest kicks read */
    uint64_t notifies;    /* guest interrupts sent (call eventfd writes) */
    uint64_t elems;       /* chains taken */
};

/* Fill @out with @vq's counters (control thread: racy reads of counters
 * the worker owns, fine for statistics). */
void vq_stats(const struct vq *vq, struct vq_stats *out);
/* The ring format the queue last started with: true for a packed ring
 * (VIRTIO_F_RING_PACKED), false for a split one or a queue never started. */
bool vq_is_packed(const struct vq *vq);


/* Initialise a queue's fields (no allocation). */
void vq_init(struct vq *vq, unsigned index);

/* Start the queue on its loop (control thread). Translates the ring
 * addresses, reads the used index, applies inflight state, arms the kick
 * read and runs the handler once. Returns 0, -EFAULT (ring not in guest
 * memory), -EINVAL (bad size/alignment) or -ENOMEM. */
int vq_start(struct vq *vq);

/* Stop the queue (control thread): no new chains are popped, the kick read is
 * cancelled, and the call waits until every popped chain was pushed. Then
 * vq->last_avail_idx is the base to report. NULL-safe on a stopped queue. */
void vq_stop(struct vq *vq);

/* Apply SET_VRING_ENABLE or a new call fd to a running queue (control
 * thread). The old call fd is closed. */
void vq_set_enabled(struct vq *vq, bool enabled);
void vq_set_call_fd(struct vq *vq, int fd);

/* Worker: take the next chain. Returns 1 with @e filled, 0 when the ring is
 * empty, or -EINVAL when the guest broke the ring (the queue is then marked
 * broken and must not be used until reset). @max_iov is @e->iov's capacity;
 * a chain needing more gives -E2BIG (also breaks the queue). */
int vq_pop(struct vq *vq, struct vq_elem *e, unsigned max_iov);

/* Worker: return a chain to the guest with @len bytes written. The used index
 * is published and the guest notified once per loop iteration. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);

/* Worker, from the handler: stop taking chains for now. Once the loop has
 * run the completions posted so far, the used ring is published (the guest
 * signalled as usual), then the handler runs again. */
void vq_yield(struct vq *vq);

/* Worker: the device model started an operation of its own that refers to
 * the queue (e.g. a timer): a stop waits until vq_release() says it ended.
 * Counted, one vq_release() per vq_hold(). */
void vq_hold(struct vq *vq);
void vq_release(struct vq *vq);

/* Worker: give back the last @n popped chains, unused (they were taken from
 * the avail ring in order and are the most recent pops): they will be popped
 * again. */
void vq_unpop(struct vq *vq, unsigned n);

/* Worker: mark the queue broken (logs @why, rate-limited; signals err fd). */
void vq_set_broken(struct vq *vq, const char *why);

/* iovec helpers used by device models. */
size_t iov_size(const struct iovec *iov, unsigned n);
/* Copy up to @len bytes from the iovecs starting at byte @off into @buf;
 * returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Drop @bytes from the front of the array (adjusting in place); returns the
 * new count (iovecs fully consumed are removed by advancing *iov). */
unsigned iov_discard_front(struct iovec **iov, unsigned n, size_t bytes);
/* Drop @bytes from the back; returns the new count. */
unsigned iov_discard_back(struct iovec *iov, unsigned n, size_t bytes);

#endif
