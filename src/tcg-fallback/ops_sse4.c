/*
 * SSE3, SSSE3, SSE4.1 and SSE4.2 handlers (the XMM forms; the MMX forms of
 * SSSE3 are #UD, as MMX is not implemented): integer and data movement in
 * plain C; the floating point forms (addsub, horizontal add/sub, round, dot
 * products) as the host's own instruction under the guest MXCSR, which makes
 * them bit-exact, flags included; the string compares (pcmpXstrX) and crc32.
 * Sources are read (and may fault) before anything is written.
 */
#include <string.h>

#include "ops.h"

/* Operand 1 zero-extended to 128 bits; it may fault, so it comes first. */
static void src(struct tcg_cpu *cpu, const struct x86_insn *insn, union tcg_xmm *s)
{
	sse_src_get(cpu, insn, 1, mem_addr(cpu, insn), s);
}

static unsigned int imm8(const struct x86_insn *insn)
{
	return insn->imm & 0xff;
}

/* ---- SSE3 ---- */

/* movsldup (F3 0F 12), movshdup (F3 0F 16), movddup (F2 0F 12, m64). */
TCG_HANDLER(op_movdup)
{
	union tcg_xmm s, r;
	int odd = insn->opcode == 0x16;

	src(cpu, insn, &s);
	if (insn->mpfx == 2) {
		r.q[0] = r.q[1] = s.q[0];
	} else {
		r.d[0] = r.d[1] = s.d[odd];
		r.d[2] = r.d[3] = s.d[2 + odd];
	}
	*dst_xmm(cpu, insn) = r;
}

bool tcg_host_sse41(void)
{
	return __builtin_cpu_supports("sse4.1");
}

/* The floating point forms run on the host: without SSE4.1 there they are #UD. */
static void need_host_sse41(struct tcg_cpu *cpu)
{
	if (!tcg_host_sse41())
		tcg_raise(cpu, TCG_EXC_UD, 0);
}

typedef float v4sf __attribute__((vector_size(16)));

static v4sf vec(const union tcg_xmm *v)
{
	v4sf r;

	memcpy(&r, v, 16);
	return r;
}

/* Host instructions on @a (the destination, in and out) and @b (the source). */
typedef v4sf (*host_fp_fn)(const struct x86_insn *insn, v4sf a, v4sf b);

/*
 * @run on the destination and source operands under the guest's MXCSR. Its
 * host instructions are asm volatile statements, so none of them moves out
 * from between fp_enter() and fp_leave().
 */
static void host_fp(struct tcg_cpu *cpu, const struct x86_insn *insn, host_fp_fn run)
{
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	v4sf a;
	uint32_t host;

	need_host_sse41(cpu);
	src(cpu, insn, &s);
	host = fp_enter(cpu);
	a = run(insn, vec(d), vec(&s));
	fp_leave(cpu, host);
	memcpy(d, &a, 16);
}

/* addsubps/pd (D0), haddps/pd (7C), hsubps/pd (7D): F2 single, 66 double. */
static v4sf fphoriz(const struct x86_insn *insn, v4sf a, v4sf b)
{
	switch (insn->opcode | (insn->mpfx == 3) << 8) {
	case 0x0d0: asm volatile("addsubps %1, %0" : "+x"(a) : "x"(b)); break;
	case 0x07c: asm volatile("haddps %1, %0" : "+x"(a) : "x"(b)); break;
	case 0x07d: asm volatile("hsubps %1, %0" : "+x"(a) : "x"(b)); break;
	case 0x1d0: asm volatile("addsubpd %1, %0" : "+x"(a) : "x"(b)); break;
	case 0x17c: asm volatile("haddpd %1, %0" : "+x"(a) : "x"(b)); break;
	default: asm volatile("hsubpd %1, %0" : "+x"(a) : "x"(b)); break;
	}
	return a;
}

TCG_HANDLER(op_fphoriz)
{
	host_fp(cpu, insn, fphoriz);
}

/* ---- SSSE3 ---- */

