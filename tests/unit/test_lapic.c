/*
 * The local APIC model against a clock the test moves: reset state, the
 * software enable, priority (IRR, ISR, TPR, PPR) and EOI, level-triggered
 * EOIs reaching the IOAPIC hook, the timer in one-shot and periodic mode
 * with its divider, self IPIs, illegal vectors, logical destinations, and
 * arbitrary register traffic (under the sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "spry/irqchip.h"

#define SVR 0xf0
#define TPR 0x80
#define PPR 0xa0
#define EOI 0xb0
#define LDR 0xd0
#define ESR 0x280
#define ICR_LO 0x300
#define LVT_TIMER 0x320
#define TIMER_INIT 0x380
#define TIMER_CUR 0x390
#define TIMER_DIV 0x3e0

static int64_t fake_ns;
static int kicks, eois, last_eoi;

static int64_t fake_clock(void)
{
	return fake_ns;
}

static void count_kick(void *opaque)
{
	kicks++;
}

static void record_eoi(void *opaque, uint8_t vector)
{
	eois++;
	last_eoi = vector;
}

static const struct lapic_ops ops = {
	.clock_ns = fake_clock, .kick = count_kick, .eoi = record_eoi,
};

static int setup(void **state)
{
	fake_ns = 1000;
	kicks = eois = 0;
	last_eoi = -1;
	*state = lapic_new(3, &ops, NULL);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	lapic_free(*state);
	return 0;
}

static void enable(struct lapic *l)
{
	lapic_write(l, SVR, 0x1ff);
}

static void reset_state_and_enable(void **state)
{
	struct lapic *l = *state;

	assert_int_equal(lapic_read(l, 0x20), 3u << 24);
	assert_int_equal(lapic_read(l, 0x30) & 0xff, 0x14);
	assert_int_equal(lapic_read(l, SVR), 0xff);
	assert_int_equal(lapic_read(l, LVT_TIMER), 0x10000);
	/* software-disabled: nothing is accepted, LVTs cannot be unmasked */
	lapic_set_irq(l, 0x40, false);
	assert_int_equal(lapic_pending(l), -1);
	lapic_write(l, LVT_TIMER, 0x30);
	assert_int_equal(lapic_read(l, LVT_TIMER), 0x10030);
	enable(l);
	lapic_write(l, LVT_TIMER, 0x30);
	assert_int_equal(lapic_read(l, LVT_TIMER), 0x30);
}

static void priority_and_eoi(void **state)
{
	struct lapic *l = *state;

	enable(l);
	lapic_set_irq(l, 0x41, false);
	lapic_set_irq(l, 0x62, true);
	assert_int_equal(kicks, 2);
	assert_int_equal(lapic_pending(l), 0x62);
	lapic_ack(l, 0x62);
	assert_int_equal(lapic_read(l, PPR), 0x60);
	/* 0x41 is of a lower class than the one in service: it waits */
	assert_int_equal(lapic_pending(l), -1);
	lapic_set_irq(l, 0x71, false);
	assert_int_equal(lapic_pending(l), 0x71);	/* a higher class nests */
	lapic_ack(l, 0x71);
	lapic_write(l, EOI, 0);				/* ends 0x71: edge, no IOAPIC EOI */
	assert_int_equal(eois, 0);
	lapic_write(l, EOI, 0);				/* ends 0x62: level */
	assert_int_equal(eois, 1);
	assert_int_equal(last_eoi, 0x62);
	assert_int_equal(lapic_pending(l), 0x41);
	/* the task priority holds back classes at or below it */
	lapic_write(l, TPR, 0x40);
	assert_int_equal(lapic_pending(l), -1);
	lapic_write(l, TPR, 0x30);
	assert_int_equal(lapic_pending(l), 0x41);
	lapic_write(l, EOI, 0);				/* nothing in service: no effect */
	assert_int_equal(eois, 1);
}

