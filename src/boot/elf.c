/*
 * ELF reading for the PVH and multiboot loaders: header and program header
 * checks, the Xen PVH entry note, and loading PT_LOAD segments at p_paddr.
 * Every offset and size from the file is checked against the buffer first.
 */
#include <elf.h>
#include <string.h>

#include "boot_internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define NOTE_HDR_SIZE			12	/* namesz, descsz, type */
#define FOUR_GIB			0x100000000ULL

bool elf_detect(const uint8_t *data, size_t size)
{
	return size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
}

static int parse64(struct boot_ctx *ctx, struct elf_image *elf)
{
	Elf64_Ehdr eh;

	if (elf->size < sizeof(eh))
		return boot_fail(ctx, "ELF64 image truncated inside its header");
	memcpy(&eh, elf->data, sizeof(eh));
	if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_386)
		return boot_fail(ctx, "ELF machine %u is not x86", eh.e_machine);
	elf->entry = eh.e_entry;
	elf->phoff = eh.e_phoff;
	elf->phnum = eh.e_phnum;
	elf->phentsize = eh.e_phentsize;
	return elf->phentsize < sizeof(Elf64_Phdr) ?
	       boot_fail(ctx, "ELF program header size %u too small", elf->phentsize) : 0;
}

static int parse32(struct boot_ctx *ctx, struct elf_image *elf)
{
	Elf32_Ehdr eh;

	if (elf->size < sizeof(eh))
		return boot_fail(ctx, "ELF32 image truncated inside its header");
	memcpy(&eh, elf->data, sizeof(eh));
	if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
		return boot_fail(ctx, "ELF machine %u is not x86", eh.e_machine);
	elf->entry = eh.e_entry;
	elf->phoff = eh.e_phoff;
	elf->phnum = eh.e_phnum;
	elf->phentsize = eh.e_phentsize;
	return elf->phentsize < sizeof(Elf32_Phdr) ?
	       boot_fail(ctx, "ELF program header size %u too small", elf->phentsize) : 0;
}

int elf_parse(struct boot_ctx *ctx, struct elf_image *elf)
{
	const struct boot_blob *k = &ctx->cfg->kernel;
	uint64_t table;

	memset(elf, 0, sizeof(*elf));
	elf->data = k->data;
	elf->size = k->size;
	if (k->size < EI_NIDENT)
		return boot_fail(ctx, "ELF image truncated inside its identification");
	if (k->data[EI_DATA] != ELFDATA2LSB)
		return boot_fail(ctx, "ELF image is not little-endian");
	if (k->data[EI_CLASS] == ELFCLASS64)
		elf->is64 = true;
	else if (k->data[EI_CLASS] != ELFCLASS32)
		return boot_fail(ctx, "ELF class %u is neither 32 nor 64 bit", k->data[EI_CLASS]);
	if (elf->is64 ? parse64(ctx, elf) : parse32(ctx, elf))
		return -1;
	/* PN_XNUM would put the real count in a section header; no kernel needs that. */
	if (elf->phnum == 0 || elf->phnum == PN_XNUM)
		return boot_fail(ctx, "ELF image has %u program headers", elf->phnum);
	table = (uint64_t)elf->phnum * elf->phentsize;
	if (elf->phoff > k->size || table > k->size - elf->phoff)
		return boot_fail(ctx, "ELF program headers [0x%llx, +0x%llx) lie outside the file",
				 (unsigned long long)elf->phoff, (unsigned long long)table);
	return 0;
}

/* Program header @i; elf_parse() checked that the whole table is inside the file. */
static void get_segment(const struct elf_image *elf, unsigned int i, struct elf_segment *seg)
{
	const uint8_t *p = elf->data + elf->phoff + (uint64_t)i * elf->phentsize;

	if (elf->is64) {
		Elf64_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz, ph.p_align };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz, ph.p_align };
	}
}

