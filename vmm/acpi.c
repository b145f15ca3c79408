/* SPDX-License-Identifier: Apache-2.0 */
/* ACPI 6.x tables (ACPI spec chapter 5), written byte by byte. */
#include "vmm/acpi.h"

#include <errno.h>
#include <string.h>

#define RSDP_OFF  0x000
#define XSDT_OFF  0x040
#define FADT_OFF  0x100
#define FACS_OFF  0x240
#define DSDT_OFF  0x280
#define MADT_OFF  0x300
#define FADT_LEN  276

static void w8(uint8_t *p, size_t off, uint8_t v) { p[off] = v; }
static void w16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void w32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void w64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

uint8_t kvm_acpi_checksum(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;

    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + b[i]);
    return s;
}

/* The 36-byte common header; the checksum is fixed up by seal(). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    w32(t, 4, len);
    w8(t, 8, rev);
    memcpy(t + 10, "SLUICE", 6);
    memcpy(t + 16, "SLUICEVM", 8);
    w32(t, 24, 1);
    memcpy(t + 28, "SLCE", 4);
    w32(t, 32, 1);
}

static void seal(uint8_t *t, size_t len, size_t csum_off)
{
    t[csum_off] = 0;
    t[csum_off] = (uint8_t)(0 - kvm_acpi_checksum(t, len));
}

/* Generic address structure: system I/O space. */
static void gas_io(uint8_t *p, size_t off, uint8_t bits, uint64_t port)
{
    w8(p, off, 1);
    w8(p, off + 1, bits);
    w8(p, off + 2, 0);
    w8(p, off + 3, 1);           /* byte access */
    w64(p, off + 4, port);
}

int kvm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, unsigned ncpus)
{
    /* Name (_S5, Package (2) { 5, 5 }) */
    static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02,
                                  0x0a, 0x05, 0x0a, 0x05 };
    uint32_t madt_len = 44 + 8 * ncpus + 12;
    uint8_t *t;

    if (ncpus == 0 || ncpus > 255)
        return -EINVAL;
    if (len < MADT_OFF + madt_len)
        return -ENOSPC;
    memset(buf, 0, MADT_OFF + madt_len);

    /* RSDP (revision 2). */
    t = buf + RSDP_OFF;
    memcpy(t, "RSD PTR ", 8);
    memcpy(t + 9, "SLUICE", 6);
    w8(t, 15, 2);
    w32(t, 20, 36);
    w64(t, 24, gpa + XSDT_OFF);
    seal(t, 20, 8);
    seal(t, 36, 32);

    /* XSDT: FADT, MADT. */
    t = buf + XSDT_OFF;
    header(t, "XSDT", 36 + 16, 1);
    w64(t, 36, gpa + FADT_OFF);
    w64(t, 44, gpa + MADT_OFF);
    seal(t, 36 + 16, 9);

    /* FADT. */
    t = buf + FADT_OFF;
    header(t, "FACP", FADT_LEN, 6);
    w32(t, 36, (uint32_t)(gpa + FACS_OFF));
    w32(t, 40, (uint32_t)(gpa + DSDT_OFF));
    w16(t, 46, KVM_ACPI_SCI_IRQ);
    w32(t, 56, KVM_ACPI_PM1A_EVT);
    w32(t, 64, KVM_ACPI_PM1A_CNT);
    w8(t, 88, 4);                /* PM1_EVT_LEN */
    w8(t, 89, 2);                /* PM1_CNT_LEN */
    w16(t, 96, 101);             /* C2 not supported */
    w16(t, 98, 1001);            /* C3 not supported */
    w16(t, 109, (1u << 2) | (1u << 5));   /* no VGA, no CMOS RTC; no 8042 to probe
                                             * (its reset command still works) */
    w32(t, 112, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10)); /* WBINVD, no power/sleep
                                                                   * buttons, RESET_REG */
    gas_io(t, 116, 8, 0xcf9);
    w8(t, 128, 6);
    w8(t, 131, 4);               /* FADT minor version */
    w64(t, 132, gpa + FACS_OFF);
    w64(t, 140, gpa + DSDT_OFF);
    gas_io(t, 148, 32, KVM_ACPI_PM1A_EVT);
    gas_io(t, 172, 16, KVM_ACPI_PM1A_CNT);
    seal(t, FADT_LEN, 9);

    /* FACS (no checksum). */
    t = buf + FACS_OFF;
    memcpy(t, "FACS", 4);
    w32(t, 4, 64);
    w8(t, 32, 2);

    /* DSDT. */
    t = buf + DSDT_OFF;
    header(t, "DSDT", 36 + sizeof(s5), 2);
    memcpy(t + 36, s5, sizeof(s5));
    seal(t, 36 + sizeof(s5), 9);

    /* MADT. */
    t = buf + MADT_OFF;
    header(t, "APIC", madt_len, 5);
    w32(t, 36, KVM_LAPIC_ADDR);
    w32(t, 40, 1);               /* PCAT_COMPAT: there are 8259s (masked by Linux) */
    for (unsigned i = 0; i < ncpus; i++) {
        uint8_t *e = t + 44 + 8 * i;
        e[0] = 0;                /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;       /* ACPI processor UID */
        e[3] = (uint8_t)i;       /* APIC ID */
        w32(e, 4, 1);            /* enabled */
    }
    {
        uint8_t *e = t + 44 + 8 * ncpus;
        e[0] = 1;                /* I/O APIC */
        e[1] = 12;
        e[2] = 0;                /* IOAPIC ID */
        w32(e, 4, KVM_IOAPIC_ADDR);
        w32(e, 8, 0);            /* GSI base */
    }
    seal(t, madt_len, 9);
    return (int)(MADT_OFF + madt_len);
}
