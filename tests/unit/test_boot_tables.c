/*
 * Firmware tables written for every guest: MP table and ACPI (RSDP, XSDT, FADT,
 * DSDT, MADT), found the way a guest finds them and checked field by field; the
 * AML encoder behind the DSDT and its COM1 and virtio-mmio devices; the virtio_mmio.device=
 * options Linux guests get on their command line; plus configuration errors
 * boot_load() refuses before touching the kernel.
 */
#include <stdio.h>

#include "boot_test_util.h"
#include "../../src/boot/aml.h"

#define MP_CONFIG_HDR	44
/* The strings area (0x20000, 64 KiB) holds the guest command line and its NUL. */
#define BOOT_STRINGS_ROOM	0x10000

struct fixture {
	struct guest_memory gm;
	uint8_t raw[512];	/* a multiboot a.out-kludge kernel: the smallest valid image */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t addrs[5] = { 0x100040, 0x100000, 0x100200, 0, 0x100080 };

	tu_mem(&f->gm, 64 * MIB);
	tu_mb_kludge(f->raw, 0x00010003, addrs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	return tu_free(&f->gm, NULL, f);
}

static void boot(struct fixture *f, int ncpus, unsigned int nvirtio)
{
	struct boot_config cfg = tu_config(f->raw, sizeof(f->raw));
	struct boot_cpu_state cpu;

	cfg.ncpus = ncpus;
	cfg.nvirtio_mmio = nvirtio;
	tu_load_ok(&f->gm, &cfg, &cpu);
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
		boot(f, counts[i], 0);
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

/* PkgLength (ACPI 6.5, 20.2.4): returns where the package it starts ends; advances *p past it. */
static const uint8_t *pkg_end(const uint8_t **p)
{
	const uint8_t *start = *p;
	unsigned int follow = start[0] >> 6;
	size_t len = follow ? start[0] & 0xf : start[0] & 0x3f;

	for (unsigned int i = 0; i < follow; i++)
		len |= (size_t)start[1 + i] << (4 + 8 * i);
	*p += 1 + follow;
	return start + len;
}

/*
 * The AML of virtio-mmio device @i, after its DeviceOp and PkgLength:
 *	Device (VRnn) {
 *	    Name (_HID, "LNRO0005")
 *	    Name (_UID, i)
 *	    Name (_CRS, ResourceTemplate () {
 *	        Memory32Fixed (ReadWrite, base, 0x1000)
 *	        Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }
 *	    })
 *	}
 */
static size_t virtio_device_aml(unsigned int i, uint8_t *out)
{
	static const uint8_t hid[] = {
		0x08, '_', 'H', 'I', 'D',			/* NameOp _HID */
		0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,	/* String */
	};
	static const uint8_t crs[] = {
		0x08, '_', 'C', 'R', 'S',			/* NameOp _CRS */
		0x11, 0x1a, 0x0a, 0x17,				/* Buffer, PkgLength 26, size 23 */
		0x86, 0x09, 0x00,				/* Memory32Fixed, 9 more bytes */
		0x01,						/* read/write */
		0, 0, 0, 0,					/* base (patched below) */
		0x00, 0x10, 0x00, 0x00,				/* length 0x1000 */
		0x89, 0x06, 0x00,				/* Extended IRQ, 6 more bytes */
		0x03,				/* consumer, edge, active high, exclusive */
		0x01,						/* one interrupt */
		0, 0, 0, 0,					/* GSI (patched below) */
		0x79, 0x00,					/* End Tag, checksum 0 (passes) */
	};
	uint32_t base = (uint32_t)(SPRY_VIRTIO_MMIO_BASE + i * SPRY_VIRTIO_MMIO_SIZE);
	uint32_t gsi = SPRY_VIRTIO_MMIO_GSI + i;
	size_t n = 0;

	out[n++] = 'V';
	out[n++] = 'R';
	out[n++] = (uint8_t)('0' + i / 10);
	out[n++] = (uint8_t)('0' + i % 10);
	memcpy(out + n, hid, sizeof(hid));
	n += sizeof(hid);
	memcpy(out + n, "\x08_UID", 5);			/* NameOp _UID */
	n += 5;
	if (i <= 1) {
		out[n++] = (uint8_t)i;				/* ZeroOp, OneOp */
	} else {
		out[n++] = 0x0a;				/* BytePrefix */
		out[n++] = (uint8_t)i;
	}
	memcpy(out + n, crs, sizeof(crs));
	memcpy(out + n + 13, &base, 4);
	memcpy(out + n + 26, &gsi, 4);
	return n + sizeof(crs);
}

/*
 * Device (COM1) {
 *     Name (_HID, EisaId ("PNP0501"))
 *     Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x3F8, 0x3F8, 0x01, 0x08)
 *         Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 }
 *     })
 * }
 * as iasl 20230628 compiles it.
 */
static const uint8_t com1_aml[] = {
	0x5b, 0x82, 0x31,				/* ExtOpPrefix DeviceOp, PkgLength 49 */
	'C', 'O', 'M', '1',
	0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,	/* DWordConst 0x0105d041 */
	0x08, '_', 'U', 'I', 'D', 0x00,			/* ZeroOp */
	0x08, '_', 'C', 'R', 'S',
	0x11, 0x16, 0x0a, 0x13,				/* Buffer, PkgLength 22, size 19 */
	0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,	/* IO Decode16 min max align len */
	0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0x00, 0x00, 0x00,	/* Extended IRQ 4 */
	0x79, 0x00,					/* End Tag */
};

/* Returns the DSDT's length. */
static uint32_t check_dsdt(struct fixture *f, uint64_t dsdt, unsigned int nvirtio)
{
	/* Name (_S5, Package () { 5, 0, 0, 0 }): SLP_TYPa = 5 for the soft-off state. */
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05,
				      0x00, 0x00, 0x00 };
	uint32_t len = (uint32_t)tu_rd(&f->gm, dsdt + 4, 4);
	const uint8_t *p = tu_gpa(&f->gm, dsdt, len), *end = p + len, *scope_end;

	assert_int_equal(tu_rd(&f->gm, dsdt + 8, 1), 2);
	p += 36;
	assert_memory_equal(p, s5, sizeof(s5));
	p += sizeof(s5);
	assert_int_equal(*p++, 0x10);				/* ScopeOp */
	scope_end = pkg_end(&p);
	assert_ptr_equal(scope_end, end);
	assert_memory_equal(p, "\\_SB_", 5);			/* RootChar, NameSeg */
	p += 5;
	assert_true(end - p >= (ptrdiff_t)sizeof(com1_aml));
	assert_memory_equal(p, com1_aml, sizeof(com1_aml));
	p += sizeof(com1_aml);
	for (unsigned int i = 0; i < nvirtio; i++) {
		uint8_t want[64];
		size_t n = virtio_device_aml(i, want);
		const uint8_t *dev_end;

		assert_int_equal(p[0], 0x5b);			/* ExtOpPrefix */
		assert_int_equal(p[1], 0x82);			/* DeviceOp */
		p += 2;
		dev_end = pkg_end(&p);
		assert_int_equal(dev_end - p, n);
		assert_memory_equal(p, want, n);
		p = dev_end;
	}
	assert_ptr_equal(p, end);
	return len;
}

static void check_fadt(struct fixture *f, uint64_t fadt, uint64_t madt, unsigned int nvirtio)
{
	uint64_t dsdt;

	assert_int_equal(tu_rd(&f->gm, fadt + 4, 4), 276);
	assert_int_equal(tu_rd(&f->gm, fadt + 8, 1), 6);
	assert_true(tu_rd(&f->gm, fadt + 112, 4) & (1u << 20));	/* HW_REDUCED_ACPI */
	/* IA-PC boot flags: VGA not present, and no i8042 for Linux to probe. */
	assert_int_equal(tu_rd(&f->gm, fadt + 109, 2), 4);
	check_gas(f, fadt + 244);
	check_gas(f, fadt + 256);
	assert_memory_equal(tu_gpa(&f->gm, fadt + 268, 8), "SPRY\0\0\0\0", 8);
	dsdt = table(f, tu_rd(&f->gm, fadt + 140, 8), "DSDT");
	/* Written before the MADT: had they overlapped, the DSDT's checksum would be off. */
	assert_true(dsdt + check_dsdt(f, dsdt, nvirtio) <= madt || madt + 44 <= dsdt);
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

static void check_acpi(struct fixture *f, int ncpus, unsigned int nvirtio)
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
	check_fadt(f, fadt, madt, nvirtio);
	check_madt(f, madt, ncpus);
}

static void test_acpi(void **state)
{
	struct fixture *f = *state;
	const int counts[] = { 1, 2, 64 };

	for (size_t i = 0; i < 3; i++) {
		boot(f, counts[i], 0);
		check_acpi(f, counts[i], 0);
	}
}

/* The Linux protocol points at the same RSDP the other guests scan for. */
static void test_tables_under_linux(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *img = tu_bzimage(4096, &len);
	struct boot_config cfg = tu_config(img, len);
	struct boot_cpu_state cpu;

	cfg.ncpus = 3;
	tu_load_ok(&f->gm, &cfg, &cpu);
	assert_int_equal(tu_rd(&f->gm, cpu.rsi + 0x70, 8),
			 scan(f, 0xe0000, 0x100000, "RSD PTR ", 8));
	check_acpi(f, 3, 0);
	check_mp(f, 3);
	free(img);
}

/* The DSDT declares the first N virtio-mmio windows, up to all of them beside 64 CPUs. */
static void test_dsdt_virtio(void **state)
{
	struct fixture *f = *state;
	const unsigned int counts[] = { 0, 1, 2, 3, SPRY_VIRTIO_MMIO_MAX };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		boot(f, 2, counts[i]);
		check_acpi(f, 2, counts[i]);
	}
	boot(f, SPRY_MAX_CPUS, SPRY_VIRTIO_MMIO_MAX);
	check_acpi(f, SPRY_MAX_CPUS, SPRY_VIRTIO_MMIO_MAX);
	check_mp(f, SPRY_MAX_CPUS);
}

