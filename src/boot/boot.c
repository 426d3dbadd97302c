/*
 * boot_load(): validate the configuration, detect the kernel's format, hand it to
 * the matching protocol loader, then write the tables every guest gets (GDT, MP,
 * ACPI). Also the small checked-write and string helpers the loaders share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boot_internal.h"
#include "boot_layout.h"
#include "spry/layout.h"

uint8_t boot_checksum(const void *p, size_t len)
{
	const uint8_t *c = p;
	uint8_t sum = 0;

	while (len--)
		sum += *c++;
	return (uint8_t)-sum;
}

int boot_fail(struct boot_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err && ctx->errlen) {
		va_start(ap, fmt);
		vsnprintf(ctx->err, ctx->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int boot_put(struct boot_ctx *ctx, uint64_t gpa, const void *src, uint64_t len, const char *what)
{
	if (len && !guest_write(ctx->gm, gpa, src, len))
		return boot_fail(ctx, "cannot write %s (%llu bytes) at 0x%llx: outside guest RAM",
				 what, (unsigned long long)len, (unsigned long long)gpa);
	return 0;
}

int boot_check_load_range(struct boot_ctx *ctx, uint64_t gpa, uint64_t len, const char *what)
{
	if (len == 0)
		return boot_fail(ctx, "%s at 0x%llx is empty", what, (unsigned long long)gpa);
	if (gpa < BOOT_KERNEL_MIN_ADDR)
		return boot_fail(ctx, "%s at 0x%llx overlaps the loader's tables below 1 MiB",
				 what, (unsigned long long)gpa);
	if (!gpa_to_host(ctx->gm, gpa, len))
		return boot_fail(ctx, "%s [0x%llx, +0x%llx) is not inside guest RAM",
				 what, (unsigned long long)gpa, (unsigned long long)len);
	return 0;
}

uint64_t boot_add_string(struct boot_ctx *ctx, const char *fmt, ...)
{
	uint64_t gpa = BOOT_STRINGS_ADDR + ctx->strings_used;
	uint64_t room = BOOT_STRINGS_SIZE - ctx->strings_used;
	char *dst = gpa_to_host(ctx->gm, gpa, room);
	va_list ap;
	int n;

	if (!dst) {
		boot_fail(ctx, "strings area at 0x%llx is outside guest RAM",
			  (unsigned long long)gpa);
		return 0;
	}
	va_start(ap, fmt);
	n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint64_t)n >= room) {
		boot_fail(ctx, "command line and module names exceed the %llu-byte strings area",
			  (unsigned long long)BOOT_STRINGS_SIZE);
		return 0;
	}
	ctx->strings_used += (uint64_t)n + 1;
	return gpa;
}

/* " virtio_mmio.device=4K@0xd0001000:16" is 36 bytes; leave room for any layout.h values. */
#define VIRTIO_MMIO_ARG_MAX	64

uint64_t boot_linux_cmdline(struct boot_ctx *ctx, size_t max)
{
	const char *user = ctx->cfg->cmdline ? ctx->cfg->cmdline : "";
	char dev[SPRY_VIRTIO_MMIO_MAX * VIRTIO_MMIO_ARG_MAX];
	size_t len = 0, total;

	_Static_assert(SPRY_VIRTIO_MMIO_SIZE % 1024 == 0, "window size is a whole number of KiB");
	dev[0] = '\0';
	for (unsigned int i = 0; i < ctx->cfg->nvirtio_mmio; i++) {
		uint64_t base = SPRY_VIRTIO_MMIO_BASE + i * SPRY_VIRTIO_MMIO_SIZE;
		int n = snprintf(dev + len, sizeof(dev) - len,
				 "%svirtio_mmio.device=%lluK@0x%llx:%u", len || *user ? " " : "",
				 (unsigned long long)(SPRY_VIRTIO_MMIO_SIZE / 1024),
				 (unsigned long long)base, SPRY_VIRTIO_MMIO_GSI + i);

		if (n < 0 || (size_t)n >= sizeof(dev) - len) {
			boot_fail(ctx, "virtio_mmio.device= options exceed %zu bytes", sizeof(dev));
			return 0;
		}
		len += (size_t)n;
	}
	total = strlen(user) + len;
	if (total > max) {
		if (len)
			boot_fail(ctx, "command line is %zu bytes with %u virtio_mmio.device= "
				  "options (%zu bytes), the kernel accepts at most %zu", total,
				  ctx->cfg->nvirtio_mmio, len, max);
		else
			boot_fail(ctx, "command line is %zu bytes, the kernel accepts at most %zu",
				  total, max);
		return 0;
	}
	return boot_add_string(ctx, "%s%s", user, dev);
}

