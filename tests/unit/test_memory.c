/*
 * Guest memory layout around the MMIO hole and the bounds checks of
 * gpa_to_host(), the one gate to guest RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "spry/layout.h"
#include "spry/memory.h"

static void small_guest_is_one_low_region(void **state)
{
	struct guest_memory gm;

	assert_int_equal(guest_memory_init(&gm, 64 << 20), 0);
	assert_int_equal(gm.nregions, 1);
	assert_int_equal(gm.region[0].gpa, 0);
	assert_int_equal(gm.region[0].size, 64 << 20);
	assert_int_equal(guest_low_ram_end(&gm), 64 << 20);
	guest_memory_destroy(&gm);
}

static void large_guest_splits_around_hole(void **state)
{
	struct guest_memory gm;
	uint64_t size = SPRY_MMIO_HOLE_START + (256ULL << 20);

	assert_int_equal(guest_memory_init(&gm, size), 0);
	assert_int_equal(gm.nregions, 2);
	assert_int_equal(gm.region[0].size, SPRY_MMIO_HOLE_START);
	assert_int_equal(gm.region[1].gpa, SPRY_HIGH_RAM_START);
	assert_int_equal(gm.region[1].size, 256ULL << 20);
	/* The hole itself is not RAM. */
	assert_null(gpa_to_host(&gm, SPRY_MMIO_HOLE_START, 1));
	assert_null(gpa_to_host(&gm, SPRY_MMIO_HOLE_END - 1, 1));
	/* High RAM maps right after low RAM in the host mapping. */
	assert_ptr_equal(gpa_to_host(&gm, SPRY_HIGH_RAM_START, 1),
			 gm.base + SPRY_MMIO_HOLE_START);
	/* A range may not run from low RAM into the hole. */
	assert_null(gpa_to_host(&gm, SPRY_MMIO_HOLE_START - 8, 16));
	guest_memory_destroy(&gm);
}

static void ranges_are_bounds_checked(void **state)
{
	struct guest_memory gm;
	const uint64_t size = 16 << 20;

	assert_int_equal(guest_memory_init(&gm, size), 0);
	assert_ptr_equal(gpa_to_host(&gm, 0, size), gm.base);
	assert_ptr_equal(gpa_to_host(&gm, size - 1, 1), gm.base + size - 1);
	assert_null(gpa_to_host(&gm, size - 1, 2));
	assert_null(gpa_to_host(&gm, size, 1));
	assert_null(gpa_to_host(&gm, 0, 0));
	assert_null(gpa_to_host(&gm, 1, UINT64_MAX));
	assert_null(gpa_to_host(&gm, UINT64_MAX, 2));
	assert_null(gpa_to_host(&gm, UINT64_MAX - 4095, 4096));
	guest_memory_destroy(&gm);
}

static void copies_refuse_bad_ranges_untouched(void **state)
{
	struct guest_memory gm;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, back[8];

	assert_int_equal(guest_memory_init(&gm, 4 << 20), 0);
	assert_true(guest_write(&gm, 0x1000, buf, sizeof(buf)));
	assert_true(guest_read(&gm, 0x1000, back, sizeof(back)));
	assert_memory_equal(buf, back, sizeof(buf));
	assert_false(guest_write(&gm, (4 << 20) - 4, buf, sizeof(buf)));
	/* Nothing of the refused write landed in the last bytes of RAM. */
	assert_int_equal(gm.base[(4 << 20) - 1], 0);
	guest_memory_destroy(&gm);
}

static void bad_sizes_are_refused(void **state)
{
	struct guest_memory gm;

	assert_int_not_equal(guest_memory_init(&gm, 0), 0);
	assert_int_not_equal(guest_memory_init(&gm, 4097), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_guest_is_one_low_region),
		cmocka_unit_test(large_guest_splits_around_hole),
		cmocka_unit_test(ranges_are_bounds_checked),
		cmocka_unit_test(copies_refuse_bad_ranges_untouched),
		cmocka_unit_test(bad_sizes_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
