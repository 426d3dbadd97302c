/*
 * Intel MultiProcessor Specification 1.4 tables: the floating pointer in the BIOS
 * area and a configuration table listing the CPUs, the ISA bus, the IOAPIC and the
 * ISA interrupt routing, for guests that look for CPUs without ACPI.
 */
#include <string.h>

#include "boot_internal.h"
#include "boot_layout.h"
#include "spry/layout.h"

#define MP_SPEC_REV		4	/* 1.4 */
#define MP_LAPIC_VERSION	0x14	/* integrated APIC, as KVM's LAPIC reports */
#define MP_IOAPIC_VERSION	0x11
#define MP_CPU_SIGNATURE	0x600	/* family 6; only ever printed */
#define MP_CPU_FEATURES		0x201	/* CPUID.1:EDX FPU and APIC */

enum {
	MP_ENTRY_PROCESSOR,
	MP_ENTRY_BUS,
	MP_ENTRY_IOAPIC,
	MP_ENTRY_IO_INT,
	MP_ENTRY_LOCAL_INT,
};

#define MP_CPU_ENABLED		(1 << 0)
#define MP_CPU_BSP		(1 << 1)
#define MP_IOAPIC_ENABLED	(1 << 0)
#define MP_INT			0
#define MP_NMI			1
#define MP_EXTINT		3
#define MP_IRQ_EDGE_HIGH	0x0005	/* polarity 01 active high, trigger 01 edge */
#define MP_ALL_LAPICS		0xff
#define ISA_BUS			0
#define ISA_IRQS		16
#define ISA_IRQ_CASCADE		2	/* PIC cascade: never raised; its pin is IRQ 0's */
#define IRQ0_PIN		2	/* the PIT is wired to IOAPIC pin 2, as on a PC */

struct mp_floating {
	char signature[4];	/* "_MP_" */
	uint32_t config_addr;
	uint8_t length;		/* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t features[5];	/* all zero: a configuration table is present */
} __attribute__((packed));

struct mp_config {
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

/* Layout shared by I/O and local interrupt assignment entries. */
struct mp_irq {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_id;		/* IOAPIC id, or local APIC id */
	uint8_t dst_pin;	/* IOAPIC INTIN, or LINTIN */
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer layout");
_Static_assert(sizeof(struct mp_config) == 44, "MP configuration table header layout");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry layout");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry layout");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry layout");
_Static_assert(sizeof(struct mp_irq) == 8, "MP interrupt entry layout");

#define MP_TABLE_MAX (sizeof(struct mp_config) + SPRY_MAX_CPUS * sizeof(struct mp_processor) + \
		      sizeof(struct mp_bus) + sizeof(struct mp_ioapic) + \
		      (ISA_IRQS + 2) * sizeof(struct mp_irq))
_Static_assert(MP_TABLE_MAX <= BOOT_MP_CONFIG_SIZE, "MP table fits its area");

struct mp_builder {
	uint8_t buf[MP_TABLE_MAX];
	size_t len;
	uint16_t count;
};

static void add(struct mp_builder *b, const void *entry, size_t len)
{
	memcpy(b->buf + b->len, entry, len);
	b->len += len;
	b->count++;
}

static void add_irq(struct mp_builder *b, uint8_t type, uint8_t irq_type, uint8_t src_irq,
		    uint8_t dst_id, uint8_t dst_pin)
{
	struct mp_irq e = {
		.type = type,
		.irq_type = irq_type,
		.flags = type == MP_ENTRY_IO_INT ? MP_IRQ_EDGE_HIGH : 0,
		.src_bus = ISA_BUS,
		.src_irq = src_irq,
		.dst_id = dst_id,
		.dst_pin = dst_pin,
	};

	add(b, &e, sizeof(e));
}

static void add_entries(struct mp_builder *b, int ncpus)
{
	const uint8_t ioapic_id = (uint8_t)ncpus;	/* first id after the CPUs' */
	struct mp_bus bus = { MP_ENTRY_BUS, ISA_BUS, "ISA   " };
	struct mp_ioapic ioapic = { MP_ENTRY_IOAPIC, ioapic_id, MP_IOAPIC_VERSION,
				    MP_IOAPIC_ENABLED, (uint32_t)SPRY_IOAPIC_BASE };

	for (int i = 0; i < ncpus; i++) {
		struct mp_processor cpu = {
			.type = MP_ENTRY_PROCESSOR,
			.lapic_id = (uint8_t)i,
			.lapic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};

		add(b, &cpu, sizeof(cpu));
	}
	add(b, &bus, sizeof(bus));
	add(b, &ioapic, sizeof(ioapic));
	for (int irq = 0; irq < ISA_IRQS; irq++) {
		if (irq == ISA_IRQ_CASCADE)
			continue;
		add_irq(b, MP_ENTRY_IO_INT, MP_INT, (uint8_t)irq, ioapic_id,
			irq == 0 ? IRQ0_PIN : (uint8_t)irq);
	}
	add_irq(b, MP_ENTRY_LOCAL_INT, MP_EXTINT, 0, MP_ALL_LAPICS, 0);
	add_irq(b, MP_ENTRY_LOCAL_INT, MP_NMI, 0, MP_ALL_LAPICS, 1);
}

int boot_write_mptable(struct boot_ctx *ctx)
{
	struct mp_builder b = { .len = sizeof(struct mp_config) };
	struct mp_config hdr = {
		.signature = "PCMP",
		.spec_rev = MP_SPEC_REV,
		.oem_id = "SPRY    ",
		.product_id = "SPRY VM     ",
		.lapic_addr = (uint32_t)SPRY_LAPIC_BASE,
	};
	struct mp_floating fp = {
		.signature = "_MP_",
		.config_addr = (uint32_t)BOOT_MP_CONFIG_ADDR,
		.length = sizeof(fp) / 16,
		.spec_rev = MP_SPEC_REV,
	};

	add_entries(&b, ctx->cfg->ncpus);
	hdr.length = (uint16_t)b.len;
	hdr.entry_count = b.count;
	memcpy(b.buf, &hdr, sizeof(hdr));
	b.buf[offsetof(struct mp_config, checksum)] = boot_checksum(b.buf, b.len);
	fp.checksum = boot_checksum(&fp, sizeof(fp));
	if (boot_put(ctx, BOOT_MP_CONFIG_ADDR, b.buf, b.len, "MP configuration table") ||
	    boot_put(ctx, BOOT_MP_FLOAT_ADDR, &fp, sizeof(fp), "MP floating pointer"))
		return -1;
	return 0;
}
