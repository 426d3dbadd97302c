/*
 * Multiply and divide: mul/imul (one-, two- and three-operand forms) and
 * div/idiv with #DE on a zero divisor or a quotient that does not fit. The
 * double-width products and dividends use 128-bit integers.
 */
#include "ops.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

/* The accumulator pair: AX for bytes (AL, AH), else rDX:rAX. */
static u128 acc_get(const struct tcg_cpu *cpu, int size)
{
	if (size == 1)
		return cpu->gpr[0] & 0xffff;
	return ((u128)reg_get(cpu, 2, size) << (size * 8)) | reg_get(cpu, 0, size);
}

static void acc_set(struct tcg_cpu *cpu, int size, uint64_t lo, uint64_t hi)
{
	if (size == 1) {
		reg_set(cpu, 0, 2, (lo & 0xff) | (hi & 0xff) << 8);
		return;
	}
	reg_set(cpu, 0, size, lo);
	reg_set(cpu, 2, size, hi);
}

/* SF, ZF and PF are undefined after multiplies: they follow the low half here. */
static void mul_flags(struct tcg_cpu *cpu, uint64_t lo, bool overflow, int size)
{
	set_flags(cpu, flags_szp(lo, size) | (overflow ? X86_CF | X86_OF : 0), X86_FL_ARITH);
}

TCG_HANDLER(op_mul)
{
	uint64_t addr = mem_addr(cpu, insn), src = opnd_get(cpu, insn, 0, addr), lo, hi;
	int size = insn->opsize, bits = size * 8;
	uint64_t m = size_mask(size);
	u128 p;

	if (insn->op == X86_OP_MUL) {
		p = (u128)reg_get(cpu, 0, size) * src;
		lo = (uint64_t)p & m;
		hi = (uint64_t)(p >> bits) & m;
		acc_set(cpu, size, lo, hi);
		mul_flags(cpu, lo, hi != 0, size);
		return;
	}
	p = (u128)((s128)(int64_t)sext(reg_get(cpu, 0, size), size) *
		   (int64_t)sext(src, size));
	lo = (uint64_t)p & m;
	hi = (uint64_t)(p >> bits) & m;
	acc_set(cpu, size, lo, hi);
	mul_flags(cpu, lo, (s128)p != (s128)(int64_t)sext(lo, size), size);
}

/* imul r, r/m and imul r, r/m, imm: the truncated signed product. */
TCG_HANDLER(op_imul2)
{
	uint64_t addr = mem_addr(cpu, insn), a, b, lo;
	int size = insn->opsize;
	s128 p;

	a = opnd_get(cpu, insn, insn->nopnd == 3 ? 1 : 0, addr);
	b = opnd_get(cpu, insn, insn->nopnd == 3 ? 2 : 1, addr);
	p = (s128)(int64_t)sext(a, size) * (int64_t)sext(b, size);
	lo = (uint64_t)p & size_mask(size);
	reg_set(cpu, insn->opnd[0].reg, size, lo);
	mul_flags(cpu, lo, p != (s128)(int64_t)sext(lo, size), size);
}

static void divide_unsigned(struct tcg_cpu *cpu, u128 n, uint64_t d, int size)
{
	u128 q;

	if (!d)
		tcg_raise(cpu, TCG_EXC_DE, 0);
	q = n / d;
	if (q > size_mask(size))
		tcg_raise(cpu, TCG_EXC_DE, 0);
	acc_set(cpu, size, (uint64_t)q, (uint64_t)(n % d));
}

/* Signed division on magnitudes, so that no C operation can overflow. */
static void divide_signed(struct tcg_cpu *cpu, s128 n, int64_t d, int size)
{
	u128 un = n < 0 ? -(u128)n : (u128)n, ud = d < 0 ? -(u128)d : (u128)d, uq, ur;
	bool qneg = (n < 0) != (d < 0);
	u128 limit = (u128)sign_bit(size) - (qneg ? 0 : 1);

	if (!d)
		tcg_raise(cpu, TCG_EXC_DE, 0);
	uq = un / ud;
	ur = un % ud;
	if (uq > limit)
		tcg_raise(cpu, TCG_EXC_DE, 0);
	acc_set(cpu, size, (uint64_t)(qneg ? -uq : uq), (uint64_t)(n < 0 ? -ur : ur));
}

/* Flags are undefined after div/idiv; they are left as they were. */
TCG_HANDLER(op_div)
{
	uint64_t addr = mem_addr(cpu, insn), d = opnd_get(cpu, insn, 0, addr);
	int size = insn->opsize;
	u128 n = acc_get(cpu, size);
	s128 sn;

	if (insn->op == X86_OP_DIV) {
		divide_unsigned(cpu, n, d, size);
		return;
	}
	/* Sign-extend the 2*size-byte dividend. */
	sn = size == 8 ? (s128)n : (s128)(n << (128 - 16 * size)) >> (128 - 16 * size);
	divide_signed(cpu, sn, (int64_t)sext(d, size), size);
}
