/*
 * Firmware tables written for every guest: MP table and ACPI (RSDP, XSDT, FADT,
 * DSDT, MADT), found the way a guest finds them and checked field by field; plus
 * configuration errors boot_load() refuses before touching the kernel.
 */
#include "boot_test_util.h"

#define MP_CONFIG_HDR	44

struct fixture {
	struct guest_memory gm;
	uint8_t raw[512];	/* a multiboot a.out-kludge kernel: the smallest valid image */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t addrs[5] = { 0x100040, 0x100000, 0x100200, 0, 0x100080 };

	tu_mem(&f->gm, 64 * MIB);
	tu_mb_header(f->raw + 0x40, 0x00010003);
	memcpy(f->raw + 0x4c, addrs, sizeof(addrs));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->gm);
	free(f);
	return 0;
}

static void boot(struct fixture *f, int ncpus)
{
	struct boot_config cfg = tu_config(f->raw, sizeof(f->raw));
	enum boot_protocol proto;
	struct boot_cpu_state cpu;
	char err[256];

	cfg.ncpus = ncpus;
	if (tu_load(&f->gm, &cfg, &proto, &cpu, err))
		fail_msg("boot_load: %s", err);
}

/* Scan [start, end) on 16-byte boundaries for @sig, as guests search the BIOS area. */
static uint64_t scan(struct fixture *f, uint64_t start, uint64_t end, const char *sig,
		     size_t len)
{
	for (uint64_t a = start; a < end; a += 16) {
		if (!memcmp(tu_gpa(&f->gm, a, len), sig, len))
			return a;
	}
	fail_msg("%s not found", sig);
	return 0;
}

static void check_mp(struct fixture *f, int ncpus)
{
	uint64_t fp = scan(f, 0xf0000, 0x100000, "_MP_", 4), cfg, p, end;
	const uint8_t *h;
	int cpus = 0, ints = 0, lints = 0, buses = 0, ioapics = 0;

	assert_int_equal(tu_sum(tu_gpa(&f->gm, fp, 16), 16), 0);
	assert_int_equal(tu_rd(&f->gm, fp + 8, 1), 1);		/* length in paragraphs */
	assert_int_equal(tu_rd(&f->gm, fp + 9, 1), 4);		/* spec 1.4 */
	assert_int_equal(tu_rd(&f->gm, fp + 11, 1), 0);		/* config table present */
	cfg = tu_rd(&f->gm, fp + 4, 4);
	assert_true(cfg < 0x9fc00);
	h = tu_gpa(&f->gm, cfg, MP_CONFIG_HDR);
	assert_memory_equal(h, "PCMP", 4);
	end = cfg + tu_rd(&f->gm, cfg + 4, 2);
	assert_int_equal(tu_sum(tu_gpa(&f->gm, cfg, end - cfg), end - cfg), 0);
	assert_int_equal(tu_rd(&f->gm, cfg + 36, 4), SPRY_LAPIC_BASE);
	assert_int_equal(tu_rd(&f->gm, cfg + 34, 2), ncpus + 1 + 1 + 15 + 2);
	for (p = cfg + MP_CONFIG_HDR; p < end;) {
		const uint8_t *e = tu_gpa(&f->gm, p, 8);
		uint16_t flags = (uint16_t)(e[2] | e[3] << 8);

		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], cpus);
			assert_int_equal(e[3], cpus == 0 ? 3 : 1);	/* enabled, BSP */
			cpus++;
			p += 20;
			continue;
		case 1:
			assert_memory_equal(e + 2, "ISA   ", 6);
			buses++;
			break;
		case 2:
			assert_int_equal(e[1], ncpus);
			assert_int_equal(e[2], 0x11);
			assert_int_equal(e[3], 1);
			assert_int_equal(tu_rd(&f->gm, p + 4, 4), SPRY_IOAPIC_BASE);
			ioapics++;
			break;
		case 3:
			assert_int_equal(e[1], 0);			/* INT */
			assert_int_equal(flags, 5);			/* edge, active high */
			assert_int_equal(e[4], 0);			/* ISA bus */
			assert_int_equal(e[6], ncpus);
			assert_int_equal(e[7], e[5] == 0 ? 2 : e[5]);
			assert_int_not_equal(e[5], 2);
			ints++;
			break;
		case 4:
			assert_int_equal(e[1], lints == 0 ? 3 : 1);	/* ExtINT, NMI */
			assert_int_equal(e[6], 0xff);
			assert_int_equal(e[7], lints);
			lints++;
			break;
		default:
			fail_msg("MP entry type %u", e[0]);
		}
		p += 8;
	}
	assert_int_equal(p, end);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ints, 15);
	assert_int_equal(lints, 2);
}

