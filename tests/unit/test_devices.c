/*
 * The legacy devices driven through the PIO/MMIO buses as a vCPU would drive
 * them, on a VM whose accelerator only records interrupt lines. The serial
 * console writes to a real pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "spry/console.h"
#include "spry/devices.h"
#include "spry/exit.h"
#include "spry/vm.h"

static int irq_level[SPRY_IOAPIC_PINS];
static int irq_changes;

static int record_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	assert_true(gsi < SPRY_IOAPIC_PINS);
	irq_level[gsi] = level;
	irq_changes++;
	return 0;
}

static const struct accel_ops recording_accel = { .name = "test", .irq_line = record_irq_line };

struct fixture {
	struct vm vm;
	int out[2];		/* the console's stdout is out[1] */
	int in;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	memset(irq_level, 0, sizeof(irq_level));
	irq_changes = 0;
	f->vm.accel = &recording_accel;
	f->vm.pio.name = "port";
	f->vm.mmio.name = "mmio";
	f->vm.stop_efd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&f->vm.stop_lock, NULL);
	assert_int_equal(pipe2(f->out, O_CLOEXEC), 0);
	f->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	f->vm.console = console_create(f->in, f->out[1]);
	assert_non_null(f->vm.console);
	f->vm.serial = serial_init(&f->vm, SPRY_PORT_COM1, SPRY_IRQ_COM1, f->vm.console);
	assert_non_null(f->vm.serial);
	assert_int_equal(i8042_init(&f->vm), 0);
	assert_int_equal(rtc_init(&f->vm), 0);
	assert_int_equal(debug_exit_init(&f->vm), 0);
	assert_int_equal(boot_timer_init(&f->vm), 0);
	assert_int_equal(acpi_sleep_init(&f->vm), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->vm.pio);
	bus_destroy(&f->vm.mmio);
	console_destroy(f->vm.console);
	close(f->out[0]);
	close(f->out[1]);
	close(f->in);
	close(f->vm.stop_efd);
	free(f);
	return 0;
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v;

	bus_read(&f->vm.pio, port, &v, 1);
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	bus_write(&f->vm.pio, port, &v, 1);
}

/* ---- bus ---- */

static void bus_refuses_overlaps_and_bad_widths(void **state)
{
	struct fixture *f = *state;
	struct bus_device clash = { .name = "clash", .base = SPRY_PORT_COM1 + 7, .size = 2 };
	uint32_t v = 0;

	assert_int_equal(bus_register(&f->vm.pio, &clash), -EEXIST);
	/* An access straddling the end of a device reaches nobody and reads ones. */
	assert_false(bus_read(&f->vm.pio, SPRY_PORT_COM1 + 6, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_false(bus_read(&f->vm.pio, SPRY_PORT_COM1, &v, 3));
	assert_false(bus_read(&f->vm.pio, 0x1234, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_false(bus_write(&f->vm.mmio, 0xfeedf000, &v, 4));
}

/* ---- 8250 UART ---- */

static void serial_transmits_to_console(void **state)
{
	struct fixture *f = *state;
	const char *msg = "hello";
	char got[8] = { 0 };

	for (const char *p = msg; *p; p++)
		outb(f, SPRY_PORT_COM1, (uint8_t)*p);
	assert_int_equal(read(f->out[0], got, 5), 5);
	assert_string_equal(got, msg);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 5) & 0x60, 0x60);	/* THRE, TEMT */
}

static void serial_passes_linux_probe(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_COM1 + 7, 0xa5);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 7), 0xa5);
	/* Loopback with RTS|OUT2 must read back as CTS|DCD. */
	outb(f, SPRY_PORT_COM1 + 4, 0x10 | 0x0a);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 6) & 0xf0, 0x90);
	/* In loopback, transmitted bytes come back as received ones. */
	outb(f, SPRY_PORT_COM1, 'L');
	assert_true(inb(f, SPRY_PORT_COM1 + 5) & 0x01);
	assert_int_equal(inb(f, SPRY_PORT_COM1), 'L');
	outb(f, SPRY_PORT_COM1 + 4, 0x0b);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 6) & 0xf0, 0xb0);
	/* FIFO enabled shows as a 16550A in IIR bits 7:6. */
	outb(f, SPRY_PORT_COM1 + 2, 0x01);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 2) & 0xc0, 0xc0);
	/* Divisor latch. */
	outb(f, SPRY_PORT_COM1 + 3, 0x80);
	outb(f, SPRY_PORT_COM1, 0x01);
	outb(f, SPRY_PORT_COM1 + 1, 0x02);
	assert_int_equal(inb(f, SPRY_PORT_COM1), 0x01);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 1), 0x02);
	outb(f, SPRY_PORT_COM1 + 3, 0x03);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 1), 0x00);	/* IER, not the divisor */
}

