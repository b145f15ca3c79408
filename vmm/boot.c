/* SPDX-License-Identifier: Apache-2.0 */
/* Linux x86 64-bit boot protocol: bzImage, boot_params, e820, page tables. */
#include "vmm/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "core/util.h"

#define HDR_OFF        0x1f1u
#define HDR_MAGIC      0x53726448u      /* "HdrS" */
#define LINUX_DECOMPRESS_ADDR 0x1000000ull  /* LOAD_PHYSICAL_ADDR of x86-64 kernels */

void kvm_guest_mem_init(struct kvm_guest_mem *m, uint8_t *hva, uint64_t size)
{
    m->hva = hva;
    m->size = size;
    m->low = MIN(size, KVM_PCI_HOLE);
}

void *kvm_gpa_ptr(const struct kvm_guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (gpa < m->low) {
        if (len > m->low - gpa)
            return NULL;
        return m->hva + gpa;
    }
    if (gpa >= KVM_HIGH_RAM) {
        uint64_t off = gpa - KVM_HIGH_RAM, high = m->size - m->low;
        if (off >= high || len > high - off)
            return NULL;
        return m->hva + m->low + off;
    }
    return NULL;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

int kvm_bzimage_parse(const uint8_t *img, size_t len, struct kvm_bzimage *out)
{
    size_t setup_sects;

    if (len < 0x1000 || rd16(img + 0x1fe) != 0xaa55 || rd32(img + 0x202) != HDR_MAGIC)
        return -ENOEXEC;
    memset(out, 0, sizeof(*out));
    out->version = rd16(img + 0x206);
    if (out->version < 0x020c)
        return -ENOTSUP;
    if (!(rd16(img + 0x236) & XLF_KERNEL_64))     /* xloadflags */
        return -ENOTSUP;
    if (!(img[0x211] & LOADED_HIGH))
        return -ENOTSUP;
    setup_sects = img[0x1f1] ? img[0x1f1] : 4;
    out->setup_size = (setup_sects + 1) * 512;
    if (out->setup_size >= len)
        return -ENOEXEC;
    out->kernel_size = len - out->setup_size;
    out->init_size = rd32(img + 0x260);
    out->initrd_addr_max = rd32(img + 0x22c);
    out->cmdline_size = rd32(img + 0x238);
    return 0;
}

int kvm_e820_build(const struct kvm_guest_mem *m, void *tab, unsigned max)
{
    struct boot_e820_entry e[6];
    unsigned n = 0;

    e[n++] = (struct boot_e820_entry){ 0, KVM_EBDA_ADDR, 1 };
    e[n++] = (struct boot_e820_entry){ KVM_EBDA_ADDR, 0xa0000 - KVM_EBDA_ADDR, 2 };
    e[n++] = (struct boot_e820_entry){ KVM_ACPI_ADDR, KVM_ACPI_SIZE, 2 };
    if (m->low > KVM_KERNEL_ADDR)
        e[n++] = (struct boot_e820_entry){ KVM_KERNEL_ADDR, m->low - KVM_KERNEL_ADDR, 1 };
    if (m->size > m->low)
        e[n++] = (struct boot_e820_entry){ KVM_HIGH_RAM, m->size - m->low, 1 };
    if (n > max)
        return -ENOSPC;
    memcpy(tab, e, n * sizeof(e[0]));
    return (int)n;
}

int kvm_boot_tables(const struct kvm_guest_mem *m)
{
    uint64_t *pml4 = kvm_gpa_ptr(m, KVM_PML4_ADDR, 0x6000);
    uint64_t *gdt = kvm_gpa_ptr(m, KVM_GDT_ADDR, 5 * 8);

    if (!pml4 || !gdt)
        return -ENOSPC;
    memset(pml4, 0, 0x6000);
    uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
    pml4[0] = (KVM_PML4_ADDR + 0x1000) | 0x3;             /* present, writable */
    for (unsigned i = 0; i < 4; i++) {
        pdpt[i] = (KVM_PML4_ADDR + 0x2000 + i * 0x1000ull) | 0x3;
        for (unsigned j = 0; j < 512; j++)
            pd[i * 512 + j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | 0x83; /* 2 MiB page */
    }
    gdt[0] = 0;
    gdt[1] = 0;
    gdt[2] = 0x00af9b000000ffffull;    /* 64-bit code, DPL 0 */
    gdt[3] = 0x00cf93000000ffffull;    /* data, 4 GiB */
    gdt[4] = 0x00008b0000000fffull;    /* busy 64-bit TSS at 0 (never used) */
    return 0;
}

static int zero_page(const struct kvm_guest_mem *m, struct boot_params **out)
{
    struct boot_params *bp = kvm_gpa_ptr(m, KVM_ZERO_PAGE_ADDR, sizeof(*bp));
    int n;

    if (!bp)
        return -ENOSPC;
    memset(bp, 0, sizeof(*bp));
    n = kvm_e820_build(m, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
    if (n < 0)
        return n;
    bp->e820_entries = (uint8_t)n;
    bp->acpi_rsdp_addr = KVM_ACPI_ADDR;
    *out = bp;
    return 0;
}

int kvm_boot_linux(const struct kvm_guest_mem *m, const uint8_t *kernel, size_t klen,
                   const uint8_t *initrd, size_t ilen, const char *cmdline,
                   struct kvm_boot_entry *out)
{
    struct kvm_bzimage bz;
    struct boot_params *bp;
    size_t hdr_len, cl = strlen(cmdline ? cmdline : "");
    uint64_t kend, need;
    uint8_t *dst;
    int r;

    r = kvm_bzimage_parse(kernel, klen, &bz);
    if (r < 0)
        return r;
    if (cl >= KVM_CMDLINE_MAX || (bz.cmdline_size && cl > bz.cmdline_size))
        return -ENAMETOOLONG;
    /* The kernel decompresses itself to 16 MiB and needs init_size there. */
    kend = MAX(KVM_KERNEL_ADDR + bz.kernel_size, LINUX_DECOMPRESS_ADDR + bz.init_size);
    need = kend + ALIGN_UP((uint64_t)ilen, 4096);
    if (need > m->low)
        return -ENOMEM;
    if ((r = kvm_boot_tables(m)) < 0 || (r = zero_page(m, &bp)) < 0)
        return r;
    dst = kvm_gpa_ptr(m, KVM_KERNEL_ADDR, bz.kernel_size);
    if (!dst)
        return -ENOMEM;
    memcpy(dst, kernel + bz.setup_size, bz.kernel_size);

    /* The setup header runs from 0x1f1 to the end given by the jump at 0x200. */
    hdr_len = MIN((size_t)(0x202 + kernel[0x201]) - HDR_OFF, sizeof(bp->hdr));
    memcpy(&bp->hdr, kernel + HDR_OFF, hdr_len);
    bp->hdr.type_of_loader = 0xff;
    bp->hdr.loadflags |= CAN_USE_HEAP;
    bp->hdr.heap_end_ptr = 0xfe00;
    bp->hdr.vid_mode = 0xffff;
    bp->hdr.code32_start = (uint32_t)KVM_KERNEL_ADDR;
    memcpy(kvm_gpa_ptr(m, KVM_CMDLINE_ADDR, cl + 1), cmdline ? cmdline : "", cl + 1);
    bp->hdr.cmd_line_ptr = (uint32_t)KVM_CMDLINE_ADDR;
    if (initrd && ilen) {
        uint64_t top = m->low, addr;
        if (bz.initrd_addr_max && top > (uint64_t)bz.initrd_addr_max + 1)
            top = (uint64_t)bz.initrd_addr_max + 1;
        if (top < ilen)
            return -ENOMEM;
        addr = (top - ilen) & ~0xfffull;
        if (addr < kend)
            return -ENOMEM;
        memcpy(kvm_gpa_ptr(m, addr, ilen), initrd, ilen);
        bp->hdr.ramdisk_image = (uint32_t)addr;
        bp->hdr.ramdisk_size = (uint32_t)ilen;
    }
    out->rip = KVM_KERNEL_ADDR + 0x200;      /* startup_64 */
    out->rsi = KVM_ZERO_PAGE_ADDR;
    return 0;
}

int kvm_boot_raw(const struct kvm_guest_mem *m, const uint8_t *prog, size_t len,
                 struct kvm_boot_entry *out)
{
    struct boot_params *bp;
    uint8_t *dst = kvm_gpa_ptr(m, KVM_KERNEL_ADDR, len);
    int r;

    if (!dst || len == 0)
        return -ENOMEM;
    if ((r = kvm_boot_tables(m)) < 0 || (r = zero_page(m, &bp)) < 0)
        return r;
    memcpy(dst, prog, len);
    out->rip = KVM_KERNEL_ADDR;
    out->rsi = KVM_ZERO_PAGE_ADDR;
    return 0;
}
