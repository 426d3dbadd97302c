/*
 * Per-vCPU CPUID, derived from KVM_GET_SUPPORTED_CPUID: APIC ids and topology
 * so the guest counts its CPUs right, the hypervisor bit, no PMU, and the TSC
 * frequency in the leaves Linux reads so it never calibrates against the PIT.
 */
#include <stdbool.h>
#include <string.h>

#include "spry/cpuid.h"

#define CPUID_1_ECX_TSC_DEADLINE	(1u << 24)
#define CPUID_1_ECX_HYPERVISOR		(1u << 31)
#define CPUID_1_EDX_HTT			(1u << 28)
#define CPUID_LEAF_4_LEVEL(eax)		(((eax) >> 5) & 7)
#define TOPO_LEVEL_SMT			1
#define TOPO_LEVEL_CORE			2

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

static struct kvm_cpuid_entry2 *cpuid_get(struct kvm_cpuid2 *c, uint32_t function,
					  uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);

	if (e)
		return e;
	e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	return e;
}

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static bool vendor_is_intel(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0, 0);

	/* "GenuineIntel" in EBX, EDX, ECX order. */
	return e && e->ebx == 0x756e6547 && e->edx == 0x49656e69 && e->ecx == 0x6c65746e;
}

static void adjust_leaf1(struct kvm_cpuid_entry2 *e, unsigned int cpu, unsigned int ncpus)
{
	e->ebx = (e->ebx & 0x0000ffff) | (cpu << 24) | ((ncpus & 0xff) << 16);
	e->ecx |= CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_TSC_DEADLINE;
	if (ncpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
}

/* Intel leaf 4: one core per vCPU, every cache private but the last level. */
static void adjust_leaf4(struct kvm_cpuid_entry2 *e, unsigned int ncpus)
{
	uint32_t sharing = CPUID_LEAF_4_LEVEL(e->eax) >= 3 ? ncpus - 1 : 0;

	e->eax = (e->eax & 0x3fff) | ((ncpus - 1) << 26) | (sharing << 14);
}

/* Extended topology (0xB, 0x1F): one thread per core, @ncpus cores per package. */
static void adjust_topology(struct kvm_cpuid_entry2 *e, unsigned int cpu, unsigned int ncpus)
{
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
		break;
	case 1:
		e->eax = bits_for(ncpus);
		e->ebx = ncpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
	e->edx = cpu;
}

/*
 * Leaves 0x15 (TSC/crystal ratio) and 0x16 (frequencies) are what Linux reads
 * on Intel for a known TSC rate; elsewhere kvmclock carries it.
 */
static void add_tsc_leaves(struct kvm_cpuid2 *c, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *e, *max = cpuid_find(c, 0, 0);

	if (!tsc_khz || !vendor_is_intel(c) || !max)
		return;
	if (max->eax < 0x16)
		max->eax = 0x16;
	e = cpuid_get(c, 0x15, 0, 0);
	e->eax = 1;
	e->ebx = 1;
	e->ecx = tsc_khz * 1000u;
	e->edx = 0;
	e = cpuid_get(c, 0x16, 0, 0);
	e->eax = tsc_khz / 1000;
	e->ebx = tsc_khz / 1000;
	e->ecx = 1000;		/* 1 GHz bus, the APIC timer rate KVM uses */
	e->edx = 0;
}

void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int cpu, unsigned int ncpus, uint32_t tsc_khz)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			adjust_leaf1(e, cpu, ncpus);
			break;
		case 4:
			adjust_leaf4(e, ncpus);
			break;
		case 0xa:	/* no PMU until one is emulated and tested */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			adjust_topology(e, cpu, ncpus);
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffu) | (ncpus - 1);
			break;
		}
	}
	add_tsc_leaves(c, tsc_khz);
}
