/* SPDX-License-Identifier: Apache-2.0 */
/* The frontend half of vhost-user: what a VMM (sluice-vmm) or a benchmark
 * driver says to any vhost-user backend (sluiced, qemu-storage-daemon, DPDK).
 * One struct vuf per backend socket. Every call is a blocking request/reply
 * exchange on the socket (REPLY_ACK is used when the backend offers it, so
 * a failure is reported by the call that caused it); calls on one vuf must be
 * serialised by the caller.
 *
 * Lifecycle as a virtio transport drives it:
 *   vuf_connect()            SET_OWNER, GET_FEATURES, protocol features,
 *                            GET_QUEUE_NUM
 *   vuf_set_mem_table()      guest RAM regions (memfd fds)
 *   vuf_get_config()         device config space (blk: capacity, ...)
 *   vuf_set_features()       on FEATURES_OK, what the driver accepted
 *   vuf_get_inflight()       on DRIVER_OK, before the rings (when the backend
 *                            offers INFLIGHT_SHMFD)
 *   vuf_vring_start()        on DRIVER_OK, per enabled queue
 *   vuf_reset()              on a device reset (status 0)
 *   vuf_reconnect()          the backend restarted: replay all of the above
 *                            (the inflight region as SET_INFLIGHT_FD) and
 *                            resume the rings where the guest's used index
 *                            says they stopped
 */
#ifndef SLUICE_VHOST_FRONTEND_H
#define SLUICE_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/proto.h"

struct vuf;

/* Rings the frontend tracks per connection. */
#define VUF_MAX_QUEUES 64
/* Guest RAM regions (sent in one SET_MEM_TABLE). */
#define VUF_MAX_REGIONS VU_MAX_FDS

