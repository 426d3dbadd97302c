/*
 * Where the boot loader puts its own structures in guest memory. Every protocol
 * uses the same fixed places, so the guest-visible layout is the same on every boot.
 *
 * Guest physical map after boot_load() (low RAM):
 *
 *   0x00000 - 0x00fff  real-mode IVT and BIOS data area: left alone
 *   0x01000 - 0x0101f  GDT: null, 0x08 code32, 0x10 code64 (__BOOT_CS), 0x18 data (__BOOT_DS)
 *   0x04000 - 0x07fff  boot stack, RSP = 0x8000 at entry; the kernel switches to its own
 *   0x08000 - 0x08fff  zero page (Linux) | hvm_start_info (PVH) | multiboot info
 *   0x09000 - 0x0bfff  PVH module list | multiboot module list
 *   0x0c000 - 0x0cfff  PVH memory map | multiboot memory map
 *   0x10000 - 0x15fff  long-mode page tables: PML4, PDPT, 4 page directories mapping
 *                      [0, 4 GiB) 1:1 with 2 MiB pages (Linux only)
 *   0x20000 - 0x2ffff  strings: kernel command line, boot loader name, module names
 *   0x30000 - 0x30fff  MP configuration table
 *   0x31000 - 0x31fff  ACPI: XSDT at 0x31000, FADT at 0x31100, DSDT (COM1 and up to 8
 *                      virtio-mmio devices: under 600 of its 1280 bytes) at 0x31300,
 *                      MADT (up to 64 CPUs: 584 of its 2048 bytes) at 0x31800
 *   0x9fc00 - 0xfffff  reported reserved in e820 (EBDA, VGA hole, BIOS area), and in it:
 *   0xe0000            ACPI RSDP (where the ACPI spec says to scan for it)
 *   0xf0000            MP floating pointer (where the MP spec says to scan for it)
 *   0x100000 -         the kernel: Linux at 1 MiB or its pref_address, ELF at p_paddr
 *   top of low RAM     Linux initrd and PVH modules; multiboot modules follow the kernel
 *
 * e820 reports all of [0, 0x9fc00) as usable: everything the loader leaves there is either
 * copied by the kernel early or (ACPI, MP) found again and reserved by it, and Linux keeps
 * the first MiB out of its allocator anyway. Kernel images may not be loaded below 1 MiB.
 */
#ifndef SPRY_BOOT_LAYOUT_H
#define SPRY_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR		0x1000ULL
#define BOOT_STACK_TOP		0x8000ULL
#define BOOT_INFO_ADDR		0x8000ULL	/* zero page, start info or multiboot info */
#define BOOT_INFO_SIZE		0x1000ULL
#define BOOT_MODLIST_ADDR	0x9000ULL
#define BOOT_MODLIST_SIZE	0x3000ULL
#define BOOT_MEMMAP_ADDR	0xc000ULL
#define BOOT_MEMMAP_SIZE	0x1000ULL
#define BOOT_PML4_ADDR		0x10000ULL
#define BOOT_PDPT_ADDR		0x11000ULL
#define BOOT_PD_ADDR		0x12000ULL	/* 4 pages, one per GiB */
#define BOOT_STRINGS_ADDR	0x20000ULL
#define BOOT_STRINGS_SIZE	0x10000ULL
#define BOOT_MP_CONFIG_ADDR	0x30000ULL
#define BOOT_MP_CONFIG_SIZE	0x1000ULL
#define BOOT_ACPI_XSDT_ADDR	0x31000ULL
#define BOOT_ACPI_FADT_ADDR	0x31100ULL
#define BOOT_ACPI_DSDT_ADDR	0x31300ULL
#define BOOT_ACPI_MADT_ADDR	0x31800ULL
#define BOOT_ACPI_END		0x32000ULL
#define BOOT_RSDP_ADDR		0xe0000ULL
#define BOOT_MP_FLOAT_ADDR	0xf0000ULL

/* Kernel images and modules live at or above this; the loader owns what is below. */
#define BOOT_KERNEL_MIN_ADDR	0x100000ULL
/* Smallest low RAM boot_load() accepts: the tables plus a first MiB for a kernel. */
#define BOOT_MIN_RAM		0x200000ULL

/* GDT selectors (the 64-bit pair is what Linux's 64-bit boot protocol requires). */
#define BOOT_SEL_CODE32		0x08
#define BOOT_SEL_CODE64		0x10
#define BOOT_SEL_DATA		0x18

#endif
