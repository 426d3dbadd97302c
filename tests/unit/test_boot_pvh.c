/*
 * PVH boot of ELF images with a Xen PHYS32_ENTRY note: segment loading, the
 * hvm_start_info block, modules, 32-bit entry state, and malformed ELF files.
 */
#include "boot_test_util.h"

#define ENTRY		0x200040
#define START_INFO	0x8000

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
} __attribute__((packed));

struct fixture {
	struct guest_memory gm;
	uint8_t text[4096];
	uint8_t data[100];
	uint8_t notes[64];
	uint8_t *img;
	size_t len;
};

/* Two loadable segments (the first with bss) and a note segment: a GNU note, then PVH. */
static uint8_t *build(struct fixture *f, bool is64, uint32_t descsz, size_t *len)
{
	uint32_t gnu[4] = { 4, 4, 3, 0 };
	struct tu_seg segs[3] = {
		{ PT_LOAD, 2 * MIB, 0xffffffff80200000ULL, f->text, sizeof(f->text), 8192, 4096 },
		{ PT_LOAD, 3 * MIB, 0xffffffff80300000ULL, f->data, sizeof(f->data),
		  sizeof(f->data), 4096 },
		{ PT_NOTE, 0, 0, f->notes, 0, 0, 4 },
	};

	memcpy(gnu + 3, "GNU", 4);
	memcpy(f->notes, gnu, sizeof(gnu));
	memset(f->notes + 16, 0x11, 4);
	segs[2].filesz = 20 + tu_pvh_note(f->notes + 20, ENTRY, descsz);
	segs[2].memsz = segs[2].filesz;
	return tu_elf(is64, 0xffffffff80200040ULL, segs, 3, len);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	tu_mem(&f->gm, 64 * MIB);
	for (size_t i = 0; i < sizeof(f->text); i++)
		f->text[i] = (uint8_t)(i * 3 + 5);
	memset(f->data, 0xda, sizeof(f->data));
	f->img = build(f, true, 8, &f->len);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	return tu_free(&f->gm, f->img, f);
}

static void load_ok(struct guest_memory *gm, const struct boot_config *cfg,
		    struct boot_cpu_state *cpu, struct hvm_start_info *si)
{
	assert_int_equal(tu_load_ok(gm, cfg, cpu), BOOT_PVH);
	memcpy(si, tu_gpa(gm, cpu->rbx, sizeof(*si)), sizeof(*si));
}

static void check_image(struct fixture *f, const struct boot_cpu_state *cpu)
{
	uint64_t cs;

	assert_memory_equal(tu_gpa(&f->gm, 2 * MIB, sizeof(f->text)), f->text, sizeof(f->text));
	for (uint64_t a = 2 * MIB + 4096; a < 2 * MIB + 8192; a += 8)
		assert_int_equal(tu_rd(&f->gm, a, 8), 0);
	assert_memory_equal(tu_gpa(&f->gm, 3 * MIB, sizeof(f->data)), f->data, sizeof(f->data));
	assert_int_equal(cpu->mode, BOOT_CPU_PROT32);
	assert_int_equal(cpu->rip, ENTRY);
	assert_int_equal(cpu->rbx, START_INFO);
	assert_int_equal(cpu->cr0, 1);
	assert_int_equal(cpu->cr3, 0);
	assert_int_equal(cpu->cr4, 0);
	assert_int_equal(cpu->efer, 0);
	assert_int_equal(cpu->rflags, 2);
	assert_int_equal(cpu->data_sel, 0x18);
	cs = tu_rd(&f->gm, cpu->gdt_base + cpu->code_sel, 8);
	/* Flat 32-bit code: present, code, D set, L clear, 4 KiB granularity. */
	assert_int_equal((cs >> 40) & 0x9a, 0x9a);
	assert_int_equal((cs >> 53) & 3, 2);
	assert_int_equal((cs >> 55) & 1, 1);
	assert_int_equal(cs & 0xffff, 0xffff);
}

