/*
 * The i8042 keyboard controller, only as far as a PC guest needs it: the
 * command/status and data ports answer the driver's probe (self-test, command
 * byte), and the pulse-reset command 0xfe is how Linux reboots, which ends
 * spry with the reboot status.
 */
#include <stdlib.h>

#include "spry/devices.h"
#include "spry/exit.h"

#define STATUS_OUTPUT_FULL	0x01
#define STATUS_SYSTEM_FLAG	0x04
#define STATUS_LAST_WAS_CMD	0x08

#define CMD_READ_CTR		0x20
#define CMD_WRITE_CTR		0x60
#define CMD_SELF_TEST		0xaa
#define CMD_PULSE_RESET		0xfe
#define SELF_TEST_PASSED	0x55

struct i8042 {
	struct bus_device dev;
	struct vm *vm;
	uint8_t status, ctr, out, pending_cmd;
};

static void i8042_reply(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->status |= STATUS_OUTPUT_FULL;
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->status |= STATUS_LAST_WAS_CMD;
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_reply(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
		k->pending_cmd = cmd;
		break;
	case CMD_SELF_TEST:
		i8042_reply(k, SELF_TEST_PASSED);
		break;
	case CMD_PULSE_RESET:
		vm_request_stop(k->vm, SPRY_EXIT_REBOOT);
		break;
	}
}

static void i8042_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct i8042 *k = opaque;
	uint8_t *v = data;

	if (off == 0) {		/* port 0x60 */
		*v = k->out;
		k->status &= ~STATUS_OUTPUT_FULL;
	} else if (off == 4) {	/* port 0x64 */
		*v = k->status;
	}
}

static void i8042_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct i8042 *k = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (off == 4) {
		i8042_command(k, v);
	} else if (off == 0) {
		k->status &= ~STATUS_LAST_WAS_CMD;
		if (k->pending_cmd == CMD_WRITE_CTR)
			k->ctr = v;
		k->pending_cmd = 0;
	}
}

int i8042_init(struct vm *vm)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->vm = vm;
	k->status = STATUS_SYSTEM_FLAG;
	/* One range for 0x60 and 0x64; port 0x61 (PIT speaker) never gets here under KVM. */
	k->dev = (struct bus_device){
		.name = "i8042", .base = SPRY_PORT_I8042_DATA, .size = 5, .opaque = k,
		.read = i8042_read, .write = i8042_write,
	};
	return bus_add_owned(&vm->pio, &k->dev);
}
