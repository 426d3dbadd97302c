/*
 * SSE and SSE2 handlers: 128-bit moves, packed integer arithmetic, logic,
 * shifts and shuffles in plain C; scalar floating point on the host's own
 * SSE unit under the guest's MXCSR (same ISA, so results are bit-exact);
 * MXCSR, FXSAVE/FXRSTOR and the x87 control instructions programs use to
 * save and reset the FPU. Sources are read (and may fault) before anything
 * is written. A 16-byte memory operand must be aligned (#GP) unless the
 * instruction is one of the unaligned moves.
 */
#include <emmintrin.h>

#include "ops.h"

static void check_align(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr)
{
	if ((addr & 15) && !(insn->attr & X86_A_UNALIGNED))
		tcg_raise(cpu, TCG_EXC_GP, 0);
}

void sse_src_get(struct tcg_cpu *cpu, const struct x86_insn *insn, int i, uint64_t addr,
		 union tcg_xmm *v)
{
	const struct x86_operand *o = &insn->opnd[i];

	v->q[0] = v->q[1] = 0;
	switch (o->kind) {
	case X86_OPND_XMM:
		*v = cpu->xmm[o->reg];
		break;
	case X86_OPND_REG:
		v->q[0] = reg_get(cpu, o->reg, o->size);
		break;
	case X86_OPND_IMM:
		v->q[0] = insn->imm & 0xff;
		break;
	default:
		if (o->size == 16) {
			check_align(cpu, insn, addr);
			v->q[0] = tcg_load(cpu, addr, 8);
			v->q[1] = tcg_load(cpu, addr + 8, 8);
		} else {
			v->q[0] = tcg_load(cpu, addr, o->size);
		}
	}
}

/* Store the low @size bytes of @v to memory operand @i (16: aligned unless allowed not to be). */
static void mem_put(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		    const union tcg_xmm *v, int size)
{
	if (size == 16) {
		check_align(cpu, insn, addr);
		tcg_probe_write(cpu, addr, 16);
		tcg_store(cpu, addr, 8, v->q[0]);
		tcg_store(cpu, addr + 8, 8, v->q[1]);
	} else {
		tcg_store(cpu, addr, size, v->q[0]);
	}
}

/* movaps, movups, movapd, movupd, movdqa, movdqu, movntps, movntpd, movntdq. */
TCG_HANDLER(op_movdq)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm v;

	sse_src_get(cpu, insn, 1, addr, &v);
	if (insn->opnd[0].kind == X86_OPND_XMM)
		*dst_xmm(cpu, insn) = v;
	else
		mem_put(cpu, insn, addr, &v, 16);
}

/* movd/movq between a general register or memory and an XMM (zero-extending into the XMM). */
TCG_HANDLER(op_movd)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm v;

	sse_src_get(cpu, insn, 1, addr, &v);
	if (insn->opnd[0].kind == X86_OPND_XMM)
		*dst_xmm(cpu, insn) = v;
	else
		opnd_set(cpu, insn, 0, addr, v.q[0] & size_mask(insn->opnd[0].size));
}

/* movq xmm, xmm/m64 (F3 0F 7E) and movq xmm/m64, xmm (66 0F D6): the upper half is zeroed. */
TCG_HANDLER(op_movq)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm v;

	sse_src_get(cpu, insn, 1, addr, &v);
	v.q[1] = 0;
	if (insn->opnd[0].kind == X86_OPND_XMM)
		*dst_xmm(cpu, insn) = v;
	else
		mem_put(cpu, insn, addr, &v, 8);
}

/* movss/movsd: a load from memory zeroes the rest; a register move merges the low element. */
TCG_HANDLER(op_movscalar)
{
	uint64_t addr = mem_addr(cpu, insn);
	int size = insn->op == X86_OP_MOVSS ? 4 : 8;
	union tcg_xmm v;

	sse_src_get(cpu, insn, 1, addr, &v);
	if (insn->opnd[0].kind == X86_OPND_MEM)
		mem_put(cpu, insn, addr, &v, size);
	else if (insn->opnd[1].kind == X86_OPND_MEM)
		*dst_xmm(cpu, insn) = v;
	else
		memcpy(dst_xmm(cpu, insn), &v, size);
}