TCG_HANDLER(op_pshufb)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);

	src(cpu, insn, &s);
	for (int i = 0; i < 16; i++)
		r.b[i] = s.b[i] & 0x80 ? 0 : d->b[s.b[i] & 15];
	*d = r;
}

/*
 * phaddw/d/sw (0F 38 01-03), phsubw/d/sw (05-07): pairs of adjacent elements
 * of the destination, then of the source; the sw forms saturate.
 */
TCG_HANDLER(op_phorizontal)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	int es = (insn->opcode & 3) == 2 ? 4 : 2, half = 8 / es;
	bool sat = (insn->opcode & 3) == 3, sub = insn->op == X86_OP_PHSUB;

	src(cpu, insn, &s);
	for (int i = 0; i < 2 * half; i++) {
		const union tcg_xmm *v = i < half ? d : &s;
		int k = 2 * (i % half);
		int64_t a = sext(elt(v, k, es), es), b = sext(elt(v, k + 1, es), es);
		int64_t x = sub ? a - b : a + b;

		elt_set(&r, i, es, sat ? clamp(x, INT16_MIN, INT16_MAX) : x);
	}
	*d = r;
}

/* Unsigned bytes of the destination times signed bytes of the source, pairs summed. */
TCG_HANDLER(op_pmaddubsw)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);

	src(cpu, insn, &s);
	for (int i = 0; i < 8; i++) {
		int x = d->b[2 * i] * (int8_t)s.b[2 * i] + d->b[2 * i + 1] * (int8_t)s.b[2 * i + 1];

		r.w[i] = clamp(x, INT16_MIN, INT16_MAX);
	}
	*d = r;
}

/* One element of a lane-wise operation on @a (destination) and @b (source) of @es bytes. */
typedef uint64_t lane_fn(uint64_t a, uint64_t b, int es);

static uint64_t lane_psign(uint64_t a, uint64_t b, int es)
{
	int64_t sb = (int64_t)sext(b, es);

	return sb < 0 ? -a : sb ? a : 0;
}

static uint64_t lane_pabs(uint64_t a, uint64_t b, int es)
{
	int64_t x = (int64_t)sext(b, es);

	(void)a;
	return x < 0 ? -(uint64_t)x : (uint64_t)x;
}

static uint64_t lane_pmulhrsw(uint64_t a, uint64_t b, int es)
{
	int32_t p = (int16_t)a * (int16_t)b;

	(void)es;
	return (uint64_t)(((p >> 14) + 1) >> 1);
}

static uint64_t lane_mins(uint64_t a, uint64_t b, int es)
{
	return (int64_t)sext(a, es) < (int64_t)sext(b, es) ? a : b;
}

static uint64_t lane_maxs(uint64_t a, uint64_t b, int es)
{
	return (int64_t)sext(a, es) > (int64_t)sext(b, es) ? a : b;
}

static uint64_t lane_minu(uint64_t a, uint64_t b, int es)
{
	(void)es;
	return a < b ? a : b;
}

static uint64_t lane_maxu(uint64_t a, uint64_t b, int es)
{
	(void)es;
	return a > b ? a : b;
}

static uint64_t lane_mul(uint64_t a, uint64_t b, int es)
{
	(void)es;
	return a * b;
}

static uint64_t lane_cmpeq(uint64_t a, uint64_t b, int es)
{
	(void)es;
	return a == b ? ~0ULL : 0;
}

static uint64_t lane_cmpgt(uint64_t a, uint64_t b, int es)
{
	(void)es;
	return (int64_t)a > (int64_t)b ? ~0ULL : 0;
}

/* The lane-wise operations of the 0F 38 map, by opcode: element size and operation. */
static const struct {
	uint8_t es;
	lane_fn *fn;
} lane_ops[0x41] = {
	[0x08] = { 1, lane_psign }, [0x09] = { 2, lane_psign }, [0x0a] = { 4, lane_psign },
	[0x0b] = { 2, lane_pmulhrsw },
	[0x1c] = { 1, lane_pabs }, [0x1d] = { 2, lane_pabs }, [0x1e] = { 4, lane_pabs },
	[0x29] = { 8, lane_cmpeq }, [0x37] = { 8, lane_cmpgt },
	[0x38] = { 1, lane_mins }, [0x39] = { 4, lane_mins },
	[0x3a] = { 2, lane_minu }, [0x3b] = { 4, lane_minu },
	[0x3c] = { 1, lane_maxs }, [0x3d] = { 4, lane_maxs },
	[0x3e] = { 2, lane_maxu }, [0x3f] = { 4, lane_maxu },
	[0x40] = { 4, lane_mul },
};

