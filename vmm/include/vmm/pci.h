/* SPDX-License-Identifier: Apache-2.0 */
/* PCI bus 0 behind configuration mechanism #1 (ports 0xcf8/0xcfc), with a
 * host bridge at 00:00.0 and up to 31 endpoint functions, each with 32-bit
 * memory BARs the VMM assigns (the guest may move them; sizing works).
 * Accesses are serialised by one bus lock; device hooks run under it. */
#ifndef SLUICE_VMM_PCI_H
#define SLUICE_VMM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define KVM_PCI_CONF_ADDR 0xcf8
#define KVM_PCI_CONF_DATA 0xcfc
#define KVM_PCI_SLOTS     32

struct kvm_pci_dev {
    uint8_t cfg[256];           /* config space as the guest reads it */
    uint8_t wmask[256];         /* bits the guest may write (BARs aside) */
    uint32_t bar_size[6];       /* 0: BAR not implemented; else a power of two >= 16 */
    /* After the guest wrote config bytes [@off, @off+@len). NULL-able. */
    void (*cfg_written)(struct kvm_pci_dev *d, unsigned off, unsigned len);
    /* An access of @len bytes at @off inside BAR @bar. Required with BARs. */
    void (*bar_io)(struct kvm_pci_dev *d, unsigned bar, uint64_t off, uint8_t *data,
                   unsigned len, bool write);
    void *ctx;
    uint8_t cap_last, cap_end;   /* private: capability list */
};

struct kvm_pci {
    pthread_mutex_t lock;
    uint32_t addr;               /* 0xcf8 latch */
    struct kvm_pci_dev *dev[KVM_PCI_SLOTS];
    struct kvm_pci_dev host;     /* slot 0 */
    uint64_t next_mmio;          /* BAR allocator */
};

/* Set up the bus with its host bridge; BARs are allocated from @mmio_base.
 * Returns 0 or -errno. */
int kvm_pci_init(struct kvm_pci *p, uint64_t mmio_base);
void kvm_pci_fini(struct kvm_pci *p);

/* Fill in the identity of a function (type 0 header, capability list
 * empty). */
void kvm_pci_dev_init(struct kvm_pci_dev *d, uint16_t vendor, uint16_t device,
                      uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                      uint16_t subsys_id);
/* Append a capability of @len bytes (@cap[0] is its ID; the next pointer is
 * filled in). Returns its config offset, or -ENOSPC. */
int kvm_pci_add_cap(struct kvm_pci_dev *d, const void *cap, unsigned len);
/* Plug @d into the next free slot (BARs sized by bar_size get addresses).
 * Returns the slot (1..31) or -ENOSPC. */
int kvm_pci_add(struct kvm_pci *p, struct kvm_pci_dev *d);

/* The guest-physical address BAR @bar decodes at, or 0 when memory decoding
 * is off or the BAR is unassigned. */
uint64_t kvm_pci_bar_addr(const struct kvm_pci_dev *d, unsigned bar);

/* Port I/O at @port (0xcf8..0xcff). Returns false when the port is not ours. */
bool kvm_pci_pio(struct kvm_pci *p, uint16_t port, uint8_t *data, unsigned len, bool write);
/* MMIO at @addr. Returns false when no BAR decodes it. */
bool kvm_pci_mmio(struct kvm_pci *p, uint64_t addr, uint8_t *data, unsigned len, bool write);

/* Config space access by bus/device/function, @len 1, 2 or 4 (for tests and
 * the port path). Reads of absent functions return all ones. */
uint32_t kvm_pci_cfg_read(struct kvm_pci *p, unsigned slot, unsigned off, unsigned len);
void kvm_pci_cfg_write(struct kvm_pci *p, unsigned slot, unsigned off, unsigned len, uint32_t v);

#endif