static void serial_thr_empty_interrupt(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_COM1 + 1, 0x02);		/* IER: THRI */
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 1);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 2) & 0x0f, 0x02);
	/* Reading IIR acknowledged it. */
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 0);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 2) & 0x0f, 0x01);
	outb(f, SPRY_PORT_COM1, 'x');
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 1);
	outb(f, SPRY_PORT_COM1 + 1, 0x00);
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 0);
}

static void serial_receive_never_loses_input(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[100];
	size_t taken, room = serial_rx_room(f->vm.serial);

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	outb(f, SPRY_PORT_COM1 + 1, 0x01);		/* IER: RDI */
	taken = serial_receive(f->vm.serial, buf, sizeof(buf));
	assert_int_equal(taken, room);
	assert_true(taken < sizeof(buf));
	assert_int_equal(serial_rx_room(f->vm.serial), 0);
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 1);
	assert_int_equal(inb(f, SPRY_PORT_COM1 + 2) & 0x0f, 0x04);
	for (size_t i = 0; i < taken; i++)
		assert_int_equal(inb(f, SPRY_PORT_COM1), (uint8_t)i);
	assert_false(inb(f, SPRY_PORT_COM1 + 5) & 0x01);
	assert_int_equal(irq_level[SPRY_IRQ_COM1], 0);
	/* The rest goes in once there is room, in order. */
	assert_int_equal(serial_receive(f->vm.serial, buf + taken, 1), 1);
	assert_int_equal(inb(f, SPRY_PORT_COM1), (uint8_t)taken);
}

static void serial_ignores_wide_accesses(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0x41414141;

	bus_write(&f->vm.pio, SPRY_PORT_COM1, &v, 4);
	bus_read(&f->vm.pio, SPRY_PORT_COM1 + 4, &v, 4);
	assert_int_equal(v, 0xffffffff);
	outb(f, SPRY_PORT_COM1, '!');
	{
		char c;

		assert_int_equal(read(f->out[0], &c, 1), 1);
		assert_int_equal(c, '!');	/* the 4-byte write sent nothing */
	}
}

/* ---- lifecycle devices ---- */

static void debug_exit_status(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 5;

	bus_write(&f->vm.pio, SPRY_PORT_DEBUG_EXIT, &v, 4);
	assert_true(vm_stopping(&f->vm));
	assert_int_equal(f->vm.exit_status, 11);
	/* The first stop request wins. */
	outb(f, SPRY_PORT_I8042_CMD, 0xfe);
	assert_int_equal(f->vm.exit_status, 11);
}

static void debug_exit_status_is_eight_bits(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0x80;

	bus_write(&f->vm.pio, SPRY_PORT_DEBUG_EXIT, &v, 4);
	assert_int_equal(f->vm.exit_status, 1);
}

static void i8042_reset_reboots(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_I8042_CMD, 0xaa);
	assert_true(inb(f, SPRY_PORT_I8042_CMD) & 0x01);
	assert_int_equal(inb(f, SPRY_PORT_I8042_DATA), 0x55);
	assert_false(inb(f, SPRY_PORT_I8042_CMD) & 0x01);
	outb(f, SPRY_PORT_I8042_CMD, 0x60);
	outb(f, SPRY_PORT_I8042_DATA, 0x47);
	outb(f, SPRY_PORT_I8042_CMD, 0x20);
	assert_int_equal(inb(f, SPRY_PORT_I8042_DATA), 0x47);
	assert_false(vm_stopping(&f->vm));
	outb(f, SPRY_PORT_I8042_CMD, 0xfe);
	assert_true(vm_stopping(&f->vm));
	assert_int_equal(f->vm.exit_status, SPRY_EXIT_REBOOT);
}

