/* SPDX-License-Identifier: Apache-2.0 */
/* CPUID for a vCPU: KVM_GET_SUPPORTED_CPUID, filtered. */
#ifndef SLUICE_VMM_CPUID_H
#define SLUICE_VMM_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Adapt the supported CPUID entries @c in place for vCPU @cpu of @ncpus:
 * - leaf 1: APIC ID (EBX[31:24]) = @cpu, logical processor count, the
 *   hypervisor bit (ECX[31]) set, TSC-deadline (ECX[24]) set when @tsc_deadline
 *   (KVM_CAP_TSC_DEADLINE_TIMER: KVM emulates it but does not report it);
 * - leaf 4 / 0xb / 0x1f / 0x8000001e: topology of @ncpus cores, one thread
 *   each, in one package; x2APIC ID = @cpu;
 * - leaf 6 (thermal/power), 0xa (PMU): zeroed — not emulated;
 * - leaf 0x80000001: SVM removed (no nested virtualisation in the guest).
 * Entries absent from @c are left absent. */
void kvm_cpuid_filter(struct kvm_cpuid2 *c, unsigned cpu, unsigned ncpus, bool tsc_deadline);

/* The entry for (@function, @index) or NULL. */
struct kvm_cpuid_entry2 *kvm_cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index);

#endif