static void test_mptable(void **state)
{
	struct fixture *f = *state;
	const int counts[] = { 1, 4, 64 };

	for (size_t i = 0; i < 3; i++) {
		boot(f, counts[i]);
		check_mp(f, counts[i]);
	}
}

/* Return the table's address after checking its signature, length bounds and checksum. */
static uint64_t table(struct fixture *f, uint64_t addr, const char *sig)
{
	uint32_t len = (uint32_t)tu_rd(&f->gm, addr + 4, 4);

	assert_memory_equal(tu_gpa(&f->gm, addr, 4), sig, 4);
	assert_true(len >= 36 && len < 4096);
	assert_int_equal(tu_sum(tu_gpa(&f->gm, addr, len), len), 0);
	assert_memory_equal(tu_gpa(&f->gm, addr + 10, 6), "SPRY  ", 6);
	assert_true(addr + len <= 0x9fc00);
	return addr;
}

static void check_gas(struct fixture *f, uint64_t gas)
{
	assert_int_equal(tu_rd(&f->gm, gas, 1), 1);		/* system I/O */
	assert_int_equal(tu_rd(&f->gm, gas + 1, 1), 8);
	assert_int_equal(tu_rd(&f->gm, gas + 2, 1), 0);
	assert_int_equal(tu_rd(&f->gm, gas + 3, 1), 1);		/* byte access */
	assert_int_equal(tu_rd(&f->gm, gas + 4, 8), SPRY_PORT_ACPI_SLEEP);
}

static void check_fadt(struct fixture *f, uint64_t fadt)
{
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05,
				      0x00, 0x00, 0x00 };
	uint64_t dsdt;

	assert_int_equal(tu_rd(&f->gm, fadt + 4, 4), 276);
	assert_int_equal(tu_rd(&f->gm, fadt + 8, 1), 6);
	assert_true(tu_rd(&f->gm, fadt + 112, 4) & (1u << 20));	/* HW_REDUCED_ACPI */
	assert_int_equal(tu_rd(&f->gm, fadt + 109, 2) & 2, 2);		/* i8042 present */
	check_gas(f, fadt + 244);
	check_gas(f, fadt + 256);
	assert_memory_equal(tu_gpa(&f->gm, fadt + 268, 8), "SPRY\0\0\0\0", 8);
	dsdt = table(f, tu_rd(&f->gm, fadt + 140, 8), "DSDT");
	assert_int_equal(tu_rd(&f->gm, dsdt + 4, 4), 36 + sizeof(s5));
	assert_memory_equal(tu_gpa(&f->gm, dsdt + 36, sizeof(s5)), s5, sizeof(s5));
}

static void check_madt(struct fixture *f, uint64_t madt, int ncpus)
{
	uint64_t end = madt + tu_rd(&f->gm, madt + 4, 4), p;
	int cpus = 0, seen[5] = { 0 };

	assert_int_equal(tu_rd(&f->gm, madt + 36, 4), SPRY_LAPIC_BASE);
	for (p = madt + 44; p < end; p += tu_rd(&f->gm, p + 1, 1)) {
		const uint8_t *e = tu_gpa(&f->gm, p, 2);

		assert_true(e[0] < 5 && e[1] >= 6);
		seen[e[0]]++;
		e = tu_gpa(&f->gm, p, e[1]);
		if (e[0] == 0) {
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], cpus);
			assert_int_equal(e[3], cpus);
			assert_int_equal(tu_rd(&f->gm, p + 4, 4), 1);
			cpus++;
		} else if (e[0] == 1) {
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], ncpus);
			assert_int_equal(tu_rd(&f->gm, p + 4, 4), SPRY_IOAPIC_BASE);
			assert_int_equal(tu_rd(&f->gm, p + 8, 4), 0);
		} else if (e[0] == 2) {
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			assert_int_equal(e[3], 0);
			assert_int_equal(tu_rd(&f->gm, p + 4, 4), 2);
		} else {
			assert_int_equal(e[0], 4);
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
		}
	}
	assert_int_equal(p, end);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	assert_int_equal(seen[3], 0);
	assert_int_equal(seen[4], 1);
}

