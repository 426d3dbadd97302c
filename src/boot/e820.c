/*
 * The one memory map every boot protocol reports: usable RAM below the EBDA,
 * the legacy hole up to 1 MiB, RAM up to the 32-bit MMIO hole and RAM from 4 GiB.
 * Relies on guest_memory's region list being [low region, optional high region].
 */
#include "boot_internal.h"
#include "spry/layout.h"

static void add(struct boot_e820 *map, int *n, uint64_t addr, uint64_t size, uint32_t type)
{
	map[*n].addr = addr;
	map[*n].size = size;
	map[*n].type = type;
	(*n)++;
}

int boot_e820_map(const struct guest_memory *gm, struct boot_e820 map[BOOT_E820_MAX])
{
	uint64_t low_end = guest_low_ram_end(gm);
	int n = 0;

	add(map, &n, 0, SPRY_EBDA_START, BOOT_E820_RAM);
	add(map, &n, SPRY_EBDA_START, SPRY_LOW_RAM_END - SPRY_EBDA_START, BOOT_E820_RESERVED);
	if (low_end > SPRY_LOW_RAM_END)
		add(map, &n, SPRY_LOW_RAM_END, low_end - SPRY_LOW_RAM_END, BOOT_E820_RAM);
	for (int i = 1; i < gm->nregions; i++)
		add(map, &n, gm->region[i].gpa, gm->region[i].size, BOOT_E820_RAM);
	return n;
}