/* psign*, pabs*, pmulhrsw, pmin*, pmax*, pmulld, pcmpeqq, pcmpgtq. */
TCG_HANDLER(op_plane38)
{
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	int es = lane_ops[insn->opcode].es;
	lane_fn *fn = lane_ops[insn->opcode].fn;

	src(cpu, insn, &s);
	for (int i = 0; i < 16 / es; i++)
		elt_set(d, i, es, fn(elt(d, i, es), elt(&s, i, es), es));
}

/* The destination:source pair shifted right by imm8 bytes; past 31 gives zero. */
TCG_HANDLER(op_palignr)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	uint8_t t[32];
	unsigned int n = imm8(insn);

	src(cpu, insn, &s);
	memcpy(t, s.b, 16);
	memcpy(t + 16, d->b, 16);
	for (unsigned int i = 0; i < 16; i++)
		r.b[i] = n + i < 32 ? t[n + i] : 0;
	*d = r;
}

/* ---- SSE4.1 integer and data movement ---- */

/*
 * pblendvb, blendvps, blendvpd (0F 38 10, 14, 15: by the sign bits of XMM0)
 * and blendps, blendpd, pblendw (0F 3A 0C, 0D, 0E: by the bits of imm8).
 */
TCG_HANDLER(op_blend)
{
	union tcg_xmm s, m = cpu->xmm[0], *d = dst_xmm(cpu, insn);
	int es;

	switch (insn->opcode) {
	case 0x10: es = 1; break;
	case 0x0e: es = 2; break;
	case 0x0c: case 0x14: es = 4; break;
	default: es = 8; break;
	}
	src(cpu, insn, &s);
	for (int i = 0; i < 16 / es; i++) {
		bool take = insn->op == X86_OP_BLEND ? imm8(insn) >> i & 1 :
			    elt(&m, i, es) >> (8 * es - 1);

		if (take)
			elt_set(d, i, es, elt(&s, i, es));
	}
}

/* ZF: destination AND source is zero; CF: (NOT destination) AND source is zero. */
TCG_HANDLER(op_ptest)
{
	union tcg_xmm s, *d = dst_xmm(cpu, insn);
	bool zf, cf;

	src(cpu, insn, &s);
	zf = !((d->q[0] & s.q[0]) | (d->q[1] & s.q[1]));
	cf = !((~d->q[0] & s.q[0]) | (~d->q[1] & s.q[1]));
	set_flags(cpu, (zf ? X86_ZF : 0) | (cf ? X86_CF : 0), X86_FL_ARITH);
}

/* pmovsx/pmovzx: bw, bd, bq, wd, wq, dq by the low three bits of the opcode. */
TCG_HANDLER(op_pmovx)
{
	static const uint8_t from[6] = { 1, 1, 1, 2, 2, 4 }, to[6] = { 2, 4, 8, 4, 8, 8 };
	union tcg_xmm s, r;
	int fs = from[insn->opcode & 7], ts = to[insn->opcode & 7];

	src(cpu, insn, &s);
	for (int i = 0; i < 16 / ts; i++) {
		uint64_t x = elt(&s, i, fs);

		elt_set(&r, i, ts, insn->op == X86_OP_PMOVSX ? sext(x, fs) : x);
	}
	*dst_xmm(cpu, insn) = r;
}

TCG_HANDLER(op_pmuldq)
{
	union tcg_xmm s, *d = dst_xmm(cpu, insn);

	src(cpu, insn, &s);
	d->q[0] = (uint64_t)((int64_t)(int32_t)d->d[0] * (int32_t)s.d[0]);
	d->q[1] = (uint64_t)((int64_t)(int32_t)d->d[2] * (int32_t)s.d[2]);
}