static bool in_file(const struct elf_image *elf, uint64_t offset, uint64_t len)
{
	return offset <= elf->size && len <= elf->size - offset;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The PHYS32_ENTRY descriptor is 4 bytes, or 8 when the kernel emits a 64-bit pointer. */
static int note_entry(struct boot_ctx *ctx, const uint8_t *desc, uint32_t descsz,
		      uint32_t *entry)
{
	uint64_t v = 0;

	if (descsz != 4 && descsz != 8)
		return boot_fail(ctx, "PVH entry note has a %u-byte descriptor", descsz);
	memcpy(&v, desc, descsz);
	if (v >= FOUR_GIB)
		return boot_fail(ctx, "PVH entry point 0x%llx is above 4 GiB",
				 (unsigned long long)v);
	*entry = (uint32_t)v;
	return 1;
}

/*
 * Walk the notes of one PT_NOTE segment for one owned by @owner (of @type, or
 * of any type when @type is negative); 1 with @note filled when found.
 */
static int scan_notes(struct boot_ctx *ctx, const struct elf_image *elf,
		      const struct elf_segment *seg, const char *owner, uint32_t type,
		      struct elf_note *note)
{
	uint64_t align = seg->align == 8 ? 8 : 4;
	const uint8_t *p = elf->data + seg->offset;
	uint64_t left = seg->filesz;
	uint32_t owner_size = (uint32_t)strlen(owner) + 1;

	while (left >= NOTE_HDR_SIZE) {
		uint32_t namesz = rd32(p), descsz = rd32(p + 4), ntype = rd32(p + 8);
		uint64_t name_len = boot_align_up(namesz, align);
		uint64_t desc_len = boot_align_up(descsz, align);

		if (name_len > left - NOTE_HDR_SIZE ||
		    desc_len > left - NOTE_HDR_SIZE - name_len)
			return boot_fail(ctx, "ELF note sizes (%u, %u) overrun their segment",
					 namesz, descsz);
		if (ntype == type && namesz == owner_size &&
		    !memcmp(p + NOTE_HDR_SIZE, owner, owner_size)) {
			note->desc = p + NOTE_HDR_SIZE + name_len;
			note->descsz = descsz;
			return 1;
		}
		p += NOTE_HDR_SIZE + name_len + desc_len;
		left -= NOTE_HDR_SIZE + name_len + desc_len;
	}
	return 0;
}

int elf_find_note(struct boot_ctx *ctx, const struct elf_image *elf, const char *owner,
		  uint32_t type, struct elf_note *note)
{
	struct elf_segment seg;

	for (unsigned int i = 0; i < elf->phnum; i++) {
		int r;

		get_segment(elf, i, &seg);
		if (seg.type != PT_NOTE)
			continue;
		if (!in_file(elf, seg.offset, seg.filesz))
			return boot_fail(ctx, "ELF note segment %u lies outside the file", i);
		r = scan_notes(ctx, elf, &seg, owner, type, note);
		if (r)
			return r;
	}
	return 0;
}

int elf_pvh_entry(struct boot_ctx *ctx, const struct elf_image *elf, uint32_t *entry)
{
	struct elf_note note;
	int r = elf_find_note(ctx, elf, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &note);

	return r == 1 ? note_entry(ctx, note.desc, note.descsz, entry) : r;
}

static int check_segment(struct boot_ctx *ctx, const struct elf_image *elf,
			 const struct elf_segment *seg, unsigned int i)
{
	if (seg->filesz > seg->memsz)
		return boot_fail(ctx, "ELF segment %u has p_filesz 0x%llx > p_memsz 0x%llx", i,
				 (unsigned long long)seg->filesz, (unsigned long long)seg->memsz);
	if (!in_file(elf, seg->offset, seg->filesz))
		return boot_fail(ctx, "ELF segment %u [0x%llx, +0x%llx) lies outside the file", i,
				 (unsigned long long)seg->offset, (unsigned long long)seg->filesz);
	return boot_check_load_range(ctx, seg->paddr, seg->memsz, "ELF segment");
}

/* All segments are checked before any byte is written. */
int elf_load(struct boot_ctx *ctx, const struct elf_image *elf, uint64_t *end)
{
	struct elf_segment seg;
	bool any = false;

	*end = 0;
	for (unsigned int i = 0; i < elf->phnum; i++) {
		get_segment(elf, i, &seg);
		if (seg.type != PT_LOAD || seg.memsz == 0)
			continue;
		if (check_segment(ctx, elf, &seg, i))
			return -1;
		if (seg.paddr + seg.memsz > *end)
			*end = seg.paddr + seg.memsz;
		any = true;
	}
	if (!any)
		return boot_fail(ctx, "ELF image has no loadable segment");
	for (unsigned int i = 0; i < elf->phnum; i++) {
		uint8_t *dst;

		get_segment(elf, i, &seg);
		if (seg.type != PT_LOAD || seg.memsz == 0)
			continue;
		dst = gpa_to_host(ctx->gm, seg.paddr, seg.memsz);
		memcpy(dst, elf->data + seg.offset, seg.filesz);
		memset(dst + seg.filesz, 0, seg.memsz - seg.filesz);
	}
	return 0;
}

uint64_t elf_entry_paddr(const struct elf_image *elf)
{
	struct elf_segment seg;

	for (unsigned int i = 0; i < elf->phnum; i++) {
		get_segment(elf, i, &seg);
		if (seg.type == PT_LOAD && elf->entry >= seg.vaddr &&
		    elf->entry - seg.vaddr < seg.memsz)
			return elf->entry - seg.vaddr + seg.paddr;
	}
	return elf->entry;
}
