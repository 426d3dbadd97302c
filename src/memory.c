/*
 * Guest RAM: a memfd mapped once, presented to the guest as RAM below the
 * 32-bit MMIO hole and, beyond 3 GiB, again from 4 GiB up. gpa_to_host() is
 * the single bounds check every guest-memory access goes through.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spry/layout.h"
#include "spry/memory.h"

static void add_region(struct guest_memory *gm, uint64_t gpa, uint64_t size, uint8_t *host)
{
	struct mem_region *r = &gm->region[gm->nregions++];

	r->gpa = gpa;
	r->size = size;
	r->host = host;
}

int guest_memory_init(struct guest_memory *gm, uint64_t ram_size)
{
	const uint64_t low_max = SPRY_MMIO_HOLE_START;
	uint64_t low;

	memset(gm, 0, sizeof(*gm));
	gm->memfd = -1;
	if (ram_size == 0 || ram_size % 4096)
		return -EINVAL;

	gm->memfd = memfd_create("spry-ram", MFD_CLOEXEC);
	if (gm->memfd < 0)
		return -errno;
	if (ftruncate(gm->memfd, (off_t)ram_size) < 0)
		goto fail;
	gm->base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			gm->memfd, 0);
	if (gm->base == MAP_FAILED) {
		gm->base = NULL;
		goto fail;
	}
	/* Guest RAM is never worth a host core dump and never merged into a fork. */
	madvise(gm->base, ram_size, MADV_DONTDUMP);
	madvise(gm->base, ram_size, MADV_DONTFORK);

	gm->ram_size = ram_size;
	low = ram_size < low_max ? ram_size : low_max;
	add_region(gm, 0, low, gm->base);
	if (ram_size > low)
		add_region(gm, SPRY_HIGH_RAM_START, ram_size - low, gm->base + low);
	return 0;

fail:;
	int err = -errno;

	guest_memory_destroy(gm);
	return err;
}

void guest_memory_destroy(struct guest_memory *gm)
{
	if (gm->base)
		munmap(gm->base, gm->ram_size);
	if (gm->memfd >= 0)
		close(gm->memfd);
	memset(gm, 0, sizeof(*gm));
	gm->memfd = -1;
}

void *gpa_to_host(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < gm->nregions; i++) {
		const struct mem_region *r = &gm->region[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		/* Written so that no sum can overflow: the range must fit in what is left. */
		if (len == 0 || len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

bool guest_write(const struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gpa_to_host(gm, gpa, len);

	if (!p)
		return false;
	memcpy(p, src, len);
	return true;
}

bool guest_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gpa_to_host(gm, gpa, len);

	if (!p)
		return false;
	memcpy(dst, p, len);
	return true;
}

uint64_t guest_low_ram_end(const struct guest_memory *gm)
{
	return gm->nregions ? gm->region[0].size : 0;
}
