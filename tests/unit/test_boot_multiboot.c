/*
 * Multiboot v1: ELF32/ELF64 and a.out-kludge images, the info block (memory,
 * command line, modules, mmap, loader name), entry registers, malformed headers.
 */
#include "boot_test_util.h"

#define INFO		0x8000
#define MB_FLAGS	0x00000003	/* page-align modules, memory info */
#define KLUDGE		0x00010000

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	uint32_t boot_loader_name, apm_table;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
} __attribute__((packed));

struct mb_mmap {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
} __attribute__((packed));

struct fixture {
	struct guest_memory gm;
	uint8_t text[256];
	uint8_t raw[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t addrs[5] = { 0x100040, 0x100000, 0x100200, 0x104000, 0x100080 };

	tu_mem(&f->gm, 64 * MIB);
	for (size_t i = 0; i < sizeof(f->text); i++)
		f->text[i] = (uint8_t)(i + 0x40);
	tu_mb_header(f->text, MB_FLAGS);
	for (size_t i = 0; i < sizeof(f->raw); i++)
		f->raw[i] = (uint8_t)(i * 5);
	tu_mb_kludge(f->raw, MB_FLAGS | KLUDGE, addrs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	return tu_free(&f->gm, NULL, f);
}

/* One segment at 1 MiB linked at a higher-half address, with 0x3000 bytes of bss. */
static uint8_t *build(struct fixture *f, bool is64, uint64_t entry, size_t *len)
{
	struct tu_seg seg = { PT_LOAD, MIB, 0xc0100000, f->text, sizeof(f->text), 0x3000, 4096 };

	return tu_elf(is64, entry, &seg, 1, len);
}

static void load_ok(struct guest_memory *gm, const struct boot_config *cfg,
		    struct boot_cpu_state *cpu, struct mb_info *info)
{
	assert_int_equal(tu_load_ok(gm, cfg, cpu), BOOT_MULTIBOOT);
	assert_int_equal(cpu->rax, 0x2badb002);
	assert_int_equal(cpu->rbx, INFO);
	assert_int_equal(cpu->mode, BOOT_CPU_PROT32);
	assert_int_equal(cpu->cr0, 1);
	assert_int_equal(cpu->rflags, 2);
	memcpy(info, tu_gpa(gm, cpu->rbx, sizeof(*info)), sizeof(*info));
}

static void test_elf32(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = build(f, false, 0xc0100010, &len);
	struct boot_config cfg = tu_config(img, len);
	struct boot_cpu_state cpu;
	struct mb_info info;
	struct mb_mmap mm[3];

	cfg.cmdline = "console=ttyS0 debug";
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_string_equal(boot_protocol_name(BOOT_MULTIBOOT), "multiboot");
	/* The entry point is translated from the link address to where it was loaded. */
	assert_int_equal(cpu.rip, 0x100010);
	assert_memory_equal(tu_gpa(&f->gm, MIB, sizeof(f->text)), f->text, sizeof(f->text));
	assert_int_equal(tu_rd(&f->gm, MIB + 0x2ff8, 8), 0);
	assert_int_equal(info.flags, 0x24d);
	assert_int_equal(info.mem_lower, 639);
	assert_int_equal(info.mem_upper, 63 * 1024);
	assert_string_equal(tu_gpa(&f->gm, info.cmdline, 40), "/boot/kernel console=ttyS0 debug");
	assert_string_equal(tu_gpa(&f->gm, info.boot_loader_name, 5), "spry");
	assert_int_equal(info.mods_count, 0);
	assert_int_equal(info.mmap_length, sizeof(mm));
	memcpy(mm, tu_gpa(&f->gm, info.mmap_addr, sizeof(mm)), sizeof(mm));
	for (int i = 0; i < 3; i++)
		assert_int_equal(mm[i].size, 20);
	assert_int_equal(mm[0].base, 0);
	assert_int_equal(mm[0].len, 0x9fc00);
	assert_int_equal(mm[0].type, 1);
	assert_int_equal(mm[1].base, 0x9fc00);
	assert_int_equal(mm[1].type, 2);
	assert_int_equal(mm[2].base, MIB);
	assert_int_equal(mm[2].len, 63 * MIB);
	assert_int_equal(mm[2].type, 1);

	cfg.cmdline = NULL;
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_string_equal(tu_gpa(&f->gm, info.cmdline, 13), "/boot/kernel");
	free(img);
}

static void test_modules(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = build(f, false, 0x100010, &len);
	struct boot_config cfg = tu_config(img, len);
	uint8_t a[4097], b[10];
	struct boot_blob rd[2] = { { "/tmp/a.mod", a, sizeof(a) }, { "/tmp/b.mod", b, sizeof(b) } };
	struct boot_cpu_state cpu;
	struct mb_module mod[2];
	struct mb_info info;
	uint8_t *huge;

	memset(a, 0xa5, sizeof(a));
	memset(b, 0x5b, sizeof(b));
	cfg.initrds = rd;
	cfg.ninitrds = 2;
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_int_equal(info.mods_count, 2);
	memcpy(mod, tu_gpa(&f->gm, info.mods_addr, sizeof(mod)), sizeof(mod));
	/* Page aligned, right after the kernel's bss. */
	assert_int_equal(mod[0].mod_start, MIB + 0x3000);
	assert_int_equal(mod[0].mod_end, MIB + 0x3000 + sizeof(a));
	assert_int_equal(mod[1].mod_start, MIB + 0x5000);
	assert_int_equal(mod[1].mod_end, MIB + 0x5000 + sizeof(b));
	for (int i = 0; i < 2; i++) {
		assert_string_equal(tu_gpa(&f->gm, mod[i].string, 11), rd[i].name);
		assert_memory_equal(tu_gpa(&f->gm, mod[i].mod_start, rd[i].size), rd[i].data,
				    rd[i].size);
	}

	huge = calloc(1, 63 * MIB);
	rd[1] = (struct boot_blob){ "huge", huge, 63 * MIB };
	tu_expect_fail(&f->gm, &cfg, "modules do not fit");
	free(huge);
	free(img);
}

static void test_elf64(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = build(f, true, 0x100020, &len);
	struct boot_config cfg = tu_config(img, len);
	struct boot_cpu_state cpu;
	struct mb_info info;

	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_int_equal(cpu.rip, 0x100020);
	free(img);
	img = build(f, true, 0x100000000ULL, &len);
	cfg = tu_config(img, len);
	tu_expect_fail(&f->gm, &cfg, "above 4 GiB");
	free(img);
}

static void test_kludge(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->raw, sizeof(f->raw));
	struct boot_cpu_state cpu;
	struct mb_info info;
	uint32_t zero = 0;

	memset(tu_gpa(&f->gm, MIB, 0x4000), 0xee, 0x4000);
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_int_equal(cpu.rip, 0x100080);
	assert_memory_equal(tu_gpa(&f->gm, MIB, sizeof(f->raw)), f->raw, sizeof(f->raw));
	for (uint64_t a = MIB + sizeof(f->raw); a < MIB + 0x4000; a += 8)
		assert_int_equal(tu_rd(&f->gm, a, 8), 0);

	/* load_end_addr 0 loads to the end of the file; bss_end_addr 0 means no bss. */
	memcpy(f->raw + 0x54, &zero, 4);
	memcpy(f->raw + 0x58, &zero, 4);
	memset(tu_gpa(&f->gm, MIB, 0x4000), 0xee, 0x4000);
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_memory_equal(tu_gpa(&f->gm, MIB, sizeof(f->raw)), f->raw, sizeof(f->raw));
	assert_int_equal(tu_rd(&f->gm, MIB + sizeof(f->raw), 1), 0xee);
}

static void set_addrs(struct fixture *f, uint32_t hdr, uint32_t load, uint32_t end,
		      uint32_t bss)
{
	uint32_t a[4] = { hdr, load, end, bss };

	memcpy(f->raw + 0x4c, a, sizeof(a));
}

static void test_bad_kludge(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->raw, sizeof(f->raw));

