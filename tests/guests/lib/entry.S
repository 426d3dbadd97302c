/*
 * Entry points: 32-bit flat entries for multiboot and PVH, the Linux 64-bit
 * entry at load address + 0x200, and the switch to long mode the APs share.
 * Also the GDT and identity page tables for the first 4 GiB (2 MiB pages).
 */
#include "asm.h"

	.section .head.text32, "ax"
	.code32
	.globl mb_entry, pvh_entry
mb_entry:			/* EAX = 0x2badb002, EBX = multiboot info */
	movl $BOOT_KIND_MULTIBOOT, %edi
	jmp start32
pvh_entry:			/* EBX = hvm_start_info */
	movl $BOOT_KIND_PVH, %edi
	jmp start32

	.section .head.text64, "ax"
	.code64
	.globl startup_64
startup_64:			/* long mode, RSI = boot_params */
	cli
	movl $BOOT_KIND_LINUX64, boot_kind(%rip)
	movq %rsi, boot_info(%rip)
	lgdt gdt_desc(%rip)
	movl $pml4, %eax
	movq %rax, %cr3
	leaq bsp_stack_top(%rip), %rsp
	pushq $SEL_CODE64
	leaq bsp64(%rip), %rax
	pushq %rax
	lretq

	.text
	.code32
start32:
	cli
	lgdt gdt_desc
	ljmp $SEL_CODE32, $1f
1:	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $bsp_stack_top, %esp
	movl %edi, boot_kind
	movl %ebx, boot_info
	movl $bsp64, %ebp

/* Flat 32-bit segments and a stack; EBP = where to go in 64-bit mode. */
	.globl enter_long
enter_long:
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	pushl $SEL_CODE64
	pushl %ebp
	lret

	.code64
bsp64:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	leaq bsp_stack_top(%rip), %rsp
	/* The Linux boot protocol leaves clearing .bss to the kernel. */
	leaq __bss_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	call lib_start
	hlt

	.data
	.globl boot_kind, boot_info
	.balign 8
boot_info:
	.quad 0
boot_kind:
	.long 0

	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* SEL_CODE32 */
	.quad 0x00cf92000000ffff	/* SEL_DATA */
	.quad 0x00af9a000000ffff	/* SEL_CODE64 */
gdt_desc:
	.word GDT_LIMIT
	.quad gdt

	.balign 4096
pml4:
	.quad pdpt + PTE_P_W
	.fill 511, 8, 0
pdpt:
	.quad pd + PTE_P_W
	.quad pd + 0x1000 + PTE_P_W
	.quad pd + 0x2000 + PTE_P_W
	.quad pd + 0x3000 + PTE_P_W
	.fill 508, 8, 0
pd:
	.set addr, 0
	.rept 2048
	.quad addr + PTE_P_W + PTE_PS
	.set addr, addr + 0x200000
	.endr

	.bss
	.balign 16
	.skip 8192
bsp_stack_top:

	.section .note.GNU-stack, "", @progbits
