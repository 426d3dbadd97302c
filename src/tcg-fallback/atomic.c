/*
 * Read-modify-writes of an instruction's destination, atomic when locked.
 * Guest RAM is shared with other host threads and processes (a VM's device
 * threads and, later, other vCPUs; MAP_SHARED mappings after fork in `spry
 * user`), so a LOCK-prefixed instruction, and xchg with memory, must update
 * its operand with one host atomic instruction: a load and a store would let
 * another thread's write fall between them and be lost. The host is x86-64
 * as well, so it locks every size and alignment the guest can, except across
 * a cache line (see tcg_atomic_ptr()).
 */
#include "ops.h"

/* Host atomics on 1, 2, 4 or 8 bytes at @p, aligned or not. */
static uint64_t host_load(const uint8_t *p, int size)
{
	switch (size) {
	case 1: return __atomic_load_n(p, __ATOMIC_RELAXED);
	case 2: return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
	case 4: return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
	default: return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	}
}

static uint64_t host_xchg(uint8_t *p, int size, uint64_t val)
{
	switch (size) {
	case 1: return __atomic_exchange_n(p, (uint8_t)val, __ATOMIC_SEQ_CST);
	case 2: return __atomic_exchange_n((uint16_t *)p, (uint16_t)val, __ATOMIC_SEQ_CST);
	case 4: return __atomic_exchange_n((uint32_t *)p, (uint32_t)val, __ATOMIC_SEQ_CST);
	default: return __atomic_exchange_n((uint64_t *)p, val, __ATOMIC_SEQ_CST);
	}
}

static uint64_t host_fetch_add(uint8_t *p, int size, uint64_t val)
{
	switch (size) {
	case 1: return __atomic_fetch_add(p, (uint8_t)val, __ATOMIC_SEQ_CST);
	case 2: return __atomic_fetch_add((uint16_t *)p, (uint16_t)val, __ATOMIC_SEQ_CST);
	case 4: return __atomic_fetch_add((uint32_t *)p, (uint32_t)val, __ATOMIC_SEQ_CST);
	default: return __atomic_fetch_add((uint64_t *)p, val, __ATOMIC_SEQ_CST);
	}
}

/* Compare and exchange on a @type at @p; *@old gets the value found there. */
#define CMPXCHG(type, p, old, val) ({ \
	type o_ = *(old); \
	bool ok_ = __atomic_compare_exchange_n((type *)(p), &o_, (type)(val), false, \
					       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
	*(old) = o_; \
	ok_; \
})

static bool host_cmpxchg(uint8_t *p, int size, uint64_t *old, uint64_t val)
{
	switch (size) {
	case 1: return CMPXCHG(uint8_t, p, old, val);
	case 2: return CMPXCHG(uint16_t, p, old, val);
	case 4: return CMPXCHG(uint32_t, p, old, val);
	default: return CMPXCHG(uint64_t, p, old, val);
	}
}

/*
 * The instruction itself for 16 bytes at @p (16-byte aligned): GCC's 16-byte
 * __atomic builtins call libatomic instead.
 */
static bool host_cmpxchg16(uint8_t *p, uint64_t old[2], const uint64_t val[2])
{
	bool eq;

	asm volatile("lock cmpxchg16b %1"
		     : "=@ccz"(eq), "+m"(*(unsigned __int128 *)p), "+a"(old[0]), "+d"(old[1])
		     : "b"(val[0]), "c"(val[1])
		     : "memory");
	return eq;
}

/*
 * Host memory for @insn's @size-byte memory operand at @addr when it must be
 * updated atomically and can be; NULL when it is loaded and stored instead.
 */
static uint8_t *locked_ptr(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
			   int size)
{
	if (!(insn->pfx & X86_PFX_LOCK) && insn->op != X86_OP_XCHG)
		return NULL;
	return tcg_atomic_ptr(cpu, addr, size);
}

void tcg_rmw(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
	     tcg_rmw_fn fn, uint64_t src, uint64_t *flags)
{
	const struct x86_operand *o = &insn->opnd[0];
	int size = insn->opsize;
	uint64_t old, val;
	uint8_t *p;

	if (o->kind == X86_OPND_REG) {
		reg_set(cpu, o->reg, size, fn(cpu, insn, reg_get(cpu, o->reg, size), src, flags));
		return;
	}
	p = locked_ptr(cpu, insn, addr, size);
	if (!p) {
		tcg_store(cpu, addr, size, fn(cpu, insn, tcg_load(cpu, addr, size), src, flags));
		return;
	}
	/*
	 * Another thread may change the operand between the load and the
	 * exchange: then compute again from what it holds now. The flags are
	 * those of the last try, whose result went in.
	 */
	old = host_load(p, size);
	do
		val = fn(cpu, insn, old, src, flags);
	while (!host_cmpxchg(p, size, &old, val));
}

uint64_t tcg_mem_xchg(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t val)
{
	uint8_t *p = locked_ptr(cpu, insn, addr, insn->opsize);
	uint64_t old;

	if (p)
		return host_xchg(p, insn->opsize, val);
	old = tcg_load(cpu, addr, insn->opsize);
	tcg_store(cpu, addr, insn->opsize, val);
	return old;
}

uint64_t tcg_mem_xadd(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t val)
{
	uint8_t *p = locked_ptr(cpu, insn, addr, insn->opsize);
	uint64_t old;

	if (p)
		return host_fetch_add(p, insn->opsize, val);
	old = tcg_load(cpu, addr, insn->opsize);
	tcg_store(cpu, addr, insn->opsize, old + val);
	return old;
}

bool tcg_mem_cmpxchg(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		     uint64_t *old, uint64_t val)
{
	uint8_t *p = locked_ptr(cpu, insn, addr, insn->opsize);
	uint64_t cur;
	bool eq;

	if (p)
		return host_cmpxchg(p, insn->opsize, old, val);
	cur = tcg_load(cpu, addr, insn->opsize);
	eq = cur == *old;
	tcg_store(cpu, addr, insn->opsize, eq ? val : cur);
	*old = cur;
	return eq;
}

/* tcg_mem_cmpxchg2() as two loads and two stores, both halves checked for writing first. */
static bool plain_cmpxchg2(struct tcg_cpu *cpu, uint64_t addr, int half, uint64_t old[2],
			   const uint64_t val[2])
{
	uint64_t lo, hi;
	bool eq;

	tcg_probe_write(cpu, addr, half * 2);
	lo = tcg_load(cpu, addr, half);
	hi = tcg_load(cpu, addr + half, half);
	eq = lo == old[0] && hi == old[1];
	tcg_store(cpu, addr, half, eq ? val[0] : lo);
	tcg_store(cpu, addr + half, half, eq ? val[1] : hi);
	old[0] = lo;
	old[1] = hi;
	return eq;
}

bool tcg_mem_cmpxchg2(struct tcg_cpu *cpu, const struct x86_insn *insn, uint64_t addr,
		      uint64_t old[2], const uint64_t val[2])
{
	int half = insn->opnd[0].size / 2;
	uint8_t *p = locked_ptr(cpu, insn, addr, half * 2);
	uint64_t o;
	bool eq;

	if (!p)
		return plain_cmpxchg2(cpu, addr, half, old, val);
	if (half == 8)
		return host_cmpxchg16(p, old, val);
	o = old[0] | old[1] << 32;
	eq = host_cmpxchg(p, 8, &o, val[0] | val[1] << 32);
	old[0] = (uint32_t)o;
	old[1] = o >> 32;
	return eq;
}
