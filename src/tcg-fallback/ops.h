/*
 * Helpers shared by the instruction handlers (ops_*.c): register and operand
 * access by size, effective addresses, and flag arithmetic. Register writes
 * follow x86-64 rules: 32-bit writes zero-extend, 8/16-bit writes merge.
 */
#ifndef SPRY_TCG_OPS_H
#define SPRY_TCG_OPS_H

#include "cpu.h"
#include "mem.h"

typedef void (*tcg_handler)(struct tcg_cpu *cpu, const struct x86_insn *insn);

static inline uint64_t size_mask(int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline uint64_t sign_bit(int size)
{
	return 1ULL << (size * 8 - 1);
}

/* @v (of @size bytes) sign-extended to 64 bits. */
static inline uint64_t sext(uint64_t v, int size)
{
	int sh = 64 - size * 8;

	return size >= 8 ? v : (uint64_t)((int64_t)(v << sh) >> sh);
}

static inline uint64_t reg_get(const struct tcg_cpu *cpu, int reg, int size)
{
	if (reg >= X86_REG_AH)
		return (cpu->gpr[reg - X86_REG_AH] >> 8) & 0xff;
	return cpu->gpr[reg] & size_mask(size);
}

static inline void reg_set(struct tcg_cpu *cpu, int reg, int size, uint64_t v)
{
	uint64_t *r;

	if (reg >= X86_REG_AH) {
		r = &cpu->gpr[reg - X86_REG_AH];
		*r = (*r & ~0xff00ULL) | ((v & 0xff) << 8);
		return;
	}
	r = &cpu->gpr[reg];
	if (size >= 4)
		*r = size == 4 ? (uint32_t)v : v;
	else
		*r = (*r & ~size_mask(size)) | (v & size_mask(size));
}

/* The offset (effective address before the segment base) of the memory operand. */
static inline uint64_t tcg_offset(const struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	uint64_t a = insn->disp;

	if (insn->base == X86_REG_RIP)
		a += cpu->next_rip;
	else if (insn->base != X86_REG_NONE)
		a += cpu->gpr[insn->base];
	if (insn->index != X86_REG_NONE)
		a += cpu->gpr[insn->index] * insn->scale;
	return insn->addrsize < 8 ? a & size_mask(insn->addrsize) : a;
}

/* Add the base of segment @seg (only FS and GS have one in 64-bit mode). */
static inline uint64_t seg_linear(const struct tcg_cpu *cpu, int seg, uint64_t a)
{
	if (seg == X86_SEG_FS)
		a += cpu->fs_base;
	else if (seg == X86_SEG_GS)
		a += cpu->gs_base;
	return cpu->mode == 64 ? a : (uint32_t)a;
}

/* The linear address of @insn's memory operand. */
static inline uint64_t tcg_ea(const struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	return seg_linear(cpu, insn->seg, tcg_offset(cpu, insn));
}

/* The address of the memory operand, or 0 when there is none. */
static inline uint64_t mem_addr(const struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	return insn->memop ? tcg_ea(cpu, insn) : 0;
}

/* Operand @i's value, zero-extended; @addr from mem_addr(). */
static inline uint64_t opnd_get(struct tcg_cpu *cpu, const struct x86_insn *insn, int i,
				uint64_t addr)
{
	const struct x86_operand *o = &insn->opnd[i];

	if (o->kind == X86_OPND_REG)
		return reg_get(cpu, o->reg, o->size);
	if (o->kind == X86_OPND_MEM)
		return tcg_load(cpu, addr, o->size);
	return insn->imm & size_mask(o->size);
}

static inline void opnd_set(struct tcg_cpu *cpu, const struct x86_insn *insn, int i,
			    uint64_t addr, uint64_t v)
{
	const struct x86_operand *o = &insn->opnd[i];

	if (o->kind == X86_OPND_REG)
		reg_set(cpu, o->reg, o->size, v);
	else
		tcg_store(cpu, addr, o->size, v);
}

/* Replace the arithmetic flags with @f. */
static inline void set_flags(struct tcg_cpu *cpu, uint64_t f, uint64_t which)
{
	cpu->rflags = (cpu->rflags & ~which) | (f & which);
}

/* ZF, SF and PF of result @r. */
static inline __attribute__((always_inline)) uint64_t flags_szp(uint64_t r, int size)
{
	r &= size_mask(size);
	return (uint64_t)(r == 0) << 6 |			/* ZF */
	       (r >> (size * 8 - 1) & 1) << 7 |			/* SF */
	       (uint64_t)!__builtin_parity((unsigned int)(r & 0xff)) << 2;	/* PF */
}

/* Whether condition @cc (0-15, as in jcc) holds for flags @f. */
static inline __attribute__((always_inline)) bool tcg_cond_inline(uint64_t f, int cc)
{
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

/* Whether condition @cc (0-15, as in jcc) holds. */
bool tcg_cond(const struct tcg_cpu *cpu, int cc);

static inline __attribute__((always_inline)) uint64_t arith_flags(uint64_t a, uint64_t b,
								  uint64_t r, int size)
{
	return flags_szp(r, size) | ((a ^ b ^ r) & X86_AF);
}

/*
 * ADD..CMP (enum order = x86 /r order) on @a and @b of @size bytes with carry
 * in @cf; returns the result and sets *@flags to all six arithmetic flags.
 * Flags are computed eagerly, bit for bit as the SDM defines them. Inline so
 * that handlers specialised for one operation and size fold it.
 */
static inline __attribute__((always_inline)) uint64_t
alu_binop_inline(int op, uint64_t a, uint64_t b, int cf, int size, uint64_t *flags)
{
	uint64_t m = size_mask(size), r, f;
	int c = 0;

	a &= m;
	b &= m;
	switch (op) {
	case X86_OP_ADC:
		c = cf;
		/* fallthrough */
	case X86_OP_ADD:
		r = (a + b + c) & m;
		f = arith_flags(a, b, r, size) | (uint64_t)(c ? r <= a : r < a) |	/* CF */
		    (((a ^ r) & (b ^ r)) >> (size * 8 - 1) & 1) << 11;		/* OF */
		break;
	case X86_OP_SBB:
		c = cf;
		/* fallthrough */
	case X86_OP_SUB:
	case X86_OP_CMP:
		r = (a - b - c) & m;
		f = arith_flags(a, b, r, size) | (uint64_t)(c ? a <= b : a < b) |	/* CF */
		    (((a ^ b) & (a ^ r)) >> (size * 8 - 1) & 1) << 11;		/* OF */
		break;
	default:
		r = op == X86_OP_AND ? a & b : op == X86_OP_OR ? a | b : a ^ b;
		f = flags_szp(r, size);	/* CF = OF = 0; AF undefined, left 0 */
		break;
	}
	*flags = f;
	return r;
}

uint64_t alu_binop(int op, uint64_t a, uint64_t b, int cf, int size, uint64_t *flags);

/*
 * Read-modify-writes of operand 0 (atomic.c). A memory operand of a locked
 * instruction (LOCK, or xchg) is updated as one host atomic operation when it
 * lies in RAM within a page; every other one is loaded and stored.
 *
 * A tcg_rmw_fn gives the new value of the operand from its @old one and
 * @src, and sets *@flags to the flags that gives, if the operation has any.
 */
typedef uint64_t (*tcg_rmw_fn)(const struct tcg_cpu *cpu, const struct x86_insn *insn,
			       uint64_t old, uint64_t src, uint64_t *flags);

/* Replace operand 0 (@addr: its address) with @fn of it; *@flags as @fn set them. */
void tcg_rmw(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
	     tcg_rmw_fn fn, uint64_t src, uint64_t *flags);

/* Store @val into the memory operand at @addr; returns its old value. */
uint64_t tcg_mem_xchg(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t val);

/* Add @val to the memory operand at @addr; returns its old value. */
uint64_t tcg_mem_xadd(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t val);

/*
 * Store @val into the memory operand at @addr if it holds *@old: true then,
 * else false with *@old set to what it holds (which is written back, as
 * cmpxchg does).
 */
bool tcg_mem_cmpxchg(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		     uint64_t *old, uint64_t val);

/* The same on the pair of halves of cmpxchg8b/16b's operand, low half first. */
bool tcg_mem_cmpxchg2(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t old[2], const uint64_t val[2]);

/* The stack pointer's width follows the mode (SS is taken as 32-bit outside 16-bit code). */
static inline int stack_width(const struct tcg_cpu *cpu)
{
	return cpu->mode == 64 ? 8 : cpu->mode == 32 ? 4 : 2;
}

static inline void tcg_push(struct tcg_cpu *cpu, uint64_t v, int size)
{
	int sw = stack_width(cpu);
	uint64_t sp = (cpu->gpr[4] - size) & size_mask(sw);

	tcg_store(cpu, sp, size, v);
	reg_set(cpu, 4, sw, sp);
}

static inline uint64_t tcg_pop(struct tcg_cpu *cpu, int size)
{
	int sw = stack_width(cpu);
	uint64_t sp = cpu->gpr[4] & size_mask(sw), v = tcg_load(cpu, sp, size);

	reg_set(cpu, 4, sw, sp + size);
	return v;
}

/*
 * SSE operand @i (ops_sse.c) zero-extended to 128 bits: an XMM, a general
 * register, memory or an immediate. A 16-byte memory operand must be aligned
 * (#GP) unless the instruction has X86_A_UNALIGNED.
 */
void sse_src_get(struct tcg_cpu *cpu, const struct x86_insn *insn, int i, uint64_t addr,
		 union tcg_xmm *v);

/* The XMM register of operand 0. */
static inline union tcg_xmm *dst_xmm(struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	return &cpu->xmm[insn->opnd[0].reg];
}

/* Element @i of @es bytes (1, 2, 4, 8) of an XMM value, zero-extended. */
static inline uint64_t elt(const union tcg_xmm *v, int i, int es)
{
	switch (es) {
	case 1: return v->b[i];
	case 2: return v->w[i];
	case 4: return v->d[i];
	default: return v->q[i];
	}
}

static inline void elt_set(union tcg_xmm *v, int i, int es, uint64_t x)
{
	switch (es) {
	case 1: v->b[i] = x; break;
	case 2: v->w[i] = x; break;
	case 4: v->d[i] = x; break;
	default: v->q[i] = x; break;
	}
}

/* @x saturated to [@lo, @hi]. */
static inline int64_t clamp(int64_t x, int64_t lo, int64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

#define TCG_MXCSR_EXC_MASKS 0x1f80u	/* MXCSR exception mask bits */
#define TCG_MXCSR_EXC_FLAGS 0x3fu	/* MXCSR exception flag bits */

/*
 * Floating point runs on the host's SSE unit with the guest's rounding and
 * DAZ/FTZ controls and every exception masked, between fp_enter() and
 * fp_leave(); the flags it raises are folded into the guest MXCSR. Unmasked
 * guest exceptions (#XM) are not delivered. The empty asm statements
 * (FP_PIN) pin the arithmetic between the two MXCSR writes.
 */
static inline uint32_t fp_enter(const struct tcg_cpu *cpu)
{
	uint32_t host, guest = (cpu->mxcsr | TCG_MXCSR_EXC_MASKS) & ~TCG_MXCSR_EXC_FLAGS;

	asm volatile("stmxcsr %0" : "=m"(host));
	asm volatile("ldmxcsr %0" : : "m"(guest));
	return host;
}

static inline void fp_leave(struct tcg_cpu *cpu, uint32_t host)
{
	uint32_t now;

	asm volatile("stmxcsr %0" : "=m"(now));
	asm volatile("ldmxcsr %0" : : "m"(host));
	cpu->mxcsr |= now & TCG_MXCSR_EXC_FLAGS;
}

#define FP_PIN(x) asm volatile("" : "+x"(x))

/* Handlers by operation, defined in ops_*.c and collected in exec.c. */
#define TCG_HANDLER(name) void name(struct tcg_cpu *cpu, const struct x86_insn *insn)
TCG_HANDLER(op_alu);
TCG_HANDLER(op_incdec);
TCG_HANDLER(op_not);
TCG_HANDLER(op_neg);
TCG_HANDLER(op_test);
TCG_HANDLER(op_shift);
TCG_HANDLER(op_shld);
TCG_HANDLER(op_mul);
TCG_HANDLER(op_imul2);
TCG_HANDLER(op_div);
TCG_HANDLER(op_bt);
TCG_HANDLER(op_bsf);
TCG_HANDLER(op_bsr);
TCG_HANDLER(op_popcnt);
TCG_HANDLER(op_mov);
TCG_HANDLER(op_movzx);
TCG_HANDLER(op_movsx);
TCG_HANDLER(op_lea);
TCG_HANDLER(op_cmov);
TCG_HANDLER(op_setcc);
TCG_HANDLER(op_push);
TCG_HANDLER(op_pop);
TCG_HANDLER(op_pushf);
TCG_HANDLER(op_popf);
TCG_HANDLER(op_leave);
TCG_HANDLER(op_xchg);
TCG_HANDLER(op_xadd);
TCG_HANDLER(op_cmpxchg);
TCG_HANDLER(op_cmpxchg8b);
TCG_HANDLER(op_cbw);
TCG_HANDLER(op_cwd);
TCG_HANDLER(op_bswap);
TCG_HANDLER(op_movbe);
TCG_HANDLER(op_string);
TCG_HANDLER(op_jcc);
TCG_HANDLER(op_jmp);
TCG_HANDLER(op_jmp_ind);
TCG_HANDLER(op_call);
TCG_HANDLER(op_call_ind);
TCG_HANDLER(op_ret);
TCG_HANDLER(op_loop);
TCG_HANDLER(op_jrcxz);
TCG_HANDLER(op_nop);
TCG_HANDLER(op_flagop);
TCG_HANDLER(op_lahf);
TCG_HANDLER(op_sahf);
TCG_HANDLER(op_cpuid);
TCG_HANDLER(op_rdtsc);
TCG_HANDLER(op_syscall);
TCG_HANDLER(op_ud);
TCG_HANDLER(op_int3);
TCG_HANDLER(op_hlt);
TCG_HANDLER(op_sysinsn);
TCG_HANDLER(op_movdq);
TCG_HANDLER(op_movd);
TCG_HANDLER(op_movq);
TCG_HANDLER(op_movscalar);
TCG_HANDLER(op_movhalf);
TCG_HANDLER(op_movmsk);
TCG_HANDLER(op_pextrw);
TCG_HANDLER(op_pinsrw);
TCG_HANDLER(op_plane);
TCG_HANDLER(op_plogic);
TCG_HANDLER(op_pmuludq);
TCG_HANDLER(op_psadbw);
TCG_HANDLER(op_pshift);
TCG_HANDLER(op_pshiftdq);
TCG_HANDLER(op_shuffle);
TCG_HANDLER(op_punpck);
TCG_HANDLER(op_pack);
TCG_HANDLER(op_fparith);
TCG_HANDLER(op_comis);
TCG_HANDLER(op_cvtsi2f);
TCG_HANDLER(op_cvtf2si);
TCG_HANDLER(op_cvtf2f);
TCG_HANDLER(op_ldmxcsr);
TCG_HANDLER(op_stmxcsr);
TCG_HANDLER(op_fxsave);
TCG_HANDLER(op_fxrstor);
TCG_HANDLER(op_fninit);
TCG_HANDLER(op_fldcw);
TCG_HANDLER(op_fnstcw);
TCG_HANDLER(op_fnstsw);
TCG_HANDLER(op_movdup);
TCG_HANDLER(op_fphoriz);
TCG_HANDLER(op_pshufb);
TCG_HANDLER(op_phorizontal);
TCG_HANDLER(op_pmaddubsw);
TCG_HANDLER(op_plane38);
TCG_HANDLER(op_palignr);
TCG_HANDLER(op_blend);
TCG_HANDLER(op_ptest);
TCG_HANDLER(op_pmovx);
TCG_HANDLER(op_pmuldq);
TCG_HANDLER(op_packusdw);
TCG_HANDLER(op_pextr);
TCG_HANDLER(op_pinsr);
TCG_HANDLER(op_insertps);
TCG_HANDLER(op_phminposuw);
TCG_HANDLER(op_mpsadbw);
TCG_HANDLER(op_round);
TCG_HANDLER(op_dp);
TCG_HANDLER(op_pcmpstr);
TCG_HANDLER(op_crc32);

/*
 * Whether the host runs SSE4.1 (and so SSE3): the SSE3 and SSE4.1 floating
 * point forms execute on it, and the CPU model advertises SSE3 to SSE4.2 only then.
 */
bool tcg_host_sse41(void);

#endif
