/*
 * Flag-exact integer arithmetic for the ALU group (add, or, adc, sbb, and,
 * sub, xor, cmp) and condition evaluation, out of line; the definitions are
 * the inline ones in ops.h, which the specialised handlers (ops_fast.c) share.
 */
#include "ops.h"

uint64_t alu_binop(int op, uint64_t a, uint64_t b, int cf, int size, uint64_t *flags)
{
	return alu_binop_inline(op, a, b, cf, size, flags);
}

bool tcg_cond(const struct tcg_cpu *cpu, int cc)
{
	return tcg_cond_inline(cpu->rflags, cc);
}
