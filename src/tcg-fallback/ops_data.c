/*
 * Data movement handlers: mov and its extending forms, lea, cmov/setcc, the
 * stack (push, pop, pushf, popf, leave), exchanges (xchg, xadd, cmpxchg,
 * cmpxchg8b/16b), sign extensions of rAX, bswap and movbe. Memory is written
 * before registers so that a fault leaves no partial effect.
 */
#include "ops.h"

TCG_HANDLER(op_mov)
{
	uint64_t addr = mem_addr(cpu, insn);

	opnd_set(cpu, insn, 0, addr, opnd_get(cpu, insn, 1, addr));
}

TCG_HANDLER(op_movzx)
{
	uint64_t addr = mem_addr(cpu, insn);

	reg_set(cpu, insn->opnd[0].reg, insn->opsize, opnd_get(cpu, insn, 1, addr));
}

TCG_HANDLER(op_movsx)
{
	uint64_t addr = mem_addr(cpu, insn);
	uint64_t v = sext(opnd_get(cpu, insn, 1, addr), insn->opnd[1].size);

	reg_set(cpu, insn->opnd[0].reg, insn->opsize, v);
}

/* lea computes the offset only: no segment base, truncated to the operand size. */
TCG_HANDLER(op_lea)
{
	reg_set(cpu, insn->opnd[0].reg, insn->opsize, tcg_offset(cpu, insn));
}

/* The source is read (and may fault) and a 32-bit destination is written either way. */
TCG_HANDLER(op_cmov)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);

	if (!tcg_cond(cpu, insn->cond))
		v = reg_get(cpu, insn->opnd[0].reg, insn->opsize);
	reg_set(cpu, insn->opnd[0].reg, insn->opsize, v);
}

TCG_HANDLER(op_setcc)
{
	uint64_t addr = mem_addr(cpu, insn);

	opnd_set(cpu, insn, 0, addr, tcg_cond(cpu, insn->cond));
}

TCG_HANDLER(op_push)
{
	uint64_t addr = mem_addr(cpu, insn);

	tcg_push(cpu, opnd_get(cpu, insn, 0, addr), insn->opsize);
}

/* pop to memory addresses its operand with the stack pointer already incremented. */
TCG_HANDLER(op_pop)
{
	int sw = stack_width(cpu), size = insn->opsize;
	uint64_t sp = cpu->gpr[4], v = tcg_load(cpu, sp & size_mask(sw), size), addr = 0;

	if (insn->opnd[0].kind == X86_OPND_MEM) {
		reg_set(cpu, 4, sw, sp + size);
		addr = tcg_ea(cpu, insn);
		cpu->gpr[4] = sp;
		tcg_probe_write(cpu, addr, size);
	}
	reg_set(cpu, 4, sw, sp + size);
	opnd_set(cpu, insn, 0, addr, v);
}

/* RF and VM read as zero in the pushed image. */
TCG_HANDLER(op_pushf)
{
	tcg_push(cpu, cpu->rflags & ~0x30000ULL, insn->opsize);
}

/* At CPL 3 with IOPL 0, popf changes the arithmetic flags, DF, NT, AC and ID only. */
#define POPF_MASK (X86_FL_ARITH | X86_DF | 0x4000ULL | 0x40000ULL | 0x200000ULL)

/* In a VM, popf may change IF and IOPL: the system environment decides by CPL. */
TCG_HANDLER(op_popf)
{
	uint64_t v;

	if (cpu->env->sysinsn) {
		cpu->env->sysinsn(cpu, insn);
		return;
	}
	v = tcg_pop(cpu, insn->opsize);

	set_flags(cpu, v, POPF_MASK & size_mask(insn->opsize));
}

TCG_HANDLER(op_leave)
{
	int sw = stack_width(cpu), size = insn->opsize;
	uint64_t bp = cpu->gpr[5] & size_mask(sw), v = tcg_load(cpu, bp, size);

	reg_set(cpu, 4, sw, bp + size);
	reg_set(cpu, 5, size, v);
}

/* With memory (only ever operand 0) xchg is locked whether or not it says LOCK. */
TCG_HANDLER(op_xchg)
{
	uint64_t addr = mem_addr(cpu, insn), a, b = opnd_get(cpu, insn, 1, addr);

	if (insn->opnd[0].kind == X86_OPND_MEM) {
		reg_set(cpu, insn->opnd[1].reg, insn->opsize, tcg_mem_xchg(cpu, insn, addr, b));
		return;
	}
	a = opnd_get(cpu, insn, 0, addr);
	opnd_set(cpu, insn, 0, addr, b);
	opnd_set(cpu, insn, 1, addr, a);
}