static void timer_one_shot_and_periodic(void **state)
{
	struct lapic *l = *state;

	enable(l);
	lapic_write(l, TIMER_DIV, 0x3);			/* divide by 16 */
	lapic_write(l, LVT_TIMER, 0x33);
	lapic_write(l, TIMER_INIT, 1000);		/* 16 us */
	assert_int_equal(lapic_next_event(l), 1000 + 16000);
	fake_ns += 8000;
	assert_int_equal(lapic_read(l, TIMER_CUR), 500);
	assert_int_equal(lapic_pending(l), -1);
	fake_ns += 8000;
	assert_int_equal(lapic_pending(l), 0x33);
	assert_int_equal(lapic_read(l, TIMER_CUR), 0);
	assert_int_equal(lapic_next_event(l), INT64_MAX);	/* one shot */
	lapic_ack(l, 0x33);
	lapic_write(l, EOI, 0);
	/* periodic, divide by 1: missed periods coalesce into one interrupt */
	lapic_write(l, TIMER_DIV, 0xb);
	lapic_write(l, LVT_TIMER, 0x20033);
	lapic_write(l, TIMER_INIT, 100);
	fake_ns += 1050;
	assert_int_equal(lapic_pending(l), 0x33);
	assert_int_equal(lapic_read(l, TIMER_CUR), 50);
	lapic_ack(l, 0x33);
	lapic_write(l, EOI, 0);
	assert_int_equal(lapic_pending(l), -1);
	assert_true(lapic_next_event(l) > fake_ns && lapic_next_event(l) <= fake_ns + 100);
	fake_ns += 100;
	assert_int_equal(lapic_pending(l), 0x33);
	/* masked: no interrupt, no event to wait for; a count of 0 stops it */
	lapic_write(l, LVT_TIMER, 0x30033);
	assert_int_equal(lapic_next_event(l), INT64_MAX);
	lapic_write(l, TIMER_INIT, 0);
	assert_int_equal(lapic_read(l, TIMER_CUR), 0);
}

static void ipis_and_illegal_vectors(void **state)
{
	struct lapic *l = *state;

	enable(l);
	lapic_write(l, ICR_LO, 1u << 18 | 0x55);	/* shorthand self */
	assert_int_equal(lapic_pending(l), 0x55);
	assert_int_equal(lapic_read(l, ICR_LO) & (1u << 12), 0);	/* never busy */
	lapic_write(l, ICR_LO, 1u << 18 | 0x05);
	lapic_set_irq(l, 0x07, false);
	lapic_write(l, ESR, 0);
	assert_int_equal(lapic_read(l, ESR), 0x60);	/* send and receive illegal vector */
	lapic_write(l, ESR, 0);
	assert_int_equal(lapic_read(l, ESR), 0);
	assert_int_equal(lapic_pending(l), 0x55);
}

static void destinations(void **state)
{
	struct lapic *l = *state;

	assert_true(lapic_match(l, 3, false));
	assert_true(lapic_match(l, 0xff, false));
	assert_false(lapic_match(l, 2, false));
	lapic_write(l, LDR, 0x04000000);		/* flat logical id bit 2 */
	assert_true(lapic_match(l, 0x06, true));
	assert_false(lapic_match(l, 0x01, true));
}

static void register_noise_is_harmless(void **state)
{
	struct lapic *l = *state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fake_ns += x % 3000;
		if (x & 1)
			lapic_write(l, (x >> 8) & 0xfff, (uint32_t)(x >> 32));
		else
			(void)lapic_read(l, (x >> 8) & 0xfff);
		if (!(x & 0x30)) {
			int v = lapic_pending(l);

			if (v >= 0)
				lapic_ack(l, v);
		}
	}
	assert_int_equal(lapic_read(l, 0x30) & 0xff, 0x14);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reset_state_and_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_and_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(timer_one_shot_and_periodic, setup, teardown),
		cmocka_unit_test_setup_teardown(ipis_and_illegal_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(destinations, setup, teardown),
		cmocka_unit_test_setup_teardown(register_noise_is_harmless, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
