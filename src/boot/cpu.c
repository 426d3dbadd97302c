/*
 * Entry CPU state shared by the protocols: the loader's GDT, identity-mapped
 * long-mode page tables for Linux, and the register sets for 64-bit long mode
 * and 32-bit flat protected mode with paging off.
 */
#include "boot_internal.h"
#include "boot_layout.h"

#define CR0_PE		(1ULL << 0)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define RFLAGS_FIXED	(1ULL << 1)	/* bit 1 always reads as one */

#define PTE_PRESENT	(1ULL << 0)
#define PTE_WRITE	(1ULL << 1)
#define PTE_HUGE	(1ULL << 7)	/* a 2 MiB page in a page directory entry */
#define PT_ENTRIES	512
#define PT_GIBS		4		/* identity map [0, 4 GiB) */

/* Descriptor access byte and flags nibble, as (flags << 12 | access). */
#define SEG_CODE32	0xc09b	/* G, D; present, ring 0, code, readable, accessed */
#define SEG_CODE64	0xa09b	/* G, L; same access */
#define SEG_DATA	0xc093	/* G, B; present, ring 0, data, writable, accessed */

static uint64_t seg_desc(uint16_t attr, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(attr & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (limit & 0xffff);
}

int boot_write_gdt(struct boot_ctx *ctx)
{
	const uint64_t gdt[] = {
		0,
		seg_desc(SEG_CODE32, 0, 0xfffff),
		seg_desc(SEG_CODE64, 0, 0xfffff),
		seg_desc(SEG_DATA, 0, 0xfffff),
	};

	_Static_assert(sizeof(gdt) == BOOT_SEL_DATA + 8, "GDT ends with the data descriptor");
	return boot_put(ctx, BOOT_GDT_ADDR, gdt, sizeof(gdt), "GDT");
}

int boot_write_page_tables(struct boot_ctx *ctx)
{
	uint64_t pml4[PT_ENTRIES] = { BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE };
	uint64_t pdpt[PT_ENTRIES] = { 0 };
	uint64_t pd[PT_ENTRIES];

	for (int g = 0; g < PT_GIBS; g++) {
		uint64_t pd_addr = BOOT_PD_ADDR + g * sizeof(pd);

		pdpt[g] = pd_addr | PTE_PRESENT | PTE_WRITE;
		for (int i = 0; i < PT_ENTRIES; i++)
			pd[i] = ((uint64_t)g << 30 | (uint64_t)i << 21) |
				PTE_PRESENT | PTE_WRITE | PTE_HUGE;
		if (boot_put(ctx, pd_addr, pd, sizeof(pd), "page directory"))
			return -1;
	}
	if (boot_put(ctx, BOOT_PDPT_ADDR, pdpt, sizeof(pdpt), "PDPT") ||
	    boot_put(ctx, BOOT_PML4_ADDR, pml4, sizeof(pml4), "PML4"))
		return -1;
	return 0;
}

static void common(struct boot_cpu_state *s, uint64_t rip)
{
	s->rip = rip;
	s->rsp = BOOT_STACK_TOP;
	s->rflags = RFLAGS_FIXED;
	s->gdt_base = BOOT_GDT_ADDR;
	s->gdt_limit = BOOT_SEL_DATA + 8 - 1;
	s->data_sel = BOOT_SEL_DATA;
}

void boot_cpu_long64(struct boot_cpu_state *s, uint64_t rip)
{
	common(s, rip);
	s->mode = BOOT_CPU_LONG64;
	s->code_sel = BOOT_SEL_CODE64;
	s->cr0 = CR0_PE | CR0_PG;
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 = CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
}

void boot_cpu_prot32(struct boot_cpu_state *s, uint64_t rip)
{
	common(s, rip);
	s->mode = BOOT_CPU_PROT32;
	s->code_sel = BOOT_SEL_CODE32;
	s->cr0 = CR0_PE;
}
