/*
 * Reset through the i8042 (pulse the reset line with command 0xfe); spry
 * must exit 4. If the machine keeps running, report it and fail.
 */
#include "guest.h"

#define I8042_CMD_RESET	0xfe

int main(void)
{
	cprintf("reset: pulsing the i8042 reset line\n");
	outb(SPRY_PORT_I8042_CMD, I8042_CMD_RESET);
	pit_delay_ms(100);
	cprintf("reset: still running\n");
	return GUEST_FAIL;
}
