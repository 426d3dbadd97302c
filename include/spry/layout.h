/*
 * The guest physical and port address map of a spry machine, in one place.
 * Boot code, devices and guest test payloads all take their addresses from here.
 */
#ifndef SPRY_LAYOUT_H
#define SPRY_LAYOUT_H

/* RAM is [0, 3 GiB) and, for larger guests, continues at 4 GiB. */
#define SPRY_MMIO_HOLE_START	0xc0000000ULL
#define SPRY_MMIO_HOLE_END	0x100000000ULL
#define SPRY_HIGH_RAM_START	SPRY_MMIO_HOLE_END

/* Legacy low-memory areas that RAM below 1 MiB must not be reported over. */
#define SPRY_EBDA_START		0x9fc00ULL
#define SPRY_BIOS_START		0xe0000ULL	/* RSDP and MP floating pointer live here */
#define SPRY_LOW_RAM_END	0x100000ULL

/* MMIO devices. */
#define SPRY_BOOT_TIMER_BASE	0xd0000000ULL	/* 1 byte write of 123: /init started */
#define SPRY_BOOT_TIMER_SIZE	0x1000ULL
#define SPRY_BOOT_TIMER_MAGIC	123
#define SPRY_BOOT_TIMER_ID	0x53505259	/* "SPRY", read back at offset 0 (32-bit) */
#define SPRY_VIRTIO_MMIO_BASE	0xd0001000ULL	/* virtio-mmio windows follow, 4 KiB each */
#define SPRY_VIRTIO_MMIO_SIZE	0x1000ULL
#define SPRY_VIRTIO_MMIO_MAX	8
#define SPRY_VIRTIO_MMIO_GSI	16	/* window i interrupts on GSI 16 + i (edge) */
#define SPRY_IOAPIC_BASE	0xfec00000ULL
#define SPRY_LAPIC_BASE		0xfee00000ULL
#define SPRY_KVM_TSS_ADDR	0xfffbd000ULL	/* 3 pages KVM needs for real-mode emulation */
#define SPRY_KVM_IDENTITY_MAP	0xfffbc000ULL

/* Port I/O devices. */
#define SPRY_PORT_PIT		0x40
#define SPRY_PORT_I8042_DATA	0x60
#define SPRY_PORT_I8042_CMD	0x64
#define SPRY_PORT_RTC		0x70	/* index at 0x70, data at 0x71 */
#define SPRY_PORT_DEBUG_EXIT	0xf4	/* 4 ports; exit status (value << 1) | 1 */
#define SPRY_PORT_COM1		0x3f8
#define SPRY_PORT_ACPI_SLEEP	0x600	/* HW-reduced ACPI sleep control/status */

/* Interrupt lines (ISA numbering; IRQ 0 reaches IOAPIC pin 2). */
#define SPRY_GSI_PIT		2	/* ISA IRQ 0, through the MADT's override */
#define SPRY_IRQ_COM1		4
#define SPRY_IRQ_RTC		8
#define SPRY_IOAPIC_PINS	24

#define SPRY_MAX_CPUS		64

#endif
