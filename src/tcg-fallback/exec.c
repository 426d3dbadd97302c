/*
 * Tier 0: the run loop over cached blocks of decoded instructions, the block
 * cache (hash of code address and mode, per-block counters) and the code-page
 * set that makes writes to decoded code drop the cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "mem.h"
#include "ops.h"

#define BUCKETS 4096

struct tcg_block_cache {
	struct tcg_block *bucket[BUCKETS];
	struct tcg_block *all;	/* list of every block */
	uintptr_t *pages;	/* open-addressed set of host code pages; 0 = empty */
	size_t npages, cap;
};

static const tcg_handler handlers[X86_OP_COUNT] = {
	[X86_OP_UD] = op_ud,
	[X86_OP_ADD] = op_alu, [X86_OP_OR] = op_alu, [X86_OP_ADC] = op_alu,
	[X86_OP_SBB] = op_alu, [X86_OP_AND] = op_alu, [X86_OP_SUB] = op_alu,
	[X86_OP_XOR] = op_alu, [X86_OP_CMP] = op_alu,
	[X86_OP_ROL] = op_shift, [X86_OP_ROR] = op_shift, [X86_OP_RCL] = op_shift,
	[X86_OP_RCR] = op_shift, [X86_OP_SHL] = op_shift, [X86_OP_SHR] = op_shift,
	[X86_OP_SAL] = op_shift, [X86_OP_SAR] = op_shift,
	[X86_OP_TEST] = op_test, [X86_OP_NOT] = op_not, [X86_OP_NEG] = op_neg,
	[X86_OP_MUL] = op_mul, [X86_OP_IMUL1] = op_mul, [X86_OP_DIV] = op_div,
	[X86_OP_IDIV] = op_div, [X86_OP_IMUL2] = op_imul2,
	[X86_OP_INC] = op_incdec, [X86_OP_DEC] = op_incdec,
	[X86_OP_SHLD] = op_shld, [X86_OP_SHRD] = op_shld,
	[X86_OP_MOV] = op_mov, [X86_OP_MOVZX] = op_movzx, [X86_OP_MOVSX] = op_movsx,
	[X86_OP_LEA] = op_lea,
	[X86_OP_BT] = op_bt, [X86_OP_BTS] = op_bt, [X86_OP_BTR] = op_bt, [X86_OP_BTC] = op_bt,
	[X86_OP_BSF] = op_bsf, [X86_OP_BSR] = op_bsr,
	[X86_OP_TZCNT] = op_bsf, [X86_OP_LZCNT] = op_bsr, [X86_OP_POPCNT] = op_popcnt,
	[X86_OP_CMOV] = op_cmov, [X86_OP_SETCC] = op_setcc, [X86_OP_JCC] = op_jcc,
	[X86_OP_JMP] = op_jmp, [X86_OP_JMP_IND] = op_jmp_ind, [X86_OP_CALL] = op_call,
	[X86_OP_CALL_IND] = op_call_ind, [X86_OP_RET] = op_ret, [X86_OP_LOOP] = op_loop,
	[X86_OP_JRCXZ] = op_jrcxz,
	[X86_OP_PUSH] = op_push, [X86_OP_POP] = op_pop, [X86_OP_PUSHF] = op_pushf,
	[X86_OP_POPF] = op_popf, [X86_OP_LEAVE] = op_leave,
	[X86_OP_XCHG] = op_xchg, [X86_OP_XADD] = op_xadd, [X86_OP_CMPXCHG] = op_cmpxchg,
	[X86_OP_CMPXCHG8B] = op_cmpxchg8b,
	[X86_OP_CBW] = op_cbw, [X86_OP_CWD] = op_cwd, [X86_OP_BSWAP] = op_bswap,
	[X86_OP_MOVBE] = op_movbe,
	[X86_OP_MOVS] = op_string, [X86_OP_STOS] = op_string, [X86_OP_LODS] = op_string,
	[X86_OP_CMPS] = op_string, [X86_OP_SCAS] = op_string,
	[X86_OP_NOP] = op_nop, [X86_OP_PAUSE] = op_nop,
	[X86_OP_CPUID] = op_cpuid, [X86_OP_RDTSC] = op_rdtsc, [X86_OP_SYSCALL] = op_syscall,
	[X86_OP_CLC] = op_flagop, [X86_OP_STC] = op_flagop, [X86_OP_CMC] = op_flagop,
	[X86_OP_CLD] = op_flagop, [X86_OP_STD] = op_flagop,
	[X86_OP_LAHF] = op_lahf, [X86_OP_SAHF] = op_sahf,
	[X86_OP_UD2] = op_ud, [X86_OP_INT3] = op_int3, [X86_OP_HLT] = op_hlt,
	[X86_OP_MOVDQ] = op_movdq, [X86_OP_MOVD] = op_movd, [X86_OP_MOVQ] = op_movq,
	[X86_OP_MOVSS] = op_movscalar, [X86_OP_MOVSD] = op_movscalar,
	[X86_OP_MOVLPS] = op_movhalf, [X86_OP_MOVHPS] = op_movhalf,
	[X86_OP_PMOVMSKB] = op_movmsk, [X86_OP_MOVMSKPS] = op_movmsk,
	[X86_OP_MOVMSKPD] = op_movmsk, [X86_OP_PEXTRW] = op_pextrw, [X86_OP_PINSRW] = op_pinsrw,
	[X86_OP_PAND] = op_plogic, [X86_OP_PANDN] = op_plogic, [X86_OP_POR] = op_plogic,
	[X86_OP_PXOR] = op_plogic,
	[X86_OP_PADD] = op_plane, [X86_OP_PSUB] = op_plane, [X86_OP_PADDUS] = op_plane,
	[X86_OP_PSUBUS] = op_plane, [X86_OP_PCMPEQ] = op_plane, [X86_OP_PCMPGT] = op_plane,
	[X86_OP_PMINUB] = op_plane, [X86_OP_PMAXUB] = op_plane, [X86_OP_PMINSW] = op_plane,
	[X86_OP_PMAXSW] = op_plane, [X86_OP_PMULLW] = op_plane, [X86_OP_PAVG] = op_plane,
	[X86_OP_PMULUDQ] = op_pmuludq, [X86_OP_PSADBW] = op_psadbw,
	[X86_OP_PSRL] = op_pshift, [X86_OP_PSRA] = op_pshift, [X86_OP_PSLL] = op_pshift,
	[X86_OP_PSRLDQ] = op_pshiftdq, [X86_OP_PSLLDQ] = op_pshiftdq,
	[X86_OP_PSHUFD] = op_shuffle, [X86_OP_PSHUFLW] = op_shuffle,
	[X86_OP_PSHUFHW] = op_shuffle, [X86_OP_SHUFPS] = op_shuffle, [X86_OP_SHUFPD] = op_shuffle,
	[X86_OP_PUNPCKL] = op_punpck, [X86_OP_PUNPCKH] = op_punpck,
	[X86_OP_PACKUSWB] = op_pack, [X86_OP_PACKSSWB] = op_pack, [X86_OP_PACKSSDW] = op_pack,
	[X86_OP_FPARITH] = op_fparith, [X86_OP_COMIS] = op_comis, [X86_OP_CVTSI2F] = op_cvtsi2f,
	[X86_OP_CVTF2SI] = op_cvtf2si, [X86_OP_CVTF2F] = op_cvtf2f,
	[X86_OP_LDMXCSR] = op_ldmxcsr, [X86_OP_STMXCSR] = op_stmxcsr,
	[X86_OP_FXSAVE] = op_fxsave, [X86_OP_FXRSTOR] = op_fxrstor, [X86_OP_FENCE] = op_nop,
	[X86_OP_FNINIT] = op_fninit, [X86_OP_FLDCW] = op_fldcw, [X86_OP_FNSTCW] = op_fnstcw,
	[X86_OP_FNSTSW] = op_fnstsw, [X86_OP_SYSINSN] = op_sysinsn,
	[X86_OP_MOVDUP] = op_movdup, [X86_OP_FPHORIZ] = op_fphoriz,
	[X86_OP_PSHUFB] = op_pshufb, [X86_OP_PHADD] = op_phorizontal,
	[X86_OP_PHSUB] = op_phorizontal, [X86_OP_PMADDUBSW] = op_pmaddubsw,
	[X86_OP_PMULHRSW] = op_plane38, [X86_OP_PSIGN] = op_plane38, [X86_OP_PABS] = op_plane38,
	[X86_OP_PALIGNR] = op_palignr,
	[X86_OP_PBLENDV] = op_blend, [X86_OP_BLEND] = op_blend, [X86_OP_PTEST] = op_ptest,
	[X86_OP_PMOVSX] = op_pmovx, [X86_OP_PMOVZX] = op_pmovx,
	[X86_OP_PMINMAX] = op_plane38, [X86_OP_PMULLD] = op_plane38,
	[X86_OP_PMULDQ] = op_pmuldq, [X86_OP_PCMPEQQ] = op_plane38,
	[X86_OP_PACKUSDW] = op_packusdw, [X86_OP_PEXTR] = op_pextr, [X86_OP_PINSR] = op_pinsr,
	[X86_OP_EXTRACTPS] = op_pextr, [X86_OP_INSERTPS] = op_insertps,
	[X86_OP_PHMINPOSUW] = op_phminposuw, [X86_OP_MPSADBW] = op_mpsadbw,
	[X86_OP_ROUND] = op_round, [X86_OP_DPPS] = op_dp, [X86_OP_DPPD] = op_dp,
	[X86_OP_PCMPSTR] = op_pcmpstr, [X86_OP_PCMPGTQ] = op_plane38, [X86_OP_CRC32] = op_crc32,
};