static void test_elf64(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct hvm_start_info si;
	struct hvm_memmap_entry mm[3];
	struct boot_cpu_state cpu;

	/* Stale bytes where the bss goes must be cleared. */
	memset(tu_gpa(&f->gm, 2 * MIB, 8192), 0xff, 8192);
	cfg.cmdline = "console=hvc0";
	load_ok(&f->gm, &cfg, &cpu, &si);
	assert_string_equal(boot_protocol_name(BOOT_PVH), "pvh");
	check_image(f, &cpu);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.rsdp_paddr, 0xe0000);
	assert_string_equal(tu_gpa(&f->gm, si.cmdline_paddr, 13), "console=hvc0");
	assert_int_equal(si.memmap_entries, 3);
	memcpy(mm, tu_gpa(&f->gm, si.memmap_paddr, sizeof(mm)), sizeof(mm));
	assert_int_equal(mm[0].addr, 0);
	assert_int_equal(mm[0].size, 0x9fc00);
	assert_int_equal(mm[0].type, 1);
	assert_int_equal(mm[1].type, 2);
	assert_int_equal(mm[2].addr, MIB);
	assert_int_equal(mm[2].size, 63 * MIB);
	assert_int_equal(mm[2].type, 1);
	assert_int_equal(mm[2].reserved, 0);
}

static void test_elf32(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = build(f, false, 4, &len);
	struct boot_config cfg = tu_config(img, len);
	struct hvm_start_info si;
	struct boot_cpu_state cpu;

	load_ok(&f->gm, &cfg, &cpu, &si);
	check_image(f, &cpu);
	assert_string_equal(tu_gpa(&f->gm, si.cmdline_paddr, 1), "");
	free(img);
}

static void test_modules(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	uint8_t a[5000], b[300];
	struct boot_blob rd[2] = { { "a.img", a, sizeof(a) }, { "b.img", b, sizeof(b) } };
	struct hvm_modlist_entry mod[2];
	struct hvm_start_info si;
	struct boot_cpu_state cpu;
	uint8_t *huge;

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	cfg.initrds = rd;
	cfg.ninitrds = 2;
	load_ok(&f->gm, &cfg, &cpu, &si);
	assert_int_equal(si.nr_modules, 2);
	memcpy(mod, tu_gpa(&f->gm, si.modlist_paddr, sizeof(mod)), sizeof(mod));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mod[i].paddr % 4096, 0);
		assert_int_equal(mod[i].size, rd[i].size);
		assert_true(mod[i].paddr >= 3 * MIB + sizeof(f->data));
		assert_true(mod[i].paddr + mod[i].size <= 64 * MIB);
		assert_memory_equal(tu_gpa(&f->gm, mod[i].paddr, rd[i].size), rd[i].data,
				    rd[i].size);
	}
	assert_true(mod[1].paddr >= mod[0].paddr + sizeof(a));

	huge = calloc(1, 62 * MIB);
	rd[0] = (struct boot_blob){ "huge.img", huge, 62 * MIB };
	tu_expect_fail(&f->gm, &cfg, "do not fit");
	free(huge);
}

static void test_bad_elf_headers(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f->img;
	Elf64_Ehdr saved = *eh;

	eh->e_phoff = f->len - 10;
	tu_expect_fail(&f->gm, &cfg, "program headers");
	eh->e_phoff = 0xfffffffffffffff0ULL;
	tu_expect_fail(&f->gm, &cfg, "program headers");
	*eh = saved;
	eh->e_phnum = 1000;
	tu_expect_fail(&f->gm, &cfg, "program headers");
	eh->e_phnum = PN_XNUM;
	tu_expect_fail(&f->gm, &cfg, "program headers");
	eh->e_phnum = 0;
	tu_expect_fail(&f->gm, &cfg, "program headers");
	*eh = saved;
	eh->e_phentsize = 8;
	tu_expect_fail(&f->gm, &cfg, "program header size");
	*eh = saved;
	eh->e_machine = EM_AARCH64;
	tu_expect_fail(&f->gm, &cfg, "machine");
	*eh = saved;
	f->img[EI_DATA] = ELFDATA2MSB;
	tu_expect_fail(&f->gm, &cfg, "little-endian");
	f->img[EI_DATA] = ELFDATA2LSB;
	f->img[EI_CLASS] = 7;
	tu_expect_fail(&f->gm, &cfg, "class");
}

