/*
 * Shared between the boot loader's files: the loading context, error reporting,
 * checked guest writes, the e820 map, ELF parsing and the per-protocol loaders.
 */
#ifndef SPRY_BOOT_INTERNAL_H
#define SPRY_BOOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spry/boot.h"
#include "spry/memory.h"

#define BOOT_PAGE_SIZE		0x1000ULL
#define BOOT_MAX_INITRDS	32

struct boot_ctx {
	struct guest_memory *gm;
	const struct boot_config *cfg;
	uint64_t low_end;		/* end of RAM below 4 GiB */
	uint64_t strings_used;		/* bytes taken in the strings area */
	char *err;
	size_t errlen;
};

static inline uint64_t boot_align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* The byte that makes @len bytes sum to zero, as MP and ACPI checksums want. */
uint8_t boot_checksum(const void *p, size_t len);

/* Sets the error message and returns -1, so callers can `return boot_fail(...)`. */
int boot_fail(struct boot_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy into guest RAM; fails (with a message naming @what) if any byte is outside RAM. */
int boot_put(struct boot_ctx *ctx, uint64_t gpa, const void *src, uint64_t len, const char *what);

/*
 * Check that [gpa, gpa + len) is a non-empty range of RAM at or above
 * BOOT_KERNEL_MIN_ADDR, i.e. clear of the loader's own tables.
 */
int boot_check_load_range(struct boot_ctx *ctx, uint64_t gpa, uint64_t len, const char *what);

/* Append a formatted NUL-terminated string to the strings area; returns its address or 0. */
uint64_t boot_add_string(struct boot_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Add the command line a Linux guest (bzImage or PVH) sees to the strings area:
 * the user's, then " virtio_mmio.device=4K@0x<base>:<gsi>" for each virtio-mmio
 * window, for kernels with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (others find the
 * windows in the DSDT and ignore the option). Fails, naming the sizes, if the
 * result is longer than @max bytes (NUL excluded). Returns its address or 0.
 */
uint64_t boot_linux_cmdline(struct boot_ctx *ctx, size_t max);

/*
 * Size of @n blobs laid out one after the other, each starting @align-aligned;
 * false if it overflows. boot_put_blobs() copies them that way from @gpa and
 * stores where each went in @addr (may be NULL).
 */
bool boot_blobs_size(const struct boot_blob *b, int n, uint64_t align, uint64_t *total);
int boot_put_blobs(struct boot_ctx *ctx, uint64_t gpa, const struct boot_blob *b, int n,
		   uint64_t align, uint64_t *addr);

/* e820 map shared by all protocols (boot_params, hvm memmap, multiboot mmap). */
#define BOOT_E820_RAM		1
#define BOOT_E820_RESERVED	2
#define BOOT_E820_MAX		4

struct boot_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

int boot_e820_map(const struct guest_memory *gm, struct boot_e820 map[BOOT_E820_MAX]);

/* CPU state: the GDT every protocol gets, long-mode page tables, entry register sets. */
int boot_write_gdt(struct boot_ctx *ctx);
int boot_write_page_tables(struct boot_ctx *ctx);
void boot_cpu_long64(struct boot_cpu_state *s, uint64_t rip);
void boot_cpu_prot32(struct boot_cpu_state *s, uint64_t rip);

/* Firmware tables. */
int boot_write_mptable(struct boot_ctx *ctx);
int boot_write_acpi(struct boot_ctx *ctx);

/* ELF images (32 or 64 bit, little-endian x86); every field read is bounds-checked. */
struct elf_image {
	const uint8_t *data;
	size_t size;
	bool is64;
	uint64_t entry;
	uint64_t phoff;
	unsigned int phnum;
	unsigned int phentsize;
};

struct elf_segment {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

bool elf_detect(const uint8_t *data, size_t size);
int elf_parse(struct boot_ctx *ctx, struct elf_image *elf);
/* Returns 1 and sets @entry if the image has a PVH entry note, 0 if not, -1 if malformed. */
int elf_pvh_entry(struct boot_ctx *ctx, const struct elf_image *elf, uint32_t *entry);

struct elf_note {
	const uint8_t *desc;
	uint32_t descsz;
};

/*
 * Find a note owned by @owner of @type: 1 with @note filled, 0 when there is
 * none, -1 on a malformed note table.
 */
int elf_find_note(struct boot_ctx *ctx, const struct elf_image *elf, const char *owner,
		  uint32_t type, struct elf_note *note);
/* Load every PT_LOAD at its p_paddr; @end receives the highest address loaded + 1. */
int elf_load(struct boot_ctx *ctx, const struct elf_image *elf, uint64_t *end);
/* e_entry translated to a physical address through the segment that contains it. */
uint64_t elf_entry_paddr(const struct elf_image *elf);

/* Protocols. */
bool linux_detect(const uint8_t *data, size_t size);
int linux_load(struct boot_ctx *ctx, struct boot_cpu_state *bsp);
int pvh_load(struct boot_ctx *ctx, const struct elf_image *elf, uint32_t entry,
	     struct boot_cpu_state *bsp);
bool multiboot_find(const uint8_t *data, size_t size, size_t *offset);
int multiboot_load(struct boot_ctx *ctx, const struct elf_image *elf, size_t hdr_offset,
		   struct boot_cpu_state *bsp);

#endif
