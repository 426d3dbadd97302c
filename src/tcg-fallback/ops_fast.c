/*
 * Handlers specialised at decode time for the hottest instruction forms: the
 * ALU group, test, inc/dec, not, imul, mov, movzx/movsx, lea, shifts and
 * rotates by an immediate, jcc, jmp, push/pop, call/ret and indirect
 * call/jmp, each for one operation, operand size and operand shape
 * (register, immediate, memory at base, base + index * scale or an absolute
 * address), so that the hot path has no operand-kind or size switch. They compute exactly what the
 * generic handlers compute (the same inline arithmetic from ops.h);
 * tcg_fast_handler() picks one only where its assumptions hold (64-bit mode
 * among them), and returns NULL otherwise so that the generic handler runs.
 * All are threaded: each goes on to the next instruction's handler itself.
 */
#include "exec.h"
#include "ops.h"

#define FAST __attribute__((hot))

typedef void (*handler_t)(struct tcg_cpu *cpu, const struct tcg_binsn *e);

/*
 * Threaded dispatch: a handler that falls through goes straight on to the
 * next one's handler (a tail call), until the block's end (its sentinel
 * returns), or a write to code or a stop where the block may be left (the
 * budget is checked before a block starts). RIP and the instruction count
 * are the block's business: see tcg_block_leave().
 */
static inline __attribute__((always_inline)) void thread_next(struct tcg_cpu *cpu,
							      const struct tcg_binsn *e)
{
	if (__builtin_expect(cpu->leave && e->may_exit, 0)) {
		tcg_block_leave(cpu, e);
		return;
	}
	e[1].run(cpu, e + 1);
}

/* A handler for a non-branch instruction without memory operands: @stmt, then the next. */
#define SEQ(name, stmt) \
	static FAST void name(struct tcg_cpu *cpu, const struct tcg_binsn *e) \
	{ \
		const struct x86_insn *insn = &e->insn; \
		stmt; \
		thread_next(cpu, e); \
	}

/* The same for one that accesses memory, which may fault: RIP is its address then. */
#define SEQ_MEM(name, stmt) \
	static FAST void name(struct tcg_cpu *cpu, const struct tcg_binsn *e) \
	{ \
		const struct x86_insn *insn = &e->insn; \
		cpu->rip = e->next_rip - insn->len; \
		stmt; \
		thread_next(cpu, e); \
	}

/* A branch, which ends its block: @stmt sets cpu->next_rip when it is taken. */
#define BRANCH(name, stmt) \
	static FAST void name(struct tcg_cpu *cpu, const struct tcg_binsn *e) \
	{ \
		const struct x86_insn *insn = &e->insn; \
		cpu->rip = e->next_rip - insn->len; \
		cpu->next_rip = e->next_rip; \
		stmt; \
		cpu->rip = cpu->next_rip; \
	}

/* Memory operand shapes: base, base + index * scale, absolute, anything (tcg_ea). */
enum { EA_B, EA_BI, EA_D, EA_GEN };

/* Base and index are real registers, no segment base, 64-bit addresses. */
static inline __attribute__((always_inline)) uint64_t fast_ea(const struct tcg_cpu *cpu,
							      const struct x86_insn *insn,
							      int shape)
{
	if (shape == EA_B)
		return cpu->gpr[insn->base] + insn->disp;
	if (shape == EA_BI)
		return cpu->gpr[insn->base] + cpu->gpr[insn->index] * insn->scale + insn->disp;
	if (shape == EA_D)
		return insn->disp;
	return tcg_ea(cpu, insn);
}

/* A register (0-15, no AH..BH) of a constant size. */
static inline __attribute__((always_inline)) uint64_t rget(const struct tcg_cpu *cpu, int reg,
							   int size)
{
	return cpu->gpr[reg] & size_mask(size);
}

static inline __attribute__((always_inline)) void rset(struct tcg_cpu *cpu, int reg, int size,
						       uint64_t v)
{
	uint64_t *r = &cpu->gpr[reg];

	if (size == 8)
		*r = v;
	else if (size == 4)
		*r = (uint32_t)v;
	else
		*r = (*r & ~size_mask(size)) | (v & size_mask(size));
}

static inline __attribute__((always_inline)) void setfl(struct tcg_cpu *cpu, uint64_t f,
							uint64_t which)
{
	cpu->rflags = (cpu->rflags & ~which) | (f & which);
}

/* Operand shapes of two-operand forms. */
enum { F_RR, F_RI, F_RM, F_MR, F_MI };

/*
 * dst op= src for ALU operation @op (ADD..CMP) or TEST (written as AND, no
 * store); the flags only when @fl (they are live: see block_flags() in exec.c).
 */