/* Signed doublewords to unsigned words with saturation: destination, then source. */
TCG_HANDLER(op_packusdw)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);

	src(cpu, insn, &s);
	for (int i = 0; i < 8; i++)
		r.w[i] = clamp((int32_t)(i < 4 ? d : &s)->d[i % 4], 0, UINT16_MAX);
	*d = r;
}

/*
 * pextrb, pextrw, pextrd/q (REX.W), extractps (0F 3A 14-17): an element to
 * memory (1, 2, 4, 8 bytes) or to a general register, zero-extended.
 */
TCG_HANDLER(op_pextr)
{
	static const uint8_t sizes[4] = { 1, 2, 4, 4 };
	const struct x86_operand *o = &insn->opnd[0];
	int es = insn->opcode == 0x16 ? o->size : sizes[insn->opcode & 3];
	uint64_t v = elt(&cpu->xmm[insn->opnd[1].reg], imm8(insn) & (16 / es - 1), es);

	if (o->kind == X86_OPND_MEM)
		tcg_store(cpu, tcg_ea(cpu, insn), es, v);
	else
		reg_set(cpu, o->reg, es == 8 ? 8 : 4, v);
}

/* pinsrb (0F 3A 20, from a register's low byte or m8), pinsrd/q (22). */
TCG_HANDLER(op_pinsr)
{
	const struct x86_operand *o = &insn->opnd[1];
	int es = insn->opcode == 0x20 ? 1 : o->size;
	uint64_t v = o->kind == X86_OPND_MEM ? tcg_load(cpu, tcg_ea(cpu, insn), es) :
		     reg_get(cpu, o->reg, 8);

	elt_set(dst_xmm(cpu, insn), imm8(insn) & (16 / es - 1), es, v);
}

/*
 * insertps: imm8[7:6] picks the source element (register form; memory gives
 * one), imm8[5:4] the destination element, imm8[3:0] elements to zero.
 */
TCG_HANDLER(op_insertps)
{
	const struct x86_operand *o = &insn->opnd[1];
	union tcg_xmm *d = dst_xmm(cpu, insn);
	unsigned int imm = imm8(insn);
	uint32_t v = o->kind == X86_OPND_MEM ? (uint32_t)tcg_load(cpu, tcg_ea(cpu, insn), 4) :
		     cpu->xmm[o->reg].d[imm >> 6];

	d->d[imm >> 4 & 3] = v;
	for (int i = 0; i < 4; i++)
		if (imm >> i & 1)
			d->d[i] = 0;
}

/* The smallest unsigned word and its index (the lowest on a tie); the rest zero. */
TCG_HANDLER(op_phminposuw)
{
	union tcg_xmm s, r = { .q = { 0, 0 } };
	int k = 0;

	src(cpu, insn, &s);
	for (int i = 1; i < 8; i++)
		if (s.w[i] < s.w[k])
			k = i;
	r.w[0] = s.w[k];
	r.w[1] = k;
	*dst_xmm(cpu, insn) = r;
}

/*
 * Eight sums of absolute differences between a 4-byte block of the source
 * (imm8[1:0]) and sliding 4-byte windows of the destination (from imm8[2] * 4).
 */
TCG_HANDLER(op_mpsadbw)
{
	union tcg_xmm s, r, *d = dst_xmm(cpu, insn);
	int o1 = (imm8(insn) >> 2 & 1) * 4, o2 = (imm8(insn) & 3) * 4;

	src(cpu, insn, &s);
	for (int i = 0; i < 8; i++) {
		int sum = 0;

		for (int k = 0; k < 4; k++) {
			int x = d->b[o1 + i + k] - s.b[o2 + k];

			sum += x < 0 ? -x : x;
		}
		r.w[i] = sum;
	}
	*d = r;
}

/* ---- SSE4.1 floating point: the host instruction with the guest's imm8 ---- */

