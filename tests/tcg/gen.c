/*
 * Random encodings from the decoder's tables. The generator writes prefixes,
 * opcode, ModRM/SIB/displacement and a random tail, then lets the decoder
 * say how long the instruction is: the objdump check judges that length
 * independently, and the tester only needs encodings that decode.
 */
#include <string.h>

#include "gen.h"
#include "tables.h"

uint64_t rng_value(struct rng *r)
{
	static const uint64_t edges[] = {
		0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
		0xffffffff, 0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL,
	};

	switch (rng_below(r, 8)) {
	case 0: return rng_below(r, 3);
	case 1: return rng_below(r, 70);
	case 2: return -(uint64_t)rng_below(r, 70);
	case 3: return 1ULL << rng_below(r, 64);
	case 4: return edges[rng_below(r, 12)] + rng_below(r, 3) - 1;
	default: return rng_next(r);
	}
}

/* Encoding being built. */
struct enc {
	uint8_t b[32];
	int n;
	uint8_t pro[40];	/* setup instructions (register loads) */
	int npro;
	uint16_t loaded;	/* registers the setup loads */
	int riprel_off;		/* offset of a RIP-relative disp32, 0: none */
	uint16_t rip_target;
};

static void emit(struct enc *e, uint8_t b)
{
	e->b[e->n++] = b;
}

static void emit_n(struct enc *e, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		emit(e, v >> (8 * i));
}

/* Setup: mov r64, simm32 (REX.W C7 /0), sign-extended. */
static void load_reg(struct enc *e, int reg, int32_t v)
{
	e->pro[e->npro++] = 0x48 | (reg >> 3);
	e->pro[e->npro++] = 0xc7;
	e->pro[e->npro++] = 0xc0 | (reg & 7);
	memcpy(&e->pro[e->npro], &v, 4);
	e->npro += 4;
	e->loaded |= 1u << reg;
}

struct choice {
	int map, opc, reg, pfx;
	const struct x86_opdesc *d;
	struct x86_opdesc merged;
};

static const struct x86_opdesc *map_entry(int map, int opc)
{
	return &x86_map(map)[opc];
}

static bool usable(const struct gen_opts *o, const struct x86_opdesc *d)
{
	if (!d)
		return false;
	if ((d->attr & X86_A_NO64) && o->mode == 64)
		return false;
	if ((d->attr & X86_A_ONLY64) && o->mode != 64)
		return false;
	return !o->difftest || !(d->attr & (X86_A_NOTEST | X86_A_SYSTEM));
}

static void pick(struct rng *r, const struct gen_opts *o, struct choice *c)
{
	static const int pfxs[5] = { 0, 0, 0xf3, 0xf2, 0x66 };

	do {
		unsigned int m = rng_below(r, 20);

		/* 0F 38 and 0F 3A are sparse: drawn more often than their size says */
		c->map = m < 10 ? 0 : m < 15 ? 1 : m < 18 ? 2 : 3;
		c->opc = rng_below(r, 256);
		c->reg = rng_below(r, 8);
		c->pfx = pfxs[rng_below(r, 5)];
		if (c->map >= 2 && rng_below(r, 4))
			c->pfx = c->opc >= 0xf0 ? 0xf2 : 0x66;	/* what they need */
		c->d = x86_table_lookup(c->map, c->opc, c->reg, c->pfx, &c->merged);
		/* In 64-bit mode 40-4F are REX prefixes, not inc/dec. */
		if (o->mode == 64 && c->map == 0 && (c->opc & 0xf0) == 0x40)
			c->d = NULL;
		/* Hint NOPs that binutils decodes as MPX, with MPX addressing rules. */
		if (c->map == 1 && (c->opc == 0x1a || c->opc == 0x1b))
			c->d = NULL;
	} while (!usable(o, c->d));
	if (!map_entry(c->map, c->opc)->pfxtab)
		c->pfx = 0;
}

static bool has_kind(const struct x86_opdesc *d, int kind)
{
	for (int i = 0; i < 3; i++)
		if (d->opnd[i].kind == kind)
			return true;
	return false;
}

