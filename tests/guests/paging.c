/*
 * Long-mode paging as the CPU does it: a read sets the accessed bit in
 * every level's entry and leaves the dirty bit clear, a write sets dirty,
 * and page faults carry the architectural error code and CR2 (not present,
 * write to a read-only page with CR0.WP, fetch from an NX page with
 * EFER.NXE), with RF set in the saved RFLAGS. The pages under test are mapped with 4 KiB entries at 512 GiB,
 * through the library's PML4, so every level is one this payload owns.
 */
#include "guest.h"

#define TEST_VA		0x8000000000ULL	/* PML4 slot 1 */
#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_A		0x20ULL
#define PTE_D		0x40ULL
#define PTE_NX		(1ULL << 63)
#define PFERR_P		0x1
#define PFERR_W		0x2
#define PFERR_I		0x10
#define CR0_WP		(1ULL << 16)
#define EFER_NXE	(1ULL << 11)

static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t data[4096] __attribute__((aligned(4096)));

#define RFLAGS_RF	(1ULL << 16)

static volatile uint64_t fault_vector, fault_error, fault_cr2, fault_rflags;

/*
 * probe_read/probe_write touch one byte and return 0; a fault there (or in
 * a call to an address) resumes at probe_faulted, which returns 1.
 */
int probe_read(volatile uint8_t *p);
int probe_write(volatile uint8_t *p);
int probe_faulted(void);
asm(".text\n"
    "probe_read: movb (%rdi), %al\n xorl %eax, %eax\n ret\n"
    "probe_write: movb $0x5a, (%rdi)\n xorl %eax, %eax\n ret\n"
    "probe_faulted: movl $1, %eax\n ret\n");

static void record_fault(struct trap_frame *f)
{
	uint64_t cr2;

	asm volatile("mov %%cr2, %0" : "=r"(cr2));
	fault_vector = f->vector;
	fault_error = f->error;
	fault_cr2 = cr2;
	fault_rflags = f->rflags;
	f->rip = (uint64_t)probe_faulted;
}

static uint64_t read_cr3(void)
{
	uint64_t v;

	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

/* Reload CR3: drops every cached translation of the test pages. */
static void flush_tlb(void)
{
	asm volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory");
}

static void enable_wp_nx(void)
{
	uint64_t cr0;
	uint32_t lo, hi;

	asm volatile("mov %%cr0, %0" : "=r"(cr0));
	asm volatile("mov %0, %%cr0" : : "r"(cr0 | CR0_WP));
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
	asm volatile("wrmsr" : : "a"(lo | (uint32_t)EFER_NXE), "d"(hi), "c"(MSR_EFER));
}

static int failures;

static void check(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return;
	cprintf("paging: %s: got %lx, want %lx\n", what, got, want);
	failures++;
}

/* A fault of @vector with @error at @va, from probe @fn. */
static void check_fault(const char *what, int (*fn)(volatile uint8_t *), uint64_t va,
			uint64_t error)
{
	fault_vector = fault_error = fault_cr2 = ~0ULL;
	check(what, fn((volatile uint8_t *)va), 1);
	check(what, fault_vector, 14);
	check(what, fault_error, error);
	check(what, fault_cr2, va);
	check(what, fault_rflags & RFLAGS_RF, RFLAGS_RF);	/* a fault saves RF set */
}

int main(void)
{
	uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xfffULL);
	uint64_t ad = PTE_A | PTE_D;
	volatile uint8_t *rw = (volatile uint8_t *)TEST_VA;
	volatile uint8_t *ro = rw + 0x1000;

	enable_wp_nx();
	pdpt[0] = (uint64_t)pd | PTE_P | PTE_RW;
	pd[0] = (uint64_t)pt | PTE_P | PTE_RW;
	pt[0] = (uint64_t)data | PTE_P | PTE_RW;		/* read-write */
	pt[1] = (uint64_t)data | PTE_P;				/* read-only alias */
	pt[3] = (uint64_t)data | PTE_P | PTE_RW | PTE_NX;	/* no execute */
	pml4[1] = (uint64_t)pdpt | PTE_P | PTE_RW;
	flush_tlb();
	trap_hook = record_fault;

	data[0] = 0xc3;	/* ret, for the fetch through the NX alias */
	check("read", probe_read(rw), 0);
	check("A/D after read: pml4e", pml4[1] & ad, PTE_A);
	check("A/D after read: pdpte", pdpt[0] & ad, PTE_A);
	check("A/D after read: pde", pd[0] & ad, PTE_A);
	check("A/D after read: pte", pt[0] & ad, PTE_A);
	check("write", probe_write(rw), 0);
	check("A/D after write: pte", pt[0] & ad, ad);
	check("written byte", data[0], 0x5a);

	check_fault("read-only write", probe_write, (uint64_t)ro, PFERR_P | PFERR_W);
	check("A/D of the faulting pte", pt[1] & PTE_D, 0);
	check_fault("not present read", probe_read, TEST_VA + 0x2000, 0);
	check_fault("not present write", probe_write, TEST_VA + 0x2000, PFERR_W);

	data[0] = 0xc3;
	fault_vector = fault_error = fault_cr2 = ~0ULL;
	check("nx fetch", ((int (*)(void))(TEST_VA + 0x3000))(), 1);
	check("nx fetch vector", fault_vector, 14);
	check("nx fetch error", fault_error, PFERR_P | PFERR_I);
	check("nx fetch cr2", fault_cr2, TEST_VA + 0x3000);

	/* A cleared dirty bit is set again by the next write, once the TLB is flushed. */
	pt[0] &= ~PTE_D;
	flush_tlb();
	check("write again", probe_write(rw), 0);
	check("D set again", pt[0] & PTE_D, PTE_D);

	trap_hook = NULL;
	if (failures)
		return GUEST_FAIL;
	cprintf("paging: ok\n");
	return GUEST_PASS;
}
