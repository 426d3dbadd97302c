/*
 * Address-range dispatch for the PIO and MMIO buses. Devices register once at
 * machine assembly, before any vCPU runs, so lookups need no bus lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spry/bus.h"
#include "spry/log.h"

static bool overlaps(const struct bus_device *a, const struct bus_device *b)
{
	return a->base < b->base + b->size && b->base < a->base + a->size;
}

int bus_register(struct bus *bus, struct bus_device *dev)
{
	int i;

	if (dev->size == 0 || dev->base + dev->size < dev->base)
		return -EINVAL;
	if (bus->ndevices == BUS_MAX_DEVICES)
		return -ENOSPC;
	for (i = 0; i < bus->ndevices; i++)
		if (overlaps(bus->devices[i], dev))
			return -EEXIST;
	for (i = bus->ndevices; i > 0 && bus->devices[i - 1]->base > dev->base; i--)
		bus->devices[i] = bus->devices[i - 1];
	bus->devices[i] = dev;
	bus->ndevices++;
	pthread_mutex_init(&dev->lock, NULL);
	return 0;
}

/* Binary search for the device covering [addr, addr + len). */
static struct bus_device *bus_find(struct bus *bus, uint64_t addr, unsigned int len)
{
	int lo = 0, hi = bus->ndevices - 1;

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return NULL;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		struct bus_device *d = bus->devices[mid];

		if (addr < d->base) {
			hi = mid - 1;
		} else if (addr - d->base >= d->size) {
			lo = mid + 1;
		} else {
			return len <= d->size - (addr - d->base) ? d : NULL;
		}
	}
	return NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len)
{
	struct bus_device *d = bus_find(bus, addr, len);

	memset(data, 0xff, len);
	if (!d || !d->read)
		return d != NULL;
	pthread_mutex_lock(&d->lock);
	d->read(d->opaque, addr - d->base, data, len);
	pthread_mutex_unlock(&d->lock);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned int len)
{
	struct bus_device *d = bus_find(bus, addr, len);

	if (!d || !d->write)
		return d != NULL;
	pthread_mutex_lock(&d->lock);
	d->write(d->opaque, addr - d->base, data, len);
	pthread_mutex_unlock(&d->lock);
	return true;
}

void bus_destroy(struct bus *bus)
{
	for (int i = 0; i < bus->ndevices; i++) {
		struct bus_device *d = bus->devices[i];

		pthread_mutex_destroy(&d->lock);
		if (d->destroy)
			d->destroy(d);
	}
	bus->ndevices = 0;
}

static void free_owned(struct bus_device *dev)
{
	free(dev);
}

int bus_add_owned(struct bus *bus, struct bus_device *dev)
{
	int err;

	dev->destroy = free_owned;
	err = bus_register(bus, dev);
	if (err) {
		spry_err("%s: cannot place at %s 0x%llx: %s", dev->name, bus->name,
			 (unsigned long long)dev->base, strerror(-err));
		free(dev);
		return -1;
	}
	return 0;
}
