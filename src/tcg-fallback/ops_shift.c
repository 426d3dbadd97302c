/*
 * Shifts and rotates (rol, ror, rcl, rcr, shl, shr, sar, shld, shrd) with the
 * SDM's count masking. A masked count of zero changes no flag; OF is computed
 * by its count-1 formula for every count (it is undefined for the others).
 */
#include "ops.h"

typedef unsigned __int128 u128;

struct shift {
	uint64_t a, m, msb, r;
	int bits;
	unsigned int cf, of;
};

static void rotate(struct shift *s, int op, unsigned int count, unsigned int cf)
{
	unsigned int c;

	switch (op) {
	case X86_OP_ROL:
		c = count % s->bits;
		s->r = c ? ((s->a << c) | (s->a >> (s->bits - c))) & s->m : s->a;
		s->cf = s->r & 1;
		s->of = !!(s->r & s->msb) ^ s->cf;
		break;
	case X86_OP_ROR:
		c = count % s->bits;
		s->r = c ? ((s->a >> c) | (s->a << (s->bits - c))) & s->m : s->a;
		s->cf = !!(s->r & s->msb);
		s->of = s->cf ^ !!(s->r & (s->msb >> 1));
		break;
	case X86_OP_RCL:
		s->r = s->a;
		for (c = count % (s->bits + 1); c; c--) {
			unsigned int out = !!(s->r & s->msb);

			s->r = ((s->r << 1) | cf) & s->m;
			cf = out;
		}
		s->cf = cf;
		s->of = !!(s->r & s->msb) ^ cf;
		break;
	default:	/* RCR */
		s->of = !!(s->a & s->msb) ^ cf;
		s->r = s->a;
		for (c = count % (s->bits + 1); c; c--) {
			unsigned int out = s->r & 1;

			s->r = (s->r >> 1) | (cf ? s->msb : 0);
			cf = out;
		}
		s->cf = cf;
		break;
	}
}

static void shift(struct shift *s, int op, unsigned int count)
{
	switch (op) {
	case X86_OP_SHR:
		s->r = s->a >> count;
		s->cf = (s->a >> (count - 1)) & 1;
		s->of = !!(s->a & s->msb);
		break;
	case X86_OP_SAR: {
		int64_t sa = (int64_t)sext(s->a, s->bits / 8);

		s->r = (uint64_t)(sa >> (count > 63 ? 63 : count)) & s->m;
		s->cf = (sa >> (count - 1)) & 1;
		s->of = 0;
		break;
	}
	default:	/* SHL, SAL */
		s->r = (s->a << count) & s->m;
		s->cf = count <= (unsigned int)s->bits ? (s->a >> (s->bits - count)) & 1 : 0;
		s->of = !!(s->r & s->msb) ^ s->cf;
		break;
	}
}

TCG_HANDLER(op_shift)
{
	uint64_t addr = mem_addr(cpu, insn);
	unsigned int count = opnd_get(cpu, insn, 1, addr) & (insn->opsize == 8 ? 63 : 31);
	struct shift s = { .bits = insn->opsize * 8, .m = size_mask(insn->opsize),
			   .msb = sign_bit(insn->opsize) };
	uint64_t f;

	s.a = opnd_get(cpu, insn, 0, addr);
	if (!count) {
		opnd_set(cpu, insn, 0, addr, s.a);	/* a 32-bit register still zero-extends */
		return;
	}
	if (insn->op <= X86_OP_RCR) {
		rotate(&s, insn->op, count, cpu->rflags & X86_CF);
		opnd_set(cpu, insn, 0, addr, s.r);
		set_flags(cpu, (s.cf ? X86_CF : 0) | (s.of ? X86_OF : 0), X86_CF | X86_OF);
		return;
	}
	shift(&s, insn->op, count);
	opnd_set(cpu, insn, 0, addr, s.r);
	f = flags_szp(s.r, insn->opsize) | (s.cf ? X86_CF : 0) | (s.of ? X86_OF : 0);
	set_flags(cpu, f, X86_FL_ARITH);
}

/*
 * shld/shrd shift the destination with bits from the source filling in, as
 * a shift of the double-width concatenation. 16-bit counts above 16 are
 * undefined; they give whatever the concatenation gives.
 */
TCG_HANDLER(op_shld)
{
	uint64_t addr = mem_addr(cpu, insn), a, b, r, f, m = size_mask(insn->opsize);
	unsigned int count = opnd_get(cpu, insn, 2, addr) & (insn->opsize == 8 ? 63 : 31);
	int bits = insn->opsize * 8;
	unsigned int cf;
	u128 x;

	a = opnd_get(cpu, insn, 0, addr);
	b = opnd_get(cpu, insn, 1, addr);
	if (!count) {
		opnd_set(cpu, insn, 0, addr, a);
		return;
	}
	if (insn->op == X86_OP_SHLD) {
		x = ((u128)a << bits) | b;
		r = (uint64_t)((x << count) >> bits) & m;
		cf = (unsigned int)((x << (count - 1)) >> (2 * bits - 1)) & 1;
	} else {
		x = ((u128)b << bits) | a;
		r = (uint64_t)(x >> count) & m;
		cf = (unsigned int)(x >> (count - 1)) & 1;
	}
	opnd_set(cpu, insn, 0, addr, r);
	f = flags_szp(r, insn->opsize) | (cf ? X86_CF : 0);
	if ((r ^ a) & sign_bit(insn->opsize))
		f |= X86_OF;
	set_flags(cpu, f, X86_FL_ARITH);
}
