/*
 * Interrupt and exception stubs for vectors 0-47, 16 bytes apart from
 * vector_stubs: each pushes an error code (0 when the CPU gives none) and
 * its vector, and the common path saves the caller-saved registers for trap().
 */
	.text
	.code64
	.globl vector_stubs
	.balign 16
vector_stubs:
	.set vec, 0
	.rept 48
	.balign 16
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushq $0
	.endif
	pushq $vec
	jmp vector_common
	.set vec, vec + 1
	.endr

vector_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq %rsp, %rdi
	cld
	call trap
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq

	.section .note.GNU-stack, "", @progbits