static unsigned int block_hash(uint64_t pc)
{
	return (pc ^ (pc >> 12)) & (BUCKETS - 1);
}

static size_t page_slot(uintptr_t page, size_t cap)
{
	return (page >> 12) * 0x9e3779b97f4a7c15ULL >> 20 & (cap - 1);
}

static bool code_page_find(const struct tcg_block_cache *bc, uintptr_t page, size_t *slot)
{
	size_t i = page_slot(page, bc->cap);

	while (bc->pages[i] && bc->pages[i] != page)
		i = (i + 1) & (bc->cap - 1);
	*slot = i;
	return bc->pages[i] == page;
}

static void code_page_insert(struct tcg_block_cache *bc, uintptr_t page)
{
	size_t slot;

	if (!code_page_find(bc, page, &slot)) {
		bc->pages[slot] = page;
		bc->npages++;
	}
}

/* Keep the set at most half full, so that probes stay short. */
static void code_pages_grow(struct tcg_block_cache *bc)
{
	size_t oldcap = bc->cap;
	uintptr_t *old = bc->pages, *pages;

	if (2 * (bc->npages + 1) <= bc->cap)
		return;
	pages = calloc(2 * oldcap, sizeof(*pages));
	if (!pages)
		abort();
	bc->pages = pages;
	bc->cap = 2 * oldcap;
	bc->npages = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			code_page_insert(bc, old[i]);
	free(old);
}

