/*
 * The x86 decoder: legacy prefixes, REX, the opcode maps of tables.c, ModRM,
 * SIB, displacement and immediate, in one pass over a byte buffer. Anything
 * the tables do not hold is #UD, so unimplemented instructions fail cleanly.
 */
#include <string.h>

#include "decode.h"
#include "tables.h"

struct dec {
	const uint8_t *buf;
	size_t avail;
	unsigned int pos;
	int err;
	bool have_modrm;
};

/* Next byte; an instruction past 15 bytes is #GP, past @avail is truncated. */
static uint8_t next_byte(struct dec *d)
{
	if (d->pos >= X86_MAX_INSN_LEN) {
		if (!d->err)
			d->err = X86_DEC_GP;
		return 0;
	}
	if (d->pos >= d->avail) {
		if (!d->err)
			d->err = X86_DEC_TRUNC;
		return 0;
	}
	return d->buf[d->pos++];
}

/* A little-endian value of @n bytes, sign-extended when @sign. */
static uint64_t next_value(struct dec *d, unsigned int n, bool sign)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)next_byte(d) << (8 * i);
	if (sign && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~0ULL << (8 * n);
	return v;
}

/* Consume legacy prefixes and REX; returns the first opcode byte. */
static uint8_t decode_prefixes(struct dec *d, struct x86_insn *insn)
{
	for (;;) {
		uint8_t b = next_byte(d);

		if (d->err)
			return 0;
		switch (b) {
		case 0x66: insn->pfx |= X86_PFX_OPSZ; break;
		case 0x67: insn->pfx |= X86_PFX_ADSZ; break;
		case 0xf0: insn->pfx |= X86_PFX_LOCK; break;
		case 0xf2:
			insn->pfx = (insn->pfx & ~X86_PFX_REP) | X86_PFX_REPNE;
			break;
		case 0xf3:
			insn->pfx = (insn->pfx & ~X86_PFX_REPNE) | X86_PFX_REP;
			break;
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			/* Ignored in 64-bit mode, where these segments have base 0. */
			if (insn->mode != 64)
				insn->seg = (b >> 3) & 3;
			break;
		case 0x64: insn->seg = X86_SEG_FS; break;
		case 0x65: insn->seg = X86_SEG_GS; break;
		default:
			if (insn->mode == 64 && (b & 0xf0) == 0x40) {
				insn->rex = b;
				continue;	/* REX counts only right before the opcode */
			}
			return b;
		}
		insn->rex = 0;
	}
}

/* Group member @reg of @desc, taking the operands of @desc unless it has its own. */
static const struct x86_opdesc *merge_group(const struct x86_opdesc *desc, int reg,
					    struct x86_opdesc *merged)
{
	const struct x86_opdesc *g = &x86_groups[desc->group][reg];

	*merged = *g;
	merged->attr |= desc->attr;
	merged->byteop = desc->byteop;
	if (!g->opnd[0].kind)
		memcpy(merged->opnd, desc->opnd, sizeof(merged->opnd));
	return merged;
}

/* The four mandatory-prefix variants of an opcode whose entry names @pfxtab. */
static const struct x86_opdesc *variants(int pfxtab, uint8_t opcode)
{
	switch (pfxtab) {
	case PT_SSE: return x86_sse[opcode];
	case PT_SSE38: return x86_sse38[opcode];
	case PT_SSE3A: return x86_sse3a[opcode];
	default: return x86_pfx_tables[pfxtab];
	}
}

/* F3 or F2 (the last one wins) select their variant; 66 only where one exists. */
static int pfx_variant(const struct x86_opdesc *row, int pfx)
{
	if (pfx & X86_PFX_REP)
		return 1;
	if (pfx & X86_PFX_REPNE)
		return 2;
	if ((pfx & X86_PFX_OPSZ) && (row[3].op || row[3].group))
		return 3;
	return 0;
}

/* The table entry for the opcode, following escapes, groups and prefix variants. */
static const struct x86_opdesc *lookup(struct dec *d, struct x86_insn *insn, uint8_t b,
				       struct x86_opdesc *merged)
{
	const struct x86_opdesc *desc;

