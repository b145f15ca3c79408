/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net device model (virtio 1.2 section 5.1) on the vhost-user backend.
 * Packets move between the guest's rings and one packet fd per queue pair
 * (a tap opened with IFF_VNET_HDR): each read or write of that fd is one
 * packet prefixed by the virtio-net header, so the guest's header (and its
 * checksum/segmentation offload requests) passes through unchanged, and
 * guest buffers are handed to the kernel directly (readv/writev through the
 * worker's io_uring). This code opens no fd itself: struct vnet_ops does. */
#ifndef SLUICE_VHOST_NET_H
#define SLUICE_VHOST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/backend.h"

struct vnet_ops {
    /* The packet fd of queue pair @pair (borrowed; stays open while the
     * device exists). Required. */
    int (*queue_fd)(void *ctx, unsigned pair);
    /* Negotiated features changed: set the fd's vnet header size to
     * @hdr_len and enable the receive offloads the guest accepts
     * (VIRTIO_NET_F_GUEST_* bits in @features). Control thread, queues
     * stopped. NULL-able. Returns 0 or -errno. */
    int (*configure)(void *ctx, uint64_t features, unsigned hdr_len);
};

struct vnet_config {
    unsigned queue_pairs;       /* 1..VU_MAX_QUEUES/2 */
    uint8_t mac[6];
    bool has_mac;               /* offer VIRTIO_NET_F_MAC with @mac */
    uint16_t mtu;               /* offer VIRTIO_NET_F_MTU when non-zero */
    const struct vnet_ops *io;
    void *io_ctx;
};

struct vnet_stats {
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t tx_packets, tx_bytes, tx_errors;
};

struct vnet;

/* Build the device; @vcfg supplies the program's part (name, socket, loops,
 * packed); the model's part (ops, state, features, queues) is filled in here
 * (vu_dev_create_model()). The struct vnet lives inside its vu_dev
 * (vu_dev_priv()): the device is served, queried (vu_dev_features()) and
 * destroyed (vu_dev_destroy()) through vnet_vu_dev(). Returns 0, -EINVAL or
 * -ENOMEM. */
int vnet_create(const struct vnet_config *cfg, const struct vu_dev_config *vcfg,
                struct vnet **out);
struct vu_dev *vnet_vu_dev(struct vnet *n);
void vnet_stats(const struct vnet *n, struct vnet_stats *out);

/* Header length for negotiated @features: 12 with VERSION_1 or MRG_RXBUF,
 * else 10 (legacy). */
unsigned vnet_hdr_len(uint64_t features);

/* RX buffer merging, exposed for tests: given @nchains receive chains whose
 * writable capacities are @cap[i], and a packet of @len bytes (header
 * included) just read across them in order, fill @used[i] with the bytes
 * each chain holds and return how many chains the packet used (its
 * num_buffers), or 0 when @len exceeds the total capacity. */
unsigned vnet_rx_split(const uint32_t *cap, unsigned nchains, uint32_t len, uint32_t *used);

#endif
