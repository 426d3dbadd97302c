/*
 * Fixtures for the boot loader tests: guest RAM, typed reads from it, and
 * builders for synthetic kernels (bzImage, ELF with PVH notes, multiboot).
 * Include after <cmocka.h>'s prerequisites; everything here is static inline.
 */
#ifndef SPRY_BOOT_TEST_UTIL_H
#define SPRY_BOOT_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <asm/bootparam.h>
#include <elf.h>

#include "spry/boot.h"
#include "spry/layout.h"
#include "spry/memory.h"

#define MIB		(1ULL << 20)
#define GIB		(1ULL << 30)
#define TU_PVH_NOTE	18
#define TU_MB_MAGIC	0x1badb002u

static inline void tu_mem(struct guest_memory *gm, uint64_t size)
{
	assert_int_equal(guest_memory_init(gm, size), 0);
}

/* A teardown's work: the fixture's guest RAM, its image (or NULL), the fixture. */
static inline int tu_free(struct guest_memory *gm, void *img, void *fixture)
{
	guest_memory_destroy(gm);
	free(img);
	free(fixture);
	return 0;
}

static inline void *tu_gpa(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	void *p = gpa_to_host(gm, gpa, len);

	assert_non_null(p);
	return p;
}

static inline uint64_t tu_rd(const struct guest_memory *gm, uint64_t gpa, unsigned int size)
{
	uint64_t v = 0;

	memcpy(&v, tu_gpa(gm, gpa, size), size);
	return v;
}

static inline uint8_t tu_sum(const void *p, size_t len)
{
	const uint8_t *c = p;
	uint8_t s = 0;

	while (len--)
		s += *c++;
	return s;
}

static inline struct boot_config tu_config(const uint8_t *data, size_t size)
{
	return (struct boot_config){
		.kernel = { "/boot/kernel", data, size },
		.ncpus = 1,
	};
}

/* Exactly-sized heap copy, so AddressSanitizer flags any read past its end. */
static inline uint8_t *tu_dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

static inline int tu_load(struct guest_memory *gm, const struct boot_config *cfg,
			  enum boot_protocol *proto, struct boot_cpu_state *cpu, char *err)
{
	return boot_load(gm, cfg, proto, cpu, err, 256);
}

/* boot_load() that must succeed; the protocol it chose. */
static inline enum boot_protocol tu_load_ok(struct guest_memory *gm,
					    const struct boot_config *cfg,
					    struct boot_cpu_state *cpu)
{
	enum boot_protocol proto;
	char err[256];

	if (tu_load(gm, cfg, &proto, cpu, err))
		fail_msg("boot_load: %s", err);
	return proto;
}

/* Expect boot_load() to fail with a message containing @what. */
static inline void tu_expect_fail(struct guest_memory *gm, const struct boot_config *cfg,
				  const char *what)
{
	enum boot_protocol proto;
	struct boot_cpu_state cpu;
	char err[256];

	assert_int_equal(boot_load(gm, cfg, &proto, &cpu, err, sizeof(err)), -1);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not mention \"%s\"", err, what);
	assert_null(strchr(err, '\n'));
}

/*
 * Load every proper prefix of @img: each must fail cleanly or succeed, never
 * read past the prefix (ASan) nor write outside RAM. Returns how many succeeded.
 */
static inline int tu_truncations(struct guest_memory *gm, const struct boot_config *base,
				 const uint8_t *img, size_t len)
{
	int ok = 0;

	for (size_t n = 0; n < len; n++) {
		struct boot_config cfg = *base;
		enum boot_protocol proto;
		struct boot_cpu_state cpu;
		char err[256];
		uint8_t *copy = tu_dup(img, n);
		int r;

		cfg.kernel.data = copy;
		cfg.kernel.size = n;
		r = boot_load(gm, &cfg, &proto, &cpu, err, sizeof(err));
		assert_true(r == 0 || r == -1);
		if (r == -1)
			assert_true(err[0] != '\0');
		ok += r == 0;
		free(copy);
	}
	return ok;
}

/* bzImage: 4 setup sectors with a 2.15 header, then @payload bytes of "kernel". */
#define TU_BZ_SETUP	(5 * 512)
#define TU_BZ_PREF	(16 * MIB)
#define TU_BZ_INIT	(8 * MIB)

static inline struct setup_header *tu_bz_hdr(uint8_t *img)
{
	return (struct setup_header *)(img + 0x1f1);
}

static inline uint8_t *tu_bzimage(size_t payload, size_t *len)
{
	uint8_t *img = calloc(1, TU_BZ_SETUP + payload);
	struct setup_header *h;

	assert_non_null(img);
	h = tu_bz_hdr(img);
	h->setup_sects = 4;
	h->syssize = (uint32_t)(payload / 16);
	h->boot_flag = 0xaa55;
	img[0x200] = 0xeb;
	img[0x201] = (uint8_t)(0x1f1 + sizeof(*h) - 0x202);
	memcpy(&h->header, "HdrS", 4);
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = 2047;
	h->pref_address = TU_BZ_PREF;
	h->init_size = TU_BZ_INIT;
	for (size_t i = 0; i < payload; i++)
		img[TU_BZ_SETUP + i] = (uint8_t)(i * 7 + 1);
	*len = TU_BZ_SETUP + payload;
	return img;
}

