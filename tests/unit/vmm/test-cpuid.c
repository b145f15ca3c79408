/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vmm/cpuid.c on synthetic KVM_GET_SUPPORTED_CPUID output. */
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmm/cpuid.h"

static struct kvm_cpuid2 *make(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 16 * sizeof(c->entries[0]));
    unsigned n = 0;

    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x800f12,
                                                 .ebx = 0xff0800, .ecx = 0x1, .edx = 0 };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 6, .eax = 4, .ecx = 1 };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0,
                                                 .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1,
                                                 .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0x4 | 0x1 };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0, .ecx = 0x8 | 0x4,
                                                 .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
    c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0xa, .eax = 0x123 };
    c->nent = n;
    return c;
}

static void test_filter(void **state)
{
    struct kvm_cpuid2 *c = make();
    struct kvm_cpuid_entry2 *e;

    (void)state;
    kvm_cpuid_filter(c, 3, 4, true);
    e = kvm_cpuid_find(c, 1, 0);
    assert_non_null(e);
    assert_int_equal(e->ebx >> 24, 3);                 /* APIC ID */
    assert_int_equal((e->ebx >> 16) & 0xff, 4);        /* logical processors */
    assert_int_equal((e->ebx >> 8) & 0xff, 8);         /* CLFLUSH 64 bytes */
    assert_true(e->ecx & (1u << 31));                  /* hypervisor */
    assert_true(e->ecx & (1u << 24));                  /* TSC deadline */
    assert_true(e->ecx & 1);                           /* untouched bits stay */
    assert_true(e->edx & (1u << 28));                  /* HTT */
    e = kvm_cpuid_find(c, 6, 0);
    assert_int_equal(e->eax | e->ecx, 0);
    e = kvm_cpuid_find(c, 0xa, 0);
    assert_int_equal(e->eax, 0);
    e = kvm_cpuid_find(c, 0xb, 1);
    assert_int_equal(e->edx, 3);                       /* x2APIC ID */
    assert_int_equal(e->ebx, 4);
    assert_int_equal(e->eax, 2);                       /* shift for 4 cores */
    e = kvm_cpuid_find(c, 0xb, 0);
    assert_int_equal(e->ebx, 1);
    e = kvm_cpuid_find(c, 0x80000001, 0);
    assert_int_equal(e->ecx, 0x1);                     /* SVM gone */
    e = kvm_cpuid_find(c, 7, 0);
    assert_int_equal(e->ecx, 0x4);                     /* PKU gone */
    assert_null(kvm_cpuid_find(c, 0x8000001e, 0));     /* absent stays absent */
    free(c);

    c = make();
    kvm_cpuid_filter(c, 0, 1, false);
    e = kvm_cpuid_find(c, 1, 0);
    assert_false(e->ecx & (1u << 24));
    assert_false(e->edx & (1u << 28));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_filter) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