	set_addrs(f, 0x100040, 0x100080, 0x100200, 0);
	tu_expect_fail(&f->gm, &cfg, "header_addr");
	set_addrs(f, 0x100100, 0x100000, 0x100200, 0);
	tu_expect_fail(&f->gm, &cfg, "header_addr");
	set_addrs(f, 0x100040, 0x100000, 0x100201, 0);
	tu_expect_fail(&f->gm, &cfg, "load_end_addr");
	set_addrs(f, 0x100040, 0x100000, 0x0fffff, 0);
	tu_expect_fail(&f->gm, &cfg, "load_end_addr");
	set_addrs(f, 0x100040, 0x100000, 0x100200, 0x100100);
	tu_expect_fail(&f->gm, &cfg, "bss_end_addr");
	set_addrs(f, 0x8040, 0x8000, 0x8200, 0);
	tu_expect_fail(&f->gm, &cfg, "overlaps the loader's tables");
	set_addrs(f, 0xfffff040, 0xfffff000, 0xfffff200, 0xffffffff);
	tu_expect_fail(&f->gm, &cfg, "not inside guest RAM");
	set_addrs(f, 0x100040, 0x100000, 0x100200, 0x8000000);
	tu_expect_fail(&f->gm, &cfg, "not inside guest RAM");

