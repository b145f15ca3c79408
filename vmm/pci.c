/* SPDX-License-Identifier: Apache-2.0 */
/* PCI Local Bus 3.0 configuration space, mechanism #1. */
#include "vmm/pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <string.h>

/* A BAR's low 4 bits are its type (32-bit memory, not prefetchable: 0). */
#define BAR_ADDR_MASK (~0xfu)
/* Configuration mechanism #1: the address register's enable bit. */
#define CONF1_ENABLE 0x80000000u
/* The host bridge: an Intel 440FX's identity (class: host bridge), with
 * QEMU's subsystem IDs, as guests know it. */
#define HOST_VENDOR        0x8086
#define HOST_DEVICE        0x1237
#define HOST_CLASS_CODE    0x060000
#define HOST_REVISION      2
#define HOST_SUBSYS_VENDOR 0x1af4
#define HOST_SUBSYS_ID     0x1100

static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

void kvm_pci_dev_init(struct kvm_pci_dev *d, uint16_t vendor, uint16_t device,
                      uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                      uint16_t subsys_id)
{
    memset(d->cfg, 0, sizeof(d->cfg));
    memset(d->wmask, 0, sizeof(d->wmask));
    d->cap_last = d->cap_end = 0;
    w16(d->cfg + PCI_VENDOR_ID, vendor);
    w16(d->cfg + PCI_DEVICE_ID, device);
    d->cfg[PCI_REVISION_ID] = revision;
    d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    d->cfg[PCI_CLASS_DEVICE] = (uint8_t)(class_code >> 8);
    d->cfg[PCI_CLASS_DEVICE + 1] = (uint8_t)(class_code >> 16);
    w16(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
    w16(d->cfg + PCI_SUBSYSTEM_ID, subsys_id);
    /* Command: I/O, memory, bus master, INTx disable; latency, interrupt line. */
    w16(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                PCI_COMMAND_INTX_DISABLE);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

int kvm_pci_add_cap(struct kvm_pci_dev *d, const void *cap, unsigned len)
{
    unsigned off = d->cap_end ? d->cap_end : PCI_STD_HEADER_SIZEOF;

    len = (len + 3) & ~3u;
    if (len < 4 || off + len > PCI_CFG_SPACE_SIZE)
        return -ENOSPC;
    memcpy(d->cfg + off, cap, len);
    d->cfg[off + PCI_CAP_LIST_NEXT] = 0;
    if (d->cap_last)
        d->cfg[d->cap_last + PCI_CAP_LIST_NEXT] = (uint8_t)off;
    else
        d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
    d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    d->cap_last = (uint8_t)off;
    d->cap_end = (uint8_t)(off + len == PCI_CFG_SPACE_SIZE ? 0xff : off + len);
    return (int)off;
}

uint64_t kvm_pci_bar_addr(const struct kvm_pci_dev *d, unsigned bar)
{
    uint32_t v;

    if (bar >= PCI_STD_NUM_BARS || !d->bar_size[bar] || !(d->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY))
        return 0;
    v = r32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar) & BAR_ADDR_MASK;
    if (v == 0 || v == (~(d->bar_size[bar] - 1) & BAR_ADDR_MASK))
        return 0;          /* unassigned or mid-sizing */
    return v;
}

int kvm_pci_init(struct kvm_pci *p, uint64_t mmio_base)
{
    memset(p, 0, sizeof(*p));
    if (pthread_mutex_init(&p->lock, NULL))
        return -ENOMEM;
    /* Intel 440FX-style host bridge identity, class host bridge. */
    kvm_pci_dev_init(&p->host, HOST_VENDOR, HOST_DEVICE, HOST_CLASS_CODE, HOST_REVISION,
                     HOST_SUBSYS_VENDOR, HOST_SUBSYS_ID);
    p->dev[0] = &p->host;
    p->next_mmio = mmio_base;
    return 0;
}

void kvm_pci_fini(struct kvm_pci *p)
{
    pthread_mutex_destroy(&p->lock);
}

int kvm_pci_add(struct kvm_pci *p, struct kvm_pci_dev *d)
{
    for (unsigned s = 1; s < KVM_PCI_SLOTS; s++) {
        if (p->dev[s])
            continue;
        for (unsigned b = 0; b < PCI_STD_NUM_BARS; b++) {
            uint32_t sz = d->bar_size[b];
            if (!sz)
                continue;
            p->next_mmio = (p->next_mmio + sz - 1) & ~(uint64_t)(sz - 1);
            w32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * b, (uint32_t)p->next_mmio);
            p->next_mmio += sz;
        }
        d->cfg[PCI_INTERRUPT_PIN] = 0;        /* no INTx pin: MSI-X only */
        d->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
        p->dev[s] = d;
        return (int)s;
    }
    return -ENOSPC;
}

