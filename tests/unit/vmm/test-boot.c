/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vmm/boot.c and vmm/acpi.c: e820, page tables, GDT,
 * bzImage parsing and boot_params, ACPI tables. */
#include <asm/bootparam.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/acpi.h"
#include "vmm/boot.h"

static void test_e820(void **state)
{
    struct kvm_guest_mem m;
    struct boot_e820_entry e[8];
    int n;

    (void)state;
    kvm_guest_mem_init(&m, NULL, 512ull << 20);
    n = kvm_e820_build(&m, e, 8);
    assert_int_equal(n, 4);
    assert_int_equal(e[0].addr, 0);
    assert_int_equal(e[0].size, 0x9fc00);
    assert_int_equal(e[0].type, 1);
    assert_int_equal(e[1].type, 2);
    assert_int_equal(e[2].addr, KVM_ACPI_ADDR);
    assert_int_equal(e[2].type, 2);
    assert_int_equal(e[3].addr, 0x100000);
    assert_int_equal(e[3].addr + e[3].size, 512ull << 20);
    /* 4 GiB: RAM above 3 GiB moves above the hole. */
    kvm_guest_mem_init(&m, NULL, 4ull << 30);
    assert_int_equal(m.low, KVM_PCI_HOLE);
    n = kvm_e820_build(&m, e, 8);
    assert_int_equal(n, 5);
    assert_int_equal(e[3].addr + e[3].size, KVM_PCI_HOLE);
    assert_int_equal(e[4].addr, KVM_HIGH_RAM);
    assert_int_equal(e[4].size, (4ull << 30) - KVM_PCI_HOLE);
    assert_int_equal(kvm_e820_build(&m, e, 3), -ENOSPC);
}

static void test_gpa_ptr(void **state)
{
    static uint8_t ram[1];
    struct kvm_guest_mem m;

    (void)state;
    kvm_guest_mem_init(&m, ram, 4ull << 30);
    assert_ptr_equal(kvm_gpa_ptr(&m, 0, 1), ram);
    assert_null(kvm_gpa_ptr(&m, KVM_PCI_HOLE, 1));            /* the hole */
    assert_null(kvm_gpa_ptr(&m, KVM_PCI_HOLE - 1, 2));        /* runs into it */
    assert_true((uintptr_t)kvm_gpa_ptr(&m, KVM_HIGH_RAM, 1) == (uintptr_t)ram + KVM_PCI_HOLE);
    assert_null(kvm_gpa_ptr(&m, KVM_HIGH_RAM + (1ull << 30), 1));
}

static uint8_t *fake_bzimage(size_t len)
{
    uint8_t *k = calloc(1, len);
    uint32_t magic = 0x53726448, init = 32u << 20, cl = 2048;
    uint16_t ver = 0x020f, xlf = 1;

    k[0x1f1] = 4;                         /* setup_sects */
    k[0x1fe] = 0x55; k[0x1ff] = 0xaa;
    k[0x201] = 0x6a;                      /* jump: header up to 0x26c */
    memcpy(k + 0x202, &magic, 4);
    memcpy(k + 0x206, &ver, 2);
    k[0x211] = 1;                         /* LOADED_HIGH */
    memcpy(k + 0x236, &xlf, 2);
    memcpy(k + 0x238, &cl, 4);
    memcpy(k + 0x260, &init, 4);
    memset(k + 5 * 512, 0xcc, len - 5 * 512);
    return k;
}

