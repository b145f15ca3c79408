/* SPDX-License-Identifier: Apache-2.0 */
/* Private to vhost/ (and tests that reach below the public API): the fields
 * of struct vq, which the device models and the backend use directly on the
 * datapath. Outside vhost/, struct vq is opaque (vhost/vq.h).
 *
 * Threading: fields under "config" are written by the control thread only
 * while the queue is stopped; everything else belongs to the worker loop. */
#ifndef SLUICE_VHOST_VQ_INT_H
#define SLUICE_VHOST_VQ_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/uloop.h"
#include "vhost/proto.h"
#include "vhost/vq.h"

struct vq {
    /* config (control thread, queue stopped) */
    unsigned index;
    uint16_t num;
    uint64_t desc_uva, avail_uva, used_uva;
    bool addr_set;
    /* SET/GET_VRING_BASE: split rings the next avail index (bits 0-15);
     * packed rings the vhost-user packed encoding (next available slot
     * and its wrap counter in bits 0-15, next used slot and its wrap
     * counter in bits 16-31). */
    uint32_t base;
    int kick_fd, call_fd, err_fd;
    bool enabled;          /* SET_VRING_ENABLE state */
    bool kicked;           /* SET_VRING_KICK received: ring started */
    bool event_idx, indirect;
    bool packed;           /* VIRTIO_F_RING_PACKED: a packed ring (virtio 1.2 section
                            * 2.8) behind the same API, run by vhost/vq_packed.c;
                            * desc/avail/used_uva are then the descriptor ring,
                            * driver and device event areas */
    const struct vu_mem *mem;
    const struct vu_log *log;  /* dirty log while migrating (LOG_ALL), else NULL */
    struct vq_inflight_region *ifl;                /* split layout, or NULL */
    struct vq_inflight_region_packed *ifl_packed;  /* packed layout, or NULL */
    uint16_t ifl_num;      /* ring entries the inflight region was sized for
                            * (its queue_size): a larger ring is refused */
    struct uloop *loop;
    vq_handle_cb handle;
    vq_broken_cb on_broken;
    vq_stop_cb on_stop;        /* NULL-able */
    const volatile bool *dev_broken;  /* the device's flag; NULL-able */
    void *priv;
    bool poll;             /* poll the avail ring from the worker loop
                            * (set by the device model in queue_init) */
    bool call_nonblock;    /* call_fd is O_NONBLOCK: signal with write(2) */

    /* runtime (worker) */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t last_avail_idx;
    uint16_t used_idx;         /* next used slot (published lazily) */
    uint16_t published_idx;    /* what used->idx holds */
    uint16_t signalled_used;
    bool signalled_valid;
    bool running, stopping, broken;
    unsigned inuse;            /* popped, not yet pushed */
    uint64_t ifl_counter;
    uint16_t *resubmit;        /* heads to hand out again after reconnect
                                * (packed rings: inflight head entries) */
    unsigned resubmit_n, resubmit_pos;
    bool kick_armed;
    unsigned calls_inflight;   /* call eventfd writes not completed yet */
    unsigned holds;            /* vq_hold() without vq_release() yet */
    uint64_t kick_buf;
    struct uloop_op kick_op;
    struct uloop_op call_op;
    struct uloop_defer flush_defer;
    bool rerun;                /* vq_yield(): handler again after the flush */
    struct completion *stopped;
    struct uloop_poller poller;
    bool notify_off;           /* guest kicks suppressed while polled */
    bool active;           /* the driver used the ring lately (a kick, or
                            * chains found since): only an active ring is
                            * polled; an idle one is read on its next kick.
                            * Firmware leaves idle rings behind in memory
                            * the OS reuses before it resets the device. */
    struct vq_stats stats;
    struct vq_packed *pk;      /* packed ring state (vhost/vq_packed.c) */
};

#endif
