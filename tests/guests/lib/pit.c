/*
 * i8254 PIT channel 0: a periodic rate for interrupt tests, and busy-wait
 * delays that poll the channel's OUT pin with the read-back command.
 */
#include "guest.h"

#define PIT_CH0		SPRY_PORT_PIT
#define PIT_CMD		(SPRY_PORT_PIT + 3)
#define PIT_CH0_LOHI	0x30	/* channel 0, low then high byte */
#define PIT_MODE0	0x00	/* interrupt on terminal count */
#define PIT_MODE2	0x04	/* rate generator */
#define PIT_READBACK_STATUS_CH0 0xe2
#define PIT_STATUS_OUT	0x80

static void pit_start(uint8_t mode, uint16_t count)
{
	outb(PIT_CMD, PIT_CH0_LOHI | mode);
	outb(PIT_CH0, count & 0xff);
	outb(PIT_CH0, count >> 8);
}

void pit_periodic(uint32_t hz)
{
	pit_start(PIT_MODE2, PIT_HZ / hz);
}

void pit_delay_ms(uint32_t ms)
{
	while (ms--) {
		pit_start(PIT_MODE0, PIT_HZ / 1000);
		do
			outb(PIT_CMD, PIT_READBACK_STATUS_CH0);
		while (!(inb(PIT_CH0) & PIT_STATUS_OUT));
	}
}