/* Free-form ModRM for the objdump check: any mod, rm, SIB and displacement. */
static void modrm_any(struct rng *r, struct enc *e, int mod, int reg, bool a16)
{
	int rm = rng_below(r, 8);

	emit(e, mod << 6 | reg << 3 | rm);
	if (mod == 3)
		return;
	if (a16) {
		emit_n(e, rng_next(r), mod == 1 ? 1 : mod == 2 || rm == 6 ? 2 : 0);
		return;
	}
	if (rm == 4) {
		uint8_t sib = rng_below(r, 256);

		emit(e, sib);
		if (mod == 0 && (sib & 7) == 5)
			emit_n(e, rng_next(r), 4);
	}
	emit_n(e, rng_next(r), mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 5) ? 4 : 0);
}

/* A register for addressing: not rsp, not one already loaded. */
static int addr_reg(struct rng *r, const struct enc *e)
{
	int reg;

	do
		reg = rng_below(r, 16);
	while (reg == 4 || (e->loaded & (1u << reg)));
	return reg;
}

/*
 * A memory operand aimed into the scratch page: [base+disp], [base+index*s+disp],
 * [rip+disp32] or [rsp+disp8]. Returns the REX bits (X, B) it needs.
 */
static int modrm_scratch(struct rng *r, const struct gen_opts *o, struct enc *e, int reg)
{
	int target = 1024 + rng_below(r, 2048), form = rng_below(r, 4), disp = 0, b, i;
	int32_t idx;

	if (rng_below(r, 2))
		target &= ~15;	/* aligned SSE operands must be reachable */

	switch (form) {
	case 0:
		b = addr_reg(r, e);
		disp = (int8_t)rng_below(r, 256);
		load_reg(e, b, (int32_t)(o->scratch + target - disp));
		if ((b & 7) == 4) {
			emit(e, 1 << 6 | reg << 3 | 4);
			emit(e, 4 << 3 | (b & 7));
		} else {
			emit(e, 1 << 6 | reg << 3 | (b & 7));
		}
		emit(e, disp);
		return b >> 3;
	case 1: {
		int sc = rng_below(r, 4);

		b = addr_reg(r, e);
		do
			i = addr_reg(r, e);
		while (i == b);
		idx = (int32_t)rng_below(r, 33) - 16;
		disp = (int8_t)rng_below(r, 256);
		load_reg(e, b, (int32_t)(o->scratch + target - disp - idx * (1 << sc)));
		load_reg(e, i, idx);
		emit(e, 1 << 6 | reg << 3 | 4);
		emit(e, sc << 6 | (i & 7) << 3 | (b & 7));
		emit(e, disp);
		return (i >> 3) << 1 | b >> 3;
	}
	case 2:
		emit(e, reg << 3 | 5);
		e->riprel_off = e->n;
		e->rip_target = target;
		emit_n(e, 0, 4);
		return 0;
	default:
		emit(e, 1 << 6 | reg << 3 | 4);
		emit(e, 4 << 3 | 4);
		emit(e, (int8_t)((int)rng_below(r, 129) - 64));
		return 0;
	}
}

/* Size of the relative displacement of a direct branch (always its last field), 0: none. */
static int rel_size(const struct x86_insn *insn)
{
	switch (insn->op) {
	case X86_OP_JCC: case X86_OP_JMP: case X86_OP_CALL: case X86_OP_LOOP: case X86_OP_JRCXZ:
		if (insn->map == 1 || insn->opcode == 0xe8 || insn->opcode == 0xe9)
			return insn->opsize == 2 ? 2 : 4;
		return 1;
	default:
		return 0;
	}
}

/* Prefixes the tester must avoid: vendor differences and undefined results. */
static bool opsize_ok(const struct gen_opts *o, const struct x86_opdesc *d)
{
	if (!o->difftest)
		return true;
	if (d->attr & X86_A_F64)
		return false;	/* AMD honours 66 on near branches, Intel ignores it */
	return d->op != X86_OP_SHLD && d->op != X86_OP_SHRD && d->op != X86_OP_BSWAP;
}

