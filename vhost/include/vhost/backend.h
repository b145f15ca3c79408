/* SPDX-License-Identifier: Apache-2.0 */
/* The backend half of vhost-user: one struct vu_dev per device socket. It
 * owns the socket, the guest memory map and the virtqueues, and runs each
 * queue on one of the worker loops it is given. The device model (virtio-blk,
 * virtio-net) plugs in through struct vu_dev_ops.
 *
 * Event loop: the program owns it. It watches vu_dev_listen_fd() and calls
 * vu_dev_accept(), then watches vu_dev_conn_fd() and calls vu_dev_process(),
 * and vu_dev_timer_fd() and calls vu_dev_timeout(); when either fails it
 * calls vu_dev_disconnect() and the device listens again. Nothing here ever
 * waits on the frontend: messages are read in pieces as they arrive, replies
 * and backend-channel messages are sent without waiting, so one stalled
 * frontend never delays another device on the same loop. */
#ifndef SLUICE_VHOST_BACKEND_H
#define SLUICE_VHOST_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/uloop.h"
#include "vhost/proto.h"
#include "vhost/vq.h"

struct vu_dev;

/* A queue starts (@running, just before the backend serves it) or stops
 * (after its last request completed); control thread. */
typedef void (*vu_queue_cb)(void *arg, unsigned index, bool running);

/* What a device model does, functions only: each model has one static
 * const table; what differs per device (features, queues) is data in
 * struct vu_dev_config. */
struct vu_dev_ops {
    /* Copy @len bytes of config space from @offset into @buf. NULL: the
     * device has no config space. Returns 0 or -errno. Control thread. */
    int (*get_config)(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len);
    /* Write config space. NULL: read-only config. Returns 0 or -errno. */
    int (*set_config)(void *ctx, uint32_t offset, const uint8_t *buf, uint32_t len);
    /* Prepare @vq before it starts: set vq->handle (required) and vq->priv
     * (fields of the private vhost/vq-int.h: device models live in vhost/),
     * allocate per-queue state. @features are the negotiated ones. Control
     * thread, queue stopped. Returns 0 or -errno (the queue stays stopped). */
    int (*queue_init)(void *ctx, struct vq *vq, uint64_t features);
    /* The queue stopped and drained: free what queue_init allocated.
     * NULL-able. Control thread. */
    void (*queue_fini)(void *ctx, struct vq *vq);
    /* SEND_RARP (a migration completed): announce @mac on the device's
     * network so switches learn its new port. NULL: not offered. Returns 0
     * or -errno. Control thread. */
    int (*send_rarp)(void *ctx, const uint8_t mac[6]);
};

/* A device: the program chooses the first group; a device model
 * (vblk_create(), vnet_create(): struct vu_model, vu_dev_create_model())
 * fills in the second, or a program that brings its own ops does. */
struct vu_dev_config {
    const char *name;            /* for logs; copied */
    const char *socket_path;     /* copied; NULL for vu_dev_attach() only */
    struct uloop **loops;        /* worker loops; borrowed */
    unsigned nloops;
    unsigned first_loop;         /* queue i runs on loops[(first_loop+i)%nloops] */
    unsigned msg_timeout_ms;     /* a message must arrive whole within this
                                  * time of its first byte; 0: VU_MSG_TIMEOUT_MS */
    bool packed;                 /* offer VIRTIO_F_RING_PACKED (inflight
                                  * tracking then in the packed layout) */
    vu_queue_cb on_queue;        /* NULL-able: told each start and stop of
                                  * a queue (memory-table restarts too) */
    void *on_queue_arg;

    const struct vu_dev_ops *ops;  /* required, with queue_init */
    void *ctx;                   /* passed to every op; NULL with priv_size */
    size_t priv_size;            /* bytes of device-model state allocated
                                  * (zeroed) with the device and freed by
                                  * vu_dev_destroy(): vu_dev_priv(), and the
                                  * ctx of every op */
    /* Virtio feature bits the device offers, transport bits included
     * (VERSION_1, RING_INDIRECT_DESC, RING_EVENT_IDX). */
    uint64_t features;
    /* Device-specific protocol features (e.g. CONFIG), in addition to the
     * generic ones the backend always offers. */
    uint64_t protocol_features;
    unsigned num_queues;         /* 1..VU_MAX_QUEUES */
    unsigned queue_num_reply;    /* GET_QUEUE_NUM answer; 0: num_queues
                                  * (virtio-net answers queue pairs) */
};