/* Host page @host now holds decoded code: writes to it must take the slow path. */
static void code_page_add(struct tcg_cpu *cpu, uintptr_t host)
{
	struct tcg_block_cache *bc = cpu->blocks;
	uintptr_t page = host & TCG_PAGE_MASK;
	size_t slot;

	if (code_page_find(bc, page, &slot))
		return;
	code_pages_grow(bc);
	code_page_insert(bc, page);
	tcg_tlb_protect_code(cpu, page);
}

bool tcg_code_page_test(struct tcg_cpu *cpu, uintptr_t host)
{
	size_t slot;

	return code_page_find(cpu->blocks, host & TCG_PAGE_MASK, &slot);
}

void tcg_blocks_flush(struct tcg_cpu *cpu)
{
	struct tcg_block_cache *bc = cpu->blocks;

	while (bc->all) {
		struct tcg_block *b = bc->all;

		bc->all = b->all;
		bc->bucket[block_hash(b->pc)] = NULL;
		free(b);
	}
	memset(bc->pages, 0, bc->cap * sizeof(*bc->pages));
	bc->npages = 0;
	cpu->code_written = false;
}

/* Decode the instruction at @pc whose bytes cross into the next page. */
static int decode_crossing(struct tcg_cpu *cpu, const uint8_t *p, uint64_t pc,
			   struct x86_insn *insn)
{
	size_t room = TCG_PAGE_SIZE - (pc & ~TCG_PAGE_MASK);
	uint8_t buf[X86_MAX_INSN_LEN], *next;

