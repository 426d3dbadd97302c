/*
 * TCG-lite's CPU model as CPUID reports it: a family-6 GenuineIntel part with
 * the baseline features Linux needs, SSE3 to SSE4.2, and nothing the
 * interpreter does not implement (no BMI1/LZCNT, so tzcnt/lzcnt decode as
 * bsf/bsr; no AVX/XSAVE).
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "ops.h"

/*
 * Leaf 1 EDX: FPU PSE TSC MSR PAE CX8 APIC PGE CMOV PAT MMX FXSR SSE SSE2,
 * the x86-64 baseline (x87/SSE: later stage); the APIC is spry's userspace
 * local APIC; global pages are flushed with the rest on a CR3 write.
 */
#define L1_EDX ((1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | \
		(1u << 9) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 23) | (1u << 24) | \
		(1u << 25) | (1u << 26))
/* Leaf 1 ECX: CX16, MOVBE, POPCNT, HYPERVISOR. */
#define L1_ECX ((1u << 13) | (1u << 22) | (1u << 23) | (1u << 31))
/*
 * Leaf 1 ECX: SSE3, SSSE3, SSE4.1, SSE4.2 (not MONITOR: monitor/mwait are
 * #UD; fisttp is x87 arithmetic, which is not implemented either). Their
 * floating point forms run on the host's SSE4.1, so only where it has that.
 */
#define L1_ECX_SSE4 ((1u << 0) | (1u << 9) | (1u << 19) | (1u << 20))
/*
 * Leaf 7 EDX: ARCH_CAPABILITIES. An interpreter does not speculate: the MSR
 * (tcg_arch_capabilities) says so, and a guest skips page-table isolation
 * and the other speculation workarounds it would otherwise apply.
 */
#define L7_EDX (1u << 29)
/* Leaf 0x80000001 EDX: SYSCALL, NX, LM; ECX: LAHF_LM. */
#define X1_EDX ((1u << 11) | (1u << 20) | (1u << 29))
#define X1_ECX (1u << 0)

/*
 * Leaves 0x15 and 0x16 give the TSC rate (rdtsc reads the host's TSC) as a
 * ratio to a 1 GHz crystal, the clock the local APIC timer runs on, so a
 * guest takes both from here instead of calibrating against a PIT.
 */
#define CRYSTAL_HZ	1000000000u
#define CALIBRATE_NS	20000000

static uint32_t host_tsc_mhz;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void measure_tsc(void)
{
	struct timespec nap = { 0, CALIBRATE_NS };
	uint64_t t0 = monotonic_ns(), c0 = __builtin_ia32_rdtsc(), t1, c1;

	nanosleep(&nap, NULL);
	t1 = monotonic_ns();
	c1 = __builtin_ia32_rdtsc();
	host_tsc_mhz = (uint32_t)(((c1 - c0) * 1000 + (t1 - t0) / 2) / (t1 - t0));
}

/* The host TSC's rate in MHz, measured once against CLOCK_MONOTONIC. */
static uint32_t tsc_mhz(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, measure_tsc);
	return host_tsc_mhz;
}

/*
 * IA32_ARCH_CAPABILITIES: not affected by Meltdown (RDCL_NO), L1TF, SSB,
 * MDS, TAA, MMIO stale data (SBDR_SSDP_NO, FBSDP_NO, PSDP_NO), BHI, PBRSB,
 * GDS, RFDS nor ITS; no L1D flush needed on VM entry, no machine check on
 * page-size changes.
 */
uint64_t tcg_arch_capabilities(void)
{
	return 1ULL << 0 | 1ULL << 3 | 1ULL << 4 | 1ULL << 5 | 1ULL << 6 | 1ULL << 8 |
	       1ULL << 13 | 1ULL << 14 | 1ULL << 15 | 1ULL << 20 | 1ULL << 24 | 1ULL << 26 |
	       1ULL << 27 | 1ULL << 62;
}

static void brand(uint32_t leaf, uint32_t regs[4])
{
	static const char name[48] = "spry TCG-lite x86-64 CPU";

	memcpy(regs, name + (leaf - 0x80000002) * 16, 16);
}

void tcg_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	memset(regs, 0, 4 * sizeof(regs[0]));
	switch (leaf) {
	case 0:
		regs[0] = 0x16;
		memcpy(&regs[1], "Genu", 4);
		memcpy(&regs[3], "ineI", 4);
		memcpy(&regs[2], "ntel", 4);
		break;
	case 1:
		regs[0] = 0x000506e3;	/* family 6, model 0x5e, stepping 3 */
		regs[1] = 8 << 8;	/* clflush line 64 bytes */
		regs[2] = L1_ECX | (tcg_host_sse41() ? L1_ECX_SSE4 : 0);
		regs[3] = L1_EDX;
		break;
	case 7:
		if (subleaf == 0)
			regs[3] = L7_EDX;
		break;
	case 0x15:
		regs[0] = 1000;
		regs[1] = tsc_mhz();
		regs[2] = CRYSTAL_HZ;
		break;
	case 0x16:
		regs[0] = regs[1] = tsc_mhz();
		regs[2] = CRYSTAL_HZ / 1000000;
		break;
	case 0x80000000:
		regs[0] = 0x80000004;
		break;
	case 0x80000001:
		regs[2] = X1_ECX;
		regs[3] = X1_EDX;
		break;
	case 0x80000002: case 0x80000003: case 0x80000004:
		brand(leaf, regs);
		break;
	}
}