/*
 * movlps/movlpd (0F 12/13) and movhps/movhpd (0F 16/17): one quadword from or
 * to memory; the register forms of 0F 12 and 0F 16 are movhlps and movlhps.
 */
TCG_HANDLER(op_movhalf)
{
	uint64_t addr = mem_addr(cpu, insn);
	int half = insn->op == X86_OP_MOVHPS;
	union tcg_xmm v;

	sse_src_get(cpu, insn, 1, addr, &v);
	if (insn->opnd[0].kind == X86_OPND_MEM) {
		tcg_store(cpu, addr, 8, v.q[half]);
		return;
	}
	if (insn->opnd[1].kind == X86_OPND_XMM)
		dst_xmm(cpu, insn)->q[half] = v.q[!half];	/* movhlps, movlhps */
	else
		dst_xmm(cpu, insn)->q[half] = v.q[0];
}

/* pmovmskb, movmskps, movmskpd: the sign bits of the elements. */
TCG_HANDLER(op_movmsk)
{
	const union tcg_xmm *s = &cpu->xmm[insn->opnd[1].reg];
	uint32_t m = 0;

	if (insn->op == X86_OP_PMOVMSKB) {
		for (int i = 0; i < 16; i++)
			m |= (uint32_t)(s->b[i] >> 7) << i;
	} else if (insn->op == X86_OP_MOVMSKPS) {
		for (int i = 0; i < 4; i++)
			m |= (s->d[i] >> 31) << i;
	} else {
		m = (uint32_t)(s->q[0] >> 63) | (uint32_t)(s->q[1] >> 63) << 1;
	}
	reg_set(cpu, insn->opnd[0].reg, 4, m);
}

TCG_HANDLER(op_pextrw)
{
	reg_set(cpu, insn->opnd[0].reg, 4, cpu->xmm[insn->opnd[1].reg].w[insn->imm & 7]);
}

TCG_HANDLER(op_pinsrw)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);

	dst_xmm(cpu, insn)->w[insn->imm & 7] = v;
}

/* Element size in bytes of a packed integer instruction, from its opcode. */
static int esize(const struct x86_insn *insn)
{
	switch (insn->opcode) {
	case 0x60: case 0x64: case 0x68: case 0x74: case 0xd8: case 0xdc: case 0xe0:
	case 0xf8: case 0xfc:
		return 1;
	case 0x61: case 0x65: case 0x69: case 0x71: case 0x75: case 0xd1: case 0xd9:
	case 0xdd: case 0xe1: case 0xe3: case 0xf1: case 0xf9: case 0xfd:
		return 2;
	case 0x62: case 0x66: case 0x6a: case 0x72: case 0x76: case 0xd2: case 0xe2:
	case 0xf2: case 0xfa: case 0xfe:
		return 4;
	case 0x14: case 0x15:	/* unpck{l,h}ps, unpck{l,h}pd */
		return insn->mpfx == 3 ? 8 : 4;
	default:		/* 6C 6D 73 D3 D4 F3 FB */
		return 8;
	}
}

/* One element of a lane-wise operation on @a (destination) and @b (source). */
static uint64_t lane(int op, uint64_t a, uint64_t b, int es)
{
	uint64_t m = size_mask(es), top = m;

	switch (op) {
	case X86_OP_PADD: return a + b;
	case X86_OP_PSUB: return a - b;
	case X86_OP_PADDUS: return a + b > top ? top : a + b;
	case X86_OP_PSUBUS: return a > b ? a - b : 0;
	case X86_OP_PCMPEQ: return a == b ? m : 0;
	case X86_OP_PCMPGT: return (int64_t)sext(a, es) > (int64_t)sext(b, es) ? m : 0;
	case X86_OP_PMINUB: return a < b ? a : b;
	case X86_OP_PMAXUB: return a > b ? a : b;
	case X86_OP_PMINSW: return (int16_t)a < (int16_t)b ? a : b;
	case X86_OP_PMAXSW: return (int16_t)a > (int16_t)b ? a : b;
	case X86_OP_PMULLW: return a * b;
	default: return (a + b + 1) >> 1;	/* PAVG */
	}
}

