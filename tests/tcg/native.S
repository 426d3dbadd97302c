/*
 * The differential tester's trampoline: load all sixteen registers, RFLAGS,
 * MXCSR and XMM0-15 from a struct native_regs, jump to the generated code,
 * and on its return through native_exit store them into native_out. Faults come back through
 * the tester's signal handler, which resumes at native_resume.
 */
	.text
	.globl native_enter
	.type native_enter, @function
native_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, native_host_rsp(%rip)
	mov 136(%rdi), %rax
	mov %rax, native_entry(%rip)
	ldmxcsr 144(%rdi)
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu 160+16*\n(%rdi), %xmm\n
	.endr
	pushq 128(%rdi)
	popfq
	mov 0(%rdi), %rax
	mov 8(%rdi), %rcx
	mov 16(%rdi), %rdx
	mov 24(%rdi), %rbx
	mov 32(%rdi), %rsp
	mov 40(%rdi), %rbp
	mov 48(%rdi), %rsi
	mov 64(%rdi), %r8
	mov 72(%rdi), %r9
	mov 80(%rdi), %r10
	mov 88(%rdi), %r11
	mov 96(%rdi), %r12
	mov 104(%rdi), %r13
	mov 112(%rdi), %r14
	mov 120(%rdi), %r15
	mov 56(%rdi), %rdi
	jmp *native_entry(%rip)

	.globl native_exit
	.type native_exit, @function
native_exit:
	mov %rax, native_out+0(%rip)
	mov %rcx, native_out+8(%rip)
	mov %rdx, native_out+16(%rip)
	mov %rbx, native_out+24(%rip)
	mov %rsp, native_out+32(%rip)
	mov %rbp, native_out+40(%rip)
	mov %rsi, native_out+48(%rip)
	mov %rdi, native_out+56(%rip)
	mov %r8, native_out+64(%rip)
	mov %r9, native_out+72(%rip)
	mov %r10, native_out+80(%rip)
	mov %r11, native_out+88(%rip)
	mov %r12, native_out+96(%rip)
	mov %r13, native_out+104(%rip)
	mov %r14, native_out+112(%rip)
	mov %r15, native_out+120(%rip)
	stmxcsr native_out+144(%rip)
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu %xmm\n, native_out+160+16*\n(%rip)
	.endr
	mov native_host_rsp(%rip), %rsp
	pushfq
	popq native_out+128(%rip)
	.globl native_resume
native_resume:
	cld
	ldmxcsr native_mxcsr_reset(%rip)
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.bss
	.align 16
	.globl native_out
native_out:
	.zero 416
	.globl native_host_rsp
native_host_rsp:
	.quad 0
native_entry:
	.quad 0
	.section .rodata
	.align 4
native_mxcsr_reset:
	.long 0x1f80
	.section .note.GNU-stack,"",@progbits
