/*
 * ACPI 6.x tables for a hardware-reduced machine: RSDP, XSDT, FADT, a DSDT that
 * declares \_S5 (so an OS can power off through the sleep control register),
 * COM1 and the virtio-mmio windows, and a MADT with the local APICs, the IOAPIC
 * and the ISA IRQ 0 override.
 */
#include <stddef.h>
#include <string.h>

#include "aml.h"
#include "boot_internal.h"
#include "boot_layout.h"
#include "spry/layout.h"

#define ACPI_OEM_ID		"SPRY  "
#define ACPI_OEM_TABLE_ID	"SPRYVM  "
#define ACPI_CREATOR_ID		"SPRY"
#define ACPI_RSDP_REVISION	2	/* ACPI 2.0+: has the XSDT address */
#define ACPI_RSDP_V1_LEN	20	/* bytes covered by the first checksum */

#define FADT_REVISION		6
#define FADT_MINOR		0
#define FADT_HW_REDUCED		(1u << 20)
#define FADT_BOOT_NO_VGA	(1u << 2)	/* IA-PC boot architecture flags */
#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1

#define DSDT_REVISION		2		/* 64-bit AML integers */
#define DSDT_MAX		(BOOT_ACPI_MADT_ADDR - BOOT_ACPI_DSDT_ADDR)
#define ACPI_S5_SLP_TYP		5		/* SLP_TYPa written for soft-off */
#define VIRTIO_MMIO_HID		"LNRO0005"	/* what Linux's virtio_mmio driver matches */
#define COM1_HID		"PNP0501"	/* 16550A-compatible COM port */
#define COM1_PORTS		8
#define MADT_REVISION		5
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MADT_ENABLED		(1u << 0)
#define MADT_ALL_CPUS		0xff
#define ISA_IRQ0_GSI		2		/* the PIT is wired to IOAPIC pin 2, as on a PC */
#define LAPIC_NMI_LINT		1

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_addr;
	uint32_t length;
	uint64_t xsdt_addr;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_xsdt {
	struct acpi_header h;
	uint64_t entry[2];	/* FADT, MADT */
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved1;
	uint8_t pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved2;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_addr;
	uint32_t flags;		/* no PCAT_COMPAT: there is no 8259 pair to mask */
} __attribute__((packed));

struct madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t addr;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_iso {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;		/* 0: conforms to the bus (ISA: edge, active high) */
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header layout");
_Static_assert(sizeof(struct acpi_gas) == 12, "generic address structure layout");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 layout");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header layout");
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT local APIC layout");
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT IOAPIC layout");
_Static_assert(sizeof(struct madt_iso) == 10, "MADT interrupt source override layout");
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT local APIC NMI layout");

#define MADT_MAX (sizeof(struct acpi_madt) + SPRY_MAX_CPUS * sizeof(struct madt_lapic) + \
		  sizeof(struct madt_ioapic) + sizeof(struct madt_iso) + \
		  sizeof(struct madt_lapic_nmi))
_Static_assert(BOOT_ACPI_XSDT_ADDR + sizeof(struct acpi_xsdt) <= BOOT_ACPI_FADT_ADDR &&
	       BOOT_ACPI_FADT_ADDR + sizeof(struct acpi_fadt) <= BOOT_ACPI_DSDT_ADDR &&
	       BOOT_ACPI_MADT_ADDR + MADT_MAX <= BOOT_ACPI_END, "ACPI tables fit their slots");
_Static_assert(BOOT_ACPI_END <= SPRY_EBDA_START, "ACPI tables lie in low RAM");
_Static_assert(SPRY_VIRTIO_MMIO_MAX <= 100, "virtio-mmio device names are VR00 to VR99");
_Static_assert(SPRY_VIRTIO_MMIO_BASE + SPRY_VIRTIO_MMIO_MAX * SPRY_VIRTIO_MMIO_SIZE <=
	       SPRY_MMIO_HOLE_END, "virtio-mmio windows have 32-bit addresses");

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t revision)
{
	memcpy(h->signature, sig, sizeof(h->signature));
	h->length = len;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, sizeof(h->oem_id));
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h->oem_table_id));
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, sizeof(h->creator_id));
	h->creator_revision = 1;
}