/* Lane-wise add, sub, saturating add/sub, compares, min/max, pmullw, pavg. */
TCG_HANDLER(op_plane)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	int es = insn->op == X86_OP_PMINSW || insn->op == X86_OP_PMAXSW ||
		 insn->op == X86_OP_PMULLW ? 2 : insn->op == X86_OP_PMINUB ||
		 insn->op == X86_OP_PMAXUB ? 1 : esize(insn);

	sse_src_get(cpu, insn, 1, addr, &s);
	for (int i = 0; i < 16 / es; i++)
		elt_set(d, i, es, lane(insn->op, elt(d, i, es), elt(&s, i, es), es));
}

/* pand, pandn, por, pxor and their ps/pd twins. */
TCG_HANDLER(op_plogic)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);

	sse_src_get(cpu, insn, 1, addr, &s);
	for (int i = 0; i < 2; i++) {
		switch (insn->op) {
		case X86_OP_PAND: d->q[i] &= s.q[i]; break;
		case X86_OP_PANDN: d->q[i] = ~d->q[i] & s.q[i]; break;
		case X86_OP_POR: d->q[i] |= s.q[i]; break;
		default: d->q[i] ^= s.q[i]; break;
		}
	}
}

TCG_HANDLER(op_pmuludq)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);

	sse_src_get(cpu, insn, 1, addr, &s);
	d->q[0] = (uint64_t)d->d[0] * s.d[0];
	d->q[1] = (uint64_t)d->d[2] * s.d[2];
}

TCG_HANDLER(op_psadbw)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);

	sse_src_get(cpu, insn, 1, addr, &s);
	for (int h = 0; h < 2; h++) {
		uint64_t sum = 0;

		for (int i = 8 * h; i < 8 * h + 8; i++)
			sum += d->b[i] > s.b[i] ? d->b[i] - s.b[i] : s.b[i] - d->b[i];
		d->q[h] = sum;
	}
}

/* psrl, psra, psll by an XMM/m128 count or an immediate; counts past the width saturate. */
TCG_HANDLER(op_pshift)
{
	uint64_t addr = mem_addr(cpu, insn), count;
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	int es = esize(insn), bits = es * 8;

	sse_src_get(cpu, insn, 1, addr, &s);
	count = s.q[0];
	for (int i = 0; i < 16 / es; i++) {
		uint64_t x = elt(d, i, es);

		if (insn->op == X86_OP_PSRA)
			x = (uint64_t)((int64_t)sext(x, es) >> (count >= (uint64_t)bits ? bits - 1u : count));
		else if (count >= (uint64_t)bits)
			x = 0;
		else
			x = insn->op == X86_OP_PSRL ? x >> count : x << count;
		elt_set(d, i, es, x);
	}
}

/* psrldq, pslldq: whole-register byte shifts by an immediate. */
TCG_HANDLER(op_pshiftdq)
{
	union tcg_xmm *d = dst_xmm(cpu, insn), r = { .q = { 0, 0 } };
	unsigned int n = insn->imm & 0xff;

	for (unsigned int i = 0; i < 16 && n < 16; i++) {
		if (insn->op == X86_OP_PSRLDQ && i + n < 16)
			r.b[i] = d->b[i + n];
		else if (insn->op == X86_OP_PSLLDQ && i >= n)
			r.b[i] = d->b[i - n];
	}
	*d = r;
}

/* pshufd, pshuflw, pshufhw, shufps, shufpd. */
TCG_HANDLER(op_shuffle)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	unsigned int imm = insn->imm & 0xff;

	sse_src_get(cpu, insn, 1, addr, &s);
	r = s;
	switch (insn->op) {
	case X86_OP_PSHUFD:
		for (int i = 0; i < 4; i++)
			r.d[i] = s.d[(imm >> 2 * i) & 3];
		break;
	case X86_OP_PSHUFLW:
		for (int i = 0; i < 4; i++)
			r.w[i] = s.w[(imm >> 2 * i) & 3];
		break;
	case X86_OP_PSHUFHW:
		for (int i = 0; i < 4; i++)
			r.w[4 + i] = s.w[4 + ((imm >> 2 * i) & 3)];
		break;
	default:
		if (insn->mpfx == 3) {	/* shufpd */
			r.q[0] = d->q[imm & 1];
			r.q[1] = s.q[(imm >> 1) & 1];
		} else {
			r.d[0] = d->d[imm & 3];
			r.d[1] = d->d[(imm >> 2) & 3];
			r.d[2] = s.d[(imm >> 4) & 3];
			r.d[3] = s.d[(imm >> 6) & 3];
		}
	}
	*d = r;
}

