/*
 * Handlers for the integer ALU instructions: add..cmp, inc/dec, not/neg,
 * test, and the bit operations bt*, bsf/bsr (also tzcnt/lzcnt, which run as
 * bsf/bsr since the CPU model advertises neither BMI1 nor LZCNT), popcnt.
 */
#include "ops.h"

#define FL_ALL X86_FL_ARITH

static uint64_t alu_rmw(const struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t a,
			uint64_t b, uint64_t *flags)
{
	return alu_binop(insn->op, a, b, cpu->rflags & X86_CF, insn->opsize, flags);
}

TCG_HANDLER(op_alu)
{
	uint64_t addr = mem_addr(cpu, insn), f;
	uint64_t b = opnd_get(cpu, insn, 1, addr);

	if (insn->op == X86_OP_CMP)
		alu_rmw(cpu, insn, opnd_get(cpu, insn, 0, addr), b, &f);
	else
		tcg_rmw(cpu, insn, addr, alu_rmw, b, &f);
	set_flags(cpu, f, FL_ALL);
}

TCG_HANDLER(op_test)
{
	uint64_t addr = mem_addr(cpu, insn), f;
	uint64_t a = opnd_get(cpu, insn, 0, addr), b = opnd_get(cpu, insn, 1, addr);

	alu_binop(X86_OP_AND, a, b, 0, insn->opsize, &f);
	set_flags(cpu, f, FL_ALL);
}

/* inc and dec are add and sub of 1 that keep CF. */
static uint64_t incdec_rmw(const struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t v,
			   uint64_t unused, uint64_t *flags)
{
	int op = insn->op == X86_OP_INC ? X86_OP_ADD : X86_OP_SUB;

	return alu_binop(op, v, 1, 0, insn->opsize, flags);
}

TCG_HANDLER(op_incdec)
{
	uint64_t f;

	tcg_rmw(cpu, insn, mem_addr(cpu, insn), incdec_rmw, 0, &f);
	set_flags(cpu, f, FL_ALL & ~X86_CF);
}

/* not leaves the flags alone. */
static uint64_t not_rmw(const struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t v,
			uint64_t unused, uint64_t *flags)
{
	return ~v;
}

TCG_HANDLER(op_not)
{
	uint64_t unused;

	tcg_rmw(cpu, insn, mem_addr(cpu, insn), not_rmw, 0, &unused);
}

/* neg is 0 - x: CF is set unless x is zero, exactly as sub computes it. */
static uint64_t neg_rmw(const struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t v,
			uint64_t unused, uint64_t *flags)
{
	return alu_binop(X86_OP_SUB, 0, v, 0, insn->opsize, flags);
}

TCG_HANDLER(op_neg)
{
	uint64_t f;

	tcg_rmw(cpu, insn, mem_addr(cpu, insn), neg_rmw, 0, &f);
	set_flags(cpu, f, FL_ALL);
}

/* bts, btr and btc: CF is the bit's old value. */
static uint64_t bt_rmw(const struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t v,
		       uint64_t bit, uint64_t *flags)
{
	*flags = (v & bit) ? X86_CF : 0;
	if (insn->op == X86_OP_BTS)
		return v | bit;
	if (insn->op == X86_OP_BTR)
		return v & ~bit;
	return v ^ bit;
}

/*
 * bt*: a register bit offset on a memory operand is signed and selects a
 * unit of the operand size anywhere relative to the address; otherwise the
 * offset is taken modulo the operand width.
 */
TCG_HANDLER(op_bt)
{
	uint64_t addr = mem_addr(cpu, insn), off = opnd_get(cpu, insn, 1, addr), bit, f;
	int bits = insn->opsize * 8;

	if (insn->opnd[0].kind == X86_OPND_MEM && insn->opnd[1].kind == X86_OPND_REG) {
		int64_t soff = (int64_t)sext(off, insn->opsize);

		addr += (uint64_t)((soff >> __builtin_ctz(bits)) * insn->opsize);
		if (cpu->mode != 64)
			addr = (uint32_t)addr;
	}
	bit = 1ULL << (off & (bits - 1));
	if (insn->op == X86_OP_BT)
		f = (opnd_get(cpu, insn, 0, addr) & bit) ? X86_CF : 0;
	else
		tcg_rmw(cpu, insn, addr, bt_rmw, bit, &f);
	set_flags(cpu, f, X86_CF);
}

/* A zero source sets ZF and leaves the destination as it was, as both vendors do. */
TCG_HANDLER(op_bsf)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);

	if (!v) {
		set_flags(cpu, X86_ZF, X86_ZF);
		return;
	}
	reg_set(cpu, insn->opnd[0].reg, insn->opsize, __builtin_ctzll(v));
	set_flags(cpu, 0, X86_ZF);
}

TCG_HANDLER(op_bsr)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);

	if (!v) {
		set_flags(cpu, X86_ZF, X86_ZF);
		return;
	}
	reg_set(cpu, insn->opnd[0].reg, insn->opsize, 63 - __builtin_clzll(v));
	set_flags(cpu, 0, X86_ZF);
}

TCG_HANDLER(op_popcnt)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);

	reg_set(cpu, insn->opnd[0].reg, insn->opsize, __builtin_popcountll(v));
	set_flags(cpu, v ? 0 : X86_ZF, FL_ALL);
}
