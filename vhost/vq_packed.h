/* SPDX-License-Identifier: Apache-2.0 */
/* Private to vhost/: the packed virtqueue format (virtio 1.2 section 2.8)
 * behind the vq API of vhost/vq.h. vq.c dispatches to these when
 * vq->packed is set; device models never see the ring format. */
#ifndef SLUICE_VHOST_VQ_PACKED_H
#define SLUICE_VHOST_VQ_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "vq-int.h"

/* Map the descriptor ring (desc_uva), the driver event area (avail_uva) and
 * the device event area (used_uva), and take the ring position from
 * vq->base (vhost-user packed encoding), or, with an initialised packed
 * inflight region (vq->ifl_packed), from the region, whose chains in
 * flight are then resubmitted first. Control thread, queue stopped.
 * Returns 0, -EINVAL (bad alignment or base, a split-layout region, a
 * malformed inflight region: logged), -EFAULT (not in guest memory) or
 * -ENOMEM. */
int vq_packed_start(struct vq *vq);
/* The position to report as GET_VRING_BASE (bits 0-14 next available slot,
 * 15 its wrap counter, 16-30 next used slot, 31 its wrap counter). */
uint32_t vq_packed_base(const struct vq *vq);
/* Free the packed state (queue stopped). NULL-safe. */
void vq_packed_free(struct vq *vq);

/* Worker: as vq_pop/vq_push/vq_unpop of vhost/vq.h. */
int vq_packed_pop(struct vq *vq, struct vq_elem *e, unsigned max_iov);
void vq_packed_push(struct vq *vq, uint16_t id, uint32_t len);
void vq_packed_unpop(struct vq *vq, unsigned n);
/* Worker: completions were written since the last call; true when the
 * driver asked for a used buffer notification for them. */
bool vq_packed_flush(struct vq *vq);
/* Worker: ask for (true) or suppress (false) available buffer
 * notifications (kicks) through the device event area. For a poller: after
 * turning kicks back on, a full barrier, then vq_packed_avail() once more. */
void vq_packed_set_kicks(struct vq *vq, bool on);
/* Worker: true when the driver has made the next chain available (what a
 * poller checks instead of the split ring's avail->idx). */
bool vq_packed_avail(const struct vq *vq);

/* Shared with the split ring: append guest buffer [@addr, +@len) to @e as
 * iovecs (device-writable when @write). Returns 0, -EINVAL (outside guest
 * memory) or -E2BIG (more than @max_iov); sets *@why on error. */
int vq_elem_map(struct vq *vq, struct vq_elem *e, unsigned max_iov, uint64_t addr,
                uint32_t len, bool write, const char **why);

#endif
