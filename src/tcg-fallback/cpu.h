/*
 * TCG-lite's CPU core: the vCPU state, the environment it runs in, and the
 * interpreter's entry points. The design note below is the map of this folder.
 *
 * Structure (same-ISA, tiered; see docs/TCG-LITE.md):
 *
 *   decode.c, tables.c   table-driven x86 decoder: bytes -> struct x86_insn
 *                        (length, operands, sizes, flags read/written/undefined)
 *   exec.c               tier 0: blocks of decoded instructions cached by the
 *                        host address of their code (which stands for the guest
 *                        physical address) and CPU mode, each with an execution
 *                        counter (the hook for the tier-1 emitter); one handler
 *                        per operation, and threaded dispatch over the block:
 *                        each instruction's handler tail-calls the next one's
 *   ops_fast.c           handlers specialised at decode time per operation,
 *                        size and operand shape for the hot forms (ALU, mov,
 *                        lea, jcc, call/ret, ...), chosen when a block is built
 *   ops_*.c, alu.c       the handlers, with eager bit-exact flags
 *   atomic.c             read-modify-writes of a destination operand: a locked
 *                        one (LOCK, xchg with memory) in RAM is one host atomic
 *                        operation (exchange, fetch-add, compare-exchange, or a
 *                        compare-exchange loop around the ALU step), since RAM
 *                        is shared with other threads and processes
 *   mem.c                software TLB (direct-mapped, read/write/exec tags and a
 *                        host addend) in front of env->tlb_fill, which is the
 *                        page walk in a VM and a flat map in user mode; a page
 *                        holding decoded code is never writable through the
 *                        TLB, so a write to it takes the slow path and drops the
 *                        cached blocks (self-modifying code works)
 *   cpuid.c              the CPU model: CPUID leaves and the TSC
 *
 * Faults: a handler that faults calls tcg_raise(), which longjmps back to
 * tcg_run() with RIP still at the faulting instruction. Handlers therefore do
 * every access that can fault before they change any register or flag.
 *
 * Flags are computed eagerly, bit-exact where the SDM defines them, except
 * where no later instruction of the block can see them (dead flags: see
 * block_flags() in exec.c, which keeps RFLAGS exact at every fault and exit).
 * The flags it leaves undefined are the fundef column of tables.c; the
 * interpreter gives them: AF = 0 after and/or/xor/test and shifts; OF by the count-1 formula
 * after multi-bit shifts and rotates; SF/ZF/PF from the low half after mul and
 * imul; unchanged after div/idiv, bt* (all but CF) and bsf/bsr (all but ZF).
 * The differential tester (tests/tcg) masks exactly these.
 *
 *   ops_sse.c            SSE/SSE2 (integer in C, scalar floating point on the
 *                        host's SSE unit under the guest MXCSR), FXSAVE/FXRSTOR,
 *                        and the x87 control instructions (no x87 arithmetic)
 *   ops_sse4.c           SSE3, SSSE3, SSE4.1 and SSE4.2 (pcmpXstrX and crc32
 *                        among them); their floating point runs the host's own
 *                        instruction under the guest MXCSR, so the CPU model
 *                        advertises them only on a host with SSE4.1
 *   user*.c              the linux-user runner (`spry user`): ELF loader and
 *                        initial stack, the guest region map, system calls
 *                        passed to the host (see user.h)
 *
 *   accel.c              the accelerator (struct accel_ops tcg_accel_ops): a
 *                        single-vCPU VM at CPL 0 with the 4-level page walk as
 *                        tlb_fill, pages outside RAM going to the MMIO bus
 *                        (env->mmio), the system instructions (env->sysinsn:
 *                        CRn, MSRs, lgdt/lidt, far transfers, in/out, hlt) and
 *                        exceptions delivered through the long-mode IDT
 *
 * Not yet: SMP, 32-bit paging, IDT delivery outside long mode, x87 arithmetic,
 * MMX (and so the MMX forms of SSSE3), fisttp, AVX.
 */
#ifndef SPRY_TCG_CPU_H
#define SPRY_TCG_CPU_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

/* Exception vectors. */
enum {
	TCG_EXC_DE = 0, TCG_EXC_BP = 3, TCG_EXC_UD = 6, TCG_EXC_SS = 12,
	TCG_EXC_GP = 13, TCG_EXC_PF = 14,
};

/* Access kinds for the TLB. */
enum tcg_access { TCG_READ, TCG_WRITE, TCG_EXEC };

/* Why tcg_run() returned. */
enum tcg_exit {
	TCG_EXIT_BUDGET,	/* ran the number of instructions asked for */
	TCG_EXIT_STOP,		/* the environment asked to stop (cpu->stop) */
	TCG_EXIT_EXCEPTION,	/* cpu->exc_vector, RIP at the faulting instruction */
};