	memcpy(buf, p, room);
	next = tcg_page_ptr(cpu, pc + room, TCG_EXEC);
	code_page_add(cpu, (uintptr_t)next);
	memcpy(buf + room, next, X86_MAX_INSN_LEN - room);
	return x86_decode(buf, X86_MAX_INSN_LEN, cpu->mode, insn);
}

/*
 * Decode up to TCG_BLOCK_MAX_INSNS instructions from cpu->rip, ending after a
 * branch or system instruction, at the end of the page, or before an
 * instruction that cannot be decoded (which faults when it is reached).
 */
static int block_decode(struct tcg_cpu *cpu, uint8_t *host, struct x86_insn *insns)
{
	uint64_t pc = cpu->rip;
	int n = 0, err;

	while (n < TCG_BLOCK_MAX_INSNS) {
		size_t room = TCG_PAGE_SIZE - (pc & ~TCG_PAGE_MASK);

		err = x86_decode(host, room, cpu->mode, &insns[n]);
		if (err == X86_DEC_TRUNC && n == 0)
			err = decode_crossing(cpu, host, pc, &insns[n]);
		if (err && n)
			break;
		if (err)
			tcg_raise(cpu, err == X86_DEC_GP ? TCG_EXC_GP : TCG_EXC_UD, 0);
		pc += insns[n].len;
		host += insns[n].len;
		if (insns[n++].attr & (X86_A_BRANCH | X86_A_SYSTEM))
			break;
		if (!(pc & ~TCG_PAGE_MASK) || insns[n - 1].len > room)
			break;
	}
	return n;
}

/*
 * The threaded form of a generic handler (see thread_next() in ops_fast.c):
 * generic handlers work from cpu->rip, so it is set for them.
 */
static void run_generic(struct tcg_cpu *cpu, const struct tcg_binsn *e)
{
	cpu->rip = tcg_binsn_pc(e);
	cpu->next_rip = e->next_rip;
	e->fn(cpu, &e->insn);
	cpu->rip = cpu->next_rip;
	if (__builtin_expect(cpu->leave && e->may_exit, 0)) {
		cpu->icount -= e->left;
		return;
	}
	e[1].run(cpu, e + 1);
}

/* The sentinel after a block whose last instruction set RIP (a branch, a generic one). */
static void run_end(struct tcg_cpu *cpu, const struct tcg_binsn *e)
{
	(void)cpu;
	(void)e;
}

/* The sentinel after a block that falls through from a fast handler, which left RIP. */
static void run_end_fallthrough(struct tcg_cpu *cpu, const struct tcg_binsn *e)
{
	cpu->rip = e[-1].next_rip;
}

/*
 * Dead flags. Most arithmetic flags are overwritten before anything reads
 * them, so blocks skip computing those: walking the block backwards, an
 * instruction whose written flags a later one of the block overwrites before
 * any reads them gets a fast handler that leaves RFLAGS alone.
 *
 * The guest must never see the difference, so every point where it could
 * look at RFLAGS sees it exact: the block's end (all flags are live there);
 * before an instruction that may fault, store or do anything beyond plain
 * register arithmetic (all flags are live there too: a fault delivers RFLAGS
 * to a handler, and a store may rewrite the code that follows); and every
 * exit in the middle of the block, which may_exit allows only where no
 * skipped flag is pending. The budget is checked when a block is entered
 * (run_loop()), not inside it.
 */

