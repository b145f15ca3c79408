/* SPDX-License-Identifier: Apache-2.0 */
/* The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): message
 * codes, flags, feature bits and payload layouts. Shared by the backend half
 * (sluiced) and the frontend half (sluice-vmm, benchmarks). */
#ifndef SLUICE_VHOST_PROTO_H
#define SLUICE_VHOST_PROTO_H

#include <stdint.h>

/* virtio 1.x and vhost-user are little-endian and sluice targets x86-64/arm64
 * little-endian hosts: vhost/ and vmm/ use ring fields and payloads as is. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "sluice needs a little-endian host (virtio 1.x is little-endian)");

enum vu_request {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_SEND_RARP = 19,
    VU_NET_SET_MTU = 20,
    VU_SET_BACKEND_REQ_FD = 21,
    VU_IOTLB_MSG = 22,
    VU_SET_VRING_ENDIAN = 23,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
    VU_GET_INFLIGHT_FD = 31,
    VU_SET_INFLIGHT_FD = 32,
    VU_RESET_DEVICE = 34,
    VU_VRING_KICK = 35,
    VU_GET_MAX_MEM_SLOTS = 36,
    VU_ADD_MEM_REG = 37,
    VU_REM_MEM_REG = 38,
    VU_SET_STATUS = 39,
    VU_GET_STATUS = 40,
    VU_REQUEST_MAX
};

/* Messages the backend sends on the backend request channel. */
enum vu_backend_request {
    VU_BACKEND_IOTLB_MSG = 1,
    VU_BACKEND_CONFIG_CHANGE_MSG = 2,
    VU_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
};

#define VU_VERSION          0x1u
#define VU_VERSION_MASK     0x3u
#define VU_FLAG_REPLY       (1u << 2)
#define VU_FLAG_NEED_REPLY  (1u << 3)

/* Feature bit in GET/SET_FEATURES announcing protocol features. */
#define VU_F_PROTOCOL_FEATURES 30
/* VHOST_F_LOG_ALL: the backend logs its guest memory writes (migration). */
#define VU_F_LOG_ALL 26

enum vu_protocol_feature {
    VU_PF_MQ = 0,
    VU_PF_LOG_SHMFD = 1,
    VU_PF_RARP = 2,
    VU_PF_REPLY_ACK = 3,
    VU_PF_MTU = 4,
    VU_PF_BACKEND_REQ = 5,
    VU_PF_CROSS_ENDIAN = 6,
    VU_PF_CRYPTO_SESSION = 7,
    VU_PF_PAGEFAULT = 8,
    VU_PF_CONFIG = 9,
    VU_PF_BACKEND_SEND_FD = 10,
    VU_PF_HOST_NOTIFIER = 11,
    VU_PF_INFLIGHT_SHMFD = 12,
    VU_PF_RESET_DEVICE = 13,
    VU_PF_INBAND_NOTIFICATIONS = 14,
    VU_PF_CONFIGURE_MEM_SLOTS = 15,
    VU_PF_STATUS = 16,
};

/* Fixed limits of the protocol. */
#define VU_MAX_FDS              8     /* fds in one message (baseline regions) */
#define VU_MAX_MEM_SLOTS        32    /* what we report in GET_MAX_MEM_SLOTS */
#define VU_MAX_CONFIG_SIZE      256
#define VU_VRING_IDX_MASK       0xffu
#define VU_VRING_NOFD_MASK      (1u << 8)

struct vu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;     /* payload bytes following the header */
} __attribute__((packed));

struct vu_vring_state {
    uint32_t index;
    uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
} __attribute__((packed));

struct vu_mem_region_desc {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vu_mem_region_desc regions[VU_MAX_FDS];
} __attribute__((packed));

struct vu_single_mem_region {
    uint64_t padding;
    struct vu_mem_region_desc region;
} __attribute__((packed));

struct vu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VU_MAX_CONFIG_SIZE];
} __attribute__((packed));
#define VU_CONFIG_HDR_SIZE 12u

/* QEMU sends and expects the naturally aligned size (24 bytes): the
 * trailing padding is part of the wire format. */
struct vu_inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
    uint32_t padding;
} __attribute__((packed));

/* SET_LOG_BASE with LOG_SHMFD: the bitmap is @mmap_size bytes at
 * @mmap_offset of the message's fd. */
struct vu_log_area {
    uint64_t mmap_size;
    uint64_t mmap_offset;
} __attribute__((packed));

/* The largest payload any message we understand carries. */
union vu_payload {
    uint64_t u64;
    struct vu_vring_state state;
    struct vu_vring_addr addr;
    struct vu_mem_table mem;
    struct vu_single_mem_region mem_reg;
    struct vu_config config;
    struct vu_inflight inflight;
    struct vu_log_area log;
    uint8_t raw[512];
};

struct vu_msg {
    struct vu_hdr hdr;
    union vu_payload p;
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

/* Human-readable request name for logs ("SET_MEM_TABLE"); never NULL. */
const char *vu_request_name(uint32_t req);

#endif