static inline __attribute__((always_inline)) void alu2(struct tcg_cpu *cpu,
						       const struct x86_insn *insn, int op,
						       int size, int form, int shape, bool store,
						       bool fl)
{
	const int d = insn->opnd[0].reg, s = insn->opnd[1].reg;
	uint64_t a, b, r, f, addr = 0;

	switch (form) {
	case F_RR:
		a = rget(cpu, d, size);
		b = rget(cpu, s, size);
		break;
	case F_RI:
		a = rget(cpu, d, size);
		b = insn->imm;
		break;
	case F_RM:
		addr = fast_ea(cpu, insn, shape);
		a = rget(cpu, d, size);
		b = tcg_load(cpu, addr, size);
		break;
	case F_MR:
		addr = fast_ea(cpu, insn, shape);
		a = tcg_load(cpu, addr, size);
		b = rget(cpu, s, size);
		break;
	default:
		addr = fast_ea(cpu, insn, shape);
		a = tcg_load(cpu, addr, size);
		b = insn->imm;
		break;
	}
	r = alu_binop_inline(op, a, b, cpu->rflags & X86_CF, size, &f);
	if (store) {
		if (form == F_MR || form == F_MI)
			tcg_store(cpu, addr, size, r);
		else
			rset(cpu, d, size, r);
	}
	if (fl)
		setfl(cpu, f, X86_FL_ARITH);
}

