/*
 * Tier 0's block cache: decoded instruction blocks keyed by code address and
 * mode, with per-block execution counts, and the set of host pages that hold
 * decoded code (written through the TLB's slow path only).
 */
#ifndef SPRY_TCG_EXEC_H
#define SPRY_TCG_EXEC_H

#include "cpu.h"

#define TCG_BLOCK_MAX_INSNS 64

struct tcg_block {
	uint64_t pc;		/* guest address of the first instruction */
	uintptr_t host;		/* host address of its first byte */
	uint64_t execs;		/* times entered: the hook for tier 1 */
	struct tcg_block *next;	/* hash chain */
	struct tcg_block *all;	/* every block, for flushing */
	int mode;
	int ninsn;
	struct x86_insn insn[];
};

/* Whether host page @host holds decoded code (then a write to it drops the blocks). */
bool tcg_code_page_test(struct tcg_cpu *cpu, uintptr_t host);

/* The block at cpu->rip, decoded now if it is not cached; raises on a fetch fault. */
struct tcg_block *tcg_block_get(struct tcg_cpu *cpu);

/* Drop every decoded block and code page. */
void tcg_blocks_flush(struct tcg_cpu *cpu);

#endif