/* Cases 0 to 15 and 0 to 255 of a switch on imm8, each running HOST(n). */
#define CASE4(HOST, n) HOST(n) HOST((n) + 1) HOST((n) + 2) HOST((n) + 3)
#define CASE16(HOST, n) CASE4(HOST, n) CASE4(HOST, (n) + 4) CASE4(HOST, (n) + 8) \
	CASE4(HOST, (n) + 12)
#define CASE64(HOST, n) CASE16(HOST, n) CASE16(HOST, (n) + 16) CASE16(HOST, (n) + 32) \
	CASE16(HOST, (n) + 48)
#define CASE256(HOST) CASE64(HOST, 0) CASE64(HOST, 64) CASE64(HOST, 128) CASE64(HOST, 192)

#define HOST_IMM(mn, n) \
	case n: asm volatile(mn " %2, %1, %0" : "+x"(a) : "x"(b), "i"(n)); break;
#define ROUNDPS(n) HOST_IMM("roundps", n)
#define ROUNDPD(n) HOST_IMM("roundpd", n)
#define ROUNDSS(n) HOST_IMM("roundss", n)
#define ROUNDSD(n) HOST_IMM("roundsd", n)
#define DPPS(n) HOST_IMM("dpps", n)
#define DPPD(n) HOST_IMM("dppd", n)

/*
 * roundps, roundpd, roundss, roundsd (0F 3A 08-0B): imm8[1:0] the rounding
 * mode, imm8[2] MXCSR's instead, imm8[3] no precision exception; imm8[7:4]
 * is ignored.
 */
static v4sf round_fp(const struct x86_insn *insn, v4sf a, v4sf b)
{
	switch (insn->opcode) {
	case 0x08: switch (imm8(insn) & 15) { CASE16(ROUNDPS, 0) } break;
	case 0x09: switch (imm8(insn) & 15) { CASE16(ROUNDPD, 0) } break;
	case 0x0a: switch (imm8(insn) & 15) { CASE16(ROUNDSS, 0) } break;
	default: switch (imm8(insn) & 15) { CASE16(ROUNDSD, 0) } break;
	}
	return a;
}

TCG_HANDLER(op_round)
{
	host_fp(cpu, insn, round_fp);
}

/* dpps, dppd (0F 3A 40, 41): imm8 selects the products summed and the elements written. */
static v4sf dot_product(const struct x86_insn *insn, v4sf a, v4sf b)
{
	if (insn->op == X86_OP_DPPS) {
		switch (imm8(insn)) { CASE256(DPPS) }
	} else {
		switch (imm8(insn)) { CASE256(DPPD) }
	}
	return a;
}

TCG_HANDLER(op_dp)
{
	host_fp(cpu, insn, dot_product);
}

/* ---- SSE4.2 ---- */

/*
 * pcmpestrm, pcmpestri, pcmpistrm, pcmpistri (0F 3A 60-63). imm8[1:0]:
 * unsigned bytes, unsigned words, signed bytes, signed words; imm8[3:2]:
 * equal any, ranges, equal each, equal ordered; imm8[5:4]: polarity;
 * imm8[6]: most significant index, or a byte/word mask rather than a bit mask.
 * Operand 0 (a) is the set, ranges or needle; operand 1 (b) is searched.
 */
struct pcmpstr {
	int32_t a[16], b[16];
	int la, lb, n;		/* valid elements of a and b; elements per register */
};

/* Element @i as the compare sees it: byte or word, signed or unsigned. */
static int32_t str_elt(const union tcg_xmm *v, int i, unsigned int imm)
{
	switch (imm & 3) {
	case 0: return v->b[i];
	case 1: return v->w[i];
	case 2: return (int8_t)v->b[i];
	default: return (int16_t)v->w[i];
	}
}

/* The implicit length: the elements before the first zero. */
static int implicit_len(const int32_t *e, int n)
{
	for (int i = 0; i < n; i++)
		if (!e[i])
			return i;
	return n;
}

/* The explicit length: |rAX| or |rDX| (64-bit with REX.W, else 32-bit), at most @n. */
static int explicit_len(uint64_t reg, bool w, int n)
{
	int64_t v = w ? (int64_t)reg : (int32_t)reg;
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

	return mag > (uint64_t)n ? n : (int)mag;
}

