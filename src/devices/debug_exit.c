/*
 * The debug-exit port, as QEMU's isa-debug-exit at 0xf4: a guest write of
 * value V ends spry with status (V << 1) | 1, so test guests report results.
 */
#include <stdlib.h>
#include <string.h>

#include "spry/devices.h"

struct debug_exit {
	struct bus_device dev;
	struct vm *vm;
};

static void debug_exit_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct debug_exit *d = opaque;
	uint32_t value = 0;

	memcpy(&value, data, len < sizeof(value) ? len : sizeof(value));
	vm_request_stop(d->vm, (int)(((value << 1) | 1) & 0xff));
}

int debug_exit_init(struct vm *vm)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->vm = vm;
	d->dev = (struct bus_device){
		.name = "debug-exit", .base = SPRY_PORT_DEBUG_EXIT, .size = 4, .opaque = d,
		.write = debug_exit_write,
	};
	return bus_add_owned(&vm->pio, &d->dev);
}
