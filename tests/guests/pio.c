/*
 * Port I/O exits: CMOS RTC registers through the 0x70/0x71 index/data pair
 * must hold plausible BCD or binary values, and the i8042 status port answers.
 */
#include "guest.h"

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_STATUS_B	0x0b
#define RTC_B_BINARY	0x04
#define RTC_B_24H	0x02

static int bcd;

static uint8_t rtc_read(uint8_t reg)
{
	uint8_t v;

	outb(SPRY_PORT_RTC, reg);
	v = inb(SPRY_PORT_RTC + 1);
	if (bcd && reg != RTC_STATUS_B)
		v = (v >> 4) * 10 + (v & 0xf);
	return v;
}

static int check(const char *what, uint8_t v, uint8_t lo, uint8_t hi)
{
	cprintf("pio: rtc %s %u\n", what, v);
	if (v >= lo && v <= hi)
		return 0;
	cprintf("pio: rtc %s out of range [%u, %u]\n", what, lo, hi);
	return 1;
}

int main(void)
{
	uint8_t b = rtc_read(RTC_STATUS_B), status;
	int bad = 0;

	bcd = !(b & RTC_B_BINARY);
	bad |= check("seconds", rtc_read(RTC_SECONDS), 0, 59);
	bad |= check("minutes", rtc_read(RTC_MINUTES), 0, 59);
	/* 12-hour mode keeps PM in bit 7. */
	bad |= check("hours", rtc_read(RTC_HOURS) & (b & RTC_B_24H ? 0xff : 0x7f),
		     0, 23);
	bad |= check("day", rtc_read(RTC_DAY), 1, 31);
	bad |= check("month", rtc_read(RTC_MONTH), 1, 12);

	status = inb(SPRY_PORT_I8042_CMD);
	cprintf("pio: i8042 status %x\n", status);
	if (status == 0xff) {
		cprintf("pio: i8042 missing\n");
		bad = 1;
	}
	if (bad)
		return GUEST_FAIL;
	cprintf("pio: ok\n");
	return GUEST_PASS;
}
