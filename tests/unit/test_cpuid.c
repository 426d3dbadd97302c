/*
 * Per-vCPU CPUID adjustment: APIC ids, topology leaves, hypervisor bit, PMU
 * hidden, and the TSC leaves on Intel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "spry/cpuid.h"

static struct kvm_cpuid2 *make_cpuid(bool intel)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (8 + CPUID_EXTRA_ENTRIES) *
					  sizeof(struct kvm_cpuid_entry2));
	struct kvm_cpuid_entry2 *e = c->entries;

	e[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	if (intel) {
		e[0].ebx = 0x756e6547;
		e[0].edx = 0x49656e69;
		e[0].ecx = 0x6c65746e;
	}
	e[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0800, .edx = 1u << 28 };
	e[2] = (struct kvm_cpuid_entry2){ .function = 0xa, .eax = 0x07300403, .ebx = 0xff };
	/* What KVM_GET_SUPPORTED_CPUID gives since Linux 6.1: an empty subleaf 0 only. */
	e[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[4] = (struct kvm_cpuid_entry2){ .function = 4, .index = 3, .eax = 0x163 | (7u << 26),
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[5] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 0, .ebx = 0x100 };
	c->nent = 6;
	return c;
}

static void apic_id_and_hypervisor_bit(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);
	struct kvm_cpuid_entry2 *e;

	cpuid_adjust(c, 3, 4, 0);
	e = cpuid_find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 3);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal(e->ebx & 0xffff, 0x0800);	/* CLFLUSH size kept */
	assert_true(e->ecx & (1u << 31));
	assert_true(e->edx & (1u << 28));
	free(c);
}

static void single_cpu_has_no_htt(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);

	cpuid_adjust(c, 0, 1, 0);
	assert_false(cpuid_find(c, 1, 0)->edx & (1u << 28));
	free(c);
}

static void topology_1f_when_max_leaf_allows(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);

	cpuid_find(c, 0, 0)->eax = 0x1f;
	cpuid_adjust(c, 1, 2, 0);
	assert_int_equal(cpuid_find(c, 0x1f, 1)->ebx, 2);
	assert_int_equal(cpuid_find(c, 0x1f, 1)->edx, 1);
	assert_true(c->nent <= 6 + CPUID_EXTRA_ENTRIES);
	free(c);
}

static void topology_leaves(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);
	struct kvm_cpuid_entry2 *smt, *core, *l3;

	cpuid_adjust(c, 5, 6, 0);
	smt = cpuid_find(c, 0xb, 0);
	core = cpuid_find(c, 0xb, 1);
	assert_int_equal(smt->ebx, 1);
	assert_int_equal(smt->edx, 5);
	assert_int_equal((smt->ecx >> 8) & 0xff, 1);
	assert_int_equal(core->eax, 3);		/* 6 CPUs need 3 bits of APIC id */
	assert_int_equal(core->ebx, 6);
	assert_int_equal(core->edx, 5);
	assert_int_equal((core->ecx >> 8) & 0xff, 2);
	/* The walk ends at an invalid level. */
	assert_non_null(cpuid_find(c, 0xb, 2));
	assert_int_equal((cpuid_find(c, 0xb, 2)->ecx >> 8) & 0xff, 0);
	assert_int_equal(cpuid_find(c, 0xb, 2)->edx, 5);
	/* 0x1F only when the maximum basic leaf reaches it. */
	assert_null(cpuid_find(c, 0x1f, 0));
	assert_int_equal(cpuid_find(c, 0x8000001e, 0)->ebx, 5);
	assert_int_equal(cpuid_find(c, 0x8000001e, 0)->eax, 5);
	l3 = cpuid_find(c, 4, 3);
	assert_int_equal(l3->eax >> 26, 5);
	assert_int_equal((l3->eax >> 14) & 0xfff, 5);
	assert_int_equal(l3->eax & 0x3fff, 0x163);
	free(c);
}

static void pmu_hidden(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);

	cpuid_adjust(c, 0, 1, 0);
	assert_int_equal(cpuid_find(c, 0xa, 0)->eax, 0);
	assert_int_equal(cpuid_find(c, 0xa, 0)->ebx, 0);
	free(c);
}

static void tsc_leaves_on_intel(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(true);
	struct kvm_cpuid_entry2 *e;

	cpuid_adjust(c, 0, 1, 5200000);
	assert_int_equal(cpuid_find(c, 0, 0)->eax, 0x16);
	e = cpuid_find(c, 0x15, 0);
	assert_non_null(e);
	/* Linux computes TSC Hz as ECX * EBX / EAX: 5.2 GHz must not overflow 32 bits. */
	assert_int_equal((uint64_t)e->ecx * e->ebx / e->eax, 5200000000ULL);
	/* ...and takes the crystal (ECX) as the LAPIC timer clock: KVM's 1 GHz. */
	assert_int_equal(e->ecx, 1000000000);
	assert_int_equal(cpuid_find(c, 0x16, 0)->eax, 5200);
	free(c);
}

static void no_tsc_leaves_elsewhere(void **state)
{
	struct kvm_cpuid2 *c = make_cpuid(false);

	cpuid_adjust(c, 0, 1, 2450000);
	assert_null(cpuid_find(c, 0x15, 0));
	assert_null(cpuid_find(c, 0x16, 0));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(apic_id_and_hypervisor_bit),
		cmocka_unit_test(single_cpu_has_no_htt),
		cmocka_unit_test(topology_leaves),
		cmocka_unit_test(topology_1f_when_max_leaf_allows),
		cmocka_unit_test(pmu_hidden),
		cmocka_unit_test(tsc_leaves_on_intel),
		cmocka_unit_test(no_tsc_leaves_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