/* punpckl* / punpckh* (and unpck{l,h}p{s,d}): interleave the low or high halves. */
TCG_HANDLER(op_punpck)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	int es = esize(insn), n = 16 / es, base = insn->op == X86_OP_PUNPCKH ? n / 2 : 0;

	sse_src_get(cpu, insn, 1, addr, &s);
	for (int i = 0; i < n / 2; i++) {
		elt_set(&r, 2 * i, es, elt(d, base + i, es));
		elt_set(&r, 2 * i + 1, es, elt(&s, base + i, es));
	}
	*d = r;
}

/* packsswb, packuswb (words to bytes), packssdw (doublewords to words), with saturation. */
TCG_HANDLER(op_pack)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	bool dw = insn->op == X86_OP_PACKSSDW;
	int n = dw ? 4 : 8;

	sse_src_get(cpu, insn, 1, addr, &s);
	for (int i = 0; i < 2 * n; i++) {
		const union tcg_xmm *from = i < n ? d : &s;
		int64_t x = dw ? (int32_t)from->d[i % n] : (int16_t)from->w[i % n];

		if (dw)
			r.w[i] = clamp(x, INT16_MIN, INT16_MAX);
		else if (insn->op == X86_OP_PACKSSWB)
			r.b[i] = clamp(x, INT8_MIN, INT8_MAX);
		else
			r.b[i] = clamp(x, 0, UINT8_MAX);
	}
	*d = r;
}

/* Scalar floating point: see fp_enter() in ops.h. */
static __m128d xmm_pd(const union tcg_xmm *v)
{
	return _mm_loadu_pd(v->fd);
}

static __m128 xmm_ps(const union tcg_xmm *v)
{
	return _mm_loadu_ps(v->f);
}

/* sqrt, add, mul, sub, min, div, max on the low single or double (F3 / F2). */
TCG_HANDLER(op_fparith)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	uint32_t host;

	sse_src_get(cpu, insn, 1, addr, &s);
	host = fp_enter(cpu);
	if (insn->mpfx == 2) {
		__m128d a = xmm_pd(d), b = xmm_pd(&s), r;

		FP_PIN(a);
		FP_PIN(b);
		switch (insn->opcode) {
		case 0x51: r = _mm_sqrt_sd(a, b); break;
		case 0x58: r = _mm_add_sd(a, b); break;
		case 0x59: r = _mm_mul_sd(a, b); break;
		case 0x5c: r = _mm_sub_sd(a, b); break;
		case 0x5d: r = _mm_min_sd(a, b); break;
		case 0x5e: r = _mm_div_sd(a, b); break;
		default: r = _mm_max_sd(a, b); break;
		}
		FP_PIN(r);
		_mm_storeu_pd(d->fd, r);
	} else {
		__m128 a = xmm_ps(d), b = xmm_ps(&s), r;

		FP_PIN(a);
		FP_PIN(b);
		switch (insn->opcode) {
		case 0x51: r = _mm_move_ss(a, _mm_sqrt_ss(b)); break;
		case 0x58: r = _mm_add_ss(a, b); break;
		case 0x59: r = _mm_mul_ss(a, b); break;
		case 0x5c: r = _mm_sub_ss(a, b); break;
		case 0x5d: r = _mm_min_ss(a, b); break;
		case 0x5e: r = _mm_div_ss(a, b); break;
		default: r = _mm_max_ss(a, b); break;
		}
		FP_PIN(r);
		_mm_storeu_ps(d->f, r);
	}
	fp_leave(cpu, host);
}