static void expect_pkglen(size_t body, const uint8_t *want, unsigned int n)
{
	uint8_t got[4];

	assert_int_equal(aml_pkglen(body, got), n);
	assert_memory_equal(got, want, n);
}

/* PkgLength counts its own bytes; each form at both ends of its range. */
static void test_aml_pkglen(void **state)
{
	uint8_t b[4];

	(void)state;
	expect_pkglen(0, (const uint8_t[]){ 0x01 }, 1);
	expect_pkglen(62, (const uint8_t[]){ 0x3f }, 1);
	expect_pkglen(63, (const uint8_t[]){ 0x41, 0x04 }, 2);			/* 0x41 */
	expect_pkglen(0xffd, (const uint8_t[]){ 0x4f, 0xff }, 2);		/* 0xfff */
	expect_pkglen(0xffe, (const uint8_t[]){ 0x81, 0x00, 0x01 }, 3);		/* 0x1001 */
	expect_pkglen(0xffffc, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3);	/* 0xfffff */
	expect_pkglen(0xffffd, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 }, 4);	/* 0x100001 */
	expect_pkglen(AML_PKGLEN_MAX - 4, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff }, 4);
	assert_int_equal(aml_pkglen(AML_PKGLEN_MAX - 3, b), 0);
}

static void expect_aml(const struct aml *a, const uint8_t *want, size_t n)
{
	assert_false(a->error);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
}