#define ALU_SHAPES(name, op, size, form, store, fl) \
	SEQ_MEM(name##_b, alu2(cpu, insn, op, size, form, EA_B, store, fl)) \
	SEQ_MEM(name##_bi, alu2(cpu, insn, op, size, form, EA_BI, store, fl)) \
	SEQ_MEM(name##_d, alu2(cpu, insn, op, size, form, EA_D, store, fl)) \
	SEQ_MEM(name##_g, alu2(cpu, insn, op, size, form, EA_GEN, store, fl))

#define ALU_FORMS(name, op, size, store, fl) \
	SEQ(name##_rr, alu2(cpu, insn, op, size, F_RR, EA_GEN, store, fl)) \
	SEQ(name##_ri, alu2(cpu, insn, op, size, F_RI, EA_GEN, store, fl)) \
	ALU_SHAPES(name##_rm, op, size, F_RM, store, fl) \
	ALU_SHAPES(name##_mr, op, size, F_MR, store, fl) \
	ALU_SHAPES(name##_mi, op, size, F_MI, store, fl)

#define ALU_SIZES(name, op, store, fl) \
	ALU_FORMS(name##1, op, 1, store, fl) ALU_FORMS(name##2, op, 2, store, fl) \
	ALU_FORMS(name##4, op, 4, store, fl) ALU_FORMS(name##8, op, 8, store, fl)

ALU_SIZES(add, X86_OP_ADD, true, true)
ALU_SIZES(or, X86_OP_OR, true, true)
ALU_SIZES(adc, X86_OP_ADC, true, true)
ALU_SIZES(sbb, X86_OP_SBB, true, true)
ALU_SIZES(and, X86_OP_AND, true, true)
ALU_SIZES(sub, X86_OP_SUB, true, true)
ALU_SIZES(xor, X86_OP_XOR, true, true)
ALU_SIZES(cmp, X86_OP_CMP, false, true)
ALU_SIZES(test, X86_OP_AND, false, true)

/*
 * The same without flags, where no later instruction can read them: only
 * forms with a register destination, as block_flags() never drops the flags
 * of a store (cmp and test have none).
 */
#define ALU_FORMS_NF(name, op, size) \
	SEQ(name##_rr, alu2(cpu, insn, op, size, F_RR, EA_GEN, true, false)) \
	SEQ(name##_ri, alu2(cpu, insn, op, size, F_RI, EA_GEN, true, false)) \
	ALU_SHAPES(name##_rm, op, size, F_RM, true, false)
#define ALU_SIZES_NF(name, op) \
	ALU_FORMS_NF(name##1, op, 1) ALU_FORMS_NF(name##2, op, 2) \
	ALU_FORMS_NF(name##4, op, 4) ALU_FORMS_NF(name##8, op, 8)

ALU_SIZES_NF(add_nf, X86_OP_ADD)
ALU_SIZES_NF(or_nf, X86_OP_OR)
ALU_SIZES_NF(adc_nf, X86_OP_ADC)
ALU_SIZES_NF(sbb_nf, X86_OP_SBB)
ALU_SIZES_NF(and_nf, X86_OP_AND)
ALU_SIZES_NF(sub_nf, X86_OP_SUB)
ALU_SIZES_NF(xor_nf, X86_OP_XOR)

/* [form][shape]: F_RR and F_RI have one shape (index 0). */
#define ALU_TAB_REG(name) \
	{ name##_rr, NULL, NULL, NULL }, { name##_ri, NULL, NULL, NULL }, \
	{ name##_rm_b, name##_rm_bi, name##_rm_d, name##_rm_g }
#define ALU_TAB(name) { \
	ALU_TAB_REG(name), \
	{ name##_mr_b, name##_mr_bi, name##_mr_d, name##_mr_g }, \
	{ name##_mi_b, name##_mi_bi, name##_mi_d, name##_mi_g } }
#define ALU_TAB_SIZES(name) \
	{ ALU_TAB(name##1), ALU_TAB(name##2), ALU_TAB(name##4), ALU_TAB(name##8) }
#define ALU_TAB_NF(name) { \
	{ ALU_TAB_REG(name##1) }, { ALU_TAB_REG(name##2) }, { ALU_TAB_REG(name##4) }, \
	{ ALU_TAB_REG(name##8) } }

/* [op - ADD, or 8 for TEST][log2 size][form][shape] */
static const handler_t alu_tab[9][4][5][4] = {
	ALU_TAB_SIZES(add), ALU_TAB_SIZES(or), ALU_TAB_SIZES(adc), ALU_TAB_SIZES(sbb),
	ALU_TAB_SIZES(and), ALU_TAB_SIZES(sub), ALU_TAB_SIZES(xor), ALU_TAB_SIZES(cmp),
	ALU_TAB_SIZES(test),
};

/* [op - ADD, up to XOR][log2 size][form up to F_RM][shape] */
static const handler_t alu_nf_tab[7][4][3][4] = {
	ALU_TAB_NF(add_nf), ALU_TAB_NF(or_nf), ALU_TAB_NF(adc_nf), ALU_TAB_NF(sbb_nf),
	ALU_TAB_NF(and_nf), ALU_TAB_NF(sub_nf), ALU_TAB_NF(xor_nf),
};

/* inc/dec of a register: add/sub 1 keeping CF. */
static inline __attribute__((always_inline)) void incdec(struct tcg_cpu *cpu,
							 const struct x86_insn *insn, int op,
							 int size, bool fl)
{
	int d = insn->opnd[0].reg;
	uint64_t f, r = alu_binop_inline(op, rget(cpu, d, size), 1, 0, size, &f);

	rset(cpu, d, size, r);
	if (fl)
		setfl(cpu, f, X86_FL_ARITH & ~X86_CF);
}

SEQ(inc4, incdec(cpu, insn, X86_OP_ADD, 4, true))
SEQ(inc8, incdec(cpu, insn, X86_OP_ADD, 8, true))
SEQ(dec4, incdec(cpu, insn, X86_OP_SUB, 4, true))
SEQ(dec8, incdec(cpu, insn, X86_OP_SUB, 8, true))
SEQ(inc4_nf, incdec(cpu, insn, X86_OP_ADD, 4, false))
SEQ(inc8_nf, incdec(cpu, insn, X86_OP_ADD, 8, false))
SEQ(dec4_nf, incdec(cpu, insn, X86_OP_SUB, 4, false))
SEQ(dec8_nf, incdec(cpu, insn, X86_OP_SUB, 8, false))

/* [flags dead][dec][size 8] */
static const handler_t incdec_tab[2][2][2] = {
	{ { inc4, inc8 }, { dec4, dec8 } }, { { inc4_nf, inc8_nf }, { dec4_nf, dec8_nf } },
};

/* mov in its shapes. */
static inline __attribute__((always_inline)) void mov2(struct tcg_cpu *cpu,
						       const struct x86_insn *insn, int size,
						       int form, int shape)
{
	switch (form) {
	case F_RR:
		rset(cpu, insn->opnd[0].reg, size, rget(cpu, insn->opnd[1].reg, size));
		break;
	case F_RI:
		rset(cpu, insn->opnd[0].reg, size, insn->imm);
		break;
	case F_RM:
		rset(cpu, insn->opnd[0].reg, size, tcg_load(cpu, fast_ea(cpu, insn, shape), size));
		break;
	case F_MR:
		tcg_store(cpu, fast_ea(cpu, insn, shape), size, rget(cpu, insn->opnd[1].reg, size));
		break;
	default:
		tcg_store(cpu, fast_ea(cpu, insn, shape), size, insn->imm);
		break;
	}
}

#define MOV_FORMS(name, size) \
	SEQ(name##_rr, mov2(cpu, insn, size, F_RR, EA_GEN)) \
	SEQ(name##_ri, mov2(cpu, insn, size, F_RI, EA_GEN)) \
	SEQ_MEM(name##_rm_b, mov2(cpu, insn, size, F_RM, EA_B)) \
	SEQ_MEM(name##_rm_bi, mov2(cpu, insn, size, F_RM, EA_BI)) \
	SEQ_MEM(name##_rm_d, mov2(cpu, insn, size, F_RM, EA_D)) \
	SEQ_MEM(name##_rm_g, mov2(cpu, insn, size, F_RM, EA_GEN)) \
	SEQ_MEM(name##_mr_b, mov2(cpu, insn, size, F_MR, EA_B)) \
	SEQ_MEM(name##_mr_bi, mov2(cpu, insn, size, F_MR, EA_BI)) \
	SEQ_MEM(name##_mr_d, mov2(cpu, insn, size, F_MR, EA_D)) \
	SEQ_MEM(name##_mr_g, mov2(cpu, insn, size, F_MR, EA_GEN)) \
	SEQ_MEM(name##_mi_b, mov2(cpu, insn, size, F_MI, EA_B)) \
	SEQ_MEM(name##_mi_bi, mov2(cpu, insn, size, F_MI, EA_BI)) \
	SEQ_MEM(name##_mi_d, mov2(cpu, insn, size, F_MI, EA_D)) \
	SEQ_MEM(name##_mi_g, mov2(cpu, insn, size, F_MI, EA_GEN))

MOV_FORMS(mov1, 1)
MOV_FORMS(mov2, 2)
MOV_FORMS(mov4, 4)
MOV_FORMS(mov8, 8)

static const handler_t mov_tab[4][5][4] = {
	ALU_TAB(mov1), ALU_TAB(mov2), ALU_TAB(mov4), ALU_TAB(mov8),
};

/* movzx/movsx to a 32- or 64-bit register from a byte or word. */
static inline __attribute__((always_inline)) void movx(struct tcg_cpu *cpu,
						       const struct x86_insn *insn, int dsize,
						       int ssize, bool sign, int form, int shape)
{
	uint64_t v;

	if (form == F_RR)
		v = rget(cpu, insn->opnd[1].reg, ssize);
	else
		v = tcg_load(cpu, fast_ea(cpu, insn, shape), ssize);
	if (sign)
		v = sext(v, ssize);
	rset(cpu, insn->opnd[0].reg, dsize, v);
}

#define MOVX_FORMS(name, dsize, ssize, sign) \
	SEQ(name##_rr, movx(cpu, insn, dsize, ssize, sign, F_RR, EA_GEN)) \
	SEQ_MEM(name##_rm_b, movx(cpu, insn, dsize, ssize, sign, F_RM, EA_B)) \
	SEQ_MEM(name##_rm_bi, movx(cpu, insn, dsize, ssize, sign, F_RM, EA_BI)) \
	SEQ_MEM(name##_rm_d, movx(cpu, insn, dsize, ssize, sign, F_RM, EA_D)) \
	SEQ_MEM(name##_rm_g, movx(cpu, insn, dsize, ssize, sign, F_RM, EA_GEN))
#define MOVX_TAB(name) { name##_rr, name##_rm_b, name##_rm_bi, name##_rm_d, name##_rm_g }

MOVX_FORMS(movzx41, 4, 1, false)
MOVX_FORMS(movzx42, 4, 2, false)
MOVX_FORMS(movzx81, 8, 1, false)
MOVX_FORMS(movzx82, 8, 2, false)
MOVX_FORMS(movsx41, 4, 1, true)
MOVX_FORMS(movsx42, 4, 2, true)
MOVX_FORMS(movsx81, 8, 1, true)
MOVX_FORMS(movsx82, 8, 2, true)

/* [sign][dsize 8][ssize 2][rr, rm_b, rm_bi, rm_d, rm_g] */
static const handler_t movx_tab[2][2][2][5] = {
	{ { MOVX_TAB(movzx41), MOVX_TAB(movzx42) }, { MOVX_TAB(movzx81), MOVX_TAB(movzx82) } },
	{ { MOVX_TAB(movsx41), MOVX_TAB(movsx42) }, { MOVX_TAB(movsx81), MOVX_TAB(movsx82) } },
};

/* lea with 64-bit addresses (the offset only: no segment base). */
static inline __attribute__((always_inline)) void lea8_b_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = cpu->gpr[insn->base] + insn->disp;
}

static inline __attribute__((always_inline)) void lea8_bi_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = cpu->gpr[insn->base] +
				      cpu->gpr[insn->index] * insn->scale + insn->disp;
}

static inline __attribute__((always_inline)) void lea8_d_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = insn->disp;
}

static inline __attribute__((always_inline)) void lea4_d_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = (uint32_t)insn->disp;
}

static inline __attribute__((always_inline)) void lea4_b_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = (uint32_t)(cpu->gpr[insn->base] + insn->disp);
}

static inline __attribute__((always_inline)) void lea4_bi_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->gpr[insn->opnd[0].reg] = (uint32_t)(cpu->gpr[insn->base] +
						 cpu->gpr[insn->index] * insn->scale +
						 insn->disp);
}

/* shl/shr/sar of a register by a nonzero immediate count (already masked). */
static inline __attribute__((always_inline)) void shimm(struct tcg_cpu *cpu,
							const struct x86_insn *insn, int op,
							int size, bool fl)
{
	const int bits = size * 8, d = insn->opnd[0].reg;
	const unsigned int count = insn->imm & (size == 8 ? 63 : 31);
	uint64_t a = rget(cpu, d, size), m = size_mask(size), msb = sign_bit(size), r, f = 0;
	unsigned int cf, of;

	if (op == X86_OP_SHR) {
		r = a >> count;
		cf = (a >> (count - 1)) & 1;
		of = !!(a & msb);
	} else if (op == X86_OP_SAR) {
		int64_t sa = (int64_t)sext(a, size);

		r = (uint64_t)(sa >> count) & m;
		cf = (sa >> (count - 1)) & 1;
		of = 0;
	} else {
		r = (a << count) & m;
		cf = (a >> (bits - count)) & 1;
		of = !!(r & msb) ^ cf;
	}
	rset(cpu, d, size, r);
	f = flags_szp(r, size) | (cf ? X86_CF : 0) | (of ? X86_OF : 0);
	if (fl)
		setfl(cpu, f, X86_FL_ARITH);
}

/* rol/ror of a register by a nonzero immediate count: CF and OF only. */
static inline __attribute__((always_inline)) void rotimm(struct tcg_cpu *cpu,
							 const struct x86_insn *insn, bool left,
							 int size, bool fl)
{
	const int bits = size * 8, d = insn->opnd[0].reg;
	const unsigned int c = insn->imm & (size == 8 ? 63 : 31);
	uint64_t a = rget(cpu, d, size), m = size_mask(size), msb = sign_bit(size), r;
	unsigned int cf, of;

	if (left) {
		r = ((a << c) | (a >> (bits - c))) & m;
		cf = r & 1;
		of = !!(r & msb) ^ cf;
	} else {
		r = ((a >> c) | (a << (bits - c))) & m;
		cf = !!(r & msb);
		of = cf ^ !!(r & (msb >> 1));
	}
	rset(cpu, d, size, r);
	if (fl)
		setfl(cpu, (cf ? X86_CF : 0) | (of ? X86_OF : 0), X86_CF | X86_OF);
}

#define SHIFT_FORMS(name, stmt) \
	SEQ(name##4, stmt(4, true)) SEQ(name##8, stmt(8, true)) \
	SEQ(name##4_nf, stmt(4, false)) SEQ(name##8_nf, stmt(8, false))
#define ROL(size, fl) rotimm(cpu, insn, true, size, fl)
#define ROR(size, fl) rotimm(cpu, insn, false, size, fl)
#define SHL(size, fl) shimm(cpu, insn, X86_OP_SHL, size, fl)
#define SHR(size, fl) shimm(cpu, insn, X86_OP_SHR, size, fl)
#define SAR(size, fl) shimm(cpu, insn, X86_OP_SAR, size, fl)
SHIFT_FORMS(rol, ROL)
SHIFT_FORMS(ror, ROR)
SHIFT_FORMS(shl, SHL)
SHIFT_FORMS(shr, SHR)
SHIFT_FORMS(sar, SAR)
#define SHIFT_TAB(name) { { name##4, name##8 }, { name##4_nf, name##8_nf } }

/* [rol, ror, shl, shr, sar][flags dead][size 8] */
static const handler_t shift_tab[5][2][2] = {
	SHIFT_TAB(rol), SHIFT_TAB(ror), SHIFT_TAB(shl), SHIFT_TAB(shr), SHIFT_TAB(sar),
};

/* jcc in 64-bit mode, per condition. */
#define JCC(cc) BRANCH(jcc##cc, if (tcg_cond_inline(cpu->rflags, cc)) cpu->next_rip += insn->imm)
JCC(0) JCC(1) JCC(2) JCC(3) JCC(4) JCC(5) JCC(6) JCC(7)
JCC(8) JCC(9) JCC(10) JCC(11) JCC(12) JCC(13) JCC(14) JCC(15)

static const handler_t jcc_tab[16] = {
	jcc0, jcc1, jcc2, jcc3, jcc4, jcc5, jcc6, jcc7,
	jcc8, jcc9, jcc10, jcc11, jcc12, jcc13, jcc14, jcc15,
};

static inline __attribute__((always_inline)) void jmp64_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	cpu->next_rip += insn->imm;
}

/* The 64-bit stack: the push stores before rsp changes, so a fault leaves it. */
static inline __attribute__((always_inline)) void push64_r_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	uint64_t sp = cpu->gpr[4] - 8;

	tcg_store(cpu, sp, 8, cpu->gpr[insn->opnd[0].reg]);
	cpu->gpr[4] = sp;
}

static inline __attribute__((always_inline)) void pop64_r_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	uint64_t sp = cpu->gpr[4], v = tcg_load(cpu, sp, 8);

	cpu->gpr[4] = sp + 8;
	cpu->gpr[insn->opnd[0].reg] = v;
}

static inline __attribute__((always_inline)) void call64_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	uint64_t sp = cpu->gpr[4] - 8;

	tcg_store(cpu, sp, 8, cpu->next_rip);
	cpu->gpr[4] = sp;
	cpu->next_rip += insn->imm;
}

static inline __attribute__((always_inline)) void ret64_(struct tcg_cpu *cpu,
							 const struct x86_insn *insn)
{
	uint64_t sp = cpu->gpr[4], t = tcg_load(cpu, sp, 8);

	cpu->gpr[4] = sp + 8;
	cpu->next_rip = t;
}

/* imul r, r/m and imul r, r/m, imm of 32 or 64 bits. */
static inline __attribute__((always_inline)) void imul(struct tcg_cpu *cpu,
						       const struct x86_insn *insn, int size,
						       int form, int shape, bool three, bool fl)
{
	uint64_t a, b, lo, f;
	bool of;

	if (form == F_RR)
		b = rget(cpu, insn->opnd[1].reg, size);
	else
		b = tcg_load(cpu, fast_ea(cpu, insn, shape), size);
	if (three) {
		a = b;
		b = insn->imm & size_mask(size);
	} else {
		a = rget(cpu, insn->opnd[0].reg, size);
	}
	if (size == 8) {
		int64_t p;

		of = __builtin_mul_overflow((int64_t)a, (int64_t)b, &p);
		lo = (uint64_t)p;
	} else {
		int32_t p;

		of = __builtin_mul_overflow((int32_t)a, (int32_t)b, &p);
		lo = (uint32_t)p;
	}
	rset(cpu, insn->opnd[0].reg, size, lo);
	f = flags_szp(lo, size) | (of ? X86_CF | X86_OF : 0);
	if (fl)
		setfl(cpu, f, X86_FL_ARITH);
}

#define IMUL_FORMS(name, size, three, fl) \
	SEQ(name##_r, imul(cpu, insn, size, F_RR, EA_GEN, three, fl)) \
	SEQ_MEM(name##_b, imul(cpu, insn, size, F_RM, EA_B, three, fl)) \
	SEQ_MEM(name##_bi, imul(cpu, insn, size, F_RM, EA_BI, three, fl)) \
	SEQ_MEM(name##_d, imul(cpu, insn, size, F_RM, EA_D, three, fl)) \
	SEQ_MEM(name##_g, imul(cpu, insn, size, F_RM, EA_GEN, three, fl))
#define IMUL_TAB(name) { name##_b, name##_bi, name##_d, name##_g, name##_r }

IMUL_FORMS(imul4, 4, false, true)
IMUL_FORMS(imul8, 8, false, true)
IMUL_FORMS(imul4i, 4, true, true)
IMUL_FORMS(imul8i, 8, true, true)
IMUL_FORMS(imul4_nf, 4, false, false)
IMUL_FORMS(imul8_nf, 8, false, false)
IMUL_FORMS(imul4i_nf, 4, true, false)
IMUL_FORMS(imul8i_nf, 8, true, false)

/* [flags dead][three][size 8][shape, or 4 for a register] */
static const handler_t imul_tab[2][2][2][5] = {
	{ { IMUL_TAB(imul4), IMUL_TAB(imul8) }, { IMUL_TAB(imul4i), IMUL_TAB(imul8i) } },
	{ { IMUL_TAB(imul4_nf), IMUL_TAB(imul8_nf) },
	  { IMUL_TAB(imul4i_nf), IMUL_TAB(imul8i_nf) } },
};

/* Indirect call and jmp in 64-bit mode: the target is read before the push. */
static inline __attribute__((always_inline)) void branch_ind(struct tcg_cpu *cpu,
							     const struct x86_insn *insn,
							     int shape, bool reg, bool call)
{
	uint64_t t;

	if (reg)
		t = cpu->gpr[insn->opnd[0].reg];
	else
		t = tcg_load(cpu, fast_ea(cpu, insn, shape), 8);
	if (call) {
		uint64_t sp = cpu->gpr[4] - 8;

		tcg_store(cpu, sp, 8, cpu->next_rip);
		cpu->gpr[4] = sp;
	}
	cpu->next_rip = t;
}

#define BRANCH_IND(name, call) \
	BRANCH(name##_b, branch_ind(cpu, insn, EA_B, false, call)) \
	BRANCH(name##_bi, branch_ind(cpu, insn, EA_BI, false, call)) \
	BRANCH(name##_d, branch_ind(cpu, insn, EA_D, false, call)) \
	BRANCH(name##_g, branch_ind(cpu, insn, EA_GEN, false, call)) \
	BRANCH(name##_r, branch_ind(cpu, insn, EA_GEN, true, call))

BRANCH_IND(callind, true)
BRANCH_IND(jmpind, false)

static const handler_t branch_ind_tab[2][5] = {
	IMUL_TAB(jmpind), IMUL_TAB(callind),
};

SEQ(lea8_b, lea8_b_(cpu, insn))
SEQ(lea8_bi, lea8_bi_(cpu, insn))
SEQ(lea8_d, lea8_d_(cpu, insn))
SEQ(lea4_d, lea4_d_(cpu, insn))
SEQ(lea4_b, lea4_b_(cpu, insn))
SEQ(lea4_bi, lea4_bi_(cpu, insn))
/* not of a register (no flags). */
static inline __attribute__((always_inline)) void not_(struct tcg_cpu *cpu,
						       const struct x86_insn *insn, int size)
{
	rset(cpu, insn->opnd[0].reg, size, ~rget(cpu, insn->opnd[0].reg, size));
}

SEQ(not4, not_(cpu, insn, 4))
SEQ(not8, not_(cpu, insn, 8))
SEQ_MEM(push64_r, push64_r_(cpu, insn))
SEQ_MEM(pop64_r, pop64_r_(cpu, insn))
BRANCH(jmp64, jmp64_(cpu, insn))
BRANCH(call64, call64_(cpu, insn))
BRANCH(ret64, ret64_(cpu, insn))

static int size_log2(int size)
{
	return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : size == 8 ? 3 : -1;
}

/* A general register operand without AH..BH. */
static bool plain_reg(const struct x86_operand *o)
{
	return o->kind == X86_OPND_REG && o->reg < 16;
}

/* The shape of @insn's memory operand for fast_ea(), for 64-bit mode. */
static int ea_shape(const struct x86_insn *insn)
{
	if (insn->addrsize != 8 || insn->seg == X86_SEG_FS || insn->seg == X86_SEG_GS)
		return EA_GEN;
	if (insn->base == X86_REG_NONE && insn->index == X86_REG_NONE)
		return EA_D;
	if (insn->base >= 16)
		return EA_GEN;
	if (insn->index == X86_REG_NONE)
		return EA_B;
	return insn->index < 16 ? EA_BI : EA_GEN;
}

/* The row of shift_tab for a shift or rotate (SAL is SHL). */
static int shift_row(int op)
{
	switch (op) {
	case X86_OP_ROL: return 0;
	case X86_OP_ROR: return 1;
	case X86_OP_SHR: return 3;
	case X86_OP_SAR: return 4;
	default: return 2;
	}
}

/* Form of a two-operand instruction whose operands both have the operation size. */
static int form_of(const struct x86_insn *insn)
{
	const struct x86_operand *d = &insn->opnd[0], *s = &insn->opnd[1];

	if (insn->nopnd != 2 || d->size != insn->opsize)
		return -1;
	if (s->kind != X86_OPND_IMM && s->size != insn->opsize)
		return -1;
	if (plain_reg(d)) {
		if (plain_reg(s))
			return F_RR;
		if (s->kind == X86_OPND_IMM)
			return F_RI;
		if (s->kind == X86_OPND_MEM)
			return F_RM;
	} else if (d->kind == X86_OPND_MEM) {
		if (plain_reg(s))
			return F_MR;
		if (s->kind == X86_OPND_IMM)
			return F_MI;
	}
	return -1;
}

handler_t tcg_fast_handler(const struct x86_insn *insn, int mode, bool flags_dead)
{
	int lg = size_log2(insn->opsize), form, shape, nf = flags_dead;

	/* LOCK'ed read-modify-writes must be atomic: the generic handlers do that. */
	if (mode != 64 || lg < 0 || (insn->pfx & X86_PFX_LOCK))
		return NULL;
	shape = insn->memop ? ea_shape(insn) : 0;
	switch (insn->op) {
	case X86_OP_ADD: case X86_OP_OR: case X86_OP_ADC: case X86_OP_SBB:
	case X86_OP_AND: case X86_OP_SUB: case X86_OP_XOR: case X86_OP_CMP:
	case X86_OP_TEST:
		form = form_of(insn);
		if (form < 0 || (insn->op == X86_OP_TEST && form == F_RM))
			return NULL;
		if (nf && insn->op <= X86_OP_XOR && form <= F_RM)
			return alu_nf_tab[insn->op - X86_OP_ADD][lg][form][shape];
		return alu_tab[insn->op == X86_OP_TEST ? 8 : insn->op - X86_OP_ADD][lg][form][shape];
	case X86_OP_MOV:
		form = form_of(insn);
		if (form < 0)
			return NULL;
		return mov_tab[lg][form][shape];
	case X86_OP_MOVZX:
	case X86_OP_MOVSX: {
		const struct x86_operand *d = &insn->opnd[0], *s = &insn->opnd[1];

		if (insn->nopnd != 2 || !plain_reg(d) || d->size != insn->opsize || lg < 2)
			return NULL;
		if (s->size != 1 && s->size != 2)
			return NULL;
		if (!plain_reg(s) && s->kind != X86_OPND_MEM)
			return NULL;
		return movx_tab[insn->op == X86_OP_MOVSX][lg == 3][s->size == 2]
			       [plain_reg(s) ? 0 : 1 + shape];
	}
	case X86_OP_LEA:
		if (!plain_reg(&insn->opnd[0]) || lg < 2 || shape == EA_GEN ||
		    insn->opnd[0].size != insn->opsize)
			return NULL;
		if (lg == 3)
			return shape == EA_B ? lea8_b : shape == EA_BI ? lea8_bi : lea8_d;
		return shape == EA_B ? lea4_b : shape == EA_BI ? lea4_bi : lea4_d;
	case X86_OP_NOT:
		if (insn->nopnd != 1 || !plain_reg(&insn->opnd[0]) || lg < 2 ||
		    insn->opnd[0].size != insn->opsize)
			return NULL;
		return lg == 3 ? not8 : not4;
	case X86_OP_INC:
	case X86_OP_DEC:
		if (insn->nopnd != 1 || !plain_reg(&insn->opnd[0]) || lg < 2 ||
		    insn->opnd[0].size != insn->opsize)
			return NULL;
		return incdec_tab[nf][insn->op == X86_OP_DEC][lg == 3];
	case X86_OP_SHL: case X86_OP_SAL: case X86_OP_SHR: case X86_OP_SAR:
	case X86_OP_ROL: case X86_OP_ROR:
		if (insn->nopnd != 2 || !plain_reg(&insn->opnd[0]) || lg < 2 ||
		    insn->opnd[0].size != insn->opsize || insn->opnd[1].kind != X86_OPND_IMM ||
		    !(insn->imm & (lg == 3 ? 63 : 31)))
			return NULL;
		return shift_tab[shift_row(insn->op)][nf][lg == 3];
	case X86_OP_IMUL2: {
		bool three = insn->nopnd == 3;
		const struct x86_operand *s = &insn->opnd[1];

		if (lg < 2 || !plain_reg(&insn->opnd[0]) || insn->opnd[0].size != insn->opsize ||
		    s->size != insn->opsize || (insn->nopnd != 2 && insn->nopnd != 3))
			return NULL;
		if (three && (insn->opnd[2].kind != X86_OPND_IMM ||
			      insn->opnd[2].size != insn->opsize))
			return NULL;
		if (!plain_reg(s) && s->kind != X86_OPND_MEM)
			return NULL;
		return imul_tab[nf][three][lg == 3][plain_reg(s) ? 4 : shape];
	}
	case X86_OP_CALL_IND:
	case X86_OP_JMP_IND: {
		const struct x86_operand *o = &insn->opnd[0];

		if (lg != 3 || insn->nopnd != 1 || o->size != 8 ||
		    (!plain_reg(o) && o->kind != X86_OPND_MEM))
			return NULL;
		return branch_ind_tab[insn->op == X86_OP_CALL_IND][plain_reg(o) ? 4 : shape];
	}
	case X86_OP_JCC:
		return jcc_tab[insn->cond & 15];
	case X86_OP_JMP:
		return jmp64;
	case X86_OP_CALL:
		return lg == 3 ? call64 : NULL;
	case X86_OP_RET:
		return lg == 3 && !insn->nopnd ? ret64 : NULL;
	case X86_OP_PUSH:
		if (lg != 3 || insn->nopnd != 1 || !plain_reg(&insn->opnd[0]) ||
		    insn->opnd[0].size != 8)
			return NULL;
		return push64_r;
	case X86_OP_POP:
		if (lg != 3 || insn->nopnd != 1 || !plain_reg(&insn->opnd[0]) ||
		    insn->opnd[0].size != 8)
			return NULL;
		return pop64_r;
	default:
		return NULL;
	}
}