	if (b == 0x0f) {
		b = next_byte(d);
		insn->map = 1;
		if (b == 0x38 || b == 0x3a) {
			insn->map = b == 0x38 ? 2 : 3;
			b = next_byte(d);
		}
	}
	insn->opcode = b;
	desc = &x86_map(insn->map)[b];
	if (desc->pfxtab) {
		const struct x86_opdesc *row = variants(desc->pfxtab, b);
		int v = pfx_variant(row, insn->pfx);

		insn->mpfx = v;
		insn->pfx &= ~(X86_PFX_REP | X86_PFX_REPNE);	/* mandatory, not REP */
		if (v == 3 || desc->pfxtab >= PT_SSE)
			insn->pfx &= ~X86_PFX_OPSZ;	/* 66 never sizes an SSE operand */
		desc = &row[v];
	}
	if (desc->group) {
		insn->modrm = next_byte(d);
		d->have_modrm = true;
		desc = merge_group(desc, (insn->modrm >> 3) & 7, merged);
	}
	return desc->op == X86_OP_UD ? NULL : desc;
}

static void set_sizes(struct x86_insn *insn, const struct x86_opdesc *desc)
{
	bool o16 = insn->pfx & X86_PFX_OPSZ, a16 = insn->pfx & X86_PFX_ADSZ;

	if (insn->mode == 64) {
		insn->addrsize = a16 ? 4 : 8;
		if (insn->rex & 8)
			insn->opsize = 8;
		else if (desc->attr & X86_A_F64)
			insn->opsize = 8;
		else if (desc->attr & X86_A_D64)
			insn->opsize = o16 ? 2 : 8;
		else
			insn->opsize = o16 ? 2 : 4;
	} else if (insn->mode == 32) {
		insn->addrsize = a16 ? 2 : 4;
		insn->opsize = o16 ? 2 : 4;
	} else {
		insn->addrsize = a16 ? 4 : 2;
		insn->opsize = o16 ? 4 : 2;
	}
	if (desc->byteop)
		insn->opsize = 1;
}

