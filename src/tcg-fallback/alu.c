/*
 * Flag-exact integer arithmetic for the ALU group (add, or, adc, sbb, and,
 * sub, xor, cmp) and condition evaluation. Flags are computed eagerly from
 * the operands and result, bit for bit as the SDM defines them.
 */
#include "ops.h"

static uint64_t arith_flags(uint64_t a, uint64_t b, uint64_t r, int size)
{
	return flags_szp(r, size) | ((a ^ b ^ r) & X86_AF);
}

uint64_t alu_binop(int op, uint64_t a, uint64_t b, int cf, int size, uint64_t *flags)
{
	uint64_t m = size_mask(size), sb = sign_bit(size), r, f;
	int c = 0;

	a &= m;
	b &= m;
	switch (op) {
	case X86_OP_ADC:
		c = cf;
		/* fallthrough */
	case X86_OP_ADD:
		r = (a + b + c) & m;
		f = arith_flags(a, b, r, size);
		if (c ? r <= a : r < a)
			f |= X86_CF;
		if ((a ^ r) & (b ^ r) & sb)
			f |= X86_OF;
		break;
	case X86_OP_SBB:
		c = cf;
		/* fallthrough */
	case X86_OP_SUB:
	case X86_OP_CMP:
		r = (a - b - c) & m;
		f = arith_flags(a, b, r, size);
		if (c ? a <= b : a < b)
			f |= X86_CF;
		if ((a ^ b) & (a ^ r) & sb)
			f |= X86_OF;
		break;
	default:
		r = op == X86_OP_AND ? a & b : op == X86_OP_OR ? a | b : a ^ b;
		f = flags_szp(r, size);	/* CF = OF = 0; AF undefined, left 0 */
		break;
	}
	*flags = f;
	return r;
}

bool tcg_cond(const struct tcg_cpu *cpu, int cc)
{
	uint64_t f = cpu->rflags;
	bool r;

	switch (cc >> 1) {
	case 0: r = f & X86_OF; break;
	case 1: r = f & X86_CF; break;
	case 2: r = f & X86_ZF; break;
	case 3: r = f & (X86_CF | X86_ZF); break;
	case 4: r = f & X86_SF; break;
	case 5: r = f & X86_PF; break;
	case 6: r = !(f & X86_SF) != !(f & X86_OF); break;
	default: r = (f & X86_ZF) || !(f & X86_SF) != !(f & X86_OF); break;
	}
	return r ^ (cc & 1);
}