static void test_aml_encoder(void **state)
{
	static const uint8_t names[] = {
		0x5c, 0x00,						/* \ */
		'_', 'S', 'B', '_',					/* _SB_ */
		'V', 'R', '0', '_',					/* VR0 */
		0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'R', '0', '0',	/* \_SB_.VR00 */
		0x2f, 0x03, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '1', '_', '_',
	};
	static const uint8_t ints[] = {
		0x00, 0x01, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x01, 0x00,
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	};
	/* Scope (\_SB) { Device (D0) { Name (_STR, "x") Name (P, Package () { 2 }) } } */
	static const uint8_t nested[] = {
		0x10, 0x1f, 0x5c, '_', 'S', 'B', '_',		/* body 30 bytes */
		0x5b, 0x82, 0x17, 'D', '0', '_', '_',		/* body 22 bytes */
		0x08, '_', 'S', 'T', 'R', 0x0d, 'x', 0x00,
		0x08, 'P', '_', '_', '_', 0x12, 0x04, 0x01, 0x0a, 0x02,
	};
	static const char *const bad[] = { "1ABC", "ABCDE", "A..B", "A.", "ab", "\\.A" };
	uint8_t buf[5000], data[4096];
	struct aml a;
	size_t scope, dev, pkg;

	(void)state;
	a = aml_init(buf, sizeof(buf));
	aml_namestring(&a, "\\");
	aml_namestring(&a, "_SB_");
	aml_namestring(&a, "VR0");
	aml_namestring(&a, "\\_SB_.VR00");
	aml_namestring(&a, "A.B.C1");
	expect_aml(&a, names, sizeof(names));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = aml_init(buf, sizeof(buf));
		aml_namestring(&a, bad[i]);
		if (!a.error)
			fail_msg("name \"%s\" accepted", bad[i]);
	}

	a = aml_init(buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0x100000000ULL);
	expect_aml(&a, ints, sizeof(ints));

	a = aml_init(buf, sizeof(buf));
	scope = aml_scope(&a, "\\_SB_");
	dev = aml_device(&a, "D0");
	aml_name(&a, "_STR");
	aml_string(&a, "x");
	aml_name(&a, "P");
	pkg = aml_package(&a, 1);
	aml_integer(&a, 2);
	aml_close(&a, pkg);
	aml_close(&a, dev);
	aml_close(&a, scope);
	expect_aml(&a, nested, sizeof(nested));

	/* Scope (\_SB) { Name (BUF, Buffer () { 4096 bytes }) }: 3-byte PkgLengths, nested. */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 7);
	a = aml_init(buf, sizeof(buf));
	scope = aml_scope(&a, "\\_SB_");
	aml_name(&a, "BUF");
	aml_buffer(&a, data, sizeof(data));
	aml_close(&a, scope);
	assert_false(a.error);
	assert_int_equal(a.len, 1 + 3 + 5 + 5 + 1 + 3 + 3 + sizeof(data));
	/* Scope body 5 + 5 + 4103 = 4113 bytes, PkgLength 4116 = 0x1014. */
	assert_memory_equal(buf, ((const uint8_t[]){ 0x10, 0x84, 0x01, 0x01, 0x5c, '_', 'S', 'B',
						     '_', 0x08, 'B', 'U', 'F', '_' }), 14);
	/* Buffer body 3 + 4096 = 4099 bytes, PkgLength 4102 = 0x1006, BufferSize WordConst. */
	assert_memory_equal(buf + 14, ((const uint8_t[]){ 0x11, 0x86, 0x00, 0x01, 0x0b, 0x00,
							  0x10 }), 7);
	assert_memory_equal(buf + 21, data, sizeof(data));

	/* Running out of room anywhere, even for the PkgLength alone, is reported. */
	for (size_t cap = 0; cap < sizeof(nested); cap++) {
		a = aml_init(buf, cap);
		scope = aml_scope(&a, "\\_SB_");
		dev = aml_device(&a, "D0");
		aml_name(&a, "_STR");
		aml_string(&a, "x");
		aml_name(&a, "P");
		pkg = aml_package(&a, 1);
		aml_integer(&a, 2);
		aml_close(&a, pkg);
		aml_close(&a, dev);
		aml_close(&a, scope);
		assert_true(a.error);
		assert_true(a.len <= cap);
	}
}

