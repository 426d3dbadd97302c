/*
 * Guest RAM: one memfd mapping split around the 32-bit MMIO hole, and the
 * only checked guest-physical to host translation. Nothing else in spry
 * dereferences a guest address.
 */
#ifndef SPRY_MEMORY_H
#define SPRY_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPRY_MAX_MEM_REGIONS 2

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_memory {
	uint64_t ram_size;	/* total bytes of RAM */
	int nregions;
	struct mem_region region[SPRY_MAX_MEM_REGIONS];
	uint8_t *base;		/* the whole mapping, ram_size bytes */
	int memfd;
};

/* Lay out and map @ram_size bytes (a multiple of 4 KiB); returns 0 or -errno. */
int guest_memory_init(struct guest_memory *gm, uint64_t ram_size);
void guest_memory_destroy(struct guest_memory *gm);

/*
 * Host pointer for [gpa, gpa + len), or NULL when any byte of it lies outside
 * RAM, crosses a region boundary, or the range overflows. len 0 is refused.
 */
void *gpa_to_host(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* Copy helpers built on gpa_to_host(); return false without touching anything on a bad range. */
bool guest_write(const struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len);
bool guest_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len);

/* End of the RAM that lies below 4 GiB. */
uint64_t guest_low_ram_end(const struct guest_memory *gm);

#endif
