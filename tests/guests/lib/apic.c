/*
 * Local APIC and IOAPIC at their fixed addresses (spry/layout.h): enabling
 * the LAPIC, IPIs, its timer, and IOAPIC redirection entries (edge, active
 * high, fixed).
 */
#include "guest.h"

#define LAPIC_SVR_ENABLE	0x100
#define LAPIC_ICR_BUSY		(1u << 12)
#define LAPIC_TIMER_DIV_16	0x3
#define PIC1_DATA		0x21
#define PIC2_DATA		0xa1
#define IOAPIC_REGSEL		0x00
#define IOAPIC_WIN		0x10
#define IOAPIC_REDTBL(pin)	(0x10 + 2 * (pin))

uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(SPRY_LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(SPRY_LAPIC_BASE + reg, v);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_enable(void)
{
	/* The 8259s and virtual-wire LINT0 would deliver IRQ 0 a second time. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo)
{
	int i;

	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	for (i = 0; i < 100000; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY))
			break;
}

void lapic_timer_start(int vector, uint32_t us, int periodic)
{
	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER,
		    (periodic ? LAPIC_TIMER_PERIODIC : 0) | vector);
	lapic_write(LAPIC_TIMER_INIT, (uint64_t)us * 1000 / 16);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(SPRY_IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(SPRY_IOAPIC_BASE + IOAPIC_WIN, v);
}

void ioapic_route(int pin, int vector, uint32_t apic_id)
{
	ioapic_write(IOAPIC_REDTBL(pin) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(pin), vector);
}
