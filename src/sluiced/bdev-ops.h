/* SPDX-License-Identifier: Apache-2.0 */
/* The storage/ block engine behind the virtio-blk model: the one adapter
 * from struct bdev to struct vblk_ops, shared by sluiced and the tests. It
 * lives with the programs because vhost/ and storage/ may not know each
 * other (DESIGN.md: the device models get their I/O through ops tables). */
#ifndef SLUICED_BDEV_OPS_H
#define SLUICED_BDEV_OPS_H

#include "vhost/blk.h"

/* vblk ops whose io_ctx is a struct bdev * (storage/bdev.h); each call is
 * the bdev_* function of the same name, completing on the worker's uloop. */
extern const struct vblk_ops bdev_vblk_ops;

#endif
