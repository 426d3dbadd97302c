/*
 * Linux bzImage loader, 64-bit boot protocol (Documentation/arch/x86/boot.rst):
 * builds the zero page from the image's setup header, loads the protected-mode
 * kernel and the concatenated initrds, and enters startup_64 in long mode.
 */
#include <asm/bootparam.h>
#include <stddef.h>
#include <string.h>

#include "boot_internal.h"
#include "boot_layout.h"

_Static_assert(sizeof(struct boot_params) == BOOT_INFO_SIZE, "the zero page is one page");

#define HDR_START		0x1f1	/* setup header, in the image and the zero page */
#define HDR_JUMP_LEN		0x201	/* the header ends at 0x202 + this byte */
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_END_MAX		offsetof(struct boot_params, edd_mbr_sig_buffer)
/* Every field this loader reads (through init_size) must come from the image. */
#define HDR_END_MIN		(HDR_START + offsetof(struct setup_header, init_size) + 4)

#define PROTO_MIN		0x206	/* cmdline_size */
#define PROTO_XLOADFLAGS	0x20c	/* XLF_KERNEL_64 exists from 2.12 */
#define PROTO_RSDP		0x20e	/* acpi_rsdp_addr */

#define LINUX_LOADER_UNDEFINED	0xff	/* type_of_loader of loaders without an id */
#define LINUX_HEAP_END		0xfe00	/* usual heap_end_ptr; unused at 64-bit entry */
#define LINUX_LOW_LOAD_ADDR	0x100000ULL
#define LINUX_ENTRY64		0x200	/* startup_64, from the protected-mode kernel */
#define SECTOR_SIZE		512
#define DEFAULT_SETUP_SECTS	4	/* setup_sects == 0 means 4 */
/* Concatenated cpio archives must each start 4-byte aligned for the kernel's unpacker. */
#define INITRD_ALIGN		4

struct linux_image {
	const uint8_t *kernel;		/* protected-mode part of the file */
	uint64_t kernel_size;
	uint64_t load_addr;
	uint64_t initrd_addr;
	uint64_t initrd_size;
};

bool linux_detect(const uint8_t *data, size_t size)
{
	return size >= HDR_MAGIC + 4 && !memcmp(data + HDR_MAGIC, "HdrS", 4);
}

/* Copy the setup header into a clean zero page and check what the kernel claims. */
static int read_header(struct boot_ctx *ctx, struct boot_params *bp, struct linux_image *img)
{
	const struct boot_blob *k = &ctx->cfg->kernel;
	uint64_t setup_size;
	size_t hdr_end;
	uint16_t version;

	if (k->size < HDR_VERSION + 2)
		return boot_fail(ctx, "bzImage truncated inside its setup header");
	version = k->data[HDR_VERSION] | k->data[HDR_VERSION + 1] << 8;
	if (version < PROTO_MIN)
		return boot_fail(ctx, "Linux boot protocol %u.%02u is too old, need 2.06 or newer",
				 version >> 8, version & 0xff);
	hdr_end = HDR_MAGIC + k->data[HDR_JUMP_LEN];
	if (hdr_end < HDR_END_MIN || hdr_end > HDR_END_MAX)
		return boot_fail(ctx, "bzImage setup header ends at 0x%zx, expected 0x%zx to 0x%zx",
				 hdr_end, HDR_END_MIN, HDR_END_MAX);
	if (hdr_end > k->size)
		return boot_fail(ctx, "bzImage truncated inside its setup header");

	memset(bp, 0, sizeof(*bp));
	memcpy((uint8_t *)bp + HDR_START, k->data + HDR_START, hdr_end - HDR_START);

	if (version < PROTO_XLOADFLAGS || !(bp->hdr.xloadflags & XLF_KERNEL_64))
		return boot_fail(ctx, "bzImage has no 64-bit entry point (XLF_KERNEL_64 not set)");
	setup_size = (uint64_t)((bp->hdr.setup_sects ? : DEFAULT_SETUP_SECTS) + 1) * SECTOR_SIZE;
	if (setup_size >= k->size)
		return boot_fail(ctx, "bzImage setup_sects %u runs past the end of the file",
				 bp->hdr.setup_sects);
	img->kernel = k->data + setup_size;
	img->kernel_size = (uint64_t)bp->hdr.syssize * 16;
	if (img->kernel_size == 0 || img->kernel_size > k->size - setup_size)
		return boot_fail(ctx, "bzImage syssize (%llu bytes) overruns the file (%llu left)",
				 (unsigned long long)img->kernel_size,
				 (unsigned long long)(k->size - setup_size));
	return 0;
}

/*
 * End of the memory the kernel occupies when loaded at @load: the image itself, then
 * (boot.rst, "kernel runtime start") init_size bytes from where it decompresses to.
 * Returns 0 if that cannot be below @limit (at most 3 GiB, so nothing here overflows).
 */