/* 16-bit ModRM memory forms: base and index pairs. */
static const uint8_t modrm16_base[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
static const uint8_t modrm16_index[8] = { 6, 7, 6, 7, X86_REG_NONE, X86_REG_NONE,
					  X86_REG_NONE, X86_REG_NONE };

static void decode_mem16(struct dec *d, struct x86_insn *insn, int mod, int rm)
{
	insn->base = modrm16_base[rm];
	insn->index = modrm16_index[rm];
	insn->scale = 1;
	if (mod == 0 && rm == 6) {
		insn->base = X86_REG_NONE;
		insn->disp = (int64_t)next_value(d, 2, true);
		return;
	}
	if (insn->base == 5 && insn->seg == X86_SEG_DS)
		insn->seg = X86_SEG_SS;
	insn->disp = mod == 1 ? (int64_t)next_value(d, 1, true) :
		     mod == 2 ? (int64_t)next_value(d, 2, true) : 0;
}

static void decode_mem32(struct dec *d, struct x86_insn *insn, int mod, int rm)
{
	int rexb = (insn->rex & 1) << 3;
	bool disp32 = mod == 2;

	insn->scale = 1;
	if (rm == 4) {
		uint8_t sib = next_byte(d);
		int idx = ((sib >> 3) & 7) | ((insn->rex & 2) << 2);

		insn->scale = 1 << (sib >> 6);
		insn->index = idx == 4 ? X86_REG_NONE : idx;
		insn->base = (sib & 7) | rexb;
		if ((sib & 7) == 5 && mod == 0) {
			insn->base = X86_REG_NONE;
			disp32 = true;
		}
	} else if (rm == 5 && mod == 0) {
		insn->base = insn->mode == 64 ? X86_REG_RIP : X86_REG_NONE;
		disp32 = true;
	} else {
		insn->base = rm | rexb;
	}
	if ((insn->base == 4 || insn->base == 5) && insn->seg == X86_SEG_DS)
		insn->seg = X86_SEG_SS;
	insn->disp = disp32 ? (int64_t)next_value(d, 4, true) :
		     mod == 1 ? (int64_t)next_value(d, 1, true) : 0;
}

/* A register operand; byte registers 4-7 are AH-BH unless a REX is present. */
static uint8_t reg_operand(const struct x86_insn *insn, int r, int size)
{
	if (size == 1 && !insn->rex && r >= 4 && r < 8)
		return X86_REG_AH + r - 4;
	return r;
}

static int spec_size(const struct x86_insn *insn, int ts)
{
	switch (ts) {
	case TS_B: case TS_BS: return 1;
	case TS_W: return 2;
	case TS_D: return 4;
	case TS_Z: return insn->opsize == 2 ? 2 : 4;
	case TS_DQ: return insn->opsize == 8 ? 16 : 8;
	case TS_Q: return 8;
	case TS_X: return 16;
	case TS_Y: return insn->opsize == 8 ? 8 : 4;
	default: return insn->opsize;
	}
}

/* Immediate operand value, extended to the operation size. */
static void decode_imm(struct dec *d, struct x86_insn *insn, struct x86_operand *o,
		       const struct x86_tspec *s)
{
	int n = spec_size(insn, s->size);

	o->kind = X86_OPND_IMM;
	o->size = s->size == TS_W ? 2 : s->size == TS_B ? 1 : insn->opsize;
	if (o != insn->opnd && o[-1].kind == X86_OPND_IMM) {
		insn->imm2 = (uint16_t)next_value(d, n, false);	/* far pointer: selector */
		return;
	}
	insn->imm = next_value(d, n, s->size != TS_B && s->size != TS_W);
}

static void decode_operand(struct dec *d, struct x86_insn *insn, int i, const struct x86_tspec *s)
{
	struct x86_operand *o = &insn->opnd[i];
	int r = (insn->modrm >> 3) & 7, rm = insn->modrm & 7;

	o->size = spec_size(insn, s->size);
	switch (s->kind) {
	case TK_E: case TK_M:
		if (insn->modrm >> 6 == 3) {
			o->kind = X86_OPND_REG;
			o->reg = reg_operand(insn, rm | ((insn->rex & 1) << 3), o->size);
		} else {
			o->kind = X86_OPND_MEM;
			insn->memop = i + 1;
		}
		break;
	case TK_R:
		o->kind = insn->modrm >> 6 == 3 ? X86_OPND_REG : X86_OPND_MEM;
		o->reg = rm | ((insn->rex & 1) << 3);
		break;
	case TK_V:
		o->kind = X86_OPND_XMM;
		o->reg = r | ((insn->rex & 4) << 1);
		break;
	case TK_W: case TK_U:
		if (insn->modrm >> 6 == 3) {
			o->kind = X86_OPND_XMM;
			o->reg = rm | ((insn->rex & 1) << 3);
		} else {
			o->kind = X86_OPND_MEM;
			insn->memop = i + 1;
		}
		break;
	case TK_G:
		o->kind = X86_OPND_REG;
		o->reg = reg_operand(insn, r | ((insn->rex & 4) << 1), o->size);
		break;
	case TK_Z:
		o->kind = X86_OPND_REG;
		o->reg = reg_operand(insn, (insn->opcode & 7) | ((insn->rex & 1) << 3), o->size);
		break;
	case TK_A: case TK_C:
		o->kind = X86_OPND_REG;
		o->reg = s->kind == TK_A ? 0 : 1;
		break;
	case TK_I: case TK_J:
		decode_imm(d, insn, o, s);
		break;
	case TK_ONE:
		o->kind = X86_OPND_IMM;
		insn->imm = 1;
		break;
	case TK_O:
		o->kind = X86_OPND_MEM;
		insn->memop = i + 1;
		insn->disp = (int64_t)next_value(d, insn->addrsize, false);
		break;
	}
}

/* Flags read by condition @cc (the low nibble of jcc/setcc/cmovcc). */
static uint16_t cond_flags(int cc)
{
	static const uint16_t f[8] = {
		X86_OF, X86_CF, X86_ZF, X86_CF | X86_ZF,
		X86_SF, X86_PF, X86_SF | X86_OF, X86_ZF | X86_SF | X86_OF,
	};
	return f[(cc >> 1) & 7];
}

static void decode_memory(struct dec *d, struct x86_insn *insn)
{
	int mod = insn->modrm >> 6, rm = insn->modrm & 7;

	if (mod == 3)
		return;
	if (insn->addrsize == 2)
		decode_mem16(d, insn, mod, rm);
	else
		decode_mem32(d, insn, mod, rm);
}

/* Special cases that the tables cannot express. */
static void fixup(struct x86_insn *insn)
{
	if (insn->map == 0 && insn->opcode == 0x90 && !(insn->rex & 1)) {
		insn->op = insn->pfx & X86_PFX_REP ? X86_OP_PAUSE : X86_OP_NOP;
		insn->nopnd = 0;
	}
	if (insn->op == X86_OP_JCC || insn->op == X86_OP_SETCC || insn->op == X86_OP_CMOV) {
		insn->cond = insn->opcode & 0xf;
		insn->fread |= cond_flags(insn->cond);
	}
}

static bool lock_ok(const struct x86_insn *insn)
{
	return (insn->attr & X86_A_LOCK) && insn->memop == 1;
}

int x86_decode(const uint8_t *buf, size_t avail, int mode, struct x86_insn *insn)
{
	struct dec d = { .buf = buf, .avail = avail };
	struct x86_opdesc merged;
	const struct x86_opdesc *desc;
	uint8_t b;

	memset(insn, 0, sizeof(*insn));
	insn->mode = mode;
	insn->seg = X86_SEG_DS;
	insn->base = insn->index = X86_REG_NONE;
	b = decode_prefixes(&d, insn);
	desc = d.err ? NULL : lookup(&d, insn, b, &merged);
	if (d.err)
		return d.err;
	if (!desc)
		return X86_DEC_UD;
	if ((desc->attr & X86_A_NO64 && mode == 64) || (desc->attr & X86_A_ONLY64 && mode != 64))
		return X86_DEC_UD;
	if ((desc->attr & X86_A_NOPFX) &&
	    (insn->pfx & (X86_PFX_OPSZ | X86_PFX_REP | X86_PFX_REPNE)))
		return X86_DEC_UD;
	insn->op = desc->op;
	insn->attr = desc->attr;
	insn->fread = desc->fread;
	insn->fwrite = desc->fwrite;
	insn->fundef = desc->fundef;
	set_sizes(insn, desc);
	if ((desc->attr & X86_A_MODRM) && !d.have_modrm)
		insn->modrm = next_byte(&d);
	if (desc->attr & X86_A_MODRM)
		decode_memory(&d, insn);
	for (int i = 0; i < 3 && desc->opnd[i].kind; i++) {
		decode_operand(&d, insn, i, &desc->opnd[i]);
		insn->nopnd = i + 1;
	}
	if (d.err)
		return d.err;
	for (int i = 0; i < insn->nopnd; i++) {
		int k = desc->opnd[i].kind;
		bool mem = insn->opnd[i].kind == X86_OPND_MEM;

		if ((k == TK_M && !mem) || ((k == TK_U || k == TK_R) && mem))
			return X86_DEC_UD;
	}
	if ((insn->pfx & X86_PFX_LOCK) && !lock_ok(insn))
		return X86_DEC_UD;
	/* 0F 01 /7 is invlpg on memory; of its register forms only swapgs (F8) exists here. */
	if (insn->map == 1 && insn->opcode == 0x01 && insn->modrm >> 6 == 3 && insn->modrm != 0xf8)
		return X86_DEC_UD;
	fixup(insn);
	insn->len = d.pos;
	return 0;
}

const struct x86_opdesc *x86_table_lookup(int map, int opcode, int reg, int pfx,
					 struct x86_opdesc *merged)
{
	const struct x86_opdesc *desc;

	desc = &x86_map(map & 3)[opcode & 0xff];
	if (desc->pfxtab) {
		const struct x86_opdesc *row = variants(desc->pfxtab, opcode & 0xff);

		desc = &row[pfx_variant(row, pfx == 0xf3 ? X86_PFX_REP : pfx == 0xf2 ?
					X86_PFX_REPNE : pfx == 0x66 ? X86_PFX_OPSZ : 0)];
	}
	if (desc->group)
		desc = merge_group(desc, reg & 7, merged);
	return desc->op == X86_OP_UD ? NULL : desc;
}