static uint32_t cfg_read(struct kvm_pci_dev *d, unsigned off, unsigned len)
{
    uint32_t v = 0;

    if (!d)
        return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
    memcpy(&v, d->cfg + off, len);
    return v;
}

static void cfg_write(struct kvm_pci_dev *d, unsigned off, unsigned len, uint32_t v)
{
    if (!d)
        return;
    for (unsigned i = 0; i < len; i++) {
        unsigned o = off + i;
        uint8_t b = (uint8_t)(v >> (8 * i));
        if (o >= PCI_BASE_ADDRESS_0 && o < PCI_CARDBUS_CIS) {
            unsigned bar = (o - PCI_BASE_ADDRESS_0) / 4, byte = (o - PCI_BASE_ADDRESS_0) % 4;
            uint32_t sz = d->bar_size[bar];
            uint32_t mask = sz ? ~(sz - 1) & BAR_ADDR_MASK : 0;
            d->cfg[o] = (uint8_t)((d->cfg[o] & ~(mask >> (8 * byte))) |
                                  (b & (mask >> (8 * byte))));
        } else {
            d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (b & d->wmask[o]));
        }
    }
    if (d->cfg_written)
        d->cfg_written(d, off, len);
}

uint32_t kvm_pci_cfg_read(struct kvm_pci *p, unsigned slot, unsigned off, unsigned len)
{
    uint32_t v;

    if (slot >= KVM_PCI_SLOTS || off + len > PCI_CFG_SPACE_SIZE)
        return 0xffffffffu;
    pthread_mutex_lock(&p->lock);
    v = cfg_read(p->dev[slot], off, len);
    pthread_mutex_unlock(&p->lock);
    return v;
}

void kvm_pci_cfg_write(struct kvm_pci *p, unsigned slot, unsigned off, unsigned len, uint32_t v)
{
    if (slot >= KVM_PCI_SLOTS || off + len > PCI_CFG_SPACE_SIZE)
        return;
    pthread_mutex_lock(&p->lock);
    cfg_write(p->dev[slot], off, len, v);
    pthread_mutex_unlock(&p->lock);
}

bool kvm_pci_pio(struct kvm_pci *p, uint16_t port, uint8_t *data, unsigned len, bool write)
{
    uint32_t v = 0;

    if (port >= KVM_PCI_CONF_ADDR && port < KVM_PCI_CONF_ADDR + 4) {
        if (port != KVM_PCI_CONF_ADDR || len != 4) {
            /* Only 32-bit accesses reach the address latch (e.g. 0xcfb is
             * a different register on real chipsets). */
            if (!write)
                memset(data, 0xff, len);
            return true;
        }
        pthread_mutex_lock(&p->lock);
        if (write) {
            memcpy(&v, data, 4);
            p->addr = v & (CONF1_ENABLE | 0xfffffcu);   /* bus, slot, function, register */
        } else {
            memcpy(data, &p->addr, 4);
        }
        pthread_mutex_unlock(&p->lock);
        return true;
    }
    if (port >= KVM_PCI_CONF_DATA && port < KVM_PCI_CONF_DATA + 4) {
        uint32_t a;
        unsigned off, slot, bus, fn;

        pthread_mutex_lock(&p->lock);
        a = p->addr;
        off = (a & 0xfc) + (port - KVM_PCI_CONF_DATA);
        fn = (a >> 8) & 7;
        slot = (a >> 11) & 0x1f;
        bus = (a >> 16) & 0xff;
        if (!(a & CONF1_ENABLE) || bus != 0 || fn != 0 || off + len > PCI_CFG_SPACE_SIZE) {
            if (!write)
                memset(data, 0xff, len);
        } else if (write) {
            memcpy(&v, data, len);
            cfg_write(p->dev[slot], off, len, v);
        } else {
            v = cfg_read(p->dev[slot], off, len);
            memcpy(data, &v, len);
        }
        pthread_mutex_unlock(&p->lock);
        return true;
    }
    return false;
}

bool kvm_pci_mmio(struct kvm_pci *p, uint64_t addr, uint8_t *data, unsigned len, bool write)
{
    pthread_mutex_lock(&p->lock);
    for (unsigned s = 1; s < KVM_PCI_SLOTS; s++) {
        struct kvm_pci_dev *d = p->dev[s];
        if (!d)
            continue;
        for (unsigned b = 0; b < PCI_STD_NUM_BARS; b++) {
            uint64_t base = kvm_pci_bar_addr(d, b);
            if (base && addr >= base && addr + len <= base + d->bar_size[b]) {
                d->bar_io(d, b, addr - base, data, len, write);
                pthread_mutex_unlock(&p->lock);
                return true;
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return false;
}
