/*
 * String instructions (movs, stos, lods, cmps, scas) with REP, REPE and
 * REPNE. Forward rep movs/stos run in bulk, a page-bounded chunk at a time;
 * registers are updated per chunk so a fault leaves a restartable state.
 */
#include "ops.h"

struct strop {
	int as;			/* address size: width of rSI, rDI, rCX */
	int size;		/* element size */
	int64_t step;		/* +size, or -size with DF set */
	int srcseg;
};

static uint64_t src_addr(const struct tcg_cpu *cpu, const struct strop *s)
{
	return seg_linear(cpu, s->srcseg, reg_get(cpu, 6, s->as));
}

static uint64_t dst_addr(const struct tcg_cpu *cpu, const struct strop *s)
{
	return seg_linear(cpu, X86_SEG_ES, reg_get(cpu, 7, s->as));
}

static void advance(struct tcg_cpu *cpu, const struct strop *s, int reg, uint64_t n)
{
	reg_set(cpu, reg, s->as, reg_get(cpu, reg, s->as) + s->step * (int64_t)n);
}

/* One element; returns the flags for cmps/scas. */
static void string_once(struct tcg_cpu *cpu, const struct x86_insn *insn, const struct strop *s)
{
	uint64_t a, b, f;

	switch (insn->op) {
	case X86_OP_MOVS:
		tcg_store(cpu, dst_addr(cpu, s), s->size, tcg_load(cpu, src_addr(cpu, s), s->size));
		advance(cpu, s, 6, 1);
		advance(cpu, s, 7, 1);
		return;
	case X86_OP_STOS:
		tcg_store(cpu, dst_addr(cpu, s), s->size, reg_get(cpu, 0, s->size));
		advance(cpu, s, 7, 1);
		return;
	case X86_OP_LODS:
		reg_set(cpu, 0, s->size, tcg_load(cpu, src_addr(cpu, s), s->size));
		advance(cpu, s, 6, 1);
		return;
	case X86_OP_CMPS:
		a = tcg_load(cpu, src_addr(cpu, s), s->size);
		b = tcg_load(cpu, dst_addr(cpu, s), s->size);
		advance(cpu, s, 6, 1);
		break;
	default:	/* SCAS */
		a = reg_get(cpu, 0, s->size);
		b = tcg_load(cpu, dst_addr(cpu, s), s->size);
		break;
	}
	advance(cpu, s, 7, 1);
	alu_binop(X86_OP_CMP, a, b, 0, s->size, &f);
	set_flags(cpu, f, X86_FL_ARITH);
}

/* Elements left in the page of @addr. */
static uint64_t page_room(uint64_t addr, int size)
{
	return (TCG_PAGE_SIZE - (addr & ~TCG_PAGE_MASK)) / size;
}

/*
 * A chunk of forward rep stos/movs inside one page of each operand; returns
 * the elements done, 0 when the chunk must go element by element (an
 * element straddles a page, or movs overlaps so that it replicates a pattern).
 */
static uint64_t string_chunk(struct tcg_cpu *cpu, const struct x86_insn *insn,
			     const struct strop *s, uint64_t count)
{
	uint64_t d = dst_addr(cpu, s), n = page_room(d, s->size);
	uint8_t *dp, *sp;

	if (insn->op == X86_OP_MOVS) {
		uint64_t src = src_addr(cpu, s), m = page_room(src, s->size);

		n = m < n ? m : n;
		n = n < count ? n : count;
		if (!n || (d > src && d < src + n * s->size))
			return 0;
		sp = tcg_page_ptr(cpu, src, TCG_READ);
		dp = tcg_page_ptr(cpu, d, TCG_WRITE);
		memmove(dp, sp, n * s->size);
		advance(cpu, s, 6, n);
	} else {
		uint64_t v = reg_get(cpu, 0, s->size);

		n = n < count ? n : count;
		if (!n)
			return 0;
		dp = tcg_page_ptr(cpu, d, TCG_WRITE);
		if (s->size == 1)
			memset(dp, (int)v, n);
		for (uint64_t i = 0; s->size > 1 && i < n; i++)
			memcpy(dp + i * s->size, &v, s->size);
	}
	advance(cpu, s, 7, n);
	return n;
}

static bool rep_done(const struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	if (insn->op != X86_OP_CMPS && insn->op != X86_OP_SCAS)
		return false;
	return insn->pfx & X86_PFX_REP ? !(cpu->rflags & X86_ZF) : (cpu->rflags & X86_ZF);
}

TCG_HANDLER(op_string)
{
	struct strop s = { .as = insn->addrsize, .size = insn->opsize, .step = insn->opsize,
			   .srcseg = insn->seg };
	bool bulk = insn->op == X86_OP_MOVS || insn->op == X86_OP_STOS;
	uint64_t count;

	if (cpu->rflags & X86_DF) {
		s.step = -s.step;
		bulk = false;
	}
	if (!(insn->pfx & (X86_PFX_REP | X86_PFX_REPNE))) {
		string_once(cpu, insn, &s);
		return;
	}
	while ((count = reg_get(cpu, 1, s.as))) {
		uint64_t done = bulk ? string_chunk(cpu, insn, &s, count) : 0;

		if (!done) {
			string_once(cpu, insn, &s);
			done = 1;
		}
		reg_set(cpu, 1, s.as, count - done);
		if (rep_done(cpu, insn))
			break;
	}
}