/* Register-only instructions whose flag effects are fread and flags_killed(). */
static bool flags_plain(const struct x86_insn *insn)
{
	if (insn->memop && insn->op != X86_OP_LEA)
		return false;
	switch (insn->op) {
	case X86_OP_ADD: case X86_OP_OR: case X86_OP_ADC: case X86_OP_SBB:
	case X86_OP_AND: case X86_OP_SUB: case X86_OP_XOR: case X86_OP_CMP:
	case X86_OP_ROL: case X86_OP_ROR: case X86_OP_RCL: case X86_OP_RCR:
	case X86_OP_SHL: case X86_OP_SHR: case X86_OP_SAL: case X86_OP_SAR:
	case X86_OP_TEST: case X86_OP_NOT: case X86_OP_NEG: case X86_OP_IMUL2:
	case X86_OP_INC: case X86_OP_DEC: case X86_OP_MOV: case X86_OP_MOVZX:
	case X86_OP_MOVSX: case X86_OP_LEA: case X86_OP_CMOV: case X86_OP_SETCC:
	case X86_OP_BSWAP: case X86_OP_CBW: case X86_OP_CWD: case X86_OP_NOP:
		return true;
	default:
		return false;
	}
}

/* The flags a plain instruction always overwrites (whatever its operands' values). */
static uint16_t flags_killed(const struct x86_insn *insn)
{
	unsigned int count_mask = insn->opsize == 8 ? 63 : 31;

	switch (insn->op) {
	case X86_OP_ADD: case X86_OP_OR: case X86_OP_ADC: case X86_OP_SBB:
	case X86_OP_AND: case X86_OP_SUB: case X86_OP_XOR: case X86_OP_CMP:
	case X86_OP_TEST: case X86_OP_NEG: case X86_OP_IMUL2:
		return X86_FL_ARITH;
	case X86_OP_INC: case X86_OP_DEC:
		return X86_FL_ARITH & ~X86_CF;
	case X86_OP_SHL: case X86_OP_SHR: case X86_OP_SAL: case X86_OP_SAR:
	case X86_OP_ROL: case X86_OP_ROR:
		/* A masked count of 0 (by CL, or an immediate) changes nothing. */
		if (insn->opnd[1].kind != X86_OPND_IMM || !(insn->imm & count_mask))
			return 0;
		return insn->op == X86_OP_ROL || insn->op == X86_OP_ROR ? X86_CF | X86_OF :
									   X86_FL_ARITH;
	default:
		return 0;
	}
}

/*
 * Whether @insn may skip its flags when they are dead: a plain instruction,
 * or an ALU operation or imul with a register destination and a memory
 * source, since a fault on the load comes before any change.
 */
static bool flags_may_skip(const struct x86_insn *insn)
{
	if (flags_plain(insn))
		return true;
	return insn->memop == 2 && insn->opnd[0].kind == X86_OPND_REG &&
	       ((insn->op >= X86_OP_ADD && insn->op <= X86_OP_XOR) || insn->op == X86_OP_IMUL2);
}

/*
 * Fill @dead[i] (instruction i's flags need not be computed) and each
 * instruction's may_exit for the @n instructions of @b.
 */
static void block_flags(struct tcg_block *b, const struct x86_insn *insns, int n,
			bool *dead)
{
	uint16_t live = X86_FL_ARITH, pending = 0;

	for (int i = n - 1; i >= 0; i--) {
		const struct x86_insn *in = &insns[i];
		uint16_t kill = flags_killed(in);

		dead[i] = kill && !(kill & live) && flags_may_skip(in);
		live = flags_plain(in) ? (live & ~kill) | in->fread : X86_FL_ARITH;
	}
	for (int i = 0; i < n; i++) {
		uint16_t kill = flags_killed(&insns[i]);

		pending = dead[i] ? pending | kill : pending & ~kill;
		b->insn[i].may_exit = !pending;
	}
}