static void test_bad_segments(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	Elf64_Phdr *ph = tu_phdr64(f->img, 0);
	Elf64_Phdr saved = *ph;

	ph->p_filesz = ph->p_memsz + 1;
	tu_expect_fail(&f->gm, &cfg, "p_filesz");
	*ph = saved;
	ph->p_offset = f->len - 100;
	tu_expect_fail(&f->gm, &cfg, "outside the file");
	ph->p_offset = 0xffffffffffffff00ULL;
	tu_expect_fail(&f->gm, &cfg, "outside the file");
	*ph = saved;
	ph->p_paddr = GIB;
	tu_expect_fail(&f->gm, &cfg, "not inside guest RAM");
	ph->p_paddr = 0xfffffffffffff000ULL;
	ph->p_memsz = 0x2000;
	tu_expect_fail(&f->gm, &cfg, "not inside guest RAM");
	*ph = saved;
	ph->p_paddr = 64 * MIB - 4096;
	tu_expect_fail(&f->gm, &cfg, "not inside guest RAM");
	ph->p_paddr = 0x8000;
	tu_expect_fail(&f->gm, &cfg, "overlaps the loader's tables");
	ph->p_paddr = 0xff000;
	tu_expect_fail(&f->gm, &cfg, "overlaps the loader's tables");
	*ph = saved;
	/* Nothing was written by the failed loads: segments are checked before copying. */
	assert_int_equal(tu_rd(&f->gm, 0x8000, 8), 0);
	ph->p_type = PT_NULL;
	tu_phdr64(f->img, 1)->p_type = PT_NULL;
	tu_expect_fail(&f->gm, &cfg, "no loadable segment");
}

static void test_bad_notes(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	Elf64_Phdr *ph = tu_phdr64(f->img, 2);
	uint8_t *notes = f->img + ph->p_offset;
	uint8_t saved[64];
	uint32_t v;

	memcpy(saved, notes, ph->p_filesz);
	v = 0xfffffffc;
	memcpy(notes, &v, 4);		/* GNU note namesz */
	tu_expect_fail(&f->gm, &cfg, "note sizes");
	memcpy(notes, saved, ph->p_filesz);
	v = 0xffffffff;
	memcpy(notes + 4, &v, 4);	/* GNU note descsz */
	tu_expect_fail(&f->gm, &cfg, "note sizes");
	memcpy(notes, saved, ph->p_filesz);
	v = 0x40;
	memcpy(notes + 24, &v, 4);	/* PVH note descsz runs past the segment */
	tu_expect_fail(&f->gm, &cfg, "note sizes");
	v = 2;
	memcpy(notes + 24, &v, 4);
	tu_expect_fail(&f->gm, &cfg, "descriptor");
	memcpy(notes, saved, ph->p_filesz);
	v = 1;
	memcpy(notes + 40, &v, 4);	/* high half of the 8-byte entry */
	tu_expect_fail(&f->gm, &cfg, "above 4 GiB");
	memcpy(notes, saved, ph->p_filesz);
	ph->p_offset = f->len;
	tu_expect_fail(&f->gm, &cfg, "note segment");
}

static void test_not_pvh(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	uint8_t junk[4096] = { 0x7f, 'X' };

	tu_phdr64(f->img, 2)->p_type = PT_NULL;
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");
	cfg = tu_config(junk, sizeof(junk));
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");
}

static void test_truncations(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	size_t len;
	uint8_t *img32 = build(f, false, 4, &len);

	assert_int_equal(tu_truncations(&f->gm, &cfg, f->img, f->len), 0);
	cfg = tu_config(img32, len);
	assert_int_equal(tu_truncations(&f->gm, &cfg, img32, len), 0);
	free(img32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_elf_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_pvh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
