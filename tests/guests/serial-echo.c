/*
 * Echoes what arrives on COM1's receiver, a line at a time, until a line
 * reading "quit": spry must hand stdin to the UART only as fast as the guest
 * drains it, so a long input arrives whole even though this guest is slow.
 */
#include "guest.h"

#define UART_RBR	0
#define UART_LSR	5
#define UART_LSR_DR	0x01
#define POLL_LIMIT	100000000UL	/* ~minutes at emulated speed: "never" */

static int read_byte(void)
{
	for (unsigned long i = 0; i < POLL_LIMIT; i++)
		if (inb(SPRY_PORT_COM1 + UART_LSR) & UART_LSR_DR)
			return inb(SPRY_PORT_COM1 + UART_RBR);
	return -1;
}

int main(void)
{
	char line[128];
	unsigned int n = 0, bytes = 0;

	cprintf("serial-echo: ready\n");
	for (;;) {
		int c = read_byte();

		if (c < 0) {
			cprintf("serial-echo: no input\n");
			return GUEST_FAIL;
		}
		bytes++;
		cputc((char)c);
		if (c != '\n') {
			if (n < sizeof(line) - 1)
				line[n++] = (char)c;
			continue;
		}
		line[n] = '\0';
		if (!strncmp(line, "quit", 5))
			break;
		n = 0;
	}
	cprintf("serial-echo: %u bytes\n", bytes);
	return GUEST_PASS;
}