static struct tcg_block *block_build(struct tcg_cpu *cpu, uint8_t *host)
{
	struct x86_insn insns[TCG_BLOCK_MAX_INSNS];
	bool dead[TCG_BLOCK_MAX_INSNS];
	struct tcg_block *b;
	uint64_t pc = cpu->rip;
	unsigned int h;
	int n;

	code_page_add(cpu, (uintptr_t)host);
	n = block_decode(cpu, host, insns);
	b = calloc(1, sizeof(*b) + (n + 1) * sizeof(b->insn[0]));
	if (!b)
		abort();
	b->pc = cpu->rip;
	b->host = (uintptr_t)host;
	b->execs = 0;
	b->mode = cpu->mode;
	b->ninsn = n;
	block_flags(b, insns, n, dead);
	for (int i = 0; i < n; i++) {
		struct tcg_binsn *e = &b->insn[i];

		pc += insns[i].len;
		if (cpu->mode != 64)
			pc = (uint32_t)pc;
		e->next_rip = pc;
		e->left = n - 1 - i;
		e->insn = insns[i];
		/* RIP-relative: the displacement from the (fixed) next RIP. */
		if (e->insn.memop && e->insn.base == X86_REG_RIP) {
			e->insn.disp += (int64_t)pc;
			e->insn.base = X86_REG_NONE;
		}
		e->fn = handlers[e->insn.op];
		e->run = tcg_fast_handler(&e->insn, cpu->mode, dead[i]);
		if (!e->run)
			e->run = run_generic;
	}
	if (b->insn[n - 1].run == run_generic || (b->insn[n - 1].insn.attr & X86_A_BRANCH))
		b->insn[n].run = run_end;
	else
		b->insn[n].run = run_end_fallthrough;
	h = block_hash(b->pc);
	b->next = cpu->blocks->bucket[h];
	cpu->blocks->bucket[h] = b;
	b->all = cpu->blocks->all;
	cpu->blocks->all = b;
	return b;
}

struct tcg_block *tcg_block_get(struct tcg_cpu *cpu)
{
	uint8_t *host = tcg_page_ptr(cpu, cpu->rip, TCG_EXEC);
	struct tcg_block **head = &cpu->blocks->bucket[block_hash(cpu->rip)], **pb, *b;

	for (pb = head; (b = *pb); pb = &b->next)
		if (b->pc == cpu->rip && b->host == (uintptr_t)host && b->mode == cpu->mode) {
			/* Move to the front, where the run loop's fast lookup looks. */
			*pb = b->next;
			b->next = *head;
			*head = b;
			return b;
		}
	return block_build(cpu, host);
}

/* tcg_block_get() for the common case: a TLB hit and the block first in its bucket. */
static inline struct tcg_block *block_lookup(struct tcg_cpu *cpu)
{
	uint64_t pc = cpu->rip;
	const struct tcg_tlb_entry *e = &cpu->tlb[(pc >> 12) & (TCG_TLB_SIZE - 1)];
	struct tcg_block *b = cpu->blocks->bucket[block_hash(pc)];

	if (__builtin_expect(e->tag[TCG_EXEC] == (pc & TCG_PAGE_MASK) && b && b->pc == pc &&
			     b->host == e->addend + pc && b->mode == cpu->mode, 1))
		return b;
	return tcg_block_get(cpu);
}

_Noreturn void tcg_raise(struct tcg_cpu *cpu, int vector, uint32_t error)
{
	cpu->exc_vector = vector;
	cpu->exc_error = error;
	longjmp(cpu->fault_jmp, 1);
}

/*
 * The start of @b up to @end instructions, one at a time through the generic
 * handlers, which compute every flag: for a block that would overrun the
 * budget (e.g. a single step after STI).
 */
static void block_step(struct tcg_cpu *cpu, const struct tcg_block *b, uint64_t end)
{
	for (int i = 0; i < b->ninsn && cpu->icount < end; i++) {
		const struct tcg_binsn *e = &b->insn[i];

		cpu->next_rip = e->next_rip;
		e->fn(cpu, &e->insn);
		cpu->rip = cpu->next_rip;
		cpu->icount++;
		if (cpu->code_written | cpu->stop)
			break;
	}
}