static bool str_equal_any(const struct pcmpstr *c, int j)
{
	for (int i = 0; i < c->la && j < c->lb; i++)
		if (c->a[i] == c->b[j])
			return true;
	return false;
}

static bool str_ranges(const struct pcmpstr *c, int j)
{
	for (int i = 0; i + 1 < c->la && j < c->lb; i += 2)
		if (c->a[i] <= c->b[j] && c->b[j] <= c->a[i + 1])
			return true;
	return false;
}

static bool str_equal_each(const struct pcmpstr *c, int j)
{
	if (j >= c->la || j >= c->lb)
		return j >= c->la && j >= c->lb;
	return c->a[j] == c->b[j];
}

/* The needle a matches at b[j]: past its end a matches anything, past b's end nothing. */
static bool str_equal_ordered(const struct pcmpstr *c, int j)
{
	for (int k = 0; k < c->la && j + k < c->n; k++)
		if (j + k >= c->lb || c->a[k] != c->b[j + k])
			return false;
	return true;
}

static bool (*const str_aggregate[4])(const struct pcmpstr *c, int j) = {
	str_equal_any, str_ranges, str_equal_each, str_equal_ordered,
};

/* IntRes2: the aggregation of imm8[3:2] for every element of b, then the polarity. */
static uint32_t str_result(const struct pcmpstr *c, unsigned int imm)
{
	uint32_t r = 0;

	for (int j = 0; j < c->n; j++)
		r |= (uint32_t)str_aggregate[imm >> 2 & 3](c, j) << j;
	if ((imm >> 4 & 3) == 1)
		r ^= (1u << c->n) - 1;
	else if ((imm >> 4 & 3) == 3)
		r ^= (1u << c->lb) - 1;
	return r;
}

TCG_HANDLER(op_pcmpstr)
{
	union tcg_xmm s, m = { .q = { 0, 0 } };
	const union tcg_xmm *a = dst_xmm(cpu, insn);
	unsigned int imm = imm8(insn);
	struct pcmpstr c = { .n = imm & 1 ? 8 : 16 };
	bool explicit = insn->opcode < 0x62, w = insn->opsize == 8;
	uint32_t r;

	src(cpu, insn, &s);
	for (int i = 0; i < c.n; i++) {
		c.a[i] = str_elt(a, i, imm);
		c.b[i] = str_elt(&s, i, imm);
	}
	c.la = explicit ? explicit_len(cpu->gpr[0], w, c.n) : implicit_len(c.a, c.n);
	c.lb = explicit ? explicit_len(cpu->gpr[2], w, c.n) : implicit_len(c.b, c.n);
	r = str_result(&c, imm);
	if (insn->opcode & 1) {
		reg_set(cpu, 1, 4, !r ? c.n : imm & 0x40 ? 31 - __builtin_clz(r) :
			__builtin_ctz(r));
	} else if (imm & 0x40) {
		for (int i = 0; i < c.n; i++)
			elt_set(&m, i, 16 / c.n, r >> i & 1 ? ~0ULL : 0);
		cpu->xmm[0] = m;
	} else {
		m.q[0] = r;
		cpu->xmm[0] = m;
	}
	set_flags(cpu, (r ? X86_CF : 0) | (c.lb < c.n ? X86_ZF : 0) | (c.la < c.n ? X86_SF : 0) |
		  (r & 1 ? X86_OF : 0), X86_FL_ARITH);
}

/* CRC-32C (polynomial 0x1EDC6F41, bit-reflected) of the source's bytes, into the low 32 bits. */
TCG_HANDLER(op_crc32)
{
	uint64_t addr = mem_addr(cpu, insn), v = opnd_get(cpu, insn, 1, addr);
	uint32_t crc = (uint32_t)cpu->gpr[insn->opnd[0].reg];

	for (int i = 0; i < 8 * insn->opnd[1].size; i++) {
		crc ^= (v >> i) & 1;
		crc = crc >> 1 ^ (crc & 1 ? 0x82f63b78u : 0);
	}
	reg_set(cpu, insn->opnd[0].reg, 4, crc);
}
