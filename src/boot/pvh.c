/*
 * PVH boot (Xen's hvm_start_info ABI, as Linux's CONFIG_PVH entry uses it without
 * Xen): ELF segments at p_paddr, initrds as modules at the top of low RAM, and a
 * version 1 start info with command line, RSDP and memory map; 32-bit flat entry.
 */
#include <string.h>

#include "boot_internal.h"
#include "boot_layout.h"

#define HVM_START_MAGIC		0x336ec578
#define HVM_START_VERSION	1	/* version 1 adds the memory map */

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;		/* e820 type numbers */
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_start_info) <= BOOT_INFO_SIZE, "start info fits its area");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_entry) == 24, "hvm_memmap_table_entry layout");
_Static_assert(BOOT_MAX_INITRDS * sizeof(struct hvm_modlist_entry) <= BOOT_MODLIST_SIZE,
	       "module list fits its area");
_Static_assert(BOOT_E820_MAX * sizeof(struct hvm_memmap_entry) <= BOOT_MEMMAP_SIZE,
	       "memory map fits its area");

/*
 * Modules go to the top of low RAM, above the kernel, each page aligned. Linux
 * itself only takes module 0 as its initrd; other PVH kernels may use them all.
 */
static int load_modules(struct boot_ctx *ctx, uint64_t kernel_end, struct hvm_start_info *si)
{
	const struct boot_config *cfg = ctx->cfg;
	struct hvm_modlist_entry mods[BOOT_MAX_INITRDS] = { 0 };
	uint64_t addr[BOOT_MAX_INITRDS];
	uint64_t total, base;

	if (!cfg->ninitrds)
		return 0;
	if (!boot_blobs_size(cfg->initrds, cfg->ninitrds, BOOT_PAGE_SIZE, &total) ||
	    total > ctx->low_end)
		return boot_fail(ctx, "initrds do not fit in RAM below 4 GiB");
	base = (ctx->low_end - total) & ~(BOOT_PAGE_SIZE - 1);
	if (base < kernel_end)
		return boot_fail(ctx, "initrds (%llu bytes) do not fit between the kernel end "
				 "0x%llx and 0x%llx", (unsigned long long)total,
				 (unsigned long long)kernel_end, (unsigned long long)ctx->low_end);
	if (boot_put_blobs(ctx, base, cfg->initrds, cfg->ninitrds, BOOT_PAGE_SIZE, addr))
		return -1;
	for (int i = 0; i < cfg->ninitrds; i++) {
		mods[i].paddr = addr[i];
		mods[i].size = cfg->initrds[i].size;
	}
	si->nr_modules = (uint32_t)cfg->ninitrds;
	si->modlist_paddr = BOOT_MODLIST_ADDR;
	return boot_put(ctx, BOOT_MODLIST_ADDR, mods, cfg->ninitrds * sizeof(mods[0]),
			"PVH module list");
}

static int write_memmap(struct boot_ctx *ctx, struct hvm_start_info *si)
{
	struct boot_e820 map[BOOT_E820_MAX];
	struct hvm_memmap_entry mm[BOOT_E820_MAX] = { 0 };
	int n = boot_e820_map(ctx->gm, map);

	for (int i = 0; i < n; i++) {
		mm[i].addr = map[i].addr;
		mm[i].size = map[i].size;
		mm[i].type = map[i].type;
	}
	si->memmap_paddr = BOOT_MEMMAP_ADDR;
	si->memmap_entries = (uint32_t)n;
	return boot_put(ctx, BOOT_MEMMAP_ADDR, mm, n * sizeof(mm[0]), "PVH memory map");
}

int pvh_load(struct boot_ctx *ctx, const struct elf_image *elf, uint32_t entry,
	     struct boot_cpu_state *bsp)
{
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.rsdp_paddr = BOOT_RSDP_ADDR,
	};
	uint64_t kernel_end;

	if (elf_load(ctx, elf, &kernel_end) || load_modules(ctx, kernel_end, &si) ||
	    write_memmap(ctx, &si))
		return -1;
	/* PVH has no cmdline_size: only the strings area bounds the command line. */
	si.cmdline_paddr = boot_linux_cmdline(ctx, SIZE_MAX);
	if (!si.cmdline_paddr || boot_put(ctx, BOOT_INFO_ADDR, &si, sizeof(si), "PVH start info"))
		return -1;
	boot_cpu_prot32(bsp, entry);
	bsp->rbx = BOOT_INFO_ADDR;
	return 0;
}
