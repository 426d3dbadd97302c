/*
 * Loading a kernel into guest memory: Linux bzImage (64-bit boot protocol),
 * ELF vmlinux through its PVH note, and multiboot v1 ELF kernels. The loader
 * also writes the firmware tables a guest reads (e820, MP table, ACPI) and
 * returns the register state the boot CPU must start with. It reads only
 * from the buffers it is given and never past their ends.
 */
#ifndef SPRY_BOOT_H
#define SPRY_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spry/memory.h"

struct boot_blob {
	const char *name;	/* path as given by the user (multiboot puts it in command lines) */
	const uint8_t *data;
	size_t size;
};

struct boot_config {
	struct boot_blob kernel;
	const struct boot_blob *initrds;
	int ninitrds;
	const char *cmdline;	/* may be NULL */
	int ncpus;
	/*
	 * virtio-mmio windows 0 to nvirtio_mmio - 1 of spry/layout.h (window i at
	 * SPRY_VIRTIO_MMIO_BASE + i * SPRY_VIRTIO_MMIO_SIZE, edge-triggered on GSI
	 * SPRY_VIRTIO_MMIO_GSI + i), at most SPRY_VIRTIO_MMIO_MAX. They are declared
	 * in the DSDT and, for Linux (bzImage or PVH), also appended to the command
	 * line as virtio_mmio.device= options.
	 */
	unsigned int nvirtio_mmio;
};

enum boot_protocol {
	BOOT_LINUX64,		/* bzImage, entered in long mode at startup_64 */
	BOOT_PVH,		/* ELF with XEN_ELFNOTE_PHYS32_ENTRY, 32-bit flat, no paging */
	BOOT_MULTIBOOT,		/* multiboot v1, 32-bit flat, no paging */
};

enum boot_cpu_mode {
	BOOT_CPU_LONG64,	/* CR0.PE|PG, CR4.PAE, EFER.LME|LMA, 64-bit code segment */
	BOOT_CPU_PROT32,	/* CR0.PE, flat 4 GiB 32-bit code and data segments */
};

/* Register state of the boot CPU at the kernel's entry point. */
struct boot_cpu_state {
	enum boot_cpu_mode mode;
	uint64_t rip, rsp, rflags;
	uint64_t rax, rbx, rsi;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;	/* GDT written by the loader into guest RAM */
	uint16_t gdt_limit;
	uint16_t code_sel, data_sel;	/* selectors of the code and data descriptors in it */
};

/*
 * Detect the kernel's format, load it, its initrds/modules and command line,
 * and write the e820 map, MP table and ACPI tables for @cfg->ncpus CPUs and
 * @cfg->nvirtio_mmio virtio-mmio devices.
 * Returns 0 and fills @protocol and @bsp, or -1 with a one-line reason in
 * @err (no trailing newline).
 */
int boot_load(struct guest_memory *gm, const struct boot_config *cfg,
	      enum boot_protocol *protocol, struct boot_cpu_state *bsp,
	      char *err, size_t errlen);

const char *boot_protocol_name(enum boot_protocol p);

#endif
