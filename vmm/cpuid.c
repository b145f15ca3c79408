/* SPDX-License-Identifier: Apache-2.0 */
#include "vmm/cpuid.h"

#include <stddef.h>

struct kvm_cpuid_entry2 *kvm_cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == function &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

/* Bits needed to number @n items. */
static unsigned order(unsigned n)
{
    unsigned b = 0;

    while ((1u << b) < n)
        b++;
    return b;
}

void kvm_cpuid_filter(struct kvm_cpuid2 *c, unsigned cpu, unsigned ncpus, bool tsc_deadline)
{
    unsigned core_bits = order(ncpus);

    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];

        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffffu) | (cpu << 24) |
                     ((ncpus > 255 ? 255u : ncpus) << 16);
            e->ebx = (e->ebx & ~0xff00u) | (8u << 8);      /* CLFLUSH line 64 bytes */
            e->ecx |= 1u << 31;                            /* hypervisor */
            if (tsc_deadline)
                e->ecx |= 1u << 24;                        /* emulated by KVM's LAPIC */
            if (ncpus > 1)
                e->edx |= 1u << 28;                        /* HTT: count field valid */
            break;
        case 4:
            /* Cores per package - 1 in EAX[31:26]; threads sharing the cache. */
            e->eax = (e->eax & 0x3ffu) | ((ncpus - 1) << 26) |
                     ((((e->eax >> 5) & 7) >= 3 ? ncpus - 1 : 0) << 14);
            break;
        case 6:
        case 0xa:
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0xb:
        case 0x1f:
            e->edx = cpu;
            if (e->index == 0) {                /* SMT level: one thread */
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (1u << 8) | 0;
            } else if (e->index == 1) {         /* core level */
                e->eax = core_bits;
                e->ebx = ncpus;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case 7:
            if (e->index == 0)
                e->ecx &= ~(1u << 3);           /* PKU: not worth an xstate component */
            break;
        case 0xd:
            if (e->index == 0)
                e->eax &= ~(1u << 9);           /* PKRU state */
            break;
        case 0x80000001:
            e->ecx &= ~(1u << 2);               /* SVM */
            break;
        case 0x80000008:
            /* AMD: number of cores - 1 and the APIC ID size. */
            e->ecx = (e->ecx & ~0xf0ffu) | (ncpus - 1) | (core_bits << 12);
            break;
        case 0x8000001e:
            e->eax = cpu;
            e->ebx = (e->ebx & ~0xffffu) | cpu;    /* core id, one thread per core */
            e->ecx = 0;
            break;
        case 0x8000000a:                         /* SVM features */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        default:
            break;
        }
    }
}