	/* Without the kludge bit a non-ELF image has no way to say where it goes. */
	tu_mb_header(f->raw + 0x40, MB_FLAGS);
	tu_expect_fail(&f->gm, &cfg, "not ELF");
	tu_mb_header(f->raw + 0x40, MB_FLAGS | 0x8);
	tu_expect_fail(&f->gm, &cfg, "unsupported");

	/* Header found, but the file ends before its address fields. */
	cfg.kernel.size = 0x50;
	tu_mb_header(f->raw + 0x40, MB_FLAGS | KLUDGE);
	tu_expect_fail(&f->gm, &cfg, "truncated");
}

static void test_header_search(void **state)
{
	struct fixture *f = *state;
	size_t size = 12000;
	uint8_t *raw = calloc(1, size);
	struct boot_config cfg = tu_config(raw, size);
	struct boot_cpu_state cpu;
	struct mb_info info;
	uint32_t bad[3] = { TU_MB_MAGIC, 0, 0 };

	/* Only 4-byte aligned headers count. */
	tu_mb_header(raw + 0x42, MB_FLAGS | KLUDGE);
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");
	memset(raw, 0, size);
	memcpy(raw + 0x40, bad, sizeof(bad));
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");
	memset(raw, 0, size);
	tu_mb_header(raw + 8192 - 8, MB_FLAGS);
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");
	memset(raw, 0, size);
	tu_mb_header(raw + 8192, MB_FLAGS);
	tu_expect_fail(&f->gm, &cfg, "unknown kernel format");

	/* A bad-checksum candidate does not stop the search for a good one after it. */
	memset(raw, 0, size);
	memcpy(raw + 0x20, bad, sizeof(bad));
	memcpy(raw + 0x40, f->raw + 0x40, 32);
	load_ok(&f->gm, &cfg, &cpu, &info);
	assert_int_equal(cpu.rip, 0x100080);
	free(raw);
}

static void test_truncations(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = build(f, false, 0xc0100010, &len);
	struct boot_config cfg = tu_config(img, len);

	assert_int_equal(tu_truncations(&f->gm, &cfg, img, len), 0);
	free(img);
	img = build(f, true, 0x100010, &len);
	cfg = tu_config(img, len);
	assert_int_equal(tu_truncations(&f->gm, &cfg, img, len), 0);
	free(img);
	cfg = tu_config(f->raw, sizeof(f->raw));
	tu_truncations(&f->gm, &cfg, f->raw, sizeof(f->raw));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kludge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_kludge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
