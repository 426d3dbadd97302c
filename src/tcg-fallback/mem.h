/*
 * Guest memory access for the handlers: loads and stores through the
 * software TLB, with the hit path inline and misses, page-crossing accesses
 * and writes to code pages in mem.c. Every fault raises (does not return).
 */
#ifndef SPRY_TCG_MEM_H
#define SPRY_TCG_MEM_H

#include <string.h>

#include "cpu.h"

uint64_t tcg_load_slow(struct tcg_cpu *cpu, uint64_t addr, int size);
void tcg_store_slow(struct tcg_cpu *cpu, uint64_t addr, int size, uint64_t val);

/*
 * Host address of @addr for @acc, valid up to the end of its page; fills the
 * TLB or raises. For bulk string operations and code fetch.
 */
uint8_t *tcg_page_ptr(struct tcg_cpu *cpu, uint64_t addr, enum tcg_access acc);

/* The host's cache line: a locked operand across one is a split lock. */
#define TCG_CACHE_LINE 64

/*
 * Host address of the @size bytes at @addr for a locked read-modify-write,
 * checked (and faulting) as a store to them is, or NULL where the access
 * is not made one host atomic operation: it crosses a cache line, or is MMIO.
 */
uint8_t *tcg_atomic_ptr(struct tcg_cpu *cpu, uint64_t addr, int size);

/* Drop the TLB's write permission for host page @host (it now holds code). */
void tcg_tlb_protect_code(struct tcg_cpu *cpu, uintptr_t host);

static inline __attribute__((always_inline))
uint8_t *tlb_hit(struct tcg_cpu *cpu, uint64_t addr, int size, enum tcg_access acc)
{
	const struct tcg_tlb_entry *e = &cpu->tlb[(addr >> 12) & (TCG_TLB_SIZE - 1)];

	if (e->tag[acc] == (addr & TCG_PAGE_MASK) && (addr & ~TCG_PAGE_MASK) + size <= TCG_PAGE_SIZE)
		return (uint8_t *)(e->addend + addr);
	return NULL;
}

/* Load @size (1, 2, 4, 8) bytes, zero-extended. */
static inline __attribute__((always_inline))
uint64_t tcg_load(struct tcg_cpu *cpu, uint64_t addr, int size)
{
	uint8_t *p = tlb_hit(cpu, addr, size, TCG_READ);
	uint64_t v = 0;

	if (!p)
		return tcg_load_slow(cpu, addr, size);
	memcpy(&v, p, size);
	return v;
}

static inline __attribute__((always_inline))
void tcg_store(struct tcg_cpu *cpu, uint64_t addr, int size, uint64_t val)
{
	uint8_t *p = tlb_hit(cpu, addr, size, TCG_WRITE);

	if (!p) {
		tcg_store_slow(cpu, addr, size, val);
		return;
	}
	memcpy(p, &val, size);
}

/* Raise a fault unless @size bytes at @addr may be written (before any other effect). */
static inline void tcg_probe_write(struct tcg_cpu *cpu, uint64_t addr, int size)
{
	if (!tlb_hit(cpu, addr, size, TCG_WRITE)) {
		tcg_page_ptr(cpu, addr, TCG_WRITE);
		tcg_page_ptr(cpu, addr + size - 1, TCG_WRITE);
	}
}

#endif