static uint64_t kernel_end(const struct setup_header *hdr, const struct linux_image *img,
			   uint64_t load, uint64_t limit)
{
	uint64_t start = hdr->pref_address, end;

	if (start > limit)
		return 0;
	if (hdr->relocatable_kernel) {
		uint32_t align = hdr->kernel_alignment;

		if (align == 0 || (align & (align - 1)))
			return 0;
		start = boot_align_up(load > start ? load : start, align);
	}
	end = start + hdr->init_size;
	if (end < load + img->kernel_size)
		end = load + img->kernel_size;
	return end > limit ? 0 : end;
}

/* Whether the kernel at @load and the initrd below initrd_addr_max both fit in low RAM. */
static bool place(struct boot_ctx *ctx, const struct setup_header *hdr, struct linux_image *img,
		  uint64_t load)
{
	uint64_t top = (uint64_t)hdr->initrd_addr_max + 1;
	uint64_t end = kernel_end(hdr, img, load, ctx->low_end);

	if (end == 0)
		return false;
	img->load_addr = load;
	if (!img->initrd_size)
		return true;
	if (top > ctx->low_end)
		top = ctx->low_end;
	if (img->initrd_size > top)
		return false;
	img->initrd_addr = (top - img->initrd_size) & ~(BOOT_PAGE_SIZE - 1);
	return img->initrd_addr >= end;
}

/*
 * Load at pref_address when everything fits there: the kernel then needs no move
 * before decompressing. A relocatable kernel can fall back to 1 MiB.
 */
static int place_kernel(struct boot_ctx *ctx, const struct setup_header *hdr,
			struct linux_image *img)
{
	uint64_t pref = hdr->pref_address;
	bool pref_ok = pref >= LINUX_LOW_LOAD_ADDR && pref < ctx->low_end &&
		       !(pref & (BOOT_PAGE_SIZE - 1));

	if (!boot_blobs_size(ctx->cfg->initrds, ctx->cfg->ninitrds, INITRD_ALIGN,
			     &img->initrd_size))
		return boot_fail(ctx, "initrd sizes overflow");
	if (img->initrd_size > UINT32_MAX)
		return boot_fail(ctx, "initrds total %llu bytes, more than 4 GiB",
				 (unsigned long long)img->initrd_size);
	if (pref_ok && place(ctx, hdr, img, pref))
		return 0;
	if ((hdr->relocatable_kernel || !pref_ok) && place(ctx, hdr, img, LINUX_LOW_LOAD_ADDR))
		return 0;
	return boot_fail(ctx, "kernel (init_size %u) and initrds (%llu bytes) do not fit in "
			 "0x%llx bytes of RAM below 4 GiB", hdr->init_size,
			 (unsigned long long)img->initrd_size, (unsigned long long)ctx->low_end);
}

/* cmdline_size excludes the terminating NUL. */
static int set_cmdline(struct boot_ctx *ctx, struct boot_params *bp)
{
	bp->hdr.cmd_line_ptr = (uint32_t)boot_linux_cmdline(ctx, bp->hdr.cmdline_size);
	return bp->hdr.cmd_line_ptr ? 0 : -1;
}

static void fill_zero_page(struct boot_ctx *ctx, struct boot_params *bp,
			   const struct linux_image *img)
{
	struct boot_e820 map[BOOT_E820_MAX];
	int n = boot_e820_map(ctx->gm, map);

	_Static_assert(BOOT_E820_MAX <= E820_MAX_ENTRIES_ZEROPAGE, "e820 fits the zero page");
	bp->hdr.type_of_loader = LINUX_LOADER_UNDEFINED;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = LINUX_HEAP_END;
	if (img->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)img->initrd_addr;
		bp->hdr.ramdisk_size = (uint32_t)img->initrd_size;
	}
	for (int i = 0; i < n; i++) {
		bp->e820_table[i].addr = map[i].addr;
		bp->e820_table[i].size = map[i].size;
		bp->e820_table[i].type = map[i].type;
	}
	bp->e820_entries = (uint8_t)n;
	if (bp->hdr.version >= PROTO_RSDP)
		bp->acpi_rsdp_addr = BOOT_RSDP_ADDR;
}

int linux_load(struct boot_ctx *ctx, struct boot_cpu_state *bsp)
{
	const struct boot_config *cfg = ctx->cfg;
	struct linux_image img = { 0 };
	struct boot_params bp;

	if (read_header(ctx, &bp, &img) || place_kernel(ctx, &bp.hdr, &img) ||
	    set_cmdline(ctx, &bp))
		return -1;
	fill_zero_page(ctx, &bp, &img);
	if (boot_put(ctx, img.load_addr, img.kernel, img.kernel_size, "kernel") ||
	    boot_put_blobs(ctx, img.initrd_addr, cfg->initrds, cfg->ninitrds, INITRD_ALIGN, NULL) ||
	    boot_put(ctx, BOOT_INFO_ADDR, &bp, sizeof(bp), "zero page") ||
	    boot_write_page_tables(ctx))
		return -1;
	boot_cpu_long64(bsp, img.load_addr + LINUX_ENTRY64);
	bsp->rsi = BOOT_INFO_ADDR;
	return 0;
}
