/*
 * Floods the serial console with "kib=N" KiB of 64-byte lines through
 * `rep outsb` (a few exits per 4 KiB), then exits cleanly: with nobody
 * reading spry's stdout, spry must still finish and count what it dropped.
 */
#include "guest.h"

#define LINE 64

static char block[4096];

int main(void)
{
	uint32_t kib = 256;

	cmdline_uint("kib", &kib);
	for (unsigned int i = 0; i < sizeof(block); i++)
		block[i] = (i % LINE == LINE - 1) ? '\n' : (char)('a' + (i / LINE) % 26);
	for (uint32_t k = 0; k < kib; k += sizeof(block) / 1024) {
		const char *p = block;
		uint64_t n = sizeof(block);

		asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"((uint16_t)SPRY_PORT_COM1)
			     : "memory");
	}
	cprintf("flood: %u KiB sent\n", kib);
	return GUEST_PASS;
}
