/*
 * The IDT (vectors 0-47, stubs in vectors.S) and trap(): exceptions end the
 * run with GUEST_EXCEPTION unless a payload hooked them, interrupts call
 * their handler and then EOI.
 */
#include "guest.h"

#define NR_VECTORS	(IRQ_VECTOR_LAST + 1)
#define GATE_INTR	0x8e00ULL	/* present, DPL 0, 64-bit interrupt gate */

void trap(struct trap_frame *f);	/* from vectors.S */

extern const char vector_stubs[];
static uint64_t idt[NR_VECTORS * 2] __attribute__((aligned(16)));
static void (*handlers[NR_VECTORS])(void);
void (*trap_hook)(struct trap_frame *f);

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)idt };

	asm volatile("lidt %0" : : "m"(desc));
}

void idt_init(void)
{
	int v;

	for (v = 0; v < NR_VECTORS; v++) {
		uint64_t addr = (uint64_t)vector_stubs + 16 * v;

		idt[2 * v] = (addr & 0xffff) | (uint64_t)SEL_CODE64 << 16 |
			     GATE_INTR << 32 | (addr >> 16 & 0xffff) << 48;
		idt[2 * v + 1] = addr >> 32;
	}
	idt_load();
}

void idt_set_gate(int vector, int dpl, int ist)
{
	uint64_t *lo = &idt[2 * vector];

	*lo &= ~(0x7ULL << 32 | 0x3ULL << 45);
	*lo |= (uint64_t)ist << 32 | (uint64_t)dpl << 45;
}

void irq_set_handler(int vector, void (*fn)(void))
{
	handlers[vector] = fn;
}

void trap(struct trap_frame *f)
{
	if (f->vector == SPURIOUS_VECTOR)
		return;
	if (f->vector >= IRQ_VECTOR_FIRST && handlers[f->vector]) {
		handlers[f->vector]();
		lapic_write(LAPIC_EOI, 0);
		return;
	}
	if (f->vector < IRQ_VECTOR_FIRST && trap_hook) {
		trap_hook(f);
		return;
	}
	cprintf("unexpected vector %lu error %lx at rip %lx\n",
		f->vector, f->error, f->rip);
	debug_exit(GUEST_EXCEPTION);
}
