/*
 * The hardware-reduced ACPI sleep control register the FADT points at. Linux
 * powers off by writing SLP_TYP (from the DSDT's _S5 package, 5) with SLP_EN.
 */
#include <stdlib.h>

#include "spry/devices.h"
#include "spry/exit.h"

#define SLP_EN		0x20
#define SLP_TYP(v)	(((v) >> 2) & 7)
#define SLP_TYP_S5	5

struct acpi_sleep {
	struct bus_device dev;
	struct vm *vm;
};

static void acpi_sleep_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	*(uint8_t *)data = 0;	/* status: never woken, nothing pending */
}

static void acpi_sleep_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct acpi_sleep *s = opaque;
	uint8_t v = *(const uint8_t *)data;

	if ((v & SLP_EN) && SLP_TYP(v) == SLP_TYP_S5)
		vm_request_stop(s->vm, SPRY_EXIT_POWEROFF);
}

int acpi_sleep_init(struct vm *vm)
{
	struct acpi_sleep *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->vm = vm;
	s->dev = (struct bus_device){
		.name = "acpi-sleep", .base = SPRY_PORT_ACPI_SLEEP, .size = 1, .opaque = s,
		.read = acpi_sleep_read, .write = acpi_sleep_write,
	};
	return bus_add_owned(&vm->pio, &s->dev);
}
