/* SPDX-License-Identifier: Apache-2.0 */
/* Guest physical memory map and Linux boot (the x86 64-bit boot protocol,
 * Documentation/arch/x86/boot.rst): boot_params ("zero page") with the e820
 * map, command line, initrd, the identity page tables and GDT the 64-bit
 * entry point expects, and the ACPI tables (acpi.c) the kernel finds CPUs,
 * the IOAPIC and the poweroff register in.
 *
 * Guest physical layout (RAM is one memfd; the part above 3 GiB is moved
 * above 4 GiB so the 3-4 GiB hole holds PCI BARs, IOAPIC and LAPIC):
 *
 *   0x0000_0500  GDT                      0x0000_7000  boot_params
 *   0x0000_9000  PML4, PDPT, 4 PDs        0x0002_0000  command line
 *   0x0009_fc00  reserved (EBDA)          0x000e_0000  ACPI tables (reserved)
 *   0x0010_0000  kernel (protected-mode part of the bzImage)
 *   top of low RAM, page aligned downwards: initrd
 *   0xc000_0000  PCI MMIO (BARs)           0xfec0_0000 IOAPIC, 0xfee0_0000 LAPIC
 *   0x1_0000_0000 RAM above 3 GiB, if any
 */
#ifndef SLUICE_VMM_BOOT_H
#define SLUICE_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define KVM_GDT_ADDR         0x500ull
#define KVM_ZERO_PAGE_ADDR   0x7000ull
#define KVM_PML4_ADDR        0x9000ull      /* PDPT at +0x1000, PDs at +0x2000.. */
#define KVM_CMDLINE_ADDR     0x20000ull
#define KVM_CMDLINE_MAX      0x10000u
#define KVM_EBDA_ADDR        0x9fc00ull
#define KVM_ACPI_ADDR        0xe0000ull
#define KVM_ACPI_SIZE        0x20000ull
#define KVM_KERNEL_ADDR      0x100000ull
#define KVM_PCI_HOLE         0xc0000000ull   /* RAM above this moves to 4 GiB */
#define KVM_PCI_MMIO_BASE    0xc0000000ull
#define KVM_PCI_MMIO_END     0xfec00000ull
#define KVM_HIGH_RAM         0x100000000ull

#define KVM_BOOT_CS 0x10     /* GDT entry 2: 64-bit code (Linux __BOOT_CS) */
#define KVM_BOOT_DS 0x18     /* GDT entry 3: data (Linux __BOOT_DS) */

/* Guest RAM: @size bytes mapped at @hva; gpa [0, low) is hva [0, low) and
 * gpa [4 GiB, 4 GiB + size - low) is hva [low, size). */
struct kvm_guest_mem {
    uint8_t *hva;
    uint64_t size;
    uint64_t low;       /* min(size, KVM_PCI_HOLE) */
};

/* Fill in ->low from ->size. */
void kvm_guest_mem_init(struct kvm_guest_mem *m, uint8_t *hva, uint64_t size);
/* Host pointer of [gpa, gpa+len) when it is RAM in one piece, else NULL. */
void *kvm_gpa_ptr(const struct kvm_guest_mem *m, uint64_t gpa, uint64_t len);

/* What kvm_bzimage_parse() found in a bzImage. */
struct kvm_bzimage {
    uint16_t version;        /* boot protocol, e.g. 0x020f */
    size_t setup_size;       /* bytes before the protected-mode kernel */
    size_t kernel_size;      /* protected-mode part */
    uint32_t init_size;      /* memory the kernel needs from its load address */
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;   /* maximum command line length */
};

/* Check @img is a bzImage the 64-bit boot protocol can start: "HdrS" magic,
 * protocol >= 2.12 and XLF_KERNEL_64. Returns 0, -ENOEXEC (not a bzImage)
 * or -ENOTSUP (too old, or no 64-bit entry point). */
int kvm_bzimage_parse(const uint8_t *img, size_t len, struct kvm_bzimage *out);

/* Where the boot CPU starts. */
struct kvm_boot_entry {
    uint64_t rip;
    uint64_t rsi;            /* boot_params */
};

/* The e820 map for @m: RAM [0, 0x9fc00), reserved EBDA and ACPI, RAM from
 * 1 MiB to @m->low and from 4 GiB. Writes at most @max entries to @tab
 * (struct boot_e820_entry) and returns the count, or -ENOSPC. */
int kvm_e820_build(const struct kvm_guest_mem *m, void *tab, unsigned max);

/* Identity-map the first 4 GiB with 2 MiB pages at KVM_PML4_ADDR and write
 * the GDT at KVM_GDT_ADDR. Returns 0 or -ENOSPC (guest RAM too small). */
int kvm_boot_tables(const struct kvm_guest_mem *m);

/* Load a bzImage, initrd and command line into guest RAM, and fill
 * boot_params. @initrd may be NULL. Returns 0; -ENOEXEC/-ENOTSUP (see
 * kvm_bzimage_parse); -ENAMETOOLONG (command line longer than the kernel
 * takes); -ENOMEM (RAM too small for the kernel's init_size or the initrd);
 * -ENOSPC (tables). */
int kvm_boot_linux(const struct kvm_guest_mem *m, const uint8_t *kernel, size_t klen,
                   const uint8_t *initrd, size_t ilen, const char *cmdline,
                   struct kvm_boot_entry *out);

/* Load a flat 64-bit program at KVM_KERNEL_ADDR and enter it like a kernel
 * (long mode, our page tables and GDT, RSI = boot_params). For tests.
 * Returns 0, -ENOMEM or -ENOSPC. */
int kvm_boot_raw(const struct kvm_guest_mem *m, const uint8_t *prog, size_t len,
                 struct kvm_boot_entry *out);

#endif