static void expect_eisaid(const char *id, const uint8_t *want, size_t n)
{
	uint8_t buf[8];
	struct aml a = aml_init(buf, sizeof(buf));

	aml_eisaid(&a, id);
	expect_aml(&a, want, n);
}

/* Bytes as iasl compiles Name (X, EisaId ("...")): the smallest integer that holds the id. */
static void test_aml_eisaid(void **state)
{
	static const char *const bad[] = {
		"", "PNP050", "PNP05010", "pNP0501", "PN@0501", "PN[0501", "PNP050G", "PNP 501",
	};
	uint8_t buf[8];
	struct aml a;

	(void)state;
	/* 'P' 'N' 'P' = 16 14 16: 0 10000 01110 10000 = 0x41d0, then 0x0501. */
	expect_eisaid("PNP0501", (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01 }, 5);
	expect_eisaid("PNP0A08", (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x0a, 0x08 }, 5);
	expect_eisaid("PNP0C0F", (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x0c, 0x0f }, 5);
	/* 'A' 'A' 'A' = 1 1 1: 0x0421; the digits 0000 leave a WordConst. */
	expect_eisaid("AAA0000", (const uint8_t[]){ 0x0b, 0x04, 0x21 }, 3);
	/* 'Z' 'Z' 'Z' = 26 26 26: 0x6b5a. */
	expect_eisaid("ZZZFFFF", (const uint8_t[]){ 0x0c, 0x6b, 0x5a, 0xff, 0xff }, 5);
	expect_eisaid("ZZZffff", (const uint8_t[]){ 0x0c, 0x6b, 0x5a, 0xff, 0xff }, 5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = aml_init(buf, sizeof(buf));
		aml_eisaid(&a, bad[i]);
		if (!a.error)
			fail_msg("EISA id \"%s\" accepted", bad[i]);
	}
	a = aml_init(buf, 4);
	aml_eisaid(&a, "PNP0501");
	assert_true(a.error);
}

