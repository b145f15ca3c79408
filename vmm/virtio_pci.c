/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-pci modern transport over a vhost-user backend. */
#include "vmm/virtio_pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define F(x) (1ull << (x))
#define MAX_VQ 16
/* Feature bits 0-23 are the device type's (virtio 1.x, 6). */
#define DEVICE_FEATURES 0xffffffull
/* PCI identity of a modern (virtio 1.x) device (virtio 1.x, 4.1.2.1):
 * vendor Red Hat/Qumranet, device 0x1040 + the virtio device type,
 * revision 1 or more, subsystem ID 0x40 or more. */
#define VIRTIO_PCI_VENDOR    0x1af4
#define VIRTIO_PCI_DEVICE    0x1040
#define VIRTIO_PCI_REVISION  1
#define VIRTIO_PCI_SUBSYS_ID 0x40
/* PCI class codes (class, subclass, prog-if): mass storage "other", Ethernet. */
#define PCI_CLASS_CODE_STORAGE_OTHER 0x018000
#define PCI_CLASS_CODE_ETHERNET      0x020000
/* The ISR status capability's length (the register is its first byte). */
#define ISR_CAP_LEN 4

struct vq_state {
    uint16_t size;
    uint16_t vector;
    bool enabled;
    uint64_t desc, driver, device;
    int kick, call;
    bool started;
    unsigned bound_gsi;            /* irqfd currently bound, or NO_GSI */
};

struct msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct kvm_vpci {
    struct kvm_pci_dev pci;
    enum kvm_vpci_type type;
    char *name;
    struct vuf *vuf;
    struct vuf_region regions[VUF_MAX_REGIONS];
    unsigned nregions;
    struct kvm_vpci_host host;
    uint64_t backend_features;
    uint64_t features;             /* offered to the driver */
    uint64_t driver_features;
    uint32_t dfselect, gfselect;
    uint16_t msix_config;
    uint8_t status;
    uint8_t generation;
    uint16_t queue_sel;
    unsigned nq;
    struct vq_state q[MAX_VQ];
    unsigned nvec;
    struct msix_entry msix[MAX_VQ + 1];
    unsigned gsi[MAX_VQ + 1];
    bool route_valid[MAX_VQ + 1];
    unsigned msix_cap;
    uint8_t devcfg[256];
    unsigned devcfg_len;
    uint64_t notify_registered;    /* BAR address the ioeventfds sit at, or 0 */
    struct log_ratelimit rl;
};

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* ---- interrupts ------------------------------------------------------- */

static bool msix_on(const struct kvm_vpci *v)
{
    uint16_t ctl = rd16(v->pci.cfg + v->msix_cap + PCI_MSIX_FLAGS);

    return (ctl & PCI_MSIX_FLAGS_ENABLE) && !(ctl & PCI_MSIX_FLAGS_MASKALL);
}

