/*
 * The CMOS RTC and its NVRAM at ports 0x70/0x71: the date and time come from
 * the host's UTC clock on every read, in BCD and 24-hour mode as PC firmware
 * leaves them; update-in-progress is never set, so a reader never spins.
 */
#include <stdlib.h>
#include <time.h>

#include "spry/devices.h"

enum {
	RTC_SECONDS = 0x00, RTC_MINUTES = 0x02, RTC_HOURS = 0x04, RTC_WEEKDAY = 0x06,
	RTC_DAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09, RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b, RTC_REG_C = 0x0c, RTC_REG_D = 0x0d, RTC_CENTURY = 0x32,
};

#define REG_A_DEFAULT	0x26	/* 32.768 kHz time base, 1024 Hz rate */
#define REG_B_24H	0x02
#define REG_B_BINARY	0x04
#define REG_D_VALID	0x80
#define INDEX_MASK	0x7f	/* bit 7 of the index port is the NMI mask */
#define NVRAM_SIZE	128

struct rtc {
	struct bus_device dev;
	uint8_t index;
	uint8_t nvram[NVRAM_SIZE];
};

static uint8_t rtc_encode(const struct rtc *r, int v)
{
	if (r->nvram[RTC_REG_B] & REG_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_time_reg(const struct rtc *r, uint8_t reg)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SECONDS: return rtc_encode(r, tm.tm_sec);
	case RTC_MINUTES: return rtc_encode(r, tm.tm_min);
	case RTC_HOURS: return rtc_encode(r, tm.tm_hour);
	case RTC_WEEKDAY: return rtc_encode(r, tm.tm_wday + 1);
	case RTC_DAY: return rtc_encode(r, tm.tm_mday);
	case RTC_MONTH: return rtc_encode(r, tm.tm_mon + 1);
	case RTC_YEAR: return rtc_encode(r, tm.tm_year % 100);
	default: return rtc_encode(r, (tm.tm_year + 1900) / 100);	/* RTC_CENTURY */
	}
}

static void rtc_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct rtc *r = opaque;
	uint8_t *v = data;

	if (off == 0) {
		*v = r->index;
		return;
	}
	switch (r->index) {
	case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_WEEKDAY:
	case RTC_DAY: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
		*v = rtc_time_reg(r, r->index);
		break;
	case RTC_REG_C:		/* no alarm, periodic or update interrupts are raised */
		*v = 0;
		break;
	default:
		*v = r->nvram[r->index];
	}
}

static void rtc_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct rtc *r = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (off == 0) {
		r->index = v & INDEX_MASK;
		return;
	}
	switch (r->index) {
	case RTC_REG_A:
		r->nvram[RTC_REG_A] = v & 0x7f;		/* UIP is read-only */
		break;
	case RTC_REG_C: case RTC_REG_D:			/* read-only */
		break;
	default:
		/* Guest writes to the clock itself are ignored: it follows the host. */
		if (r->index > RTC_YEAR)
			r->nvram[r->index] = v;
	}
}

int rtc_init(struct vm *vm)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->nvram[RTC_REG_A] = REG_A_DEFAULT;
	r->nvram[RTC_REG_B] = REG_B_24H;
	r->nvram[RTC_REG_D] = REG_D_VALID;
	r->dev = (struct bus_device){
		.name = "rtc", .base = SPRY_PORT_RTC, .size = 2, .opaque = r,
		.read = rtc_read, .write = rtc_write,
	};
	return bus_add_owned(&vm->pio, &r->dev);
}
