/*
 * Multiboot v1 (spec 0.6.96) as GRUB and QEMU load it: an ELF image by its program
 * headers or a raw image by the header's address fields, modules page aligned after
 * the kernel, and an info block with memory sizes, command line, modules and mmap.
 */
#include <string.h>

#include "boot_internal.h"
#include "boot_layout.h"
#include "spry/layout.h"

#define MB_HEADER_MAGIC		0x1badb002
#define MB_BOOT_MAGIC		0x2badb002	/* in EAX at entry */
#define MB_SEARCH_LEN		8192		/* the header lies in the first 8 KiB */

/* Header flags: 0..15 are requirements the loader must meet or refuse the image. */
#define MB_FLAG_PAGE_ALIGN	(1u << 0)	/* always done */
#define MB_FLAG_MEMORY		(1u << 1)	/* always done */
#define MB_FLAG_VIDEO		(1u << 2)	/* only a preference; no framebuffer */
#define MB_FLAG_AOUT_KLUDGE	(1u << 16)
#define MB_FLAGS_REQUIRED	0xffffu
#define MB_FLAGS_SUPPORTED	(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY | MB_FLAG_VIDEO)

/* Info flags. */
#define MB_INFO_MEMORY		(1u << 0)
#define MB_INFO_CMDLINE		(1u << 2)
#define MB_INFO_MODS		(1u << 3)
#define MB_INFO_MMAP		(1u << 6)
#define MB_INFO_LOADER_NAME	(1u << 9)

#define FOUR_GIB		0x100000000ULL
#define KIB			1024

struct mb_header {
	uint32_t magic;
	uint32_t flags;
	uint32_t checksum;
	/* Valid with MB_FLAG_AOUT_KLUDGE. */
	uint32_t header_addr;
	uint32_t load_addr;
	uint32_t load_end_addr;
	uint32_t bss_end_addr;
	uint32_t entry_addr;
} __attribute__((packed));

#define MB_HEADER_MIN		offsetof(struct mb_header, header_addr)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower;	/* KiB below 640 KiB */
	uint32_t mem_upper;	/* KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint8_t vbe_and_framebuffer[44];
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start;
	uint32_t mod_end;	/* exclusive */
	uint32_t string;
	uint32_t reserved;
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;		/* of the rest of the entry, without this field */
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct mb_header) == 32, "multiboot header layout");
_Static_assert(sizeof(struct mb_info) == 116, "multiboot info layout");
_Static_assert(sizeof(struct mb_info) <= BOOT_INFO_SIZE, "multiboot info fits its area");
_Static_assert(sizeof(struct mb_module) == 16, "multiboot module layout");
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry layout");
_Static_assert(BOOT_MAX_INITRDS * sizeof(struct mb_module) <= BOOT_MODLIST_SIZE,
	       "module list fits its area");
_Static_assert(BOOT_E820_MAX * sizeof(struct mb_mmap_entry) <= BOOT_MEMMAP_SIZE,
	       "memory map fits its area");

bool multiboot_find(const uint8_t *data, size_t size, size_t *offset)
{
	size_t len = size < MB_SEARCH_LEN ? size : MB_SEARCH_LEN;

	for (size_t off = 0; off + MB_HEADER_MIN <= len; off += 4) {
		struct mb_header h;

		memcpy(&h, data + off, MB_HEADER_MIN);
		if (h.magic == MB_HEADER_MAGIC && h.magic + h.flags + h.checksum == 0) {
			*offset = off;
			return true;
		}
	}
	return false;
}

/* Raw image placed by the header's address fields (the "a.out kludge"). */
static int load_kludge(struct boot_ctx *ctx, const struct mb_header *h, size_t off,
		       uint64_t *end, uint64_t *entry)
{
	const struct boot_blob *k = &ctx->cfg->kernel;
	uint64_t file_off, load_size, mem_end;
	uint8_t *dst;

	if (off + sizeof(*h) > k->size)
		return boot_fail(ctx, "multiboot header truncated before its address fields");
	if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > off)
		return boot_fail(ctx, "multiboot header_addr 0x%x and load_addr 0x%x do not match "
				 "the header's file offset 0x%zx",
				 h->header_addr, h->load_addr, off);
	file_off = off - (h->header_addr - h->load_addr);
	load_size = k->size - file_off;
	if (h->load_end_addr) {
		if (h->load_end_addr < h->load_addr ||
		    h->load_end_addr - h->load_addr > load_size)
			return boot_fail(ctx, "multiboot load_end_addr 0x%x is outside the file",
					 h->load_end_addr);
		load_size = h->load_end_addr - h->load_addr;
	}
	mem_end = h->load_addr + load_size;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < mem_end)
			return boot_fail(ctx, "multiboot bss_end_addr 0x%x is below the image end",
					 h->bss_end_addr);
		mem_end = h->bss_end_addr;
	}
	if (boot_check_load_range(ctx, h->load_addr, mem_end - h->load_addr, "multiboot image"))
		return -1;
	dst = gpa_to_host(ctx->gm, h->load_addr, mem_end - h->load_addr);
	memcpy(dst, k->data + file_off, load_size);
	memset(dst + load_size, 0, mem_end - h->load_addr - load_size);
	*end = mem_end;
	*entry = h->entry_addr;
	return 0;
}

