/*
 * Per-vCPU CPUID, derived from KVM_GET_SUPPORTED_CPUID: APIC ids and topology
 * so the guest counts its CPUs right, the hypervisor bit, no PMU, and the TSC
 * frequency in the leaves Linux reads so it never calibrates against the PIT.
 */
#include <stdbool.h>
#include <string.h>

#include "spry/cpuid.h"

#define CPUID_1_ECX_HYPERVISOR		(1u << 31)
#define CPUID_1_EDX_HTT			(1u << 28)
#define CPUID_LEAF_4_LEVEL(eax)		(((eax) >> 5) & 7)
#define TOPO_LEVEL_SMT			1
#define TOPO_LEVEL_CORE			2
#define APIC_BUS_HZ			1000000000u	/* KVM's LAPIC timer clock */

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

static uint32_t max_basic_leaf(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0, 0);

	return e ? e->eax : 0;
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

/*
 * Extended topology (0xB, and 0x1F where the maximum basic leaf reaches it):
 * one thread per core, @ncpus cores per package. KVM reports only an empty
 * subleaf 0, so every subleaf the guest walks (SMT, core, then the invalid
 * level that ends the walk) is written here.
 */
static void set_topology_leaf(struct kvm_cpuid2 *c, uint32_t function, unsigned int cpu,
			      unsigned int ncpus)
{
	for (uint32_t sub = 0; sub < 3; sub++) {
		struct kvm_cpuid_entry2 *e = cpuid_get(c, function, sub,
						       KVM_CPUID_FLAG_SIGNIFCANT_INDEX);

		e->flags |= KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		switch (sub) {
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
			e->eax = e->ebx = 0;
			e->ecx = sub;
			break;
		}
		e->edx = cpu;
	}
}

/* AMD's topology extension: each vCPU its own core of a single node. */
static void adjust_amd_topology(struct kvm_cpuid_entry2 *e, unsigned int cpu)
{
	e->eax = cpu;		/* extended APIC id */
	e->ebx = cpu & 0xff;	/* core id; one thread per core */
	e->ecx = 0;		/* node 0, one node per package */
	e->edx = 0;
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
	/*
	 * The "crystal" is KVM's 1 GHz APIC timer clock, so a guest that derives
	 * its LAPIC timer rate from this leaf gets the right one:
	 * TSC Hz = crystal Hz * EBX / EAX = 1e9 * tsc_khz / 1e6.
	 */
	e = cpuid_get(c, 0x15, 0, 0);
	e->eax = 1000000;
	e->ebx = tsc_khz;
	e->ecx = APIC_BUS_HZ;
	e->edx = 0;
	e = cpuid_get(c, 0x16, 0, 0);
	e->eax = tsc_khz / 1000;
	e->ebx = tsc_khz / 1000;
	e->ecx = APIC_BUS_HZ / 1000000;
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
		case 0x8000001e:
			adjust_amd_topology(e, cpu);
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffu) | (ncpus - 1);
			break;
		}
	}
	set_topology_leaf(c, 0xb, cpu, ncpus);
	if (max_basic_leaf(c) >= 0x1f)
		set_topology_leaf(c, 0x1f, cpu, ncpus);
	add_tsc_leaves(c, tsc_khz);
}