/* ELF images: each segment's bytes follow the program headers, 16-byte aligned. */
struct tu_seg {
	uint32_t type;
	uint64_t paddr;
	uint64_t vaddr;
	const void *data;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

static inline uint8_t *tu_elf(bool is64, uint64_t entry, const struct tu_seg *segs, int n,
			      size_t *len)
{
	size_t eh = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t ph = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t off = (eh + n * ph + 15) & ~(size_t)15, total = off;
	uint8_t *img;

	for (int i = 0; i < n; i++)
		total = ((total + 15) & ~(size_t)15) + segs[i].filesz;
	img = calloc(1, total);
	assert_non_null(img);
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	if (is64) {
		Elf64_Ehdr e = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
				 .e_entry = entry, .e_phoff = eh, .e_ehsize = (uint16_t)eh,
				 .e_phentsize = (uint16_t)ph, .e_phnum = (uint16_t)n };

		memcpy(e.e_ident, img, EI_NIDENT);
		memcpy(img, &e, sizeof(e));
	} else {
		Elf32_Ehdr e = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
				 .e_entry = (uint32_t)entry, .e_phoff = (uint32_t)eh,
				 .e_ehsize = (uint16_t)eh, .e_phentsize = (uint16_t)ph,
				 .e_phnum = (uint16_t)n };

		memcpy(e.e_ident, img, EI_NIDENT);
		memcpy(img, &e, sizeof(e));
	}
	for (int i = 0; i < n; i++) {
		const struct tu_seg *s = &segs[i];

		off = (off + 15) & ~(size_t)15;
		if (is64) {
			Elf64_Phdr p = { s->type, PF_R | PF_X, off, s->vaddr, s->paddr, s->filesz,
					 s->memsz, s->align };

			memcpy(img + eh + i * ph, &p, sizeof(p));
		} else {
			Elf32_Phdr p = { s->type, (uint32_t)off, (uint32_t)s->vaddr,
					 (uint32_t)s->paddr, (uint32_t)s->filesz,
					 (uint32_t)s->memsz, PF_R | PF_X, (uint32_t)s->align };

			memcpy(img + eh + i * ph, &p, sizeof(p));
		}
		if (s->filesz)
			memcpy(img + off, s->data, s->filesz);
		off += s->filesz;
	}
	*len = total;
	return img;
}

/* Offset of program header @i's p_offset/p_filesz etc. are easier patched through these. */
static inline Elf64_Phdr *tu_phdr64(uint8_t *img, int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static inline Elf32_Phdr *tu_phdr32(uint8_t *img, int i)
{
	return (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr));
}

/* A "Xen" PHYS32_ENTRY note with a @descsz-byte descriptor; returns its length. */
static inline size_t tu_pvh_note(uint8_t *buf, uint64_t entry, uint32_t descsz)
{
	uint32_t hdr[3] = { 4, descsz, TU_PVH_NOTE };

	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + 12, "Xen", 4);
	memset(buf + 16, 0, 8);
	memcpy(buf + 16, &entry, descsz < 8 ? descsz : 8);
	return 16 + ((descsz + 3) & ~3u);
}

/* The smallest PVH kernel: 4 KiB at 2 MiB, with a PVH note entering at its start. */
static inline uint8_t *tu_pvh_image(size_t *len)
{
	uint8_t text[4096] = { 0xf4 };	/* hlt */
	uint8_t note[32];
	struct tu_seg segs[2] = {
		{ PT_LOAD, 2 * MIB, 2 * MIB, text, sizeof(text), sizeof(text), 4096 },
		{ PT_NOTE, 0, 0, note, 0, 0, 4 },
	};

	segs[1].filesz = tu_pvh_note(note, 2 * MIB, 8);
	segs[1].memsz = segs[1].filesz;
	return tu_elf(true, 2 * MIB, segs, 2, len);
}

/* Multiboot header magic, flags and checksum; the address fields are the caller's. */
static inline void tu_mb_header(uint8_t *buf, uint32_t flags)
{
	uint32_t h[3] = { TU_MB_MAGIC, flags, -(TU_MB_MAGIC + flags) };

	memcpy(buf, h, sizeof(h));
}

/*
 * An a.out-kludge multiboot header at 0x40 of @raw: @flags, then the header,
 * load, load end, bss end and entry addresses.
 */
static inline void tu_mb_kludge(uint8_t *raw, uint32_t flags, const uint32_t addrs[5])
{
	tu_mb_header(raw + 0x40, flags);
	memcpy(raw + 0x4c, addrs, 5 * sizeof(addrs[0]));
}

#endif