/*
 * A fault inside a block running threaded: the faulting instruction (at
 * cpu->rip) and those after it did not retire.
 */
static void block_fault_uncount(struct tcg_cpu *cpu)
{
	const struct tcg_block *b = cpu->block;

	for (int i = 0; i < b->ninsn; i++)
		if (tcg_binsn_pc(&b->insn[i]) == cpu->rip) {
			cpu->icount -= b->ninsn - i;
			break;
		}
	cpu->block = NULL;
}

/*
 * The run loop, out of tcg_run() so that no setjmp() forces its state onto
 * the stack; returns an enum tcg_exit.
 */
static __attribute__((noinline)) int run_loop(struct tcg_cpu *cpu, uint64_t end)
{
	while (cpu->icount < end) {
		struct tcg_block *b;

		if (cpu->stop)
			return TCG_EXIT_STOP;
		b = block_lookup(cpu);
		b->execs++;
		if (__builtin_expect(cpu->icount + b->ninsn <= end, 1)) {
			cpu->icount += b->ninsn;
			cpu->block = b;
			b->insn[0].run(cpu, b->insn);
			cpu->block = NULL;
		} else {
			block_step(cpu, b, end);
		}
		if (cpu->code_written)
			tcg_blocks_flush(cpu);
	}
	return cpu->stop ? TCG_EXIT_STOP : TCG_EXIT_BUDGET;
}

int tcg_run(struct tcg_cpu *cpu, uint64_t budget)
{
	uint64_t end = cpu->icount + budget;

	if (setjmp(cpu->fault_jmp)) {
		if (cpu->block)
			block_fault_uncount(cpu);
		if (cpu->code_written)
			tcg_blocks_flush(cpu);
		return TCG_EXIT_EXCEPTION;
	}
	return run_loop(cpu, end);
}

bool tcg_code_in_range(struct tcg_cpu *cpu, uintptr_t start, uintptr_t end)
{
	const struct tcg_block_cache *bc = cpu->blocks;

	if (!bc->npages || start >= end)
		return false;
	for (size_t i = 0; i < bc->cap; i++)
		if (bc->pages[i] && bc->pages[i] + TCG_PAGE_SIZE > start && bc->pages[i] < end)
			return true;
	return false;
}

void tcg_tlb_flush(struct tcg_cpu *cpu)
{
	for (int i = 0; i < TCG_TLB_SIZE; i++) {
		struct tcg_tlb_entry *e = &cpu->tlb[i];

		e->tag[0] = e->tag[1] = e->tag[2] = 1;
	}
}

void tcg_flush(struct tcg_cpu *cpu)
{
	tcg_tlb_flush(cpu);
	tcg_blocks_flush(cpu);
}

int tcg_cpu_init(struct tcg_cpu *cpu, const struct tcg_env_ops *env, void *opaque)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->env = env;
	cpu->opaque = opaque;
	cpu->mode = 64;
	cpu->rflags = 0x202;	/* bit 1 always reads 1; IF is set in user mode */
	cpu->mxcsr = TCG_MXCSR_RESET;
	cpu->fcw = TCG_FCW_RESET;
	cpu->blocks = calloc(1, sizeof(*cpu->blocks));
	if (!cpu->blocks)
		return -ENOMEM;
	cpu->blocks->cap = 64;
	cpu->blocks->pages = calloc(cpu->blocks->cap, sizeof(uintptr_t));
	if (!cpu->blocks->pages) {
		free(cpu->blocks);
		return -ENOMEM;
	}
	tcg_flush(cpu);
	return 0;
}

void tcg_cpu_destroy(struct tcg_cpu *cpu)
{
	if (!cpu->blocks)
		return;
	tcg_blocks_flush(cpu);
	free(cpu->blocks->pages);
	free(cpu->blocks);
	cpu->blocks = NULL;
}