/* Update the MSI route of vector @i from its table entry. */
static void route_vector(struct kvm_vpci *v, unsigned i)
{
    struct msix_entry *e = &v->msix[i];
    uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;

    if (!addr || (e->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
        return;
    if (v->host.msi_route(v->host.ctx, v->gsi[i], addr, e->data) == 0)
        v->route_valid[i] = true;
}

/* Bind each started queue's call fd to its vector's GSI when deliverable,
 * unbind it otherwise. */
static void sync_irqfds(struct kvm_vpci *v)
{
    for (unsigned q = 0; q < v->nq; q++) {
        struct vq_state *s = &v->q[q];
        unsigned want = KVM_VPCI_NO_GSI;

        if (s->started && msix_on(v) && s->vector < v->nvec &&
            !(v->msix[s->vector].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT) && v->route_valid[s->vector])
            want = v->gsi[s->vector];
        if (want == s->bound_gsi)
            continue;
        if (s->bound_gsi != KVM_VPCI_NO_GSI)
            v->host.irqfd(v->host.ctx, s->call, s->bound_gsi, false);
        s->bound_gsi = KVM_VPCI_NO_GSI;
        if (want != KVM_VPCI_NO_GSI && v->host.irqfd(v->host.ctx, s->call, want, true) == 0)
            s->bound_gsi = want;
    }
}

/* Keep the notify ioeventfds at the BAR's current address. */
static void sync_ioeventfds(struct kvm_vpci *v)
{
    uint64_t want = (v->status & VIRTIO_CONFIG_S_DRIVER_OK) ? kvm_pci_bar_addr(&v->pci, 0) : 0;

    if (want == v->notify_registered)
        return;
    for (unsigned q = 0; q < v->nq; q++) {
        if (v->notify_registered)
            v->host.ioeventfd(v->host.ctx, v->q[q].kick,
                              v->notify_registered + KVM_VPCI_NOTIFY + q * KVM_VPCI_NOTIFY_MUL,
                              false);
        if (want)
            v->host.ioeventfd(v->host.ctx, v->q[q].kick,
                              want + KVM_VPCI_NOTIFY + q * KVM_VPCI_NOTIFY_MUL, true);
    }
    v->notify_registered = want;
}

static void needs_reset(struct kvm_vpci *v, const char *why, int err)
{
    if (log_ratelimit_ok(&v->rl))
        log_err("%s: %s: %s; device needs reset", v->name, why, strerror(-err));
    v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* ---- device lifecycle ------------------------------------------------- */

static void stop_queues(struct kvm_vpci *v)
{
    for (unsigned q = 0; q < v->nq; q++)
        v->q[q].started = false;
    sync_irqfds(v);
}

static void reset(struct kvm_vpci *v)
{
    int r;

    if (v->status & VIRTIO_CONFIG_S_DRIVER_OK || v->status & VIRTIO_CONFIG_S_FEATURES_OK) {
        r = vuf_reset(v->vuf);
        if (r < 0)
            log_warn("%s: backend reset: %s", v->name, strerror(-r));
    }
    stop_queues(v);
    v->status = 0;
    sync_ioeventfds(v);
    v->driver_features = 0;
    v->dfselect = v->gfselect = 0;
    v->queue_sel = 0;
    v->msix_config = VIRTIO_MSI_NO_VECTOR;
    for (unsigned q = 0; q < v->nq; q++) {
        struct vq_state *s = &v->q[q];
        uint64_t drain;
        s->size = KVM_VPCI_QUEUE_MAX;
        s->vector = VIRTIO_MSI_NO_VECTOR;
        s->enabled = false;
        s->desc = s->driver = s->device = 0;
        /* Stale kicks/calls from before the reset mean nothing now. */
        while (read(s->kick, &drain, sizeof(drain)) == sizeof(drain)) {}
        while (read(s->call, &drain, sizeof(drain)) == sizeof(drain)) {}
    }
}

static int start_queues(struct kvm_vpci *v)
{
    int r;

    r = vuf_set_mem_table(v->vuf, v->regions, v->nregions);
    if (r < 0)
        return r;
    /* Block requests survive a backend restart when the backend tracks
     * them in an inflight region we can hand to its successor (as QEMU's
     * vhost-user-blk does). Split net rings have nothing to replay and
     * resume at the guest's used index; packed rings keep no index in
     * guest memory, so a restarted backend finds its positions only in
     * the region: packed net asks for one too. */
    if ((v->type == KVM_VPCI_BLK || (v->driver_features & F(VIRTIO_F_RING_PACKED))) &&
        (vuf_protocol_features(v->vuf) & F(VU_PF_INFLIGHT_SHMFD))) {
        uint16_t qsize = 0;
        for (unsigned q = 0; q < v->nq; q++)
            if (v->q[q].enabled && v->q[q].size > qsize)
                qsize = v->q[q].size;
        r = qsize ? vuf_get_inflight(v->vuf, (uint16_t)v->nq, qsize) : 0;
        if (r < 0)
            log_warn("%s: no inflight region (%s): a backend restart may lose requests",
                     v->name, strerror(-r));
    }
    for (unsigned q = 0; q < v->nq; q++) {
        struct vq_state *s = &v->q[q];
        /* Packed rings: queue_desc/driver/device are the descriptor ring
         * and the two event suppression areas, forwarded as they are. */
        bool packed = v->driver_features & F(VIRTIO_F_RING_PACKED);
        struct vuf_vring ring = { .num = s->size, .desc_gpa = s->desc,
                                  .avail_gpa = s->driver, .used_gpa = s->device,
                                  .packed = packed, .base = packed ? VUF_PACKED_BASE0 : 0,
                                  .kick_fd = s->kick, .call_fd = s->call };
        if (!s->enabled)
            continue;
        r = vuf_vring_start(v->vuf, q, &ring);
        if (r < 0)
            return r;
        s->started = true;
    }
    sync_ioeventfds(v);
    sync_irqfds(v);
    return 0;
}

static void set_status(struct kvm_vpci *v, uint8_t st)
{
    uint8_t old = v->status;
    int r;

    if (st == 0) {
        reset(v);
        return;
    }
    if ((st & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
        if ((v->driver_features & ~v->features) || !(v->driver_features & F(VIRTIO_F_VERSION_1))) {
            st &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;   /* refused */
        } else {
            r = vuf_set_features(v->vuf, v->driver_features & v->backend_features);
            if (r < 0) {
                st &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
                needs_reset(v, "SET_FEATURES", r);
            }
        }
    }
    v->status = (uint8_t)(st | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
    if ((st & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
        if (!(st & VIRTIO_CONFIG_S_FEATURES_OK)) {
            needs_reset(v, "DRIVER_OK without FEATURES_OK", -EINVAL);
            return;
        }
        r = start_queues(v);
        if (r < 0)
            needs_reset(v, "starting the queues", r);
    }
}

/* ---- common config ----------------------------------------------------- */

static void common_read(struct kvm_vpci *v, unsigned off, uint8_t *data, unsigned len)
{
    struct virtio_pci_common_cfg c;
    struct vq_state *s = v->queue_sel < v->nq ? &v->q[v->queue_sel] : NULL;

    memset(&c, 0, sizeof(c));
    c.device_feature_select = v->dfselect;
    c.device_feature = v->dfselect < 2 ? (uint32_t)(v->features >> (32 * v->dfselect)) : 0;
    c.guest_feature_select = v->gfselect;
    c.guest_feature = v->gfselect < 2 ? (uint32_t)(v->driver_features >> (32 * v->gfselect)) : 0;
    c.msix_config = v->msix_config;
    c.num_queues = (uint16_t)v->nq;
    c.device_status = v->status;
    c.config_generation = v->generation;
    c.queue_select = v->queue_sel;
    if (s) {
        c.queue_size = s->size;
        c.queue_msix_vector = s->vector;
        c.queue_enable = s->enabled;
        c.queue_notify_off = v->queue_sel;
        c.queue_desc_lo = (uint32_t)s->desc;
        c.queue_desc_hi = (uint32_t)(s->desc >> 32);
        c.queue_avail_lo = (uint32_t)s->driver;
        c.queue_avail_hi = (uint32_t)(s->driver >> 32);
        c.queue_used_lo = (uint32_t)s->device;
        c.queue_used_hi = (uint32_t)(s->device >> 32);
    }
    memset(data, 0, len);
    if (off < sizeof(c))
        memcpy(data, (uint8_t *)&c + off, MIN(len, sizeof(c) - off));
}

static void set_u64_part(uint64_t *dst, unsigned byteoff, uint32_t v, unsigned len)
{
    uint8_t b[8];

    memcpy(b, dst, 8);
    memcpy(b + byteoff, &v, len);
    memcpy(dst, b, 8);
}

static void common_write(struct kvm_vpci *v, unsigned off, uint32_t val, unsigned len)
{
    struct vq_state *s = v->queue_sel < v->nq ? &v->q[v->queue_sel] : NULL;
    bool live = v->status & VIRTIO_CONFIG_S_DRIVER_OK;

    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT: v->dfselect = val; break;
    case VIRTIO_PCI_COMMON_GFSELECT: v->gfselect = val; break;
    case VIRTIO_PCI_COMMON_GF:
        if (v->gfselect < 2 && !(v->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
            unsigned sh = 32 * v->gfselect;
            v->driver_features = (v->driver_features & ~(0xffffffffull << sh)) |
                                 ((uint64_t)val << sh);
        }
        break;
    case VIRTIO_PCI_COMMON_MSIX: v->msix_config = (uint16_t)val; break;
    case VIRTIO_PCI_COMMON_STATUS: set_status(v, (uint8_t)val); break;
    case VIRTIO_PCI_COMMON_Q_SELECT: v->queue_sel = (uint16_t)val; break;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        /* Up to the maximum, a power of two for split rings (packed rings
         * may have any size); else keep the old value. */
        if (s && !live && val && val <= KVM_VPCI_QUEUE_MAX &&
            (!(val & (val - 1)) || (v->driver_features & F(VIRTIO_F_RING_PACKED))))
            s->size = (uint16_t)val;
        break;
    case VIRTIO_PCI_COMMON_Q_MSIX:
        if (s) {
            s->vector = (uint16_t)val < v->nvec ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
            sync_irqfds(v);
        }
        break;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        if (s && !live && val == 1)
            s->enabled = true;
        break;
    default:
        if (s && !live && off >= VIRTIO_PCI_COMMON_Q_DESCLO && off + len <= VIRTIO_PCI_COMMON_Q_USEDHI + 4) {
            unsigned rel = off - VIRTIO_PCI_COMMON_Q_DESCLO;
            uint64_t *dst = rel < 8 ? &s->desc : rel < 16 ? &s->driver : &s->device;
            set_u64_part(dst, rel % 8, val, len);
        }
        break;
    }
}

/* ---- device config ---------------------------------------------------- */

static void devcfg_read(struct kvm_vpci *v, unsigned off, uint8_t *data, unsigned len)
{
    memset(data, 0, len);
    if (v->type == KVM_VPCI_BLK && off < v->devcfg_len) {
        /* Fresh from the backend (capacity may have changed). */
        uint8_t tmp[256];
        if (vuf_get_config(v->vuf, 0, tmp, v->devcfg_len) == 0) {
            uint16_t nq = (uint16_t)v->nq;
            memcpy(v->devcfg, tmp, v->devcfg_len);
            if (v->devcfg_len >= offsetof(struct virtio_blk_config, num_queues) + 2)
                memcpy(v->devcfg + offsetof(struct virtio_blk_config, num_queues), &nq, 2);
        }
    }
    if (off < v->devcfg_len)
        memcpy(data, v->devcfg + off, MIN(len, v->devcfg_len - off));
}

/* ---- BAR access ------------------------------------------------------- */

static void msix_access(struct kvm_vpci *v, unsigned off, uint8_t *data, unsigned len, bool write)
{
    unsigned i = off / 16, field = off % 16;
    uint32_t *w;

    if (i >= v->nvec || len != 4 || field % 4) {
        if (!write)
            memset(data, 0, len);
        return;
    }
    w = &v->msix[i].addr_lo + field / 4;
    if (!write) {
        memcpy(data, w, 4);
        return;
    }
    memcpy(w, data, 4);
    /* Commit the message when the entry is (or becomes) unmasked. */
    route_vector(v, i);
    sync_irqfds(v);
}

static void bar_io(struct kvm_pci_dev *d, unsigned bar, uint64_t off, uint8_t *data, unsigned len,
                   bool write)
{
    struct kvm_vpci *v = d->ctx;
    uint32_t val = 0;

    if (bar != 0 || len > 8)
        return;
    if (write && len <= 4)
        memcpy(&val, data, len);
    if (off < KVM_VPCI_ISR) {
        if (write)
            common_write(v, (unsigned)off, val, len);
        else
            common_read(v, (unsigned)off, data, len);
    } else if (off < KVM_VPCI_DEVCFG) {
        if (!write)
            memset(data, 0, len);     /* ISR: unused with MSI-X */
    } else if (off < KVM_VPCI_NOTIFY) {
        if (!write)
            devcfg_read(v, (unsigned)(off - KVM_VPCI_DEVCFG), data, len);
        /* Config writes (blk writeback mode) are not offered. */
    } else if (off < KVM_VPCI_MSIX) {
        unsigned q = (unsigned)(off - KVM_VPCI_NOTIFY) / KVM_VPCI_NOTIFY_MUL;
        /* Only reached when no ioeventfd is registered (yet). */
        if (write && q < v->nq)
            (void)eventfd_write(v->q[q].kick, 1);
        else if (!write)
            memset(data, 0, len);
    } else if (off < KVM_VPCI_PBA) {
        msix_access(v, (unsigned)(off - KVM_VPCI_MSIX), data, len, write);
    } else if (!write) {
        memset(data, 0, len);         /* PBA: pending bits live in the eventfds */
    }
}

static void cfg_written(struct kvm_pci_dev *d, unsigned off, unsigned len)
{
    struct kvm_vpci *v = d->ctx;

    /* Command register or BAR0 moved: keep the ioeventfds in place. */
    if (off < PCI_BASE_ADDRESS_2)
        sync_ioeventfds(v);
    if (off + len > v->msix_cap + PCI_MSIX_FLAGS && off < v->msix_cap + PCI_MSIX_TABLE) {
        for (unsigned i = 0; i < v->nvec; i++)
            route_vector(v, i);
        sync_irqfds(v);
    }
}

/* ---- construction ----------------------------------------------------- */

static uint64_t offered_features(enum kvm_vpci_type type, uint64_t backend)
{
    /* Packed rings when the backend offers them: the transport only
     * forwards the ring addresses, so the format is the backend's. */
    uint64_t allow = DEVICE_FEATURES | F(VIRTIO_RING_F_INDIRECT_DESC) |
                     F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_F_VERSION_1) |
                     F(VIRTIO_F_RING_PACKED);

    if (type == KVM_VPCI_NET) {
        /* The control queue is the frontend's business in vhost-user;
         * there is none here, so neither is anything that needs it. MTU
         * needs the backend's config, which net backends do not serve. */
        allow &= ~(F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
                   F(VIRTIO_NET_F_CTRL_VLAN) | F(VIRTIO_NET_F_CTRL_RX_EXTRA) |
                   F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ) |
                   F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_MTU));
        return (backend & allow) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS);
    }
    /* Writeback toggling needs SET_CONFIG. */
    allow &= ~F(VIRTIO_BLK_F_CONFIG_WCE);
    return backend & allow;
}

/* The device's config space: read from the backend for a disk (shrunk until
 * the backend accepts its size), made here for a NIC; sets the queue count. */
static int device_config(struct kvm_vpci *v, const struct kvm_vpci_config *cfg)
{
    int r = 0;

    if (v->type == KVM_VPCI_BLK) {
        struct virtio_blk_config bc;
        unsigned nq = 1, maxq = cfg->max_queues ? cfg->max_queues : 1;
        /* Backends built against older headers refuse a config larger than
         * theirs (libvhost-user answers with an error): shrink until it fits. */
        memset(&bc, 0, sizeof(bc));
        for (v->devcfg_len = sizeof(bc); v->devcfg_len >= 8; v->devcfg_len -= 4) {
            r = vuf_get_config(v->vuf, 0, v->devcfg, v->devcfg_len);
            if (r != -EIO)
                break;
        }
        if (r < 0) {
            log_err("%s: reading the backend's config space: %s", v->name, strerror(-r));
            return -EPROTO;
        }
        memcpy(&bc, v->devcfg, v->devcfg_len);
        if (v->features & F(VIRTIO_BLK_F_MQ))
            nq = MIN(MIN((unsigned)bc.num_queues ? bc.num_queues : 1u, vuf_queue_num(v->vuf)),
                     MIN(maxq, MAX_VQ));
        if (nq <= 1)
            nq = 1;
        v->nq = nq;
    } else {
        struct virtio_net_config nc;
        memset(&nc, 0, sizeof(nc));
        memcpy(nc.mac, cfg->mac, 6);
        nc.status = VIRTIO_NET_S_LINK_UP;
        nc.max_virtqueue_pairs = 1;
        v->devcfg_len = offsetof(struct virtio_net_config, mtu);
        memcpy(v->devcfg, &nc, v->devcfg_len);
        v->nq = 2;
    }
    return 0;
}

/* Kick and call eventfds per queue, a GSI per MSI-X vector (masked at reset). */
static int queue_fds_and_vectors(struct kvm_vpci *v)
{
    int r;

    for (unsigned q = 0; q < v->nq; q++) {
        v->q[q].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        v->q[q].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->q[q].kick < 0 || v->q[q].call < 0)
            return -errno;
    }
    for (unsigned i = 0; i < v->nvec; i++) {
        v->msix[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;      /* masked at reset */
        r = v->host.gsi_alloc(v->host.ctx, &v->gsi[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* PCI config space: IDs, BAR0, the four virtio capabilities and MSI-X. */
static int pci_config(struct kvm_vpci *v)
{
    uint8_t cap[20];
    int r;

    /* Config space: modern virtio device IDs (0x1040 + type). */
    kvm_pci_dev_init(&v->pci, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE + v->type),
                     v->type == KVM_VPCI_BLK ? PCI_CLASS_CODE_STORAGE_OTHER : PCI_CLASS_CODE_ETHERNET,
                     VIRTIO_PCI_REVISION, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
    v->pci.bar_size[0] = KVM_VPCI_BAR_SIZE;
    v->pci.bar_io = bar_io;
    v->pci.cfg_written = cfg_written;
    v->pci.ctx = v;
    {
        struct virtio_pci_cap c = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(c), .bar = 0 };
        struct virtio_pci_notify_cap n = { .cap = c };

        c.cfg_type = VIRTIO_PCI_CAP_COMMON_CFG;
        c.offset = KVM_VPCI_COMMON;
        c.length = sizeof(struct virtio_pci_common_cfg);
        if ((r = kvm_pci_add_cap(&v->pci, &c, sizeof(c))) < 0)
            return r;
        c.cfg_type = VIRTIO_PCI_CAP_ISR_CFG;
        c.offset = KVM_VPCI_ISR;
        c.length = ISR_CAP_LEN;
        if ((r = kvm_pci_add_cap(&v->pci, &c, sizeof(c))) < 0)
            return r;
        c.cfg_type = VIRTIO_PCI_CAP_DEVICE_CFG;
        c.offset = KVM_VPCI_DEVCFG;
        c.length = sizeof(v->devcfg);
        if ((r = kvm_pci_add_cap(&v->pci, &c, sizeof(c))) < 0)
            return r;
        n.cap = c;
        n.cap.cap_len = sizeof(n);
        n.cap.cfg_type = VIRTIO_PCI_CAP_NOTIFY_CFG;
        n.cap.offset = KVM_VPCI_NOTIFY;
        n.cap.length = v->nq * KVM_VPCI_NOTIFY_MUL;
        n.notify_off_multiplier = KVM_VPCI_NOTIFY_MUL;
        if ((r = kvm_pci_add_cap(&v->pci, &n, sizeof(n))) < 0)
            return r;
    }
    memset(cap, 0, sizeof(cap));
    cap[0] = PCI_CAP_ID_MSIX;
    cap[PCI_MSIX_FLAGS] = (uint8_t)((v->nvec - 1) & PCI_MSIX_FLAGS_QSIZE);  /* table size - 1 */
    memcpy(cap + PCI_MSIX_TABLE, &(uint32_t){ KVM_VPCI_MSIX }, 4);   /* BIR 0 */
    memcpy(cap + PCI_MSIX_PBA, &(uint32_t){ KVM_VPCI_PBA }, 4);
    if ((r = kvm_pci_add_cap(&v->pci, cap, PCI_CAP_MSIX_SIZEOF)) < 0)
        return r;
    v->msix_cap = (unsigned)r;
    /* The driver may set the enable and function mask bits only. */
    v->pci.wmask[v->msix_cap + PCI_MSIX_FLAGS + 1] =
        (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
    return 0;
}

int kvm_vpci_create(const struct kvm_vpci_config *cfg, struct kvm_vpci **out)
{
    struct kvm_vpci *v;
    int r;

    if (!cfg->vuf || !cfg->host || cfg->nregions == 0 || cfg->nregions > VUF_MAX_REGIONS ||
        (cfg->type != KVM_VPCI_NET && cfg->type != KVM_VPCI_BLK)) {
        vuf_destroy(cfg->vuf);
        return -EINVAL;
    }
    v = calloc(1, sizeof(*v));
    if (!v) {
        vuf_destroy(cfg->vuf);
        return -ENOMEM;
    }
    v->vuf = cfg->vuf;
    for (unsigned q = 0; q < MAX_VQ; q++) {
        v->q[q].kick = v->q[q].call = -1;
        v->q[q].bound_gsi = KVM_VPCI_NO_GSI;
    }
    v->type = cfg->type;
    v->host = *cfg->host;
    v->rl.burst = 5;
    v->rl.interval_ms = 1000;
    memcpy(v->regions, cfg->regions, cfg->nregions * sizeof(cfg->regions[0]));
    v->nregions = cfg->nregions;
    v->name = strdup(cfg->name ? cfg->name : "virtio");
    if (!v->name) {
        r = -ENOMEM;
        goto fail;
    }
    v->backend_features = vuf_device_features(v->vuf);
    v->features = offered_features(v->type, v->backend_features);
    if (!(v->features & F(VIRTIO_F_VERSION_1))) {
        r = -EPROTO;
        goto fail;
    }

    if ((r = device_config(v, cfg)) < 0)
        goto fail;
    v->nvec = v->nq + 1;

    if ((r = queue_fds_and_vectors(v)) < 0)
        goto fail;
    if ((r = pci_config(v)) < 0)
        goto fail;
    reset(v);
    *out = v;
    return 0;
fail:
    kvm_vpci_destroy(v);
    return r;
}

void kvm_vpci_destroy(struct kvm_vpci *v)
{
    if (!v)
        return;
    for (unsigned q = 0; q < MAX_VQ; q++) {
        if (v->q[q].bound_gsi != KVM_VPCI_NO_GSI)
            v->host.irqfd(v->host.ctx, v->q[q].call, v->q[q].bound_gsi, false);
        if (v->notify_registered && q < v->nq)
            v->host.ioeventfd(v->host.ctx, v->q[q].kick,
                              v->notify_registered + KVM_VPCI_NOTIFY + q * KVM_VPCI_NOTIFY_MUL,
                              false);
        close_fd(&v->q[q].kick);
        close_fd(&v->q[q].call);
    }
    vuf_destroy(v->vuf);
    free(v->name);
    free(v);
}

struct kvm_pci_dev *kvm_vpci_pci_dev(struct kvm_vpci *v) { return &v->pci; }
uint64_t kvm_vpci_features(const struct kvm_vpci *v) { return v->features; }
unsigned kvm_vpci_num_queues(const struct kvm_vpci *v) { return v->nq; }
uint8_t kvm_vpci_status(const struct kvm_vpci *v) { return v->status; }
int kvm_vpci_backend_fd(const struct kvm_vpci *v) { return vuf_fd(v->vuf); }

int kvm_vpci_reconnect(struct kvm_vpci *v)
{
    int r = vuf_reconnect(v->vuf);

    if (r == -EPROTO || r == -ENOTSUP || r == -EINVAL) {
        /* This backend cannot take the device over: nothing to retry. */
        needs_reset(v, "reconnecting to the backend", r);
        return r;
    }
    if (r < 0) {
        /* Not back yet (nothing listening, or it went away again during the
         * replay): the caller tries again; the guest waits meanwhile. */
        if (log_ratelimit_ok(&v->rl))
            log_warn("%s: backend not back yet: %s", v->name, strerror(-r));
        return r;
    }
    /* The old backend may have published used entries and died before
     * signalling them, or taken a kick and died before reading the ring:
     * one spurious interrupt and one kick per queue cost nothing. */
    for (unsigned q = 0; q < v->nq; q++) {
        if (!v->q[q].started)
            continue;
        (void)eventfd_write(v->q[q].kick, 1);
        (void)eventfd_write(v->q[q].call, 1);
    }
    log_warn("%s: backend reconnected", v->name);
    return 0;
}