bool boot_blobs_size(const struct boot_blob *b, int n, uint64_t align, uint64_t *total)
{
	uint64_t end = 0;

	for (int i = 0; i < n; i++) {
		uint64_t start = boot_align_up(end, align);

		/* Blob sizes come from files; refuse sums that wrap long before they could. */
		if (start > UINT64_MAX / 2 || b[i].size > UINT64_MAX / 2 - start)
			return false;
		end = start + b[i].size;
	}
	*total = end;
	return true;
}

int boot_put_blobs(struct boot_ctx *ctx, uint64_t gpa, const struct boot_blob *b, int n,
		   uint64_t align, uint64_t *addr)
{
	uint64_t off = 0;

	for (int i = 0; i < n; i++) {
		off = boot_align_up(off, align);
		if (boot_put(ctx, gpa + off, b[i].data, b[i].size, "initrd"))
			return -1;
		if (addr)
			addr[i] = gpa + off;
		off += b[i].size;
	}
	return 0;
}

static int check_config(struct boot_ctx *ctx)
{
	const struct boot_config *cfg = ctx->cfg;

	if (cfg->ncpus < 1 || cfg->ncpus > SPRY_MAX_CPUS)
		return boot_fail(ctx, "%d CPUs requested, need 1 to %d", cfg->ncpus,
				 SPRY_MAX_CPUS);
	if (cfg->nvirtio_mmio > SPRY_VIRTIO_MMIO_MAX)
		return boot_fail(ctx, "%u virtio-mmio devices requested, at most %d are supported",
				 cfg->nvirtio_mmio, SPRY_VIRTIO_MMIO_MAX);
	if (!cfg->kernel.data || cfg->kernel.size == 0)
		return boot_fail(ctx, "kernel image is empty");
	if (cfg->ninitrds < 0 || cfg->ninitrds > BOOT_MAX_INITRDS ||
	    (cfg->ninitrds && !cfg->initrds))
		return boot_fail(ctx, "%d initrds given, at most %d are supported", cfg->ninitrds,
				 BOOT_MAX_INITRDS);
	for (int i = 0; i < cfg->ninitrds; i++) {
		if (!cfg->initrds[i].data && cfg->initrds[i].size)
			return boot_fail(ctx, "initrd %d has a size but no data", i);
	}
	if (ctx->low_end < BOOT_MIN_RAM)
		return boot_fail(ctx, "guest RAM below 4 GiB is 0x%llx bytes, need at least 0x%llx",
				 (unsigned long long)ctx->low_end,
				 (unsigned long long)BOOT_MIN_RAM);
	return 0;
}

/* Detection order: bzImage, ELF with a PVH note, multiboot (ELF or a.out kludge). */
static int load_kernel(struct boot_ctx *ctx, enum boot_protocol *protocol,
		       struct boot_cpu_state *bsp)
{
	const struct boot_blob *k = &ctx->cfg->kernel;
	struct elf_image elf;
	bool is_elf;
	size_t mb_off;
	uint32_t entry;
	int r;

	if (linux_detect(k->data, k->size)) {
		*protocol = BOOT_LINUX64;
		return linux_load(ctx, bsp);
	}
	is_elf = elf_detect(k->data, k->size);
	if (is_elf) {
		if (elf_parse(ctx, &elf))
			return -1;
		r = elf_pvh_entry(ctx, &elf, &entry);
		if (r < 0)
			return -1;
		if (r) {
			*protocol = BOOT_PVH;
			return pvh_load(ctx, &elf, entry, bsp);
		}
	}
	if (multiboot_find(k->data, k->size, &mb_off)) {
		*protocol = BOOT_MULTIBOOT;
		return multiboot_load(ctx, is_elf ? &elf : NULL, mb_off, bsp);
	}
	return boot_fail(ctx, "unknown kernel format%s",
			 is_elf ? " (ELF without a PVH note or a multiboot header)" : "");
}

int boot_load(struct guest_memory *gm, const struct boot_config *cfg,
	      enum boot_protocol *protocol, struct boot_cpu_state *bsp,
	      char *err, size_t errlen)
{
	struct boot_ctx ctx = {
		.gm = gm,
		.cfg = cfg,
		.low_end = guest_low_ram_end(gm),
		.err = err,
		.errlen = errlen,
	};

	if (err && errlen)
		err[0] = '\0';
	memset(bsp, 0, sizeof(*bsp));
	if (check_config(&ctx) || load_kernel(&ctx, protocol, bsp))
		return -1;
	if (boot_write_gdt(&ctx) || boot_write_mptable(&ctx) || boot_write_acpi(&ctx))
		return -1;
	return 0;
}

const char *boot_protocol_name(enum boot_protocol p)
{
	switch (p) {
	case BOOT_LINUX64:
		return "linux64";
	case BOOT_PVH:
		return "pvh";
	case BOOT_MULTIBOOT:
		return "multiboot";
	}
	return "unknown";
}

