/*
 * Tier 0's block cache: decoded instruction blocks keyed by code address and
 * mode, with per-block execution counts, and the set of host pages that hold
 * decoded code (written through the TLB's slow path only).
 */
#ifndef SPRY_TCG_EXEC_H
#define SPRY_TCG_EXEC_H

#include "cpu.h"

#define TCG_BLOCK_MAX_INSNS 64

/*
 * A decoded instruction in a block: its handler in the generic form, the
 * threaded one that runs it and the rest of the block (a form specialised
 * for the operation, size and operand kinds where ops_fast.c has one, else
 * a wrapper of the generic handler), and the address it falls through to.
 * RIP-relative memory operands are resolved to absolute displacements in the
 * copy here. A block ends with a sentinel whose run returns.
 */
struct tcg_binsn {
	void (*run)(struct tcg_cpu *cpu, const struct tcg_binsn *e);
	void (*fn)(struct tcg_cpu *cpu, const struct x86_insn *insn);
	uint64_t next_rip;
	/*
	 * Whether RFLAGS is exact after this instruction, so that the block may
	 * be left there (cpu->stop, cpu->code_written): false while a flag that
	 * an earlier instruction did not compute (it was dead) is not yet
	 * overwritten.
	 */
	bool may_exit;
	uint8_t left;		/* instructions after this one in the block */
	struct x86_insn insn;
};

/*
 * A block runs threaded with cpu->icount already counting all of it and
 * cpu->rip left behind: a handler sets RIP only where it may fault (to its
 * own address) or ends the block. Leaving after @e, the block gives back the
 * instructions it did not run and says where it stopped.
 */
static inline void tcg_block_leave(struct tcg_cpu *cpu, const struct tcg_binsn *e)
{
	cpu->rip = e->next_rip;
	cpu->icount -= e->left;
}

/* The address of @e's instruction. */
static inline uint64_t tcg_binsn_pc(const struct tcg_binsn *e)
{
	uint64_t pc = e->next_rip - e->insn.len;

	return e->insn.mode == 64 ? pc : (uint32_t)pc;
}

/*
 * The threaded handler specialised for @insn decoded in @mode, or NULL when
 * only the generic one applies (ops_fast.c). With @flags_dead, one that
 * leaves the arithmetic flags alone, where there is one.
 */
void (*tcg_fast_handler(const struct x86_insn *insn, int mode,
			bool flags_dead))(struct tcg_cpu *, const struct tcg_binsn *);

struct tcg_block {
	uint64_t pc;		/* guest address of the first instruction */
	uintptr_t host;		/* host address of its first byte */
	uint64_t execs;		/* times entered: the hook for tier 1 */
	struct tcg_block *next;	/* hash chain */
	struct tcg_block *all;	/* every block, for flushing */
	int mode;
	int ninsn;
	struct tcg_binsn insn[];	/* ninsn and the sentinel */
};

/* Whether host page @host holds decoded code (then a write to it drops the blocks). */
bool tcg_code_page_test(struct tcg_cpu *cpu, uintptr_t host);

/* The block at cpu->rip, decoded now if it is not cached; raises on a fetch fault. */
struct tcg_block *tcg_block_get(struct tcg_cpu *cpu);

/* Drop every decoded block and code page. */
void tcg_blocks_flush(struct tcg_cpu *cpu);

#endif
