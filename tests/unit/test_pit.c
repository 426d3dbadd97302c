/*
 * The i8254 model against a clock the test moves: counting per mode, the
 * OUT pin in read-back status, count latching, byte access modes, reload
 * 0 as 65536, when channel 0 raises IRQ 0, and arbitrary guest port traffic
 * (under the sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "spry/pit.h"

#define PIT_HZ 1193182ULL
#define CH0 0
#define CTRL 3

static int64_t fake_ns;

static int64_t fake_clock(void)
{
	return fake_ns;
}

/* Move the clock to the first nanosecond at which @t input ticks have passed since 0. */
static void at_tick(uint64_t t)
{
	fake_ns = (int64_t)((t * 1000000000ULL + PIT_HZ - 1) / PIT_HZ);
}

static int setup(void **state)
{
	fake_ns = 1000;
	*state = pit_new(fake_clock);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	pit_free(*state);
	return 0;
}

static void load_lohi(struct pit *p, int ch, int mode, uint16_t count)
{
	pit_write(p, CTRL, ch << 6 | 0x30 | mode << 1);
	pit_write(p, ch, count & 0xff);
	pit_write(p, ch, count >> 8);
}

static uint16_t read_lohi(struct pit *p, int ch)
{
	uint8_t lo = pit_read(p, ch);

	return lo | pit_read(p, ch) << 8;
}

/* Read-back of channel @ch's status byte alone. */
static uint8_t status(struct pit *p, int ch)
{
	pit_write(p, CTRL, 0xc0 | 0x20 | 2 << ch);
	return pit_read(p, ch);
}

static void mode0_counts_down_and_raises_out(void **state)
{
	struct pit *p = *state;

	assert_int_equal(status(p, CH0) & 0x40, 0x40);	/* null count before loading */
	at_tick(0);
	load_lohi(p, CH0, 0, 0x1234);
	assert_int_equal(status(p, CH0), 0x30);		/* OUT low, lo/hi, mode 0 */
	at_tick(1000);
	assert_int_equal(read_lohi(p, CH0), 0x1234 - 1000);
	at_tick(0x1234);
	assert_int_equal(status(p, CH0) & 0x80, 0x80);	/* terminal count: OUT high */
	assert_int_equal(read_lohi(p, CH0), 0);
	fake_ns += 1000000000 / PIT_HZ * 3 + 3;		/* it wraps and keeps counting */
	assert_int_equal(read_lohi(p, CH0), 0xfffd);
	assert_int_equal(status(p, CH0) & 0x80, 0x80);
}

static void latch_holds_value_until_read(void **state)
{
	struct pit *p = *state;

	at_tick(0);
	load_lohi(p, CH0, 0, 5000);
	at_tick(100);
	pit_write(p, CTRL, 0x00);	/* latch channel 0 */
	at_tick(300);
	pit_write(p, CTRL, 0x00);	/* ignored: the first latch is still unread */
	assert_int_equal(read_lohi(p, CH0), 4900);
	assert_int_equal(read_lohi(p, CH0), 4700);	/* live again */
	/* read-back of status and count: status first, then the count */
	pit_write(p, CTRL, 0xc0 | 2);
	at_tick(400);
	assert_int_equal(pit_read(p, CH0), 0x30);
	assert_int_equal(read_lohi(p, CH0), 4700);
}

static void mode2_rate_generator(void **state)
{
	struct pit *p = *state;

	at_tick(0);
	load_lohi(p, CH0, 2, 100);
	at_tick(250);
	assert_int_equal(read_lohi(p, CH0), 50);
	assert_int_equal(status(p, CH0) & 0x80, 0x80);
	at_tick(299);					/* count 1: OUT low for one tick */
	assert_int_equal(status(p, CH0) & 0x80, 0);
	at_tick(300);
	assert_int_equal(status(p, CH0) & 0x80, 0x80);
	assert_int_equal(read_lohi(p, CH0), 100);	/* reloaded */
	/* mode 6 is mode 2 */
	at_tick(0);
	load_lohi(p, CH0, 6, 10);
	assert_int_equal(status(p, CH0) & 0x0e, 0x0c);
	at_tick(3);
	assert_int_equal(read_lohi(p, CH0), 7);
}

static void byte_access_modes(void **state)
{
	struct pit *p = *state;

	at_tick(0);
	pit_write(p, CTRL, 0x10 | 2 << 1);	/* low byte only, mode 2 */
	pit_write(p, CH0, 200);
	at_tick(50);
	assert_int_equal(pit_read(p, CH0), 150);
	assert_int_equal(pit_read(p, CH0), 150);	/* every read is the low byte */
	pit_write(p, CTRL, 0x20 | 2 << 1);	/* high byte only: count 0x0300 */
	at_tick(0);
	pit_write(p, CH0, 3);
	at_tick(0x100);
	assert_int_equal(pit_read(p, CH0), 2);
	/* a count of 0 is 65536 */
	at_tick(0);
	load_lohi(p, CH0, 2, 0);
	at_tick(1);
	assert_int_equal(read_lohi(p, CH0), 65535);
}

/* Clock time of tick @t (the first nanosecond it has passed). */
static int64_t tick_ns(uint64_t t)
{
	return (int64_t)((t * 1000000000ULL + PIT_HZ - 1) / PIT_HZ);
}

static void irq0_edges(void **state)
{
	struct pit *p = *state;

	assert_int_equal(pit_irq_due(p), INT64_MAX);	/* nothing loaded */
	at_tick(0);
	load_lohi(p, CH0, 2, 1000);			/* rate generator */
	assert_int_equal(pit_irq_due(p), tick_ns(1000));
	at_tick(999);
	assert_int_equal(pit_irq_due(p), tick_ns(1000));
	at_tick(1000);
	assert_int_equal(pit_irq_due(p), 0);		/* the first edge */
	assert_int_equal(pit_irq_due(p), tick_ns(2000));
	at_tick(5500);					/* slept through 3 periods: one edge */
	assert_int_equal(pit_irq_due(p), 0);
	assert_int_equal(pit_irq_due(p), tick_ns(6000));
	/* mode 0: one edge at the terminal count, then none */
	at_tick(0);
	load_lohi(p, CH0, 0, 300);
	assert_int_equal(pit_irq_due(p), tick_ns(300));
	at_tick(400);
	assert_int_equal(pit_irq_due(p), 0);
	assert_int_equal(pit_irq_due(p), INT64_MAX);
	/* reprogramming the mode stops it until a count is loaded */
	pit_write(p, CTRL, 0x34);
	assert_int_equal(pit_irq_due(p), INT64_MAX);
	/* channel 2 never interrupts */
	load_lohi(p, 2, 2, 10);
	assert_int_equal(pit_irq_due(p), INT64_MAX);
}

static void guest_noise_is_harmless(void **state)
{
	struct pit *p = *state;
	uint64_t x = 88172645463325252ULL;

	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fake_ns += x % 5000;
		if (x & 0x100)
			pit_write(p, x % 4, x >> 24);
		else
			(void)pit_read(p, x % 4);
	}
	assert_int_equal(pit_read(p, CTRL), 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mode0_counts_down_and_raises_out, setup, teardown),
		cmocka_unit_test_setup_teardown(latch_holds_value_until_read, setup, teardown),
		cmocka_unit_test_setup_teardown(mode2_rate_generator, setup, teardown),
		cmocka_unit_test_setup_teardown(byte_access_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(irq0_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(guest_noise_is_harmless, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