/* ucomiss/comiss (no prefix), ucomisd/comisd (66): ZF, PF, CF; OF, SF, AF cleared. */
TCG_HANDLER(op_comis)
{
	uint64_t addr = mem_addr(cpu, insn), fl;
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	__m128d a = xmm_pd(d), b;
	uint32_t host;

	sse_src_get(cpu, insn, 1, addr, &s);
	b = xmm_pd(&s);
	host = fp_enter(cpu);
	if (insn->mpfx == 3 && insn->opcode == 0x2e)
		asm volatile("ucomisd %2, %1; pushfq; pop %0" : "=r"(fl) : "x"(a), "x"(b) : "cc");
	else if (insn->mpfx == 3)
		asm volatile("comisd %2, %1; pushfq; pop %0" : "=r"(fl) : "x"(a), "x"(b) : "cc");
	else if (insn->opcode == 0x2e)
		asm volatile("ucomiss %2, %1; pushfq; pop %0" : "=r"(fl) : "x"(a), "x"(b) : "cc");
	else
		asm volatile("comiss %2, %1; pushfq; pop %0" : "=r"(fl) : "x"(a), "x"(b) : "cc");
	fp_leave(cpu, host);
	set_flags(cpu, fl & (X86_ZF | X86_PF | X86_CF), X86_FL_ARITH);
}

/* cvtsi2ss, cvtsi2sd from a 32- or 64-bit integer. */
TCG_HANDLER(op_cvtsi2f)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);
	union tcg_xmm *d = dst_xmm(cpu, insn);
	bool q = insn->opnd[1].size == 8;
	uint32_t host = fp_enter(cpu);

	if (insn->mpfx == 2) {
		__m128d a = xmm_pd(d);

		FP_PIN(a);
		a = q ? _mm_cvtsi64_sd(a, (int64_t)v) : _mm_cvtsi32_sd(a, (int32_t)v);
		FP_PIN(a);
		_mm_storeu_pd(d->fd, a);
	} else {
		__m128 a = xmm_ps(d);

		FP_PIN(a);
		a = q ? _mm_cvtsi64_ss(a, (int64_t)v) : _mm_cvtsi32_ss(a, (int32_t)v);
		FP_PIN(a);
		_mm_storeu_ps(d->f, a);
	}
	fp_leave(cpu, host);
}

/* cvttss2si, cvtss2si, cvttsd2si, cvtsd2si (0F 2C truncates, 0F 2D rounds by MXCSR). */
TCG_HANDLER(op_cvtf2si)
{
	uint64_t addr = mem_addr(cpu, insn), r;
	union tcg_xmm s;
	bool q = insn->opsize == 8, t = insn->opcode == 0x2c;
	uint32_t host;

	sse_src_get(cpu, insn, 1, addr, &s);
	host = fp_enter(cpu);
	if (insn->mpfx == 2) {
		__m128d a = xmm_pd(&s);

		FP_PIN(a);
		if (q)
			r = t ? (uint64_t)_mm_cvttsd_si64(a) : (uint64_t)_mm_cvtsd_si64(a);
		else
			r = (uint32_t)(t ? _mm_cvttsd_si32(a) : _mm_cvtsd_si32(a));
	} else {
		__m128 a = xmm_ps(&s);

		FP_PIN(a);
		if (q)
			r = t ? (uint64_t)_mm_cvttss_si64(a) : (uint64_t)_mm_cvtss_si64(a);
		else
			r = (uint32_t)(t ? _mm_cvttss_si32(a) : _mm_cvtss_si32(a));
	}
	asm volatile("" : "+r"(r));
	fp_leave(cpu, host);
	reg_set(cpu, insn->opnd[0].reg, insn->opsize, r);
}

