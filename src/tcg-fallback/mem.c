/*
 * The software TLB's miss path: canonical checks, env->tlb_fill, accesses
 * that cross a page, and the write protection of pages holding decoded code
 * (a write there marks the decoded blocks stale; exec.c drops them).
 */
#include "exec.h"
#include "mem.h"

static bool canonical(const struct tcg_cpu *cpu, uint64_t addr)
{
	return cpu->mode != 64 || (uint64_t)((int64_t)(addr << 16) >> 16) == addr;
}

uint8_t *tcg_page_ptr(struct tcg_cpu *cpu, uint64_t addr, enum tcg_access acc)
{
	struct tcg_tlb_entry *e = &cpu->tlb[(addr >> 12) & (TCG_TLB_SIZE - 1)];
	uint64_t page = addr & TCG_PAGE_MASK;
	uint8_t *host;
	int vec;

	if (e->tag[acc] == page)
		return (uint8_t *)(e->addend + addr);
	if (!canonical(cpu, addr)) {
		cpu->fault_addr = addr;
		tcg_raise(cpu, TCG_EXC_GP, 0);
	}
	vec = cpu->env->tlb_fill(cpu, page, acc, &host);
	if (vec) {
		cpu->fault_addr = addr;
		tcg_raise(cpu, vec, cpu->exc_error);
	}
	if (acc == TCG_WRITE && tcg_code_page_test(cpu, (uintptr_t)host))
		cpu->code_written = true;
	if (e->addend != (uintptr_t)host - page)
		e->tag[0] = e->tag[1] = e->tag[2] = 1;
	e->addend = (uintptr_t)host - page;
	e->tag[acc] = page;
	return host + (addr - page);
}

void tcg_tlb_protect_code(struct tcg_cpu *cpu, uintptr_t host)
{
	for (int i = 0; i < TCG_TLB_SIZE; i++) {
		struct tcg_tlb_entry *e = &cpu->tlb[i];

		if (e->tag[TCG_WRITE] != 1 && e->tag[TCG_WRITE] + e->addend == host)
			e->tag[TCG_WRITE] = 1;
	}
}

uint64_t tcg_load_slow(struct tcg_cpu *cpu, uint64_t addr, int size)
{
	uint8_t *p0 = tcg_page_ptr(cpu, addr, TCG_READ);
	uint64_t v = 0;
	int first;

	if ((addr & ~TCG_PAGE_MASK) + size <= TCG_PAGE_SIZE) {
		memcpy(&v, p0, size);
		return v;
	}
	first = TCG_PAGE_SIZE - (addr & ~TCG_PAGE_MASK);
	memcpy(&v, p0, first);
	memcpy((uint8_t *)&v + first, tcg_page_ptr(cpu, addr + first, TCG_READ), size - first);
	return v;
}

void tcg_store_slow(struct tcg_cpu *cpu, uint64_t addr, int size, uint64_t val)
{
	uint8_t *p0 = tcg_page_ptr(cpu, addr, TCG_WRITE), *p1;
	int first;

	if ((addr & ~TCG_PAGE_MASK) + size <= TCG_PAGE_SIZE) {
		memcpy(p0, &val, size);
		return;
	}
	/* Both pages are checked before either is written. */
	first = TCG_PAGE_SIZE - (addr & ~TCG_PAGE_MASK);
	p1 = tcg_page_ptr(cpu, addr + first, TCG_WRITE);
	memcpy(p0, &val, first);
	memcpy(p1, (uint8_t *)&val + first, size - first);
}
