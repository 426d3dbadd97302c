/*
 * AP start-up: the real-mode trampoline smp.c copies below 1 MiB (a SIPI
 * starts it at offset 0 with CS = its address >> 4), then the 32-bit and
 * 64-bit steps that reuse enter_long and run on ap_stack_top.
 */
#include "asm.h"

	.section .rodata
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_tramp_gdt - ap_tramp_start
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.balign 4
ap_tramp_gdt:
	.word GDT_LIMIT
	.long gdt
ap_tramp_end:

	.text
	.code32
ap_entry32:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl ap_stack_top, %esp
	movl $ap64, %ebp
	jmp enter_long

	.code64
ap64:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movq ap_stack_top(%rip), %rsp
	call ap_main
	hlt

	.section .note.GNU-stack, "", @progbits
