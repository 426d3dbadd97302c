/*
 * The port I/O and MMIO buses: address ranges mapped to devices. The bus
 * checks range and width before a device sees an access and serialises
 * accesses to each device with the device's own lock.
 */
#ifndef SPRY_BUS_H
#define SPRY_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_DEVICES 32

struct bus_device {
	const char *name;
	uint64_t base, size;
	void *opaque;
	/* Called with the device lock held; offset + len never exceeds size. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned int len);
	/* Frees the device when the bus goes away; may be NULL. */
	void (*destroy)(struct bus_device *dev);
	pthread_mutex_t lock;
};

struct bus {
	const char *name;
	int ndevices;
	struct bus_device *devices[BUS_MAX_DEVICES];	/* sorted by base */
};

/* Add @dev; -EEXIST if it overlaps a device already there, -ENOSPC when full. */
int bus_register(struct bus *bus, struct bus_device *dev);

/*
 * Dispatch an access of @len bytes (1, 2, 4 or 8). Returns false when no
 * device covers the whole access; reads then see all ones.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned int len);

/*
 * Register a device allocated with its bus_device as the first member, which
 * the bus then owns and frees. On failure the device is freed and -1 returned
 * with a message printed.
 */
int bus_add_owned(struct bus *bus, struct bus_device *dev);

/* Destroy every device on the bus. */
void bus_destroy(struct bus *bus);

#endif