/* Resource descriptors, byte for byte as iasl writes them into a ResourceTemplate. */
static void test_aml_resources(void **state)
{
	static const uint8_t want[] = {
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,	/* Decode16, 0x3f8, 0x3f8, 1, 8 */
		0x47, 0x00, 0x60, 0x00, 0x64, 0x00, 0x04, 0x01,	/* Decode10, 0x60, 0x64, 4, 1 */
		0x86, 0x09, 0x00, 0x00, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x0f, 0x01, 0x10, 0x00, 0x00, 0x00,
		0x79, 0x00,
	};
	uint8_t buf[64];
	struct aml r;

	(void)state;
	r = aml_init(buf, sizeof(buf));
	aml_res_io(&r, true, 0x3f8, 0x3f8, 1, 8);
	aml_res_io(&r, false, 0x60, 0x64, 4, 1);
	aml_res_mem32_fixed(&r, false, 0xd0001000, 0x1000);
	aml_res_ext_irq(&r, AML_IRQ_CONSUMER | AML_IRQ_EDGE | AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED,
			16);
	aml_res_end(&r);
	expect_aml(&r, want, sizeof(want));
	r = aml_init(buf, 7);
	aml_res_io(&r, true, 0x3f8, 0x3f8, 1, 8);
	assert_true(r.error);
}

/* " virtio_mmio.device=" options for all windows, as Linux's virtio_mmio parses them. */
static const char virtio_cmdline[] =
	"virtio_mmio.device=4K@0xd0001000:16 virtio_mmio.device=4K@0xd0002000:17 "
	"virtio_mmio.device=4K@0xd0003000:18 virtio_mmio.device=4K@0xd0004000:19 "
	"virtio_mmio.device=4K@0xd0005000:20 virtio_mmio.device=4K@0xd0006000:21 "
	"virtio_mmio.device=4K@0xd0007000:22 virtio_mmio.device=4K@0xd0008000:23";

/* Load @img and return the command line the guest is handed. */
static const char *guest_cmdline(struct fixture *f, const uint8_t *img, size_t len,
				 const char *cmdline, unsigned int nvirtio,
				 enum boot_protocol want)
{
	struct boot_config cfg = tu_config(img, len);
	enum boot_protocol proto;
	struct boot_cpu_state cpu;
	uint64_t gpa;

	cfg.cmdline = cmdline;
	cfg.nvirtio_mmio = nvirtio;
	proto = tu_load_ok(&f->gm, &cfg, &cpu);
	assert_int_equal(proto, want);
	check_acpi(f, 1, nvirtio);
	switch (proto) {
	case BOOT_LINUX64:
		gpa = tu_rd(&f->gm, cpu.rsi + 0x228, 4);	/* hdr.cmd_line_ptr */
		break;
	case BOOT_PVH:
		gpa = tu_rd(&f->gm, cpu.rbx + 24, 8);		/* start info cmdline_paddr */
		break;
	default:
		gpa = tu_rd(&f->gm, cpu.rbx + 16, 4);		/* multiboot info cmdline */
		break;
	}
	return tu_gpa(&f->gm, gpa, 1);
}

