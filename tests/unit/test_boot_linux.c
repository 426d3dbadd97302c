/*
 * Linux 64-bit boot protocol: zero page, kernel and initrd placement, long-mode
 * entry state and page tables, built from synthetic bzImages, plus hostile images.
 */
#include "boot_test_util.h"

#define PAYLOAD		0x10000
#define ZERO_PAGE	0x8000

struct fixture {
	struct guest_memory gm;
	uint8_t *img;
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	tu_mem(&f->gm, 64 * MIB);
	f->img = tu_bzimage(PAYLOAD, &f->len);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	return tu_free(&f->gm, f->img, f);
}

static void load_ok(struct guest_memory *gm, const struct boot_config *cfg,
		    struct boot_cpu_state *cpu, struct boot_params *bp)
{
	assert_int_equal(tu_load_ok(gm, cfg, cpu), BOOT_LINUX64);
	memcpy(bp, tu_gpa(gm, cpu->rsi, sizeof(*bp)), sizeof(*bp));
}

static void test_zero_page(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;

	cfg.cmdline = "console=ttyS0 quiet";
	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_string_equal(boot_protocol_name(BOOT_LINUX64), "linux64");
	assert_int_equal(cpu.rsi, ZERO_PAGE);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_true(bp.hdr.loadflags & CAN_USE_HEAP);
	assert_true(bp.hdr.loadflags & LOADED_HIGH);
	assert_string_equal(tu_gpa(&f->gm, bp.hdr.cmd_line_ptr, 20), "console=ttyS0 quiet");
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
	assert_memory_equal(tu_gpa(&f->gm, bp.acpi_rsdp_addr, 8), "RSD PTR ", 8);
	/* The header fields the loader does not own come from the image unchanged. */
	assert_int_equal(bp.hdr.setup_sects, 4);
	assert_int_equal(bp.hdr.syssize, PAYLOAD / 16);
	assert_int_equal(bp.hdr.version, 0x20f);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_memory_equal(&bp.hdr.header, "HdrS", 4);
	assert_int_equal(bp.hdr.init_size, TU_BZ_INIT);
	assert_int_equal(bp.hdr.pref_address, TU_BZ_PREF);
	assert_int_equal(bp.hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	assert_int_equal(bp.sentinel, 0);
}

static void test_e820(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;

	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_int_equal(bp.e820_entries, 3);
	assert_int_equal(bp.e820_table[0].addr, 0);
	assert_int_equal(bp.e820_table[0].size, 0x9fc00);
	assert_int_equal(bp.e820_table[0].type, 1);
	assert_int_equal(bp.e820_table[1].addr, 0x9fc00);
	assert_int_equal(bp.e820_table[1].size, 0x100000 - 0x9fc00);
	assert_int_equal(bp.e820_table[1].type, 2);
	assert_int_equal(bp.e820_table[2].addr, MIB);
	assert_int_equal(bp.e820_table[2].size, 63 * MIB);
	assert_int_equal(bp.e820_table[2].type, 1);
}

static void test_e820_high_ram(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;
	struct guest_memory gm;

	tu_mem(&gm, 4 * GIB);
	load_ok(&gm, &cfg, &cpu, &bp);
	assert_int_equal(bp.e820_entries, 4);
	assert_int_equal(bp.e820_table[2].addr, MIB);
	assert_int_equal(bp.e820_table[2].size, 3 * GIB - MIB);
	assert_int_equal(bp.e820_table[3].addr, 4 * GIB);
	assert_int_equal(bp.e820_table[3].size, GIB);
	assert_int_equal(bp.e820_table[3].type, 1);
	guest_memory_destroy(&gm);
}

static void test_cpu_state(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;
	uint64_t cs, ds;

	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_int_equal(cpu.mode, BOOT_CPU_LONG64);
	/* Everything fits at pref_address, so the kernel is loaded there. */
	assert_int_equal(cpu.rip, TU_BZ_PREF + 0x200);
	assert_memory_equal(tu_gpa(&f->gm, TU_BZ_PREF, PAYLOAD), f->img + TU_BZ_SETUP, PAYLOAD);
	assert_int_equal(cpu.rflags, 2);
	assert_int_equal(cpu.cr0, 0x80000001);
	assert_int_equal(cpu.cr4, 0x20);
	assert_int_equal(cpu.efer, 0x500);
	assert_int_equal(cpu.code_sel, 0x10);
	assert_int_equal(cpu.data_sel, 0x18);
	assert_true(cpu.gdt_limit >= 0x1f);
	cs = tu_rd(&f->gm, cpu.gdt_base + 0x10, 8);
	ds = tu_rd(&f->gm, cpu.gdt_base + 0x18, 8);
	assert_int_equal(tu_rd(&f->gm, cpu.gdt_base, 8), 0);
	/* Present, DPL 0, code, readable; L set and D clear for 64-bit code. */
	assert_int_equal((cs >> 40) & 0x9a, 0x9a);
	assert_int_equal((cs >> 53) & 3, 1);
	/* Present, data, writable, flat 4 GiB. */
	assert_int_equal((ds >> 40) & 0x9a, 0x92);
	assert_int_equal(ds & 0xffff, 0xffff);
	assert_int_equal((ds >> 48) & 0xf, 0xf);
	assert_int_equal((ds >> 55) & 1, 1);
	assert_int_equal(cpu.rsp & 0xf, 0);
	assert_true(cpu.rsp < 0x9fc00);
}

/* Walk the guest's 4-level tables for @va; returns the physical address or ~0. */
static uint64_t walk(struct guest_memory *gm, uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = tu_rd(gm, (cr3 & ~0xfffULL) + ((va >> 39) & 511) * 8, 8);
	uint64_t pdpte, pde;

	if (!(pml4e & 1))
		return ~0ULL;
	pdpte = tu_rd(gm, (pml4e & 0xffffffffff000ULL) + ((va >> 30) & 511) * 8, 8);
	if (!(pdpte & 1))
		return ~0ULL;
	pde = tu_rd(gm, (pdpte & 0xffffffffff000ULL) + ((va >> 21) & 511) * 8, 8);
	if (!(pde & 1) || !(pde & 0x80))
		return ~0ULL;
	return (pde & 0xfffffffe00000ULL) + (va & 0x1fffff);
}

static void test_page_tables(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;
	const uint64_t probes[] = { 0, 0x8000, 0x100200, TU_BZ_PREF + 0x200, 0x3fffffff,
				    0x40000000, 0xbfffffff, 0xfee00000, 0xffffffff };

	load_ok(&f->gm, &cfg, &cpu, &bp);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(walk(&f->gm, cpu.cr3, probes[i]), probes[i]);
	assert_int_equal(walk(&f->gm, cpu.cr3, 4 * GIB), ~0ULL);
	/* Every directory entry is a writable 2 MiB page. */
	for (uint64_t va = 0; va < 4 * GIB; va += 2 * MIB) {
		uint64_t pde_addr = 0x12000 + (va >> 21) * 8;

		assert_int_equal(tu_rd(&f->gm, pde_addr, 8), va | 0x83);
	}
}

static void test_initrds_concatenated(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	uint8_t a[5001], b[3000];
	struct boot_blob rd[2] = { { "a.cpio", a, sizeof(a) }, { "b.cpio", b, sizeof(b) } };
	struct boot_cpu_state cpu;
	struct boot_params bp;

	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	cfg.initrds = rd;
	cfg.ninitrds = 2;
	load_ok(&f->gm, &cfg, &cpu, &bp);
	/* Each archive starts 4-byte aligned, as the kernel's cpio unpacker needs. */
	assert_int_equal(bp.hdr.ramdisk_size, 5004 + sizeof(b));
	assert_int_equal(bp.hdr.ramdisk_image % 4096, 0);
	assert_true(bp.hdr.ramdisk_image >= TU_BZ_PREF + TU_BZ_INIT);
	assert_true(bp.hdr.ramdisk_image + bp.hdr.ramdisk_size <= 64 * MIB);
	assert_true(bp.hdr.ramdisk_image + bp.hdr.ramdisk_size > 64 * MIB - 4096);
	assert_memory_equal(tu_gpa(&f->gm, bp.hdr.ramdisk_image, sizeof(a)), a, sizeof(a));
	assert_int_equal(tu_rd(&f->gm, bp.hdr.ramdisk_image + sizeof(a), 3), 0);
	assert_memory_equal(tu_gpa(&f->gm, bp.hdr.ramdisk_image + 5004, sizeof(b)), b,
			    sizeof(b));
}

static void test_initrd_addr_max(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	uint8_t a[10000] = { 1 };
	struct boot_blob rd = { "a.cpio", a, sizeof(a) };
	struct boot_cpu_state cpu;
	struct boot_params bp;
	struct guest_memory gm;

	tu_mem(&gm, GIB);
	tu_bz_hdr(f->img)->initrd_addr_max = 0x1fffffff;
	cfg.initrds = &rd;
	cfg.ninitrds = 1;
	load_ok(&gm, &cfg, &cpu, &bp);
	assert_int_equal(bp.hdr.ramdisk_image % 4096, 0);
	assert_true(bp.hdr.ramdisk_image + bp.hdr.ramdisk_size - 1 <= 0x1fffffff);
	assert_true(bp.hdr.ramdisk_image >= 0x20000000 - 4096 - sizeof(a));
	guest_memory_destroy(&gm);
}

static void test_initrd_too_big(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	size_t big = 48 * MIB;
	uint8_t *data = calloc(1, big);
	struct boot_blob rd = { "big.cpio", data, big };

	cfg.initrds = &rd;
	cfg.ninitrds = 1;
	tu_expect_fail(&f->gm, &cfg, "do not fit");
	free(data);
}

static void test_load_placement(void **state)
{
	struct fixture *f = *state;
	struct setup_header *h = tu_bz_hdr(f->img);
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;

	/* No usable pref_address: a relocatable kernel goes to 1 MiB. */
	h->pref_address = 0;
	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_int_equal(cpu.rip, MIB + 0x200);
	assert_memory_equal(tu_gpa(&f->gm, MIB, PAYLOAD), f->img + TU_BZ_SETUP, PAYLOAD);

	/* A non-relocatable kernel runs at pref_address; it is loaded there or not at all. */
	h->relocatable_kernel = 0;
	h->pref_address = 32 * MIB;
	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_int_equal(cpu.rip, 32 * MIB + 0x200);
	h->pref_address = 60 * MIB;
	tu_expect_fail(&f->gm, &cfg, "do not fit");

	/* A relocatable kernel decompresses at or above pref_address, so that must fit. */
	h->relocatable_kernel = 1;
	h->pref_address = 60 * MIB;
	tu_expect_fail(&f->gm, &cfg, "do not fit");
}

static void test_cmdline(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->img, f->len);
	struct boot_cpu_state cpu;
	struct boot_params bp;

	tu_bz_hdr(f->img)->cmdline_size = 16;
	cfg.cmdline = "0123456789abcdef";
	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_string_equal(tu_gpa(&f->gm, bp.hdr.cmd_line_ptr, 17), cfg.cmdline);
	cfg.cmdline = "0123456789abcdefg";
	tu_expect_fail(&f->gm, &cfg, "command line");
	cfg.cmdline = NULL;
	load_ok(&f->gm, &cfg, &cpu, &bp);
	assert_string_equal(tu_gpa(&f->gm, bp.hdr.cmd_line_ptr, 1), "");
}

