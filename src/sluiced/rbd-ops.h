/* SPDX-License-Identifier: Apache-2.0 */
/* A Ceph RBD image behind the virtio-blk model, through librbd's
 * asynchronous C API (--blk rbd=POOL/IMAGE). It lives with sluiced, next to
 * bdev-ops.c, because it is the program's glue between librbd and
 * struct vblk_ops (vhost/ and storage/ may not know each other).
 *
 * Threads. Opening (rbd_disk_open) is called on sluiced's control thread
 * (command-line devices before "ready", and device.add). What waits for
 * the cluster (the connection, the pool's I/O context, rbd_open, the lock)
 * runs in a short-lived opener thread; the control thread waits for it at
 * most twice client_mount_timeout (that and rados_mon_op_timeout are 10 s
 * unless the ceph.conf sets them), then fails the open with -ETIMEDOUT and
 * leaves the opener to close whatever it still opens. OSD requests keep
 * librbd's default (no timeout: guest I/O waits out an OSD failover as on
 * a disk). Closing (the header's unwatch, rbd_close flushing librbd's cache,
 * the connection's shutdown) runs in a closer thread, so a cluster that
 * does not answer holds up only that image's next open and sluiced's exit,
 * not the control thread. The I/O
 * calls run on the queue's worker and never block: librbd queues them and
 * calls back on its own threads (its finisher), which only hand the
 * request's op to the worker with uloop_post_remote() (a lock-free list
 * and the worker's eventfd, read on its io_uring): the request's status
 * is written and the guest told on the worker, as for file I/O. Nothing is
 * allocated per request on our side (rbd_aio_create_completion is
 * librbd's; the request's state lives in struct vblk_io's priv). A header
 * update (a resize on any host) reaches the control loop through an
 * eventfd the watch callback writes. */
#ifndef SLUICED_RBD_OPS_H
#define SLUICED_RBD_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "vhost/blk.h"

struct rbd_disk;

/* What to open. @pool and @image are required; @conf (NULL: librados's
 * default search, $CEPH_CONF then /etc/ceph/ceph.conf) and @id (NULL:
 * "admin") name the cluster and the cephx user. */
struct rbd_disk_spec {
    const char *pool, *image, *conf, *id;
    const char *snap;      /* NULL, or a snapshot: opened read-only at it */
    bool readonly;
    /* Take the image's exclusive lock at open and keep it until close
     * (rbd_lock_acquire): another client's writes fail instead of taking
     * the lock over. false: librbd's default, the lock goes cooperatively
     * to whichever client writes. */
    bool exclusive;
};

/* Parse "POOL/IMAGE" into @pool and @image (both at most 127 bytes, not
 * empty, no further '/' or '@'). Returns 0 or -EINVAL. */
int rbd_parse_name(const char *s, char pool[128], char image[128]);

/* Parse the target of an rbd pool's volume as pool_volume_resolve() gives
 * it (storage/pool.h: "rbd:POOL/IMAGE[@SNAP][:conf=PATH][:id=USER]") into
 * @out, whose strings then point into @buf (@len bytes, the target's
 * length at least). Returns 0, -ENOENT (not an "rbd:" target) or -EINVAL. */
int rbd_parse_target(const char *target, char *buf, size_t len, struct rbd_disk_spec *out);

/* Open @spec's image: connect (one connection per (conf, id) per process,
 * shared by the devices and dropped with the last of them), open the image
 * (read-only: rbd_open_read_only) and watch its header, waiting at most
 * twice client_mount_timeout (see Threads above). @on_change(@arg)
 * runs on @el's thread after the image's header changed (e.g. resized by
 * `rbd resize` on any host); it re-reads the size with rbd_disk_size().
 * Returns 0, or -errno with @err saying why in one line (-ETIMEDOUT: the
 * cluster did not answer in time; -ENOENT: no such pool or image;
 * -EPERM/-EACCES: refused by cephx; -EBUSY: @exclusive and another client
 * holds the lock in that mode; -EOPNOTSUPP: @exclusive on an image without
 * the exclusive-lock feature). */
int rbd_disk_open(const struct rbd_disk_spec *spec, struct evloop *el,
                  void (*on_change)(void *arg), void *arg, struct rbd_disk **out,
                  struct sl_err *err);
/* Close and drop the connection when it was the last, in a closer thread
 * (rbd_close flushes librbd's cache and waits for the cluster): returns at
 * once. A later open of the same image waits (in its opener) until the
 * close is done. NULL-safe. Call after the device's queues stopped. */
void rbd_disk_close(struct rbd_disk *d);
/* Wait until every close has ended (at exit: what librbd still caches is
 * flushed before the process ends). */
void rbd_disk_close_wait(void);
/* The image's size in bytes, re-read. Returns 0 or -errno. */
int rbd_disk_size(struct rbd_disk *d, uint64_t *size);

/* vblk ops whose io_ctx is a struct rbd_disk *. */
extern const struct vblk_ops rbd_vblk_ops;

#endif