/* cvtss2sd (F3), cvtsd2ss (F2). */
TCG_HANDLER(op_cvtf2f)
{
	uint64_t addr = mem_addr(cpu, insn);
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	uint32_t host;

	sse_src_get(cpu, insn, 1, addr, &s);
	host = fp_enter(cpu);
	if (insn->mpfx == 1) {
		__m128d a = xmm_pd(d);
		__m128 b = xmm_ps(&s);

		FP_PIN(a);
		FP_PIN(b);
		a = _mm_cvtss_sd(a, b);
		FP_PIN(a);
		_mm_storeu_pd(d->fd, a);
	} else {
		__m128 a = xmm_ps(d);
		__m128d b = xmm_pd(&s);

		FP_PIN(a);
		FP_PIN(b);
		a = _mm_cvtsd_ss(a, b);
		FP_PIN(a);
		_mm_storeu_ps(d->f, a);
	}
	fp_leave(cpu, host);
}

TCG_HANDLER(op_ldmxcsr)
{
	uint64_t v = tcg_load(cpu, tcg_ea(cpu, insn), 4);

	if (v & ~(uint64_t)TCG_MXCSR_MASK)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	cpu->mxcsr = v;
}

TCG_HANDLER(op_stmxcsr)
{
	tcg_store(cpu, tcg_ea(cpu, insn), 4, cpu->mxcsr);
}

/* The 512-byte FXSAVE image; bytes 416-511 are left alone, as the CPU does. */
#define FX_LEN 416

TCG_HANDLER(op_fxsave)
{
	uint64_t addr = tcg_ea(cpu, insn);
	uint8_t img[FX_LEN] = { 0 };
	uint32_t mask = TCG_MXCSR_MASK;

	if (addr & 15)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	tcg_probe_write(cpu, addr, 512);
	memcpy(img, &cpu->fcw, 2);
	memcpy(img + 2, &cpu->fsw, 2);
	img[4] = cpu->ftw;
	memcpy(img + 24, &cpu->mxcsr, 4);
	memcpy(img + 28, &mask, 4);
	memcpy(img + 32, cpu->st, sizeof(cpu->st));
	memcpy(img + 160, cpu->xmm, sizeof(cpu->xmm));
	for (int i = 0; i < FX_LEN; i += 8) {
		uint64_t q;

		memcpy(&q, img + i, 8);
		tcg_store(cpu, addr + i, 8, q);
	}
}

TCG_HANDLER(op_fxrstor)
{
	uint64_t addr = tcg_ea(cpu, insn);
	uint8_t img[FX_LEN];
	uint32_t mxcsr;

	if (addr & 15)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	for (int i = 0; i < FX_LEN; i += 8) {
		uint64_t q = tcg_load(cpu, addr + i, 8);

		memcpy(img + i, &q, 8);
	}
	memcpy(&mxcsr, img + 24, 4);
	if (mxcsr & ~TCG_MXCSR_MASK)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	cpu->mxcsr = mxcsr;
	memcpy(&cpu->fcw, img, 2);
	memcpy(&cpu->fsw, img + 2, 2);
	cpu->ftw = img[4];
	memcpy(cpu->st, img + 32, sizeof(cpu->st));
	memcpy(cpu->xmm, img + 160, sizeof(cpu->xmm));
}

/* DB E3 fninit, DB E2 fnclex; the other DB E0-E7 forms are not implemented. */
TCG_HANDLER(op_fninit)
{
	switch (insn->modrm & 7) {
	case 3:
		cpu->fcw = TCG_FCW_RESET;
		cpu->fsw = 0;
		cpu->ftw = 0;
		break;
	case 2:
		cpu->fsw &= 0x7f00;
		break;
	default:
		tcg_raise(cpu, TCG_EXC_UD, 0);
	}
}

TCG_HANDLER(op_fldcw)
{
	cpu->fcw = tcg_load(cpu, tcg_ea(cpu, insn), 2);
}

TCG_HANDLER(op_fnstcw)
{
	tcg_store(cpu, tcg_ea(cpu, insn), 2, cpu->fcw);
}

/* DD /7 fnstsw m16; DF E0 fnstsw ax. */
TCG_HANDLER(op_fnstsw)
{
	if (insn->opnd[0].kind == X86_OPND_MEM)
		tcg_store(cpu, tcg_ea(cpu, insn), 2, cpu->fsw);
	else if ((insn->modrm & 7) == 0)
		reg_set(cpu, 0, 2, cpu->fsw);
	else
		tcg_raise(cpu, TCG_EXC_UD, 0);
}