static void check_acpi(struct fixture *f, int ncpus)
{
	uint64_t rsdp = scan(f, 0xe0000, 0x100000, "RSD PTR ", 8), xsdt, fadt = 0, madt = 0;
	uint32_t n;

	assert_int_equal(rsdp % 16, 0);
	assert_int_equal(tu_sum(tu_gpa(&f->gm, rsdp, 20), 20), 0);
	assert_int_equal(tu_sum(tu_gpa(&f->gm, rsdp, 36), 36), 0);
	assert_int_equal(tu_rd(&f->gm, rsdp + 15, 1), 2);
	assert_int_equal(tu_rd(&f->gm, rsdp + 20, 4), 36);
	xsdt = table(f, tu_rd(&f->gm, rsdp + 24, 8), "XSDT");
	n = ((uint32_t)tu_rd(&f->gm, xsdt + 4, 4) - 36) / 8;
	assert_int_equal(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = tu_rd(&f->gm, xsdt + 36 + i * 8, 8);

		if (!memcmp(tu_gpa(&f->gm, t, 4), "FACP", 4))
			fadt = table(f, t, "FACP");
		else
			madt = table(f, t, "APIC");
	}
	assert_true(fadt && madt);
	check_fadt(f, fadt);
	check_madt(f, madt, ncpus);
}

static void test_acpi(void **state)
{
	struct fixture *f = *state;
	const int counts[] = { 1, 2, 64 };

	for (size_t i = 0; i < 3; i++) {
		boot(f, counts[i]);
		check_acpi(f, counts[i]);
	}
}

/* The Linux protocol points at the same RSDP the other guests scan for. */
static void test_tables_under_linux(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = tu_bzimage(4096, &len);
	struct boot_config cfg = tu_config(img, len);
	enum boot_protocol proto;
	struct boot_cpu_state cpu;
	char err[256];

	cfg.ncpus = 3;
	assert_int_equal(tu_load(&f->gm, &cfg, &proto, &cpu, err), 0);
	assert_int_equal(tu_rd(&f->gm, cpu.rsi + 0x70, 8),
			 scan(f, 0xe0000, 0x100000, "RSD PTR ", 8));
	check_acpi(f, 3);
	check_mp(f, 3);
	free(img);
}

static void test_bad_config(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = tu_config(f->raw, sizeof(f->raw));
	struct boot_blob rd = { "rd", NULL, 10 };
	struct guest_memory small;

	cfg.ncpus = 0;
	tu_expect_fail(&f->gm, &cfg, "CPUs");
	cfg.ncpus = 65;
	tu_expect_fail(&f->gm, &cfg, "CPUs");
	cfg.ncpus = -1;
	tu_expect_fail(&f->gm, &cfg, "CPUs");
	cfg.ncpus = 1;
	cfg.initrds = &rd;
	cfg.ninitrds = 1;
	tu_expect_fail(&f->gm, &cfg, "no data");
	cfg.ninitrds = 33;
	tu_expect_fail(&f->gm, &cfg, "initrds");
	cfg.ninitrds = 0;
	cfg.kernel.size = 0;
	tu_expect_fail(&f->gm, &cfg, "empty");
	cfg.kernel.size = sizeof(f->raw);
	tu_mem(&small, MIB);
	tu_expect_fail(&small, &cfg, "at least");
	guest_memory_destroy(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mptable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acpi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables_under_linux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
