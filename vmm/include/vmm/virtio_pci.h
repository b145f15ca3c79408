/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-pci modern transport (virtio 1.2 section 4.1) for a device whose
 * virtqueues are served by a vhost-user backend (struct vuf). The VMM keeps
 * only the transport state: common config, MSI-X table, device config
 * (blk: the backend's GET_CONFIG; net: MAC and link status kept here).
 *
 * Datapath wiring: each queue has a kick eventfd registered as a KVM
 * ioeventfd on its notify address and a call eventfd bound as a KVM irqfd to
 * the GSI of its MSI-X vector (an MSI route). Both fds go to the backend on
 * DRIVER_OK, so no exit reaches the VMM for I/O. A masked vector has its
 * irqfd unbound: interrupts wait in the eventfd and KVM delivers them when
 * the vector is unmasked and the irqfd bound again (that is the PBA).
 *
 * BAR0 (32 KiB, memory): 0x0000 common cfg, 0x1000 ISR, 0x2000 device cfg,
 * 0x3000 notify (4 bytes per queue), 0x4000 MSI-X table, 0x6000 PBA. */
#ifndef SLUICE_VMM_VIRTIO_PCI_H
#define SLUICE_VMM_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/frontend.h"
#include "vmm/pci.h"

#define KVM_VPCI_BAR_SIZE   0x8000u
#define KVM_VPCI_COMMON     0x0000u
#define KVM_VPCI_ISR        0x1000u
#define KVM_VPCI_DEVCFG     0x2000u
#define KVM_VPCI_NOTIFY     0x3000u
#define KVM_VPCI_NOTIFY_MUL 4u
#define KVM_VPCI_MSIX       0x4000u
#define KVM_VPCI_PBA        0x6000u
#define KVM_VPCI_QUEUE_MAX  256u       /* queue_size offered */
#define KVM_VPCI_NO_GSI     0xffffffffu

/* What the transport needs from KVM (faked in unit tests). Each returns 0 or
 * -errno. */
struct kvm_vpci_host {
    /* Allocate a GSI for MSI routes; *gsi gets it. */
    int (*gsi_alloc)(void *ctx, unsigned *gsi);
    /* Point @gsi at the MSI message (@addr, @data). */
    int (*msi_route)(void *ctx, unsigned gsi, uint64_t addr, uint32_t data);
    /* Bind (@assign) or unbind @fd as the irqfd of @gsi. */
    int (*irqfd)(void *ctx, int fd, unsigned gsi, bool assign);
    /* Register (@assign) or remove @fd as the ioeventfd of a 2-byte write at @addr. */
    int (*ioeventfd)(void *ctx, int fd, uint64_t addr, bool assign);
    void *ctx;
};

enum kvm_vpci_type { KVM_VPCI_NET = 1, KVM_VPCI_BLK = 2 };

struct kvm_vpci_config {
    enum kvm_vpci_type type;
    struct vuf *vuf;                 /* taken: destroyed with the device */
    const struct vuf_region *regions; /* guest RAM, copied */
    unsigned nregions;
    unsigned max_queues;             /* blk: cap on queues (e.g. vCPUs); 0: 1 */
    uint8_t mac[6];                  /* net */
    const struct kvm_vpci_host *host;
    const char *name;                /* for logs; copied */
};

struct kvm_vpci;

/* Build the device: read the backend's features (and blk config), lay out
 * config space, capabilities and MSI-X. Returns 0, -EINVAL, -EPROTO (backend
 * config unreadable), -ENOMEM or -errno from the host ops. On failure the
 * vuf is destroyed too. */
int kvm_vpci_create(const struct kvm_vpci_config *cfg, struct kvm_vpci **out);
void kvm_vpci_destroy(struct kvm_vpci *v);
/* The PCI function to plug into the bus. */
struct kvm_pci_dev *kvm_vpci_pci_dev(struct kvm_vpci *v);
/* Features offered to the driver. */
uint64_t kvm_vpci_features(const struct kvm_vpci *v);
unsigned kvm_vpci_num_queues(const struct kvm_vpci *v);
uint8_t kvm_vpci_status(const struct kvm_vpci *v);
/* The backend socket (watch for hang-up). */
int kvm_vpci_backend_fd(const struct kvm_vpci *v);
/* The backend went away: reconnect and resume (vuf_reconnect(), then one
 * kick and one interrupt per started queue, for whatever the old backend
 * left unsignalled). Call with the bus lock held. Returns 0; -EPROTO,
 * -ENOTSUP or -EINVAL when this backend cannot take the device over (the
 * device then shows NEEDS_RESET); another -errno when the backend is not
 * back yet (call again later). */
int kvm_vpci_reconnect(struct kvm_vpci *v);

#endif
