/*
 * The CPUID a guest vCPU sees: what KVM supports, adjusted for this vCPU's
 * place in the topology, the hypervisor leaves and a known TSC frequency.
 */
#ifndef SPRY_CPUID_H
#define SPRY_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#define CPUID_1_ECX_TSC_DEADLINE	(1u << 24)

/* Room for the leaves cpuid_adjust() may add: 3 subleaves each of 0xB and 0x1F, 0x15, 0x16. */
#define CPUID_EXTRA_ENTRIES 8

/*
 * Adjust @c in place for vCPU @cpu of @ncpus. @c must have room for
 * CPUID_EXTRA_ENTRIES more entries than c->nent. @tsc_khz 0 means unknown.
 */
void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int cpu, unsigned int ncpus, uint32_t tsc_khz);

/* The entry for (@function, @index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index);

#endif