static int load_image(struct boot_ctx *ctx, const struct elf_image *elf, size_t off,
		      uint64_t *end, uint64_t *entry)
{
	struct mb_header h = { 0 };
	const struct boot_blob *k = &ctx->cfg->kernel;

	memcpy(&h, k->data + off, k->size - off < sizeof(h) ? k->size - off : sizeof(h));
	if (h.flags & MB_FLAGS_REQUIRED & ~MB_FLAGS_SUPPORTED)
		return boot_fail(ctx, "multiboot header requires unsupported features (flags 0x%x)",
				 h.flags);
	if (h.flags & MB_FLAG_AOUT_KLUDGE)
		return load_kludge(ctx, &h, off, end, entry);
	if (!elf)
		return boot_fail(ctx, "multiboot image is not ELF and has no load addresses");
	if (elf_load(ctx, elf, end))
		return -1;
	*entry = elf_entry_paddr(elf);
	if (*entry >= FOUR_GIB)
		return boot_fail(ctx, "multiboot ELF entry point 0x%llx is above 4 GiB",
				 (unsigned long long)*entry);
	return 0;
}

/* Modules follow the kernel, page aligned; each string is the module's path. */
static int load_modules(struct boot_ctx *ctx, uint64_t kernel_end, struct mb_info *info)
{
	const struct boot_config *cfg = ctx->cfg;
	struct mb_module mods[BOOT_MAX_INITRDS] = { 0 };
	uint64_t addr[BOOT_MAX_INITRDS];
	uint64_t base = boot_align_up(kernel_end, BOOT_PAGE_SIZE), total;

	info->flags |= MB_INFO_MODS;
	info->mods_addr = BOOT_MODLIST_ADDR;
	if (!cfg->ninitrds)
		return 0;
	if (!boot_blobs_size(cfg->initrds, cfg->ninitrds, BOOT_PAGE_SIZE, &total) ||
	    base > ctx->low_end || total > ctx->low_end - base)
		return boot_fail(ctx, "modules do not fit between the kernel end 0x%llx and 0x%llx",
				 (unsigned long long)kernel_end, (unsigned long long)ctx->low_end);
	if (boot_put_blobs(ctx, base, cfg->initrds, cfg->ninitrds, BOOT_PAGE_SIZE, addr))
		return -1;
	for (int i = 0; i < cfg->ninitrds; i++) {
		const char *name = cfg->initrds[i].name;

		mods[i].mod_start = (uint32_t)addr[i];
		mods[i].mod_end = (uint32_t)(addr[i] + cfg->initrds[i].size);
		mods[i].string = (uint32_t)boot_add_string(ctx, "%s", name ? name : "");
		if (!mods[i].string)
			return -1;
	}
	info->mods_count = (uint32_t)cfg->ninitrds;
	return boot_put(ctx, BOOT_MODLIST_ADDR, mods, cfg->ninitrds * sizeof(mods[0]),
			"multiboot module list");
}

static int write_mmap(struct boot_ctx *ctx, struct mb_info *info)
{
	struct boot_e820 map[BOOT_E820_MAX];
	struct mb_mmap_entry mm[BOOT_E820_MAX];
	int n = boot_e820_map(ctx->gm, map);

	for (int i = 0; i < n; i++) {
		mm[i].size = sizeof(mm[i]) - sizeof(mm[i].size);
		mm[i].base_addr = map[i].addr;
		mm[i].length = map[i].size;
		mm[i].type = map[i].type;
	}
	info->flags |= MB_INFO_MMAP | MB_INFO_MEMORY;
	info->mmap_addr = BOOT_MEMMAP_ADDR;
	info->mmap_length = (uint32_t)(n * sizeof(mm[0]));
	info->mem_lower = SPRY_EBDA_START / KIB;
	info->mem_upper = (uint32_t)((ctx->low_end - SPRY_LOW_RAM_END) / KIB);
	return boot_put(ctx, BOOT_MEMMAP_ADDR, mm, n * sizeof(mm[0]), "multiboot memory map");
}

/* The command line a multiboot kernel sees starts with its own path, as GRUB passes it. */
static int write_strings(struct boot_ctx *ctx, struct mb_info *info)
{
	const char *path = ctx->cfg->kernel.name ? ctx->cfg->kernel.name : "";
	const char *cmdline = ctx->cfg->cmdline;

	info->cmdline = (uint32_t)(cmdline ? boot_add_string(ctx, "%s %s", path, cmdline) :
				   boot_add_string(ctx, "%s", path));
	info->boot_loader_name = (uint32_t)boot_add_string(ctx, "spry");
	if (!info->cmdline || !info->boot_loader_name)
		return -1;
	info->flags |= MB_INFO_CMDLINE | MB_INFO_LOADER_NAME;
	return 0;
}

int multiboot_load(struct boot_ctx *ctx, const struct elf_image *elf, size_t hdr_offset,
		   struct boot_cpu_state *bsp)
{
	struct mb_info info = { 0 };
	uint64_t end = 0, entry = 0;

	if (load_image(ctx, elf, hdr_offset, &end, &entry) || write_strings(ctx, &info) ||
	    load_modules(ctx, end, &info) || write_mmap(ctx, &info) ||
	    boot_put(ctx, BOOT_INFO_ADDR, &info, sizeof(info), "multiboot info"))
		return -1;
	boot_cpu_prot32(bsp, entry);
	bsp->rax = MB_BOOT_MAGIC;
	bsp->rbx = BOOT_INFO_ADDR;
	return 0;
}