/* Protocol features the frontend asks for when the backend offers them. */
#define VUF_PROTOCOL_FEATURES \
    ((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | \
     (1ull << VU_PF_RESET_DEVICE) | (1ull << VU_PF_INFLIGHT_SHMFD))

/* One guest RAM region: guest-physical @gpa, @size bytes, mapped in this
 * process at @hva, backed by @fd at @offset (the fd is borrowed; it must stay
 * open while the vuf uses the table). */
struct vuf_region {
    uint64_t gpa;
    uint64_t size;
    void *hva;
    int fd;
    uint64_t offset;
};

/* A virtqueue as the driver laid it out (guest-physical addresses), and
 * the eventfds the backend uses: @kick_fd is read by the backend (the VMM
 * makes it a KVM ioeventfd), @call_fd is written by it (a KVM irqfd). Both
 * are borrowed (duplicated into the message only). A split ring has its
 * descriptor table, available and used rings at desc/avail/used_gpa; a
 * packed ring (@packed, VIRTIO_F_RING_PACKED negotiated) its descriptor
 * ring, driver and device event areas there. */
struct vuf_vring {
    uint16_t num;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool packed;
    /* Split: first avail index to process (0 after reset). Packed: the
     * vhost-user encoding, next available slot and its wrap counter in
     * bits 0-15, next used slot and its wrap counter in bits 16-31
     * (VUF_PACKED_BASE0 after reset). */
    uint32_t base;
    int kick_fd, call_fd;
};

/* A fresh packed ring: both positions 0, both wrap counters 1. */
#define VUF_PACKED_BASE0 0x80008000u

/* Connect to the backend listening on @path and run the opening handshake.
 * @timeout_ms bounds each reply (0: 5000). Returns 0, -ENOENT or
 * -ECONNREFUSED (nothing listening), -EPROTO (the backend misbehaved: no
 * VERSION_1, malformed reply), -ETIMEDOUT, -ENOMEM or -errno. */
int vuf_connect(const char *path, int timeout_ms, struct vuf **out);
/* The same over an already-connected socket (takes @fd; closed on failure
 * too). Reconnection is not possible for such a vuf (-ENOTSUP). */
int vuf_connect_fd(int fd, int timeout_ms, struct vuf **out);
/* Close the connection and free. NULL-safe. */
void vuf_destroy(struct vuf *f);

/* The socket, for watching EPOLLHUP (the backend went away). */
int vuf_fd(const struct vuf *f);
/* Virtio feature bits the backend offers (the vhost-user PROTOCOL_FEATURES
 * bit removed). */
uint64_t vuf_device_features(const struct vuf *f);
/* Negotiated protocol features. */
uint64_t vuf_protocol_features(const struct vuf *f);
/* GET_QUEUE_NUM when MQ was negotiated (virtio-net answers pairs), else 1. */
unsigned vuf_queue_num(const struct vuf *f);

/* Send SET_FEATURES with @features (which must be a subset of
 * vuf_device_features(); PROTOCOL_FEATURES is added). Returns 0, -EINVAL,
 * -EIO (backend refused) or -errno. */
int vuf_set_features(struct vuf *f, uint64_t features);

/* Replace the memory table. Returns 0, -EINVAL (no or too many regions),
 * -EIO (backend refused) or -errno. */
int vuf_set_mem_table(struct vuf *f, const struct vuf_region *r, unsigned n);

/* Read @len bytes of device config space from @offset (GET_CONFIG).
 * Returns 0, -ENOTSUP (CONFIG not negotiated), -EINVAL (@len too large),
 * -EIO (backend replied with an error) or -errno. */
int vuf_get_config(struct vuf *f, uint32_t offset, void *buf, uint32_t len);

/* GET_INFLIGHT_FD for @num_queues rings of up to @queue_size entries: the
 * backend's shared region where it marks the chains it took until they are
 * used. The frontend keeps the fd and hands it to a restarted backend
 * (vuf_reconnect), which resubmits what its predecessor never completed.
 * Call before the rings start. Returns 0, -ENOTSUP (INFLIGHT_SHMFD not
 * negotiated), -EINVAL, -EIO (the backend refused), -EPROTO or -errno. */
int vuf_get_inflight(struct vuf *f, uint16_t num_queues, uint16_t queue_size);
/* The inflight region's fd (owned by the vuf), or -1 when there is none. */
int vuf_inflight_fd(const struct vuf *f);

/* Start queue @idx: SET_VRING_NUM, ADDR, BASE, CALL, KICK, ENABLE. The ring
 * addresses are translated through the memory table (sent as frontend
 * virtual addresses, as the protocol wants). Split rings have a power-of-two
 * size, packed rings any size up to 32768. Returns 0, -EINVAL (index,
 * size or address outside the table), -EIO or -errno. */
int vuf_vring_start(struct vuf *f, unsigned idx, const struct vuf_vring *v);
/* Stop queue @idx (GET_VRING_BASE); *base (may be NULL) gets the next avail
 * index the backend would have processed (packed rings: both positions, as
 * in struct vuf_vring). Returns 0, -EINVAL or -errno. */
int vuf_vring_stop(struct vuf *f, unsigned idx, uint32_t *base);

/* Device reset: stop every started ring and, when offered, RESET_DEVICE.
 * The memory table stays. Returns 0 or -errno. */
int vuf_reset(struct vuf *f);

/* Reconnect to the same socket path and replay the state: handshake,
 * features (when set), memory table, the inflight region (SET_INFLIGHT_FD,
 * when vuf_get_inflight() got one), and each started ring, from the used
 * index the guest memory shows. With the inflight region the backend
 * resubmits the chains its predecessor took but never completed; without
 * one it reads the avail ring again from that used index, which is only
 * right when the old backend completed in order. Returns 0, -ENOTSUP
 * (vuf_connect_fd), -EPROTO (the new backend offers fewer features or
 * protocol features than were in use) or what vuf_connect() returns.
 * Packed rings keep no used index in guest memory: they are resumed from
 * the base they were started with, and a backend with the inflight region
 * (sluiced) takes the real positions from the region. */
int vuf_reconnect(struct vuf *f);

#endif