static void test_bzimage(void **state)
{
    size_t len = 64 * 1024, msize = 128u << 20;
    uint8_t *k = fake_bzimage(len), *ram = calloc(1, msize), initrd[8192];
    struct kvm_guest_mem m;
    struct kvm_bzimage bz;
    struct kvm_boot_entry e;
    struct boot_params *bp;
    uint64_t *pml4, *pd;
    uint64_t *gdt;

    (void)state;
    assert_int_equal(kvm_bzimage_parse(k, len, &bz), 0);
    assert_int_equal(bz.setup_size, 5 * 512);
    assert_int_equal(bz.kernel_size, len - 5 * 512);
    k[0x202] = 'X';
    assert_int_equal(kvm_bzimage_parse(k, len, &bz), -ENOEXEC);
    k[0x202] = 0x48;
    k[0x236] = 0;                         /* no 64-bit entry */
    assert_int_equal(kvm_bzimage_parse(k, len, &bz), -ENOTSUP);
    k[0x236] = 1;
    assert_int_equal(kvm_bzimage_parse(k, 100, &bz), -ENOEXEC);

    memset(initrd, 0x5a, sizeof(initrd));
    kvm_guest_mem_init(&m, ram, msize);
    assert_int_equal(kvm_boot_linux(&m, k, len, initrd, sizeof(initrd), "console=ttyS0", &e), 0);
    assert_int_equal(e.rip, KVM_KERNEL_ADDR + 0x200);
    assert_int_equal(e.rsi, KVM_ZERO_PAGE_ADDR);
    bp = (struct boot_params *)(ram + KVM_ZERO_PAGE_ADDR);
    assert_int_equal(bp->hdr.type_of_loader, 0xff);
    assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
    assert_int_equal(bp->hdr.cmd_line_ptr, KVM_CMDLINE_ADDR);
    assert_string_equal((char *)ram + KVM_CMDLINE_ADDR, "console=ttyS0");
    assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
    assert_int_equal(bp->hdr.ramdisk_image % 4096, 0);
    assert_true(bp->hdr.ramdisk_image + sizeof(initrd) <= msize);
    assert_memory_equal(ram + bp->hdr.ramdisk_image, initrd, sizeof(initrd));
    assert_int_equal(bp->e820_entries, 4);
    assert_int_equal(bp->acpi_rsdp_addr, KVM_ACPI_ADDR);
    assert_int_equal(ram[KVM_KERNEL_ADDR], 0xcc);
    /* Identity map: PML4[0] -> PDPT, PDPT[i] -> PD i, 2 MiB pages. */
    pml4 = (uint64_t *)(ram + KVM_PML4_ADDR);
    assert_int_equal(pml4[0], (KVM_PML4_ADDR + 0x1000) | 3);
    assert_int_equal(pml4[1], 0);
    assert_int_equal(pml4[512 + 3], (KVM_PML4_ADDR + 0x5000) | 3);
    pd = pml4 + 1024;
    assert_int_equal(pd[0], 0x83);
    assert_int_equal(pd[1], 0x200000 | 0x83);
    assert_int_equal(pd[4 * 512 - 1], 0xffe00000ull | 0x83);
    gdt = (uint64_t *)(ram + KVM_GDT_ADDR);
    assert_int_equal(gdt[KVM_BOOT_CS / 8], 0x00af9b000000ffffull);
    assert_int_equal(gdt[KVM_BOOT_DS / 8], 0x00cf93000000ffffull);

    /* Too little memory for init_size at 16 MiB, command line too long. */
    kvm_guest_mem_init(&m, ram, 32u << 20);
    assert_int_equal(kvm_boot_linux(&m, k, len, NULL, 0, "", &e), -ENOMEM);
    kvm_guest_mem_init(&m, ram, msize);
    {
        char *cl = malloc(4096);
        memset(cl, 'a', 4095);
        cl[4095] = 0;
        assert_int_equal(kvm_boot_linux(&m, k, len, NULL, 0, cl, &e), -ENAMETOOLONG);
        free(cl);
    }
    free(k);
    free(ram);
}

static void test_acpi(void **state)
{
    uint8_t buf[4096];
    int n = kvm_acpi_build(buf, sizeof(buf), KVM_ACPI_ADDR, 2);
    uint64_t xsdt, fadt, madt;
    uint32_t dsdt, len;

    (void)state;
    assert_true(n > 0);
    assert_memory_equal(buf, "RSD PTR ", 8);
    assert_int_equal(kvm_acpi_checksum(buf, 20), 0);
    assert_int_equal(kvm_acpi_checksum(buf, 36), 0);
    memcpy(&xsdt, buf + 24, 8);
    xsdt -= KVM_ACPI_ADDR;
    assert_memory_equal(buf + xsdt, "XSDT", 4);
    memcpy(&len, buf + xsdt + 4, 4);
    assert_int_equal(kvm_acpi_checksum(buf + xsdt, len), 0);
    memcpy(&fadt, buf + xsdt + 36, 8);
    memcpy(&madt, buf + xsdt + 44, 8);
    fadt -= KVM_ACPI_ADDR;
    madt -= KVM_ACPI_ADDR;
    assert_memory_equal(buf + fadt, "FACP", 4);
    memcpy(&len, buf + fadt + 4, 4);
    assert_int_equal(len, 276);
    assert_int_equal(kvm_acpi_checksum(buf + fadt, len), 0);
    memcpy(&dsdt, buf + fadt + 40, 4);
    dsdt -= KVM_ACPI_ADDR;
    assert_memory_equal(buf + dsdt, "DSDT", 4);
    memcpy(&len, buf + dsdt + 4, 4);
    assert_int_equal(kvm_acpi_checksum(buf + dsdt, len), 0);
    assert_memory_equal(buf + dsdt + 36, "\x08_S5_\x12", 6);
    assert_memory_equal(buf + madt, "APIC", 4);
    memcpy(&len, buf + madt + 4, 4);
    assert_int_equal(len, 44 + 2 * 8 + 12);
    assert_int_equal(kvm_acpi_checksum(buf + madt, len), 0);
    assert_int_equal(buf[madt + 44 + 8 + 3], 1);      /* second CPU: APIC ID 1 */
    assert_int_equal(buf[madt + 44 + 16], 1);         /* then the IOAPIC */
    assert_int_equal(kvm_acpi_build(buf, sizeof(buf), KVM_ACPI_ADDR, 0), -EINVAL);
    assert_int_equal(kvm_acpi_build(buf, 100, KVM_ACPI_ADDR, 1), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e820),
        cmocka_unit_test(test_gpa_ptr),
        cmocka_unit_test(test_bzimage),
        cmocka_unit_test(test_acpi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
