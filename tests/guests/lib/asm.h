/*
 * Constants shared by the guest library's assembly files: GDT selectors,
 * control register and page table bits, boot kinds (as in guest.h).
 */
#ifndef GUEST_ASM_H
#define GUEST_ASM_H

#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE64	0x18
#define GDT_LIMIT	0x1f	/* null + the three above */

#define BOOT_KIND_MULTIBOOT	1
#define BOOT_KIND_PVH		2
#define BOOT_KIND_LINUX64	3

#define CR0_PE		0x1
#define CR0_PG		0x80000000
#define CR4_PAE		0x20
#define MSR_EFER	0xc0000080
#define EFER_LME	0x100

#define PTE_P_W		0x3
#define PTE_PS		0x80

#endif