/* Checksum a finished table of @len bytes and copy it to the guest. */
static int put_table(struct boot_ctx *ctx, uint64_t gpa, void *table, uint32_t len,
		     const char *what)
{
	uint8_t *bytes = table;

	bytes[offsetof(struct acpi_header, checksum)] = 0;
	bytes[offsetof(struct acpi_header, checksum)] = boot_checksum(table, len);
	return boot_put(ctx, gpa, table, len, what);
}

static struct acpi_gas sleep_reg(void)
{
	return (struct acpi_gas){
		.space_id = GAS_SYSTEM_IO,
		.bit_width = 8,
		.access_size = GAS_ACCESS_BYTE,
		.address = SPRY_PORT_ACPI_SLEEP,
	};
}

static int write_fadt(struct boot_ctx *ctx)
{
	struct acpi_fadt f = { 0 };

	header(&f.h, "FACP", sizeof(f), FADT_REVISION);
	f.minor_version = FADT_MINOR;
	f.flags = FADT_HW_REDUCED;
	/*
	 * No "8042 present" flag: spry's i8042 has no keyboard or AUX port, only
	 * self-test, the command byte and pulse-reset; with the flag set Linux's
	 * i8042 driver probes it and loses about a second to AUX tests timing out.
	 * Linux's reboot still writes 0xfe to port 0x64 without it, which spry
	 * handles.
	 */
	f.iapc_boot_arch = FADT_BOOT_NO_VGA;
	/* Only the 64-bit pointer: the spec has OSPM ignore DSDT when X_DSDT is set. */
	f.x_dsdt = BOOT_ACPI_DSDT_ADDR;
	f.sleep_control_reg = sleep_reg();
	f.sleep_status_reg = sleep_reg();
	memcpy(&f.hypervisor_vendor_id, "SPRY\0\0\0\0", sizeof(f.hypervisor_vendor_id));
	return put_table(ctx, BOOT_ACPI_FADT_ADDR, &f, sizeof(f), "FADT");
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
 *
 * As QEMU's microvm and cloud-hypervisor declare it. Without a legacy PIC
 * (HW_REDUCED_ACPI) Linux does not map the ISA IRQs up front, so the 8250
 * driver's built-in port at 0x3f8 may find no interrupt; through this device
 * 8250_pnp registers the port with IRQ 4 mapped on the IOAPIC.
 */
static void dsdt_com1(struct aml *a)
{
	uint8_t crs[32];
	struct aml r = aml_init(crs, sizeof(crs));
	size_t dev;

	aml_res_io(&r, true, SPRY_PORT_COM1, SPRY_PORT_COM1, 1, COM1_PORTS);
	aml_res_ext_irq(&r, AML_IRQ_CONSUMER | AML_IRQ_EDGE, SPRY_IRQ_COM1);
	aml_res_end(&r);
	a->error |= r.error;

	dev = aml_device(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, COM1_HID);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_buffer(a, crs, r.len);
	aml_close(a, dev);
}

/*
 * Device (VRnn) {
 *     Name (_HID, "LNRO0005")
 *     Name (_UID, n)
 *     Name (_CRS, ResourceTemplate () {
 *         Memory32Fixed (ReadWrite, base, size)
 *         Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }
 *     })
 * }
 */
static void dsdt_virtio_mmio(struct aml *a, unsigned int i)
{
	uint8_t crs[32];
	struct aml r = aml_init(crs, sizeof(crs));
	char name[] = "VR00";
	size_t dev;

	name[2] = (char)('0' + i / 10);
	name[3] = (char)('0' + i % 10);
	aml_res_mem32_fixed(&r, true, (uint32_t)(SPRY_VIRTIO_MMIO_BASE + i * SPRY_VIRTIO_MMIO_SIZE),
			    (uint32_t)SPRY_VIRTIO_MMIO_SIZE);
	aml_res_ext_irq(&r, AML_IRQ_CONSUMER | AML_IRQ_EDGE, SPRY_VIRTIO_MMIO_GSI + i);
	aml_res_end(&r);
	a->error |= r.error;

	dev = aml_device(a, name);
	aml_name(a, "_HID");
	aml_string(a, VIRTIO_MMIO_HID);
	aml_name(a, "_UID");
	aml_integer(a, i);
	aml_name(a, "_CRS");
	aml_buffer(a, crs, r.len);
	aml_close(a, dev);
}

/*
 * Name (_S5, Package () { 5, 0, 0, 0 })
 * Scope (\_SB) { COM1, then the virtio-mmio devices }
 */
static int write_dsdt(struct boot_ctx *ctx)
{
	uint8_t buf[DSDT_MAX] = { 0 };
	struct acpi_header h = { 0 };
	struct aml a = aml_init(buf + sizeof(h), sizeof(buf) - sizeof(h));
	size_t mark;

	aml_name(&a, "_S5_");
	mark = aml_package(&a, 4);
	aml_integer(&a, ACPI_S5_SLP_TYP);
	for (int i = 0; i < 3; i++)
		aml_integer(&a, 0);
	aml_close(&a, mark);

	mark = aml_scope(&a, "\\_SB_");
	dsdt_com1(&a);
	for (unsigned int i = 0; i < ctx->cfg->nvirtio_mmio; i++)
		dsdt_virtio_mmio(&a, i);
	aml_close(&a, mark);
	if (a.error)
		return boot_fail(ctx, "DSDT does not fit its %u bytes at 0x%llx",
				 (unsigned int)DSDT_MAX, (unsigned long long)BOOT_ACPI_DSDT_ADDR);

	header(&h, "DSDT", (uint32_t)(sizeof(h) + a.len), DSDT_REVISION);
	memcpy(buf, &h, sizeof(h));
	return put_table(ctx, BOOT_ACPI_DSDT_ADDR, buf, (uint32_t)(sizeof(h) + a.len), "DSDT");
}

static void madt_add(uint8_t *buf, size_t *len, const void *entry, size_t size)
{
	memcpy(buf + *len, entry, size);
	*len += size;
}

static int write_madt(struct boot_ctx *ctx)
{
	const int ncpus = ctx->cfg->ncpus;
	uint8_t buf[MADT_MAX] = { 0 };
	size_t len = sizeof(struct acpi_madt);
	struct acpi_madt m = { .lapic_addr = (uint32_t)SPRY_LAPIC_BASE };
	struct madt_ioapic io = { MADT_IOAPIC, sizeof(io), (uint8_t)ncpus, 0,
				  (uint32_t)SPRY_IOAPIC_BASE, 0 };
	struct madt_iso iso = { MADT_ISO, sizeof(iso), 0, 0, ISA_IRQ0_GSI, 0 };
	struct madt_lapic_nmi nmi = { MADT_LAPIC_NMI, sizeof(nmi), MADT_ALL_CPUS, 0,
				      LAPIC_NMI_LINT };

	for (int i = 0; i < ncpus; i++) {
		struct madt_lapic l = { MADT_LAPIC, sizeof(l), (uint8_t)i, (uint8_t)i,
					MADT_ENABLED };

		madt_add(buf, &len, &l, sizeof(l));
	}
	madt_add(buf, &len, &io, sizeof(io));
	madt_add(buf, &len, &iso, sizeof(iso));
	madt_add(buf, &len, &nmi, sizeof(nmi));
	header(&m.h, "APIC", (uint32_t)len, MADT_REVISION);
	memcpy(buf, &m, sizeof(m));
	return put_table(ctx, BOOT_ACPI_MADT_ADDR, buf, (uint32_t)len, "MADT");
}

static int write_rsdp(struct boot_ctx *ctx)
{
	struct acpi_rsdp r = {
		.revision = ACPI_RSDP_REVISION,
		.length = sizeof(r),
		.xsdt_addr = BOOT_ACPI_XSDT_ADDR,
	};

	memcpy(r.signature, "RSD PTR ", sizeof(r.signature));
	memcpy(r.oem_id, ACPI_OEM_ID, sizeof(r.oem_id));
	r.checksum = boot_checksum(&r, ACPI_RSDP_V1_LEN);
	r.ext_checksum = boot_checksum(&r, sizeof(r));
	return boot_put(ctx, BOOT_RSDP_ADDR, &r, sizeof(r), "RSDP");
}

int boot_write_acpi(struct boot_ctx *ctx)
{
	struct acpi_xsdt x = { .entry = { BOOT_ACPI_FADT_ADDR, BOOT_ACPI_MADT_ADDR } };

	header(&x.h, "XSDT", sizeof(x), 1);
	if (write_fadt(ctx) || write_dsdt(ctx) || write_madt(ctx) ||
	    put_table(ctx, BOOT_ACPI_XSDT_ADDR, &x, sizeof(x), "XSDT") || write_rsdp(ctx))
		return -1;
	return 0;
}