static void emit_prefixes(struct rng *r, const struct gen_opts *o, const struct choice *c,
			  struct enc *e, bool mem, bool *a16)
{
	static const uint8_t segs[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
	bool string = c->d->attr & X86_A_STRING;

	*a16 = o->mode == 16;
	if (rng_below(r, 16) == 0)
		emit(e, segs[rng_below(r, o->difftest ? 4 : 6)]);
	if (rng_below(r, 4) == 0 && opsize_ok(o, c->d))
		emit(e, 0x66);
	if ((mem || string || !o->difftest) && rng_below(r, 8) == 0) {
		emit(e, 0x67);
		*a16 = o->mode == 32;
	}
	if (mem && (c->d->attr & X86_A_LOCK) && rng_below(r, 4) == 0)
		emit(e, 0xf0);
	if (string && rng_below(r, 3))
		emit(e, rng_below(r, 2) ? 0xf3 : 0xf2);
	if (c->pfx)
		emit(e, c->pfx);
}

static void emit_opcode(const struct choice *c, struct enc *e)
{
	if (c->map)
		emit(e, 0x0f);
	if (c->map >= 2)
		emit(e, c->map == 2 ? 0x38 : 0x3a);
	emit(e, c->opc);
}

/* String instructions work on rsi/rdi (and rcx with REP) aimed into the scratch page. */
static void string_setup(struct rng *r, const struct gen_opts *o, struct enc *e)
{
	load_reg(e, 6, (int32_t)(o->scratch + 1024 + rng_below(r, 2048)));
	load_reg(e, 7, (int32_t)(o->scratch + 1024 + rng_below(r, 2048)));
	load_reg(e, 1, rng_below(r, 20));
}

/* One attempt; false when the result breaks a tester rule. */
static bool gen_try(struct rng *r, const struct gen_opts *o, struct unit *u)
{
	struct choice c;
	struct enc e = { .n = 0 };
	struct x86_insn insn;
	bool mem, a16;
	int rexpos, rex = 0, mod, reg;

	pick(r, o, &c);
	mem = has_kind(c.d, TK_M) || ((has_kind(c.d, TK_E) || has_kind(c.d, TK_W)) &&
	      rng_below(r, 2)) || has_kind(c.d, TK_O);
	emit_prefixes(r, o, &c, &e, mem, &a16);
	rexpos = e.n;
	if (o->mode == 64)
		emit(&e, 0);	/* REX placeholder, dropped when zero */
	emit_opcode(&c, &e);
	reg = c.d->group || map_entry(c.map, c.opc)->group ? c.reg : (int)rng_below(r, 8);
	if (o->mode == 64 && rng_below(r, 2))
		rex = 0x40 | rng_below(r, 16);
	if (c.d->attr & X86_A_MODRM) {
		mod = mem ? (int)rng_below(r, 3) : 3;
		if (o->difftest && mem) {
			int xb = modrm_scratch(r, o, &e, reg);

			rex = (rex & 0x4c) | xb | (xb ? 0x40 : 0);
		} else {
			modrm_any(r, &e, mod, reg, a16);
		}
	}
	if (c.d->attr & X86_A_STRING && o->difftest)
		string_setup(r, o, &e);
	emit_n(&e, rng_value(r), 8);	/* immediates and displacements: the decoder says how many */
	if (o->mode == 64) {
		e.b[rexpos] = rex;
		if (!rex) {
			memmove(&e.b[rexpos], &e.b[rexpos + 1], --e.n - rexpos);
			if (e.riprel_off)
				e.riprel_off--;
		}
	}
	if (x86_decode(e.b, e.n, o->mode, &insn))
		return false;
	/* Fences other than 0F AE E8/F0/F8, which binutils calls (bad). */
	if (insn.op == X86_OP_FENCE && (insn.modrm & 7))
		return false;
	u->op = insn.op;
	if (o->difftest) {
		for (int i = 0; i < insn.nopnd; i++)
			if (insn.opnd[i].kind == X86_OPND_REG && insn.opnd[i].reg == 4 &&
			    insn.op != X86_OP_PUSH)
				return false;
		if (insn.op >= X86_OP_BT && insn.op <= X86_OP_BTC && insn.memop &&
		    insn.opnd[1].kind == X86_OPND_REG) {
			if (e.loaded & (1u << insn.opnd[1].reg))
				return false;
			load_reg(&e, insn.opnd[1].reg, (int32_t)rng_below(r, 257) - 128);
		}
		if (insn.memop && insn.opnd[insn.memop - 1].kind == X86_OPND_MEM &&
		    insn.base == X86_REG_NONE && insn.index == X86_REG_NONE) {
			/* moffs: the absolute address is the instruction's tail */
			uint64_t a = o->scratch + 1024 + rng_below(r, 2048);

			memcpy(&e.b[insn.len - insn.addrsize], &a, insn.addrsize);
		}
	}
	memcpy(u->bytes, e.pro, e.npro);
	memcpy(u->bytes + e.npro, e.b, insn.len);
	u->insn_off = e.npro;
	u->len = e.npro + insn.len;
	u->riprel_off = e.riprel_off ? e.npro + e.riprel_off : 0;
	u->rip_target = e.rip_target;
	u->rel_size = rel_size(&insn);
	u->rel_off = u->len - u->rel_size;
	u->skip = rng_below(r, 3);
	return true;
}

/* call to a ret (ret imm16 sometimes) that returns to a jump over it. */
static void gadget_ret(struct rng *r, struct unit *u)
{
	static const uint8_t ret[] = { 0xe8, 2, 0, 0, 0, 0xeb, 1, 0xc3 };
	static const uint8_t reti[] = { 0xe8, 2, 0, 0, 0, 0xeb, 3, 0xc2, 0, 0 };

	memset(u, 0, sizeof(*u));
	if (rng_below(r, 2)) {
		memcpy(u->bytes, ret, sizeof(ret));
		u->len = sizeof(ret);
	} else {
		memcpy(u->bytes, reti, sizeof(reti));
		u->bytes[8] = 8 * rng_below(r, 4);
		u->len = sizeof(reti);
	}
	u->insn_off = 7;
	u->op = X86_OP_RET;
}

/* lea reg, [rip+k]; jmp/call reg: lands right after itself. */
static void gadget_indirect(struct rng *r, struct unit *u, bool call)
{
	int reg;
	uint8_t *p = u->bytes;

	do
		reg = rng_below(r, 16);
	while (reg == 4);
	memset(u, 0, sizeof(*u));
	*p++ = 0x48 | (reg >> 1 & 4);
	*p++ = 0x8d;
	*p++ = (reg & 7) << 3 | 5;
	*p++ = reg >= 8 ? 3 : 2;
	*p++ = 0;
	*p++ = 0;
	*p++ = 0;
	u->insn_off = 7;
	if (reg >= 8)
		*p++ = 0x41;
	*p++ = 0xff;
	*p++ = 0xc0 | (call ? 2 : 4) << 3 | (reg & 7);
	u->len = p - u->bytes;
	u->op = call ? X86_OP_CALL_IND : X86_OP_JMP_IND;
}

/* lea rbp, [rsp+8k]; leave. */
static void gadget_leave(struct rng *r, struct unit *u)
{
	static const uint8_t seq[] = { 0x48, 0x8d, 0x6c, 0x24, 0, 0xc9 };

	memset(u, 0, sizeof(*u));
	memcpy(u->bytes, seq, sizeof(seq));
	u->bytes[4] = 8 * rng_below(r, 8);
	u->len = sizeof(seq);
	u->insn_off = 5;
	u->op = X86_OP_LEAVE;
}

void gen_unit(struct rng *r, const struct gen_opts *o, struct unit *u)
{
	if (o->difftest && rng_below(r, 16) == 0) {
		switch (rng_below(r, 4)) {
		case 0: gadget_ret(r, u); return;
		case 1: gadget_indirect(r, u, false); return;
		case 2: gadget_indirect(r, u, true); return;
		default: gadget_leave(r, u); return;
		}
	}
	for (;;) {
		memset(u, 0, sizeof(*u));
		if (gen_try(r, o, u) && (!o->difftest || (u->op != X86_OP_RET &&
		    u->op != X86_OP_CALL_IND && u->op != X86_OP_JMP_IND && u->op != X86_OP_LEAVE)))
			return;
	}
}

int gen_length(const struct unit *u, int n)
{
	int len = 0;

	for (int i = 0; i < n; i++)
		len += u[i].len;
	return len;
}

int gen_assemble(const struct unit *u, int n, uint64_t base, uint64_t scratch,
		 uint8_t *code, int cap)
{
	int pos = 0;

	for (int i = 0; i < n && pos + u[i].len <= cap; i++) {
		memcpy(code + pos, u[i].bytes, u[i].len);
		if (u[i].rel_size) {
			int32_t rel = 0;

			for (int k = 1; k <= u[i].skip && i + k < n; k++) {
				if (u[i].rel_size == 1 && rel + u[i + k].len > 127)
					break;
				rel += u[i + k].len;
			}
			memcpy(code + pos + u[i].rel_off, &rel, u[i].rel_size);
		}
		if (u[i].riprel_off) {
			int32_t disp = (int32_t)(scratch + u[i].rip_target - (base + pos + u[i].len));

			memcpy(code + pos + u[i].riprel_off, &disp, 4);
		}
		pos += u[i].len;
	}
	return pos;
}
