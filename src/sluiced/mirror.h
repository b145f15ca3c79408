/* SPDX-License-Identifier: Apache-2.0 */
/* Storage migration, the source's half: mirror a served block device to an
 * NBD export (another sluiced's incoming device, qemu-nbd, nbdkit) while the
 * guest runs, through libnbd as the client.
 *
 * Phases: connecting, copy, catch-up, sync (turning synchronous), synced;
 * or failed, cancelled (the job has stopped, the source is as it was), or
 * completed: synced, the target closed the connection with nothing in
 * flight while this device's frontend ran no queue (the switch-over of a
 * migration: a destination sluiced ends its export when its own frontend
 * starts). The same close while the frontend runs is a failure.
 *
 * Every block device on a file or volume does its I/O through
 * mirror_vblk_ops, which passes straight to the bdev (one atomic load) while
 * no mirror runs. While one runs:
 *   copy      the whole volume once: data as NBD_CMD_WRITE, holes
 *             (SEEK_DATA/SEEK_HOLE) and blocks that read as zero as
 *             NBD_CMD_WRITE_ZEROES, so a thin target stays thin; up to 8
 *             chunks of 1 MiB in flight (a buffer each: 8 MiB per job),
 *             all answered before the next round starts (NBD does not
 *             order overlapping requests);
 *   catch-up  rounds re-copy the 64 KiB blocks the guest wrote meanwhile (a
 *             dirty bitmap set by the write path);
 *   synced    each guest write, discard and flush is done on the source and
 *             on the target before it completes, so both copies stay
 *             identical: the worker does the source part through the bdev
 *             (io_uring) and goes on with its other devices; the mirror
 *             thread sends the target part (in phase sync, while the last
 *             round copies, only once the source part completed; once
 *             synced at the same time, pipelined) and the request
 *             completes back on its worker (uloop_post_remote) when both
 *             are done. The request's state lives in its own struct
 *             vblk_io: nothing is allocated. A guest that writes faster
 *             than the link is slowed to it.
 * Every target request is waited for at most the job's timeout: a target
 * that stops answering without closing the connection fails the mirror
 * then, and the guest requests waiting for it complete with the source's
 * result.
 * A block is only read for copying once every write to it that started
 * before the round has completed (a per-device epoch counter of in-flight writes,
 * counted through the write's own completion op: no allocation).
 * Failures (target gone, I/O error on it) stop the mirror and leave the
 * source as it is: the guest never sees an error from the target. */
#ifndef SLUICED_MIRROR_H
#define SLUICED_MIRROR_H

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/uloop.h"
#include "vhost/blk.h"

#define MIRROR_BLOCK (64u << 10)   /* dirty-bitmap granularity */
#define MIRROR_TIMEOUT_MS_DEFAULT 30000u   /* a target request unanswered this long fails the mirror */

struct mirror;
struct bdev;

/* Per device, embedded in it; the io_ctx of mirror_vblk_ops. */
struct mirror_dev {
    const char *id;                    /* for log messages */
    struct bdev *bd;
    struct uloop *const *loops;        /* the workers (a barrier on detach) */
    unsigned nloops;
    struct mirror *_Atomic active;     /* the datapath's view; NULL: none */
    struct mirror *job;                /* the last job (control thread) */
    /* Asynchronous writes in flight while a mirror copies, counted by
     * epoch (mirror.c): a round waits only for this device's writes. */
    atomic_uint epoch;
    atomic_long inflight[2];
    _Atomic unsigned frontend_queues;  /* queues the device's frontend runs
                                        * (devices.c counts them) */
};

/* vblk ops whose io_ctx is a struct mirror_dev * (on a bdev). */
extern const struct vblk_ops mirror_vblk_ops;

/* Is @uri an NBD URI this accepts (nbd://HOST[:PORT]/NAME or
 * nbd+unix:///NAME?socket=PATH)? Returns 0 or -EINVAL with @err. */
int mirror_uri_check(const char *uri, struct sl_err *err);

/* Start mirroring to @uri (control thread). The job's own thread connects
 * and checks the target (a connect may take long: the control thread does
 * not wait for it); an unreachable, too small or read-only target shows as
 * phase "failed" with its reason in the status. @timeout_ms: how long a
 * target request may stay unanswered (0: MIRROR_TIMEOUT_MS_DEFAULT). Returns 0, -EINVAL (bad
 * URI), -EBUSY (a mirror runs) or -ENOMEM, with @err saying why; on
 * failure nothing changed. */
int mirror_start(struct mirror_dev *md, const char *uri, unsigned timeout_ms, struct sl_err *err);
/* Ask the running mirror to stop; the source is left as it is. Returns 0
 * or -ENOENT (none runs). */
int mirror_cancel(struct mirror_dev *md);
/* {"phase", "bytes_copied", "bytes_total", "rate_bytes_per_s", ...} of the
 * last mirror, or NULL when there was none. */
struct json_object *mirror_status_json(struct mirror_dev *md);
/* Whether a mirror of @md runs (any phase but failed, cancelled, completed;
 * control thread). */
bool mirror_running(const struct mirror_dev *md);
/* Stop any mirror and wait for it (device removal). */
void mirror_dev_stop(struct mirror_dev *md);

#endif
