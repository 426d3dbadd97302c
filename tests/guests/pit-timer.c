/*
 * PIT channel 0 at 100 Hz through the IOAPIC (the pin the MP table gives
 * for ISA IRQ 0, pin 2 when it lists none), counting ticks with sti; hlt.
 * A one-shot LAPIC timer ends the run if the ticks do not come.
 */
#include "guest.h"

#define TICK_VECTOR	32
#define WATCHDOG_VECTOR	34
#define WATCHDOG_S	5
#define TICKS		10

static volatile uint32_t ticks;

static void tick(void)
{
	ticks++;
}

static void watchdog(void)
{
	cprintf("pit-timer: %u ticks after %d s, want %d\n", ticks,
		WATCHDOG_S, TICKS);
	debug_exit(GUEST_FAIL);
}

int main(void)
{
	int pin = mptable_isa_irq_pin(0);

	if (pin < 0)
		pin = 2;
	cprintf("pit-timer: IRQ 0 on IOAPIC pin %d\n", pin);
	lapic_enable();
	irq_set_handler(TICK_VECTOR, tick);
	irq_set_handler(WATCHDOG_VECTOR, watchdog);
	ioapic_route(pin, TICK_VECTOR, lapic_id());
	lapic_timer_start(WATCHDOG_VECTOR, WATCHDOG_S * 1000000, 0);
	pit_periodic(100);
	while (ticks < TICKS)
		asm volatile("sti; hlt; cli");
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	cprintf("pit-timer: %u ticks\n", ticks);
	return GUEST_PASS;
}
