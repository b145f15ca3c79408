/* SPDX-License-Identifier: Apache-2.0 */
/* Test harness: a virtio-blk device (vblk over a real bdev on a temporary
 * file, or over test ops) attached to one end of a socketpair, and a minimal
 * vhost-user frontend on the other end driven from the test thread. The test
 * thread is also the backend's control thread: h_send() writes a message and
 * then runs vu_dev_process() once. Queues run on real uloop workers. */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/uloop.h"
#include "guest.h"
#include "storage/bdev.h"
#include "vhost/backend.h"
#include "vhost/blk.h"
#include "msg.h"         /* vhost/ private */
#include "vq-int.h"      /* vhost/ private: struct vq */

#define H_GUEST_SIZE (2u << 20)         /* two regions of 1 MiB */
#define H_GPA0 0x0ull
#define H_UVA0 0x7f4400000000ull
#define H_UVA_GAP 0x100000000ull       /* uva distance of the second region */
#define H_QNUM 128
#define H_FILE_SEED 0x5eed

struct h_opts {
    uint64_t size;                 /* backing file bytes (default 1 MiB) */
    bool readonly;
    unsigned num_queues;           /* default 1 */
    const char *serial;
    const struct vblk_ops *io;     /* default: the bdev engine */
    void *io_ctx;
    const char *guest_name;        /* memfd name (default "sluice-test-guest") */
    bool packed;                   /* offer VIRTIO_F_RING_PACKED */
    bool no_poll;                  /* the device never polls its queues */
    struct tb_limiter *limiter;    /* I/O limits (NULL: none) */
};

struct h_dev {
    struct vblk *blk;
    struct vu_dev *dev;
    struct bdev *bd;
    char path[256];
    uint64_t size;
    int sock;                      /* the frontend's end */
    struct guest g;
    struct tring r;
    uint64_t scratch;              /* allocator mark after the ring */
    int kick, call;
    uint64_t features;             /* negotiated */
    uint16_t used_seen;
};

/* Create a device on @loops; every step asserts. */
void h_create(struct h_dev *h, struct uloop **loops, unsigned nloops, const struct h_opts *o);
void h_destroy(struct h_dev *h);
/* Drop the connection (backend side) and attach a fresh socketpair. */
void h_reconnect(struct h_dev *h);

/* Send one message and run vu_dev_process() once; returns its result. */
int h_send(struct h_dev *h, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
           const int *fds, unsigned nfds);
/* Read one reply (2 s timeout; fails the test without one). */
void h_recv(struct h_dev *h, struct vu_msg *m);
/* True when no message is waiting for the frontend. */
bool h_no_reply(struct h_dev *h);
/* Send with NEED_REPLY and return the REPLY_ACK payload (0 = success). */
uint64_t h_ack(struct h_dev *h, uint32_t req, const void *payload, uint32_t size,
               const int *fds, unsigned nfds);
/* Send a request that has a reply; the reply lands in @m. */
void h_call(struct h_dev *h, uint32_t req, const void *payload, uint32_t size, struct vu_msg *m);
/* GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, ...: a u64 reply. */
uint64_t h_get_u64(struct h_dev *h, uint32_t req);

/* The standard bring-up, each step acked: SET_OWNER, SET_FEATURES(@features |
 * PROTOCOL_FEATURES), SET_PROTOCOL_FEATURES, SET_MEM_TABLE (two regions),
 * then queue 0: NUM, BASE, ADDR, CALL, KICK, ENABLE. The queue must run. */
void h_start(struct h_dev *h, uint64_t features);
/* Only the vring part of h_start, for queue 0 from @base. */
void h_start_vring(struct h_dev *h, uint16_t base);
/* SET_MEM_TABLE with the two standard regions; returns the ack. */
uint64_t h_set_mem_table(struct h_dev *h);

/* ---- virtio-blk requests ---------------------------------------------- */

struct h_seg {
    uint64_t gpa;
    uint32_t len;
    bool write;        /* device-writable */
};

/* Forget scratch allocations of earlier requests. */
void h_scratch_reset(struct h_dev *h);
/* Scratch guest memory. */
uint64_t h_alloc(struct h_dev *h, uint32_t len, uint32_t align);

/* Lay out a chain of @n segments starting at descriptor @first (or as one
 * indirect descriptor at @first when @indirect), make it available; no kick. */
uint16_t h_post(struct h_dev *h, uint16_t first, const struct h_seg *segs, unsigned n,
                bool indirect);
void h_kick(struct h_dev *h);
/* Wait until the used index reached @idx; false after @timeout_ms. */
bool h_wait_used(struct h_dev *h, uint16_t idx, int timeout_ms);

/* A virtio-blk request laid out (from descriptor @first) and made available,
 * not kicked: header, @out_len readable bytes from @out, @in_len writable
 * bytes (filled with 0xee), a status byte (0xff). */
struct h_req {
    uint16_t head;
    uint64_t in_gpa;
    uint32_t in_len;
    uint64_t status_gpa;
};
void h_blk_post(struct h_dev *h, uint16_t first, uint32_t type, uint64_t sector,
                const void *out, uint32_t out_len, uint32_t in_len, bool indirect,
                struct h_req *req);
uint8_t h_req_status(struct h_dev *h, const struct h_req *req);

/* One virtio-blk request: header (@type, @sector), @out_len readable data
 * bytes copied from @out, @in_len writable bytes (copied back to @in when
 * non-NULL), one status byte. Returns the status byte; *used_len gets the
 * used length when non-NULL. Fails the test when it does not complete. */
uint8_t h_blk(struct h_dev *h, uint32_t type, uint64_t sector, const void *out, uint32_t out_len,
              void *in, uint32_t in_len, uint32_t *used_len);

/* Contents of the backing file. */
void h_file_read(struct h_dev *h, uint64_t off, void *buf, size_t len);
/* True when every byte of [off, off+len) of the file still has the initial pattern. */
bool h_file_pristine(struct h_dev *h, uint64_t off, uint64_t len);

#endif