static void test_cmdline_virtio(void **state)
{
	struct fixture *f = *state;
	size_t bz_len, pvh_len;
	uint8_t *bz = tu_bzimage(4096, &bz_len), *pvh = tu_pvh_image(&pvh_len);
	struct { const uint8_t *img; size_t len; enum boot_protocol proto; } kernels[] = {
		{ bz, bz_len, BOOT_LINUX64 },
		{ pvh, pvh_len, BOOT_PVH },
	};
	const char *got;

	for (size_t i = 0; i < 2; i++) {
		const uint8_t *img = kernels[i].img;
		size_t len = kernels[i].len;
		enum boot_protocol p = kernels[i].proto;
		char want[1024];

		got = guest_cmdline(f, img, len, "console=ttyS0", SPRY_VIRTIO_MMIO_MAX, p);
		snprintf(want, sizeof(want), "console=ttyS0 %s", virtio_cmdline);
		assert_string_equal(got, want);
		got = guest_cmdline(f, img, len, NULL, SPRY_VIRTIO_MMIO_MAX, p);
		assert_string_equal(got, virtio_cmdline);
		got = guest_cmdline(f, img, len, "", 2, p);
		assert_string_equal(got, "virtio_mmio.device=4K@0xd0001000:16 "
				    "virtio_mmio.device=4K@0xd0002000:17");
		got = guest_cmdline(f, img, len, "console=ttyS0", 0, p);
		assert_string_equal(got, "console=ttyS0");
	}
	/* Multiboot payloads parse their command line: it stays as given. */
	got = guest_cmdline(f, f->raw, sizeof(f->raw), "a b", SPRY_VIRTIO_MMIO_MAX,
			    BOOT_MULTIBOOT);
	assert_string_equal(got, "/boot/kernel a b");
	free(bz);
	free(pvh);
}

/* The options count against the kernel's cmdline_size (bzImage) or the strings area (PVH). */
static void test_cmdline_too_long(void **state)
{
	struct fixture *f = *state;
	size_t len, user = 100, room = BOOT_STRINGS_ROOM;
	uint8_t *bz = tu_bzimage(4096, &len);
	struct boot_config cfg = tu_config(bz, len);
	char *cmdline = malloc(room);

	assert_non_null(cmdline);
	memset(cmdline, 'x', user);
	cmdline[user] = '\0';
	cfg.cmdline = cmdline;
	cfg.nvirtio_mmio = SPRY_VIRTIO_MMIO_MAX;
	tu_bz_hdr(bz)->cmdline_size = (uint32_t)(user + 1 + strlen(virtio_cmdline));
	assert_non_null(strstr(guest_cmdline(f, bz, len, cmdline, SPRY_VIRTIO_MMIO_MAX,
					     BOOT_LINUX64), virtio_cmdline));
	tu_bz_hdr(bz)->cmdline_size--;
	tu_expect_fail(&f->gm, &cfg, "virtio_mmio.device=");
	cfg.nvirtio_mmio = 0;
	assert_string_equal(guest_cmdline(f, bz, len, cmdline, 0, BOOT_LINUX64), cmdline);
	free(bz);

	/* PVH: a command line that just fits the strings area alone, but not with the options. */
	bz = tu_pvh_image(&len);
	cfg = tu_config(bz, len);
	memset(cmdline, 'x', room - 1);
	cmdline[room - 1] = '\0';
	cfg.cmdline = cmdline;
	assert_string_equal(guest_cmdline(f, bz, len, cmdline, 0, BOOT_PVH), cmdline);
	cfg.nvirtio_mmio = 1;
	tu_expect_fail(&f->gm, &cfg, "strings area");
	free(cmdline);
	free(bz);
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
	cfg.nvirtio_mmio = SPRY_VIRTIO_MMIO_MAX + 1;
	tu_expect_fail(&f->gm, &cfg, "virtio-mmio");
	cfg.nvirtio_mmio = SPRY_VIRTIO_MMIO_MAX;
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
		cmocka_unit_test_setup_teardown(test_dsdt_virtio, setup, teardown),
		cmocka_unit_test(test_aml_pkglen),
		cmocka_unit_test(test_aml_encoder),
		cmocka_unit_test(test_aml_eisaid),
		cmocka_unit_test(test_aml_resources),
		cmocka_unit_test_setup_teardown(test_cmdline_virtio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
