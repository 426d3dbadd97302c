/*
 * MMIO exits: the boot-timer device reads back its ID, a read from
 * unmapped space in the MMIO hole returns all ones, and the boot-timer
 * magic byte is written (spry logs a boot time for it).
 */
#include "guest.h"

#define UNMAPPED	(SPRY_BOOT_TIMER_BASE + 0x100000)

int main(void)
{
	uint32_t id = mmio_read32(SPRY_BOOT_TIMER_BASE);
	uint32_t none = mmio_read32(UNMAPPED);

	cprintf("mmio: boot-timer id %x\n", id);
	cprintf("mmio: unmapped read %x\n", none);
	mmio_write32(UNMAPPED, 0);
	mmio_write8(SPRY_BOOT_TIMER_BASE, SPRY_BOOT_TIMER_MAGIC);
	if (id != SPRY_BOOT_TIMER_ID || none != 0xffffffff)
		return GUEST_FAIL;
	cprintf("mmio: ok\n");
	return GUEST_PASS;
}