#define TCG_PAGE_SIZE 4096ULL
#define TCG_PAGE_MASK (~(TCG_PAGE_SIZE - 1))
#define TCG_TLB_BITS 8
#define TCG_TLB_SIZE (1 << TCG_TLB_BITS)

struct tcg_cpu;

/* What the interpreter needs from its environment: user mode, the tester, a VM. */
struct tcg_env_ops {
	/*
	 * Map the page holding @vaddr for @access: set *@host to the host
	 * address of the page's first byte and return 0, or return an exception
	 * vector with cpu->exc_error and cpu->fault_addr set.
	 */
	int (*tlb_fill)(struct tcg_cpu *cpu, uint64_t vaddr, enum tcg_access access,
			uint8_t **host);
	/* The syscall instruction; may set cpu->stop. */
	void (*syscall)(struct tcg_cpu *cpu);
	/*
	 * System instructions (X86_OP_SYSINSN, and hlt): mode switches, control
	 * registers, MSRs, port I/O. NULL outside a VM, where they raise #GP as
	 * at CPL 3. May set cpu->stop and change cpu->mode.
	 */
	void (*sysinsn)(struct tcg_cpu *cpu, const struct x86_insn *insn);
	/*
	 * An access of @size bytes (1, 2, 4, 8) to physical address @phys that
	 * is not RAM; tlb_fill returned TCG_FILL_MMIO for its page. May be NULL
	 * where tlb_fill never does.
	 */
	void (*mmio)(struct tcg_cpu *cpu, uint64_t phys, void *data, int size, bool write);
};

/* tlb_fill's answer for a page that is not RAM: cpu->mmio_phys holds its physical address. */
#define TCG_FILL_MMIO (-1)

struct tcg_tlb_entry {
	uint64_t tag[3];	/* page address per access kind; 1 when invalid */
	uintptr_t addend;	/* host address - guest address for the page */
};

struct tcg_block_cache;
struct tcg_block;

union tcg_xmm {
	uint8_t b[16];
	uint16_t w[8];
	uint32_t d[4];
	uint64_t q[2];
	float f[4];
	double fd[2];
};

#define TCG_MXCSR_RESET 0x1f80
#define TCG_MXCSR_MASK 0xffff	/* writable MXCSR bits (no DAZ-less parts here) */
#define TCG_FCW_RESET 0x37f

struct tcg_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	uint64_t fs_base, gs_base;
	int mode;		/* code size: 16, 32 or 64 */

	union tcg_xmm xmm[16];
	uint32_t mxcsr;
	uint16_t fcw, fsw;	/* x87 control and status words */
	uint8_t ftw;		/* x87 tag word, abridged (bit set: register valid) */
	uint8_t st[8][16];	/* x87 registers as FXSAVE stores them (no x87 arithmetic) */

	uint64_t next_rip;	/* during an instruction: where it falls through to */
	uint64_t icount;	/* instructions retired */
	union {
		struct {
			bool stop;		/* set by the environment to leave tcg_run() */
			bool code_written;	/* a write hit a page holding decoded code */
		};
		uint16_t leave;		/* either: one load in every threaded handler */
	};

	int exc_vector;
	uint32_t exc_error;
	uint64_t fault_addr;
	uint64_t mmio_phys;	/* set by tlb_fill with TCG_FILL_MMIO */

	const struct tcg_env_ops *env;
	void *opaque;		/* the environment's */

	struct tcg_tlb_entry tlb[TCG_TLB_SIZE];
	struct tcg_block_cache *blocks;
	const struct tcg_block *block;	/* the block running threaded, for a fault */
	jmp_buf fault_jmp;
};

/* Set up @cpu in 64-bit mode with every register zero; 0 or -ENOMEM. */
int tcg_cpu_init(struct tcg_cpu *cpu, const struct tcg_env_ops *env, void *opaque);
void tcg_cpu_destroy(struct tcg_cpu *cpu);

/* Run at most @budget instructions; returns an enum tcg_exit. */
int tcg_run(struct tcg_cpu *cpu, uint64_t budget);

/* Forget every mapping and decoded block (after the environment's map changes). */
void tcg_flush(struct tcg_cpu *cpu);

/* Forget every mapping but keep the decoded blocks. */
void tcg_tlb_flush(struct tcg_cpu *cpu);

/* Whether any host page in [@start, @end) holds decoded code. */
bool tcg_code_in_range(struct tcg_cpu *cpu, uintptr_t start, uintptr_t end);

/* Raise exception @vector from inside an instruction; does not return. */
_Noreturn void tcg_raise(struct tcg_cpu *cpu, int vector, uint32_t error);

/* The CPU model: CPUID results for @leaf/@subleaf into regs[4] (eax, ebx, ecx, edx). */
void tcg_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
/* The CPU model's IA32_ARCH_CAPABILITIES MSR (0x10a). */
uint64_t tcg_arch_capabilities(void);

#endif
