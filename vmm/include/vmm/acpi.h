/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal ACPI tables: RSDP, XSDT, FADT (with FACS), DSDT holding only the
 * \_S5 sleep object, and MADT (one local APIC per vCPU, the IOAPIC). They
 * tell Linux where its CPUs and IOAPIC are and give `poweroff` a register:
 * writing SLP_TYP=5 | SLP_EN to the PM1a control block (KVM_ACPI_PM1A_CNT)
 * ends the VM. The FADT's reset register is port 0xcf9 (value 6).
 * There is no PCI root bridge in the DSDT: the kernel is booted with
 * pci=noacpi and scans bus 0 through configuration mechanism #1. */
#ifndef SLUICE_VMM_ACPI_H
#define SLUICE_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define KVM_ACPI_PM1A_EVT    0x600    /* 4 bytes: status, enable */
#define KVM_ACPI_PM1A_CNT    0x604    /* 2 bytes */
#define KVM_ACPI_SCI_IRQ     9
#define KVM_ACPI_SLP_EN      (1u << 13)
#define KVM_ACPI_SLP_TYP(v)  (((v) >> 10) & 7u)
#define KVM_ACPI_S5          5u
#define KVM_RESET_PORT       0xcf9
#define KVM_IOAPIC_ADDR      0xfec00000u
#define KVM_LAPIC_ADDR       0xfee00000u

/* Build the tables into @buf (@len bytes), which the guest sees at @gpa;
 * the RSDP comes first (at @gpa). Returns the bytes used, -EINVAL (@ncpus 0
 * or above 255) or -ENOSPC. */
int kvm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, unsigned ncpus);

/* The 8-bit checksum of @len bytes (0 for a valid table). */
uint8_t kvm_acpi_checksum(const void *p, size_t len);

#endif