static void acpi_sleep_s5_powers_off(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_ACPI_SLEEP, 0x80);		/* clearing WAK_STS: no effect */
	outb(f, SPRY_PORT_ACPI_SLEEP, 3 << 2 | 0x20);	/* S3: not supported, ignored */
	outb(f, SPRY_PORT_ACPI_SLEEP, 5 << 2);		/* no SLP_EN */
	assert_false(vm_stopping(&f->vm));
	outb(f, SPRY_PORT_ACPI_SLEEP, 5 << 2 | 0x20);
	assert_true(vm_stopping(&f->vm));
	assert_int_equal(f->vm.exit_status, SPRY_EXIT_POWEROFF);
}

/* ---- RTC and boot timer ---- */

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static void rtc_reads_plausible_time(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_RTC, 0x8d);			/* NMI mask bit set: still reg D */
	assert_int_equal(inb(f, SPRY_PORT_RTC + 1), 0x80);
	outb(f, SPRY_PORT_RTC, 0x0a);
	assert_false(inb(f, SPRY_PORT_RTC + 1) & 0x80);	/* never update-in-progress */
	outb(f, SPRY_PORT_RTC, 0x32);
	assert_int_equal(bcd(inb(f, SPRY_PORT_RTC + 1)), 20);
	outb(f, SPRY_PORT_RTC, 0x08);
	{
		int month = bcd(inb(f, SPRY_PORT_RTC + 1));

		assert_in_range(month, 1, 12);
	}
	outb(f, SPRY_PORT_RTC, 0x04);
	assert_in_range(bcd(inb(f, SPRY_PORT_RTC + 1)), 0, 23);
	/* NVRAM keeps what the guest stores. */
	outb(f, SPRY_PORT_RTC, 0x40);
	outb(f, SPRY_PORT_RTC + 1, 0x5a);
	outb(f, SPRY_PORT_RTC, 0x40);
	assert_int_equal(inb(f, SPRY_PORT_RTC + 1), 0x5a);
}

static void rtc_binary_mode(void **state)
{
	struct fixture *f = *state;

	outb(f, SPRY_PORT_RTC, 0x0b);
	outb(f, SPRY_PORT_RTC + 1, 0x06);
	outb(f, SPRY_PORT_RTC, 0x32);
	assert_int_equal(inb(f, SPRY_PORT_RTC + 1), 20);
}

static void boot_timer_id_and_unmapped_mmio(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	assert_true(bus_read(&f->vm.mmio, SPRY_BOOT_TIMER_BASE, &v, 4));
	assert_int_equal(v, SPRY_BOOT_TIMER_ID);
	assert_false(bus_read(&f->vm.mmio, SPRY_BOOT_TIMER_BASE + SPRY_BOOT_TIMER_SIZE, &v, 4));
	assert_int_equal(v, 0xffffffff);
	v = SPRY_BOOT_TIMER_MAGIC;
	assert_true(bus_write(&f->vm.mmio, SPRY_BOOT_TIMER_BASE, &v, 1));
	assert_false(vm_stopping(&f->vm));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(bus_refuses_overlaps_and_bad_widths),
		T(serial_transmits_to_console),
		T(serial_passes_linux_probe),
		T(serial_thr_empty_interrupt),
		T(serial_receive_never_loses_input),
		T(serial_ignores_wide_accesses),
		T(debug_exit_status),
		T(debug_exit_status_is_eight_bits),
		T(i8042_reset_reboots),
		T(acpi_sleep_s5_powers_off),
		T(rtc_reads_plausible_time),
		T(rtc_binary_mode),
		T(boot_timer_id_and_unmapped_mmio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