#define VU_MAX_QUEUES 64
#define VU_MSG_TIMEOUT_MS 5000

/* Returns 0, -EINVAL (bad config) or -ENOMEM. */
int vu_dev_create(const struct vu_dev_config *cfg, struct vu_dev **out);

/* What a device model (vhost/blk.c, vhost/net.c) decides of a device: the
 * second group of struct vu_dev_config, same meanings. Its state is always
 * allocated with the device (priv_size bytes, the ctx of every op). */
struct vu_model {
    const struct vu_dev_ops *ops;  /* required, with queue_init */
    size_t priv_size;
    uint64_t features;
    uint64_t protocol_features;
    unsigned num_queues;
    unsigned queue_num_reply;
};
/* For device models: create a device from the program's part of @prog
 * (name .. on_queue_arg; its model part is ignored) and the model's part @m.
 * Its state is vu_dev_priv(*@out). Returns as vu_dev_create(). */
int vu_dev_create_model(const struct vu_dev_config *prog, const struct vu_model *m,
                        struct vu_dev **out);

/* Disconnects (the ops see their queues stop), removes the socket file
 * (unless another process listens there now: usock_close()), frees the
 * device with its private area: for a device model's device (vblk, vnet)
 * the model's state too, so this is also how those are destroyed.
 * NULL-safe. */
void vu_dev_destroy(struct vu_dev *dev);
/* The device model's state (vu_dev_config.priv_size bytes), or NULL. */
void *vu_dev_priv(struct vu_dev *dev);
/* The virtio feature bits the device offers (vu_dev_config.features). */
uint64_t vu_dev_features(const struct vu_dev *dev);

/* Create the listening socket (mode 0600; a stale socket file is replaced)
 * with usock_listen(). Returns 0 or -errno: -EADDRINUSE when a process
 * listens on the path, -ENOTSOCK when the path is not a socket (both leave
 * the path alone), -EINVAL without a socket path. */
int vu_dev_listen(struct vu_dev *dev);
int vu_dev_listen_fd(const struct vu_dev *dev);

/* Accept a pending frontend. Returns the connection fd, -EBUSY when one is
 * already attached (the new connection is refused and closed), or -errno. */
int vu_dev_accept(struct vu_dev *dev);
/* Use an already-connected socket (e.g. one end of a socketpair). Takes the
 * fd on success (and makes it non-blocking). Returns 0, -EBUSY or -errno
 * (no timer fd); on failure the caller still owns @fd. */
int vu_dev_attach(struct vu_dev *dev, int fd);
/* The connection fd, or -1. */
int vu_dev_conn_fd(const struct vu_dev *dev);
/* The connection's message timer (a timerfd, readable when a message has
 * been arriving for longer than msg_timeout_ms), or -1. */
int vu_dev_timer_fd(const struct vu_dev *dev);

/* Read what has arrived and handle the message once it is whole (one per
 * call). Never waits. Returns 0 (handled, or more bytes to come), or -errno
 * when the connection must be dropped (EOF, protocol violation, I/O error, a
 * frontend that does not read its replies). Errors that only concern one
 * message are answered (REPLY_ACK) and logged, and return 0. */
int vu_dev_process(struct vu_dev *dev);
/* The timer fd became readable: returns -ETIMEDOUT (logged) when a message
 * is overdue and the connection must be dropped, else 0. */
int vu_dev_timeout(struct vu_dev *dev);

/* Stop every queue (waiting for in-flight requests), unmap guest memory,
 * close the connection and forget negotiated state. NULL-safe. */
void vu_dev_disconnect(struct vu_dev *dev);

/* True once a guest error stopped a queue, until the frontend resets. */
bool vu_dev_broken(const struct vu_dev *dev);
const char *vu_dev_name(const struct vu_dev *dev);

/* Ask the frontend to re-read the config space (CONFIG_CHANGE_MSG on the
 * backend request channel), without waiting: a frontend whose channel is
 * full loses the notification (logged); one whose channel broke (partial
 * send, peer gone) loses the channel (logged, closed). Returns 0, -ENOTCONN
 * (no channel) or -errno. */
int vu_dev_config_changed(struct vu_dev *dev);

/* Queue access for statistics (control thread): vq_stats(), vq_is_packed(). */
unsigned vu_dev_num_queues(const struct vu_dev *dev);
const struct vq *vu_dev_queue(const struct vu_dev *dev, unsigned i);

#endif