static void test_hostile_headers(void **state)
{
	struct fixture *f = *state;
	struct setup_header *h = tu_bz_hdr(f->img);
	struct boot_config cfg = tu_config(f->img, f->len);
	struct setup_header saved = *h;
	struct boot_cpu_state cpu;

	h->version = 0x205;
	tu_expect_fail(&f->gm, &cfg, "too old");
	*h = saved;
	h->xloadflags = 0;
	tu_expect_fail(&f->gm, &cfg, "64-bit");
	*h = saved;
	f->img[0x201] = 0x10;
	tu_expect_fail(&f->gm, &cfg, "setup header");
	f->img[0x201] = 0xff;
	tu_expect_fail(&f->gm, &cfg, "setup header");
	f->img[0x201] = (uint8_t)(0x1f1 + sizeof(*h) - 0x202);
	h->setup_sects = 255;
	tu_expect_fail(&f->gm, &cfg, "setup_sects");
	*h = saved;
	h->syssize = PAYLOAD / 16 + 1;
	tu_expect_fail(&f->gm, &cfg, "syssize");
	h->syssize = 0xffffffff;
	tu_expect_fail(&f->gm, &cfg, "syssize");
	h->syssize = 0;
	tu_expect_fail(&f->gm, &cfg, "syssize");
	*h = saved;
	h->kernel_alignment = 0x300000;
	tu_expect_fail(&f->gm, &cfg, "do not fit");
	*h = saved;
	h->init_size = 0xffffffff;
	tu_expect_fail(&f->gm, &cfg, "do not fit");
	*h = saved;
	h->pref_address = 0xfffffffffffff000ULL;
	tu_expect_fail(&f->gm, &cfg, "do not fit");
	*h = saved;
	h->initrd_addr_max = 0xffffffff;
	cfg.initrds = &(struct boot_blob){ "x", f->img, 100 };
	cfg.ninitrds = 1;
	/* initrd_addr_max + 1 wraps a 32-bit sum; the initrd must still land in RAM. */
	tu_load_ok(&f->gm, &cfg, &cpu);
	assert_true(tu_rd(&f->gm, ZERO_PAGE + 0x218, 4) < 64 * MIB);
}

static void test_truncations(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = tu_bzimage(256, &len);
	struct boot_config cfg = tu_config(img, len);

	cfg.cmdline = "console=ttyS0";
	/* Only the complete image loads: syssize covers every byte after the setup code. */
	assert_int_equal(tu_truncations(&f->gm, &cfg, img, len), 0);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e820, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e820_high_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrds_concatenated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_addr_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