/* TEMP = SRC + DEST; SRC = DEST; DEST = TEMP: with one register, DEST wins. */
TCG_HANDLER(op_xadd)
{
	uint64_t addr = mem_addr(cpu, insn), f, r, d;
	uint64_t s = reg_get(cpu, insn->opnd[1].reg, insn->opsize);

	if (insn->opnd[0].kind == X86_OPND_MEM) {
		d = tcg_mem_xadd(cpu, insn, addr, s);
		alu_binop(X86_OP_ADD, d, s, 0, insn->opsize, &f);
		reg_set(cpu, insn->opnd[1].reg, insn->opsize, d);
	} else {
		d = reg_get(cpu, insn->opnd[0].reg, insn->opsize);
		r = alu_binop(X86_OP_ADD, d, s, 0, insn->opsize, &f);
		reg_set(cpu, insn->opnd[1].reg, insn->opsize, d);
		reg_set(cpu, insn->opnd[0].reg, insn->opsize, r);
	}
	set_flags(cpu, f, X86_FL_ARITH);
}

/* The destination is written back even when the comparison fails. */
TCG_HANDLER(op_cmpxchg)
{
	uint64_t addr = mem_addr(cpu, insn), f, acc = reg_get(cpu, 0, insn->opsize), d = acc;
	uint64_t s = reg_get(cpu, insn->opnd[1].reg, insn->opsize);

	if (insn->opnd[0].kind == X86_OPND_MEM) {
		tcg_mem_cmpxchg(cpu, insn, addr, &d, s);
	} else {
		d = reg_get(cpu, insn->opnd[0].reg, insn->opsize);
		if (d == acc)
			reg_set(cpu, insn->opnd[0].reg, insn->opsize, s);
	}
	alu_binop(X86_OP_CMP, acc, d, 0, insn->opsize, &f);
	if (!(f & X86_ZF))
		reg_set(cpu, 0, insn->opsize, d);
	set_flags(cpu, f, X86_FL_ARITH);
}

/* cmpxchg8b, and cmpxchg16b (REX.W) whose operand must be 16-byte aligned. */
TCG_HANDLER(op_cmpxchg8b)
{
	uint64_t addr = mem_addr(cpu, insn);
	int half = insn->opnd[0].size / 2;
	uint64_t old[2] = { reg_get(cpu, 0, half), reg_get(cpu, 2, half) };
	const uint64_t val[2] = { reg_get(cpu, 3, half), reg_get(cpu, 1, half) };
	bool eq;

	if (half == 8 && (addr & 15))
		tcg_raise(cpu, TCG_EXC_GP, 0);
	eq = tcg_mem_cmpxchg2(cpu, insn, addr, old, val);
	if (!eq) {
		reg_set(cpu, 0, half, old[0]);
		reg_set(cpu, 2, half, old[1]);
	}
	set_flags(cpu, eq ? X86_ZF : 0, X86_ZF);
}

/* cbw/cwde/cdqe: sign-extend the lower half of rAX into its operand size. */
TCG_HANDLER(op_cbw)
{
	int size = insn->opsize;

	reg_set(cpu, 0, size, sext(reg_get(cpu, 0, size / 2), size / 2));
}

/* cwd/cdq/cqo: fill rDX with the sign of rAX. */
TCG_HANDLER(op_cwd)
{
	int size = insn->opsize;

	reg_set(cpu, 2, size, (reg_get(cpu, 0, size) & sign_bit(size)) ? ~0ULL : 0);
}

static uint64_t byte_swap(uint64_t v, int size)
{
	return size == 8 ? __builtin_bswap64(v) : size == 4 ? __builtin_bswap32(v) :
	       __builtin_bswap16(v);
}

/* bswap of a 16-bit register is undefined; it clears the register as CPUs do. */
TCG_HANDLER(op_bswap)
{
	int r = insn->opnd[0].reg, size = insn->opsize;

	reg_set(cpu, r, size, size == 2 ? 0 : byte_swap(reg_get(cpu, r, size), size));
}

TCG_HANDLER(op_movbe)
{
	uint64_t addr = mem_addr(cpu, insn);

	opnd_set(cpu, insn, 0, addr, byte_swap(opnd_get(cpu, insn, 1, addr), insn->opsize));
}
