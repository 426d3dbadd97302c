/*
 * The software TLB's miss path: canonical checks, env->tlb_fill, accesses
 * that cross a page, the host address of a locked operand, and the write
 * protection of pages holding decoded code (a write there marks the decoded
 * blocks stale; exec.c drops them).
 */
#include "exec.h"
#include "mem.h"

static bool canonical(const struct tcg_cpu *cpu, uint64_t addr)
{
	return cpu->mode != 64 || (uint64_t)((int64_t)(addr << 16) >> 16) == addr;
}

/*
 * Host address of @addr for @acc, or NULL when its page is not RAM (MMIO),
 * with *@phys set to the physical address of @addr. MMIO pages never enter
 * the TLB, so every access to them comes here.
 */
static uint8_t *page_lookup(struct tcg_cpu *cpu, uint64_t addr, enum tcg_access acc,
			    uint64_t *phys)
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
	if (vec == TCG_FILL_MMIO) {
		*phys = (cpu->mmio_phys & TCG_PAGE_MASK) + (addr - page);
		return NULL;
	}
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

/* Code fetch and bulk string operations need RAM: elsewhere they raise #GP. */
uint8_t *tcg_page_ptr(struct tcg_cpu *cpu, uint64_t addr, enum tcg_access acc)
{
	uint64_t phys;
	uint8_t *p = page_lookup(cpu, addr, acc, &phys);

	if (!p) {
		cpu->fault_addr = addr;
		tcg_raise(cpu, TCG_EXC_GP, 0);
	}
	return p;
}

/*
 * An operand that crosses a cache line would make the host lock its bus (a
 * split lock), which a host may punish with SIGBUS (split_lock_detect=fatal)
 * or by stalling the thread: a guest must not be able to do that to spry.
 * Such operands, those across pages (whose halves may lie in unrelated host
 * pages), and MMIO (a device's registers, not shared memory) take the plain
 * path of a load and a store, as on a uniprocessor.
 */
uint8_t *tcg_atomic_ptr(struct tcg_cpu *cpu, uint64_t addr, int size)
{
	uint64_t phys;
	uint8_t *p;

	if ((addr & (TCG_CACHE_LINE - 1)) + size > TCG_CACHE_LINE)
		return NULL;
	p = tlb_hit(cpu, addr, size, TCG_WRITE);
	if (p)
		return p;
	return page_lookup(cpu, addr, TCG_WRITE, &phys);
}

/* An MMIO access of @n bytes; sizes the buses do not take go byte by byte. */
static void mmio_access(struct tcg_cpu *cpu, uint64_t phys, uint8_t *data, int n, bool write)
{
	if (n == 1 || n == 2 || n == 4 || n == 8) {
		cpu->env->mmio(cpu, phys, data, n, write);
		return;
	}
	for (int i = 0; i < n; i++)
		cpu->env->mmio(cpu, phys + i, data + i, 1, write);
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
	int first = size;
	uint64_t v = 0, phys0, phys1;
	uint8_t *p0, *p1;

	if ((addr & ~TCG_PAGE_MASK) + size > TCG_PAGE_SIZE)
		first = TCG_PAGE_SIZE - (addr & ~TCG_PAGE_MASK);
	p0 = page_lookup(cpu, addr, TCG_READ, &phys0);
	if (first < size) {
		p1 = page_lookup(cpu, addr + first, TCG_READ, &phys1);
		if (p1)
			memcpy((uint8_t *)&v + first, p1, size - first);
		else
			mmio_access(cpu, phys1, (uint8_t *)&v + first, size - first, false);
	}
	if (p0)
		memcpy(&v, p0, first);
	else
		mmio_access(cpu, phys0, (uint8_t *)&v, first, false);
	return v;
}

void tcg_store_slow(struct tcg_cpu *cpu, uint64_t addr, int size, uint64_t val)
{
	int first = size;
	uint64_t phys0, phys1 = 0;
	uint8_t *p0, *p1 = NULL;

	/* Both pages are checked before either is written. */
	if ((addr & ~TCG_PAGE_MASK) + size > TCG_PAGE_SIZE)
		first = TCG_PAGE_SIZE - (addr & ~TCG_PAGE_MASK);
	p0 = page_lookup(cpu, addr, TCG_WRITE, &phys0);
	if (first < size)
		p1 = page_lookup(cpu, addr + first, TCG_WRITE, &phys1);
	if (p0)
		memcpy(p0, &val, first);
	else
		mmio_access(cpu, phys0, (uint8_t *)&val, first, true);
	if (first == size)
		return;
	if (p1)
		memcpy(p1, (uint8_t *)&val + first, size - first);
	else
		mmio_access(cpu, phys1, (uint8_t *)&val + first, size - first, true);
}
