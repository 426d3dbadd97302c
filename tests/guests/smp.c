/*
 * SMP bring-up: every CPU of the MP table other than this one is started
 * with INIT-SIPI-SIPI, prints its APIC id and counts itself in.
 */
#include "guest.h"

static uint32_t cpus_up = 1;

static void ap_hello(void)
{
	cprintf("smp: cpu %u up\n", lapic_id());
	__atomic_fetch_add(&cpus_up, 1, __ATOMIC_SEQ_CST);
}

static uint32_t up(void)
{
	return __atomic_load_n(&cpus_up, __ATOMIC_SEQ_CST);
}

int main(void)
{
	uint8_t ids[SMP_MAX_CPUS];
	int n = mptable_apic_ids(ids, SMP_MAX_CPUS), i, ms;
	uint32_t self;

	if (n < 1) {
		cprintf("smp: no usable MP table\n");
		return GUEST_FAIL;
	}
	lapic_enable();
	self = lapic_id();
	cprintf("smp: %d cpus in the MP table, bsp %u\n", n, self);
	for (i = 0; i < n; i++) {
		uint32_t want = up() + 1;

		if (ids[i] == self)
			continue;
		if (smp_start_ap(ids[i], ap_hello)) {
			cprintf("smp: cpu %u did not start\n", ids[i]);
			continue;
		}
		for (ms = 0; ms < 1000 && up() < want; ms++)
			pit_delay_ms(1);
	}
	cprintf("smp: %u/%d cpus up\n", up(), n);
	return up() == (uint32_t)n ? GUEST_PASS : GUEST_FAIL;
}
