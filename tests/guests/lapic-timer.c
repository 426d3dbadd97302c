/*
 * The local APIC timer in periodic mode (10 ms for a 1 GHz APIC bus, as
 * KVM and QEMU model it), counting ticks with sti; hlt.
 */
#include "guest.h"

#define TICK_VECTOR	33
#define TICKS		10

static volatile uint32_t ticks;

static void tick(void)
{
	ticks++;
}

int main(void)
{
	lapic_enable();
	irq_set_handler(TICK_VECTOR, tick);
	lapic_timer_start(TICK_VECTOR, 10000, 1);
	while (ticks < TICKS)
		asm volatile("sti; hlt; cli");
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	cprintf("lapic-timer: %u ticks\n", ticks);
	return GUEST_PASS;
}
