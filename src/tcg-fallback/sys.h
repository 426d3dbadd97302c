/*
 * TCG-lite's system environment, shared by the accelerator (accel.c: vCPUs,
 * interrupts, exception delivery) and the system instructions and memory
 * management it runs on (sys.c): the vCPU's system state and the
 * architectural constants both use.
 */
#ifndef SPRY_TCG_SYS_H
#define SPRY_TCG_SYS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"
#include "spry/vm.h"

#define CR0_PE		(1ULL << 0)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define RFLAGS_IOPL_MASK (3ULL << 12)
#define RFLAGS_NT	(1ULL << 14)
#define RFLAGS_RF	(1ULL << 16)
#define RFLAGS_AC	(1ULL << 18)
#define RFLAGS_ID	(1ULL << 21)
#define EFER_SCE	(1ULL << 0)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)

#define MSR_TSC			0x10
#define MSR_APIC_BASE		0x1b
#define MSR_ARCH_CAPABILITIES	0x10a
#define MSR_MISC_ENABLE		0x1a0
#define MSR_PAT			0x277
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SFMASK		0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_US		(1ULL << 2)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)
#define PTE_ADDR	0x000ffffffffff000ULL

#define PFERR_P		1u
#define PFERR_W		2u
#define PFERR_U		4u
#define PFERR_I		0x10u

/*
 * Instructions between checks of vm_stopping() and of the local APIC (its
 * timer, interrupts from other threads): about 0.2 ms of guest time.
 */
#define RUN_BUDGET	(1u << 16)
/* Longest HLT sleep between checks of vm_stopping() when nothing else wakes it. */
#define HALT_MAX_NS	100000000
#define APIC_BASE_ENABLE (1u << 11)

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

struct tcg_vcpu {
	struct tcg_cpu cpu;
	struct vcpu *vcpu;
	struct vm *vm;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint16_t sel[SEG_COUNT];
	int cpl;		/* CS.RPL: 0 or 3 (Linux uses no rings between) */
	uint16_t tr, ldtr;	/* task register and LDT selectors */
	uint64_t tr_base;	/* the 64-bit TSS: RSP0 and the IST stacks */
	uint32_t tr_limit;
	uint64_t dr[8];		/* debug registers: kept, no breakpoints fire */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, pat, misc_enable, apic_base;
	atomic_bool kicked;
	struct lapic *lapic;
	bool irq_shadow;	/* after STI: one more instruction before interrupts */
	/* HLT sleeps here; kicks and new interrupts signal it. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool wake;
};

/* The machine-wide state: the IOAPIC all vCPUs' local APICs hang off. */
struct tcg_machine {
	struct ioapic *ioapic;
};


static inline struct tcg_vcpu *tv_of(struct tcg_cpu *cpu)
{
	return cpu->opaque;
}

/* The system environment (sys.c) every TCG-lite vCPU runs in. */
extern const struct tcg_env_ops tcg_sys_env;
/* Load CS with selector @sel from the GDT: the code size and the CPL follow it. sys.c. */
void tcg_load_cs(struct tcg_vcpu *t, uint16_t sel);

/* What is being delivered: it decides the error code, RF and the gate's DPL check. */
enum tcg_event {
	TCG_EVENT_EXCEPTION,	/* a fault or trap the CPU raised */
	TCG_EVENT_SOFTWARE,	/* int n, int3: the gate's DPL must allow the CPL */
	TCG_EVENT_EXTERNAL,	/* an interrupt: no error code, no RF */
};

/*
 * Deliver @vec through the long-mode IDT, switching to the TSS's RSP0 or IST
 * stack as the gate and privilege change ask; false when that faults
 * (cpu->exc_vector says how) with the vCPU as it was. accel.c.
 */
bool tcg_deliver(struct tcg_vcpu *t, int vec, uint32_t error, enum tcg_event kind);
/*
 * Enter privilege level @cpl. The TLB holds translations checked for one
 * level, so a change drops it. sys.c.
 */
void tcg_set_cpl(struct tcg_vcpu *t, int cpl);
/* The 8-byte stack pointer at @offset in the TSS (RSP0: 4, ISTn: 0x24 + 8 (n - 1)). sys.c. */
uint64_t tcg_tss_stack(struct tcg_vcpu *t, uint32_t offset);
/* hlt: sleep until an interrupt can be taken or the VM stops. accel.c. */
void tcg_halt(struct tcg_vcpu *t);

#endif
