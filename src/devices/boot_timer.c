/*
 * The boot timer (Firecracker's method): the guest's /init writes 123 to this
 * MMIO byte once, and spry logs the wall and CPU time since it started, so
 * boot figures compare across VMMs. A 32-bit read returns an ID for tests.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spry/devices.h"
#include "spry/log.h"

struct boot_timer {
	struct bus_device dev;
	struct vm *vm;
};

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void boot_timer_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	uint32_t id = SPRY_BOOT_TIMER_ID;

	if (off == 0 && len == 4)
		memcpy(data, &id, sizeof(id));
}

static void boot_timer_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct boot_timer *t = opaque;
	struct timespec now, cpu;

	if (off != 0 || len != 1 || *(const uint8_t *)data != SPRY_BOOT_TIMER_MAGIC)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	spry_info("boot-timer: guest /init started %.1f ms after spry (wall), %.1f ms CPU",
		  seconds_between(&t->vm->start_wall, &now) * 1e3,
		  seconds_between(&(struct timespec){ 0 }, &cpu) * 1e3);
}

int boot_timer_init(struct vm *vm)
{
	struct boot_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->vm = vm;
	t->dev = (struct bus_device){
		.name = "boot-timer", .base = SPRY_BOOT_TIMER_BASE, .size = SPRY_BOOT_TIMER_SIZE,
		.opaque = t, .read = boot_timer_read, .write = boot_timer_write,
	};
	return bus_add_owned(&vm->mmio, &t->dev);
}
