/*
 * The IOAPIC model with a recording delivery hook: identification
 * registers, redirection entries, edge pins delivering on rising edges
 * only, level pins holding Remote IRR until the EOI (and delivering again
 * if still asserted), masking, active-low polarity, and arbitrary register
 * traffic (under the sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "spry/irqchip.h"

#define RTE_LOGICAL (1u << 11)
#define RTE_ACTIVE_LOW (1u << 13)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LEVEL (1u << 15)
#define RTE_MASKED (1u << 16)

static int delivered;
static uint8_t last_dest, last_vector;
static bool last_logical, last_level;

static void record(void *opaque, uint8_t dest, bool logical, uint8_t vector, bool level)
{
	delivered++;
	last_dest = dest;
	last_logical = logical;
	last_vector = vector;
	last_level = level;
}

static int setup(void **state)
{
	delivered = 0;
	*state = ioapic_new(record, NULL);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	ioapic_free(*state);
	return 0;
}

static void write_reg(struct ioapic *io, uint32_t reg, uint32_t v)
{
	ioapic_write(io, 0x00, reg);
	ioapic_write(io, 0x10, v);
}

static uint32_t read_reg(struct ioapic *io, uint32_t reg)
{
	ioapic_write(io, 0x00, reg);
	return ioapic_read(io, 0x10);
}

static void route(struct ioapic *io, unsigned int pin, uint32_t lo, uint8_t dest)
{
	write_reg(io, 0x11 + 2 * pin, (uint32_t)dest << 24);
	write_reg(io, 0x10 + 2 * pin, lo);
}

static void identification(void **state)
{
	struct ioapic *io = *state;

	assert_int_equal(read_reg(io, 0x01), 0x00170011);	/* 24 pins, version 0x11 */
	write_reg(io, 0x00, 0x0a000000);
	assert_int_equal(read_reg(io, 0x00), 0x0a000000);
	assert_int_equal(read_reg(io, 0x10 + 2 * 5) & RTE_MASKED, RTE_MASKED);	/* reset */
	assert_int_equal(read_reg(io, 0x10 + 2 * 24), 0);	/* past the last pin */
	assert_int_equal(ioapic_read(io, 0x00), 0x10 + 2 * 24);	/* IOREGSEL reads back */
}

static void edge_pins(void **state)
{
	struct ioapic *io = *state;

	ioapic_set_irq(io, 2, 1);		/* masked: nothing */
	ioapic_set_irq(io, 2, 0);
	route(io, 2, 0x30, 1);
	assert_int_equal(delivered, 0);		/* unmasking an edge pin is not an edge */
	ioapic_set_irq(io, 2, 1);
	ioapic_set_irq(io, 2, 1);		/* still high: no second edge */
	assert_int_equal(delivered, 1);
	assert_int_equal(last_vector, 0x30);
	assert_int_equal(last_dest, 1);
	assert_false(last_level);
	assert_false(last_logical);
	ioapic_set_irq(io, 2, 0);
	ioapic_set_irq(io, 2, 1);
	assert_int_equal(delivered, 2);
	route(io, 3, 0x31 | RTE_LOGICAL, 0x0f);
	ioapic_set_irq(io, 3, 1);
	assert_true(last_logical);
	assert_int_equal(last_dest, 0x0f);
	ioapic_set_irq(io, 99, 1);		/* no such pin */
	assert_int_equal(delivered, 3);
}

static void level_pins_and_eoi(void **state)
{
	struct ioapic *io = *state;

	route(io, 4, 0x41 | RTE_LEVEL, 0);
	ioapic_set_irq(io, 4, 1);
	assert_int_equal(delivered, 1);
	assert_true(last_level);
	assert_int_equal(read_reg(io, 0x10 + 8) & RTE_REMOTE_IRR, RTE_REMOTE_IRR);
	ioapic_set_irq(io, 4, 1);		/* Remote IRR holds it */
	assert_int_equal(delivered, 1);
	ioapic_eoi(io, 0x99);			/* another vector's EOI */
	assert_int_equal(delivered, 1);
	ioapic_eoi(io, 0x41);			/* still asserted: again */
	assert_int_equal(delivered, 2);
	ioapic_set_irq(io, 4, 0);
	ioapic_eoi(io, 0x41);
	assert_int_equal(delivered, 2);
	assert_int_equal(read_reg(io, 0x10 + 8) & RTE_REMOTE_IRR, 0);
	/* a masked, asserted level pin delivers when unmasked */
	route(io, 5, 0x42 | RTE_LEVEL | RTE_MASKED, 0);
	ioapic_set_irq(io, 5, 1);
	assert_int_equal(delivered, 2);
	route(io, 5, 0x42 | RTE_LEVEL, 0);
	assert_int_equal(delivered, 3);
	assert_int_equal(last_vector, 0x42);
	/* active low: asserted when driven 0 */
	route(io, 6, 0x43 | RTE_LEVEL | RTE_ACTIVE_LOW, 0);
	assert_int_equal(delivered, 4);
	ioapic_eoi(io, 0x43);
	ioapic_set_irq(io, 6, 1);		/* deasserted */
	ioapic_eoi(io, 0x43);
	assert_int_equal(delivered, 5);		/* the first EOI found it still asserted */
	ioapic_set_irq(io, 6, 0);
	assert_int_equal(delivered, 6);
}

static void register_noise_is_harmless(void **state)
{
	struct ioapic *io = *state;
	uint64_t x = 0x2545f4914f6cdd1dULL;

	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x & 3) {
		case 0: ioapic_write(io, (x >> 8) & 0xff, (uint32_t)(x >> 32)); break;
		case 1: (void)ioapic_read(io, (x >> 8) & 0xff); break;
		case 2: ioapic_set_irq(io, (x >> 8) % 32, x >> 16 & 1); break;
		default: ioapic_eoi(io, x >> 8); break;
		}
	}
	assert_int_equal(read_reg(io, 0x01), 0x00170011);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(identification, setup, teardown),
		cmocka_unit_test_setup_teardown(edge_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(level_pins_and_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(register_noise_is_harmless, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
