/*
 * Ring 3 and back, as an operating system uses it: a GDT with user segments
 * and a 64-bit TSS (ltr marks it busy, str reads it), iretq down to CPL 3 on
 * pages mapped for user access, syscall into LSTAR and sysretq out (CS and SS
 * from STAR), int3 from ring 3 through a DPL 3 gate on an IST stack, a page
 * fault from ring 3 on a supervisor page (error code P|U, CR2) taken on the
 * TSS's RSP0 stack, swapgs, and the debug registers. KVM is the reference.
 */
#include "guest.h"

#define USER_VA		0x8000000000ULL		/* PML4 slot 1 */
#define USER_CODE	USER_VA
#define USER_STACK_TOP	(USER_VA + 0x2000)
#define SEL_KDATA	0x20
#define SEL_UCODE32	0x28
#define SEL_UDATA	0x30
#define SEL_UCODE64	0x38
#define SEL_TSS		0x40
#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_US		0x4ULL
#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_SFMASK	0xc0000084
#define MSR_GS_BASE	0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define EFER_SCE	0x1

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap;
} __attribute__((packed));

static uint64_t gdt[10] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t rsp0_stack[4096] __attribute__((aligned(16)));
static uint8_t ist_stack[4096] __attribute__((aligned(16)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t user_page[2][4096] __attribute__((aligned(4096)));	/* code, stack */
static volatile uint8_t kernel_only[64];

/* Shared with the assembly below. */
uint64_t saved_rsp, user_rsp;
uint8_t syscall_stack[4096] __attribute__((aligned(16)));

static int failures, syscalls, breakpoints, page_faults;
static uint64_t user_cs, user_ss, syscall_rcx;

int64_t syscall_c(uint64_t nr, uint64_t arg1, uint64_t arg2, uint64_t rcx);
void enter_user(uint64_t rip, uint64_t rsp, uint64_t arg);
void syscall_entry(void);
extern const uint8_t user_code_start[], user_code_end[], user_syscall1_ret[];

/*
 * The kernel side: syscall saves the user RSP, runs syscall_c() on its own
 * stack and sysretqs, unless syscall_c() returns nonzero, which ends
 * enter_user() on the stack it was called with.
 */
asm(".text\n"
    "syscall_entry:\n"
    "	movq %rsp, user_rsp(%rip)\n"
    "	leaq syscall_stack+4096(%rip), %rsp\n"
    "	pushq %rcx\n"
    "	pushq %r11\n"
    "	movq %rax, %rdi\n"
    "	call syscall_c\n"
    "	popq %r11\n"
    "	popq %rcx\n"
    "	testq %rax, %rax\n"
    "	jnz 1f\n"
    "	movq user_rsp(%rip), %rsp\n"
    "	sysretq\n"
    "1:	movq saved_rsp(%rip), %rsp\n"
    "	popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbp\n popq %rbx\n"
    "	ret\n"
    "enter_user:\n"
    "	pushq %rbx\n pushq %rbp\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n"
    "	movq %rsp, saved_rsp(%rip)\n"
    "	pushq $0x33\n"		/* SS: user data, RPL 3 */
    "	pushq %rsi\n"
    "	pushq $0x2\n"		/* RFLAGS: interrupts stay off */
    "	pushq $0x3b\n"		/* CS: user code64, RPL 3 */
    "	pushq %rdi\n"
    "	movq %rdx, %rdi\n"
    "	iretq\n");

/*
 * The user program, copied to USER_CODE: syscall 1; syscall 2 with its CS
 * and SS; int3; a read of the kernel-only byte at RDI (the fault handler
 * skips the 2-byte instruction); syscall 60 ends it.
 */
asm(".text\n"
    "user_code_start:\n"
    "	movl $1, %eax\n"
    "	syscall\n"
    "user_syscall1_ret:\n"
    "	movq %cs, %rsi\n"
    "	movq %ss, %rdx\n"
    "	movl $2, %eax\n"
    "	syscall\n"
    "	int3\n"
    "	movb (%rdi), %al\n"
    "	movl $60, %eax\n"
    "	syscall\n"
    "user_code_end:\n");

static void check(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return;
	cprintf("usermode: %s: got %lx, want %lx\n", what, got, want);
	failures++;
}

int64_t syscall_c(uint64_t nr, uint64_t arg1, uint64_t arg2, uint64_t rcx)
{
	syscalls++;
	if (nr == 1)
		syscall_rcx = rcx;
	if (nr == 2) {
		user_cs = arg1;
		user_ss = arg2;
	}
	return nr == 60;
}

static bool on_stack(const void *p, const uint8_t *stack)
{
	return (const uint8_t *)p >= stack && (const uint8_t *)p < stack + 4096;
}

static void trap_from_user(struct trap_frame *f)
{
	uint8_t here;

	if (f->vector == 3) {
		breakpoints++;
		check("int3: CS", f->cs, 0x3b);
		check("int3: SS", f->ss, 0x33);
		check("int3: on the IST stack", on_stack(&here, ist_stack), 1);
		return;
	}
	page_faults++;
	check("#PF vector", f->vector, 14);
	check("#PF error (P|U)", f->error, 0x5);
	check("#PF CS", f->cs, 0x3b);
	check("#PF on the RSP0 stack", on_stack(&here, rsp0_stack), 1);
	f->rip += 2;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr" : : "a"((uint32_t)v), "d"((uint32_t)(v >> 32)), "c"(msr));
}

static void setup_gdt_tss(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(gdt) - 1, (uint64_t)gdt };
	uint16_t tr;

	asm volatile("sgdt %0" : "=m"(desc));
	memcpy(gdt, (void *)desc.base, 4 * 8);		/* null, code32, data, code64 */
	gdt[4] = 0x00cf92000000ffffULL;			/* kernel data (syscall's SS) */
	gdt[5] = 0x00cffa000000ffffULL;			/* user code32 (sysret's base) */
	gdt[6] = 0x00cff2000000ffffULL;			/* user data */
	gdt[7] = 0x00affa000000ffffULL;			/* user code64 */
	gdt[8] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 |
		 (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
	gdt[9] = base >> 32;
	desc.limit = sizeof(gdt) - 1;
	desc.base = (uint64_t)gdt;
	asm volatile("lgdt %0" : : "m"(desc));
	tss.rsp[0] = (uint64_t)rsp0_stack + sizeof(rsp0_stack);
	tss.ist[0] = (uint64_t)ist_stack + sizeof(ist_stack);
	tss.iomap = sizeof(tss);
	asm volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS));
	asm volatile("str %w0" : "=r"(tr));
	check("str", tr, SEL_TSS);
	check("TSS busy after ltr", gdt[8] >> 40 & 0xf, 0xb);
}

static void map_user_pages(void)
{
	uint64_t *pml4;

	asm volatile("mov %%cr3, %0" : "=r"(pml4));
	pml4 = (uint64_t *)((uint64_t)pml4 & ~0xfffULL);
	pdpt[0] = (uint64_t)pd | PTE_P | PTE_RW | PTE_US;
	pd[0] = (uint64_t)pt | PTE_P | PTE_RW | PTE_US;
	pt[0] = (uint64_t)user_page[0] | PTE_P | PTE_US;		/* code */
	pt[1] = (uint64_t)user_page[1] | PTE_P | PTE_RW | PTE_US;	/* stack */
	pml4[1] = (uint64_t)pdpt | PTE_P | PTE_RW | PTE_US;
	asm volatile("mov %0, %%cr3" : : "r"(pml4) : "memory");
	memcpy(user_page[0], user_code_start, user_code_end - user_code_start);
}

static void system_registers(void)
{
	uint64_t v;

	/* swapgs exchanges GS.base with KERNEL_GS_BASE */
	wrmsr(MSR_GS_BASE, 0x1000);
	wrmsr(MSR_KERNEL_GS_BASE, 0x2000);
	asm volatile("swapgs");
	check("swapgs: GS.base", rdmsr(MSR_GS_BASE), 0x2000);
	check("swapgs: KERNEL_GS_BASE", rdmsr(MSR_KERNEL_GS_BASE), 0x1000);
	asm volatile("swapgs");
	wrmsr(MSR_GS_BASE, 0);
	/* debug registers keep what is written; DR7 reads back with its fixed bit */
	asm volatile("mov %0, %%dr0" : : "r"(0x123000ULL));
	asm volatile("mov %%dr0, %0" : "=r"(v));
	check("dr0", v, 0x123000);
	asm volatile("mov %0, %%dr7" : : "r"(0ULL));
	asm volatile("mov %%dr7, %0" : "=r"(v));
	check("dr7", v, 0x400);
}

int main(void)
{
	setup_gdt_tss();
	map_user_pages();
	system_registers();
	idt_set_gate(3, 3, 1);		/* int3 from ring 3, on IST 1 */
	trap_hook = trap_from_user;
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, (uint64_t)SEL_UCODE32 << 48 | (uint64_t)SEL_CODE64 << 32);
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_SFMASK, 0x200);
	enter_user(USER_CODE, USER_STACK_TOP, (uint64_t)kernel_only);
	trap_hook = NULL;

	check("system calls", syscalls, 3);
	check("syscall: RCX", syscall_rcx, USER_CODE + (user_syscall1_ret - user_code_start));
	check("sysret: CS", user_cs & 0xffff, SEL_UCODE64 | 3);
	check("sysret: SS", user_ss & 0xffff, SEL_UDATA | 3);
	check("breakpoints", breakpoints, 1);
	check("page faults", page_faults, 1);
	if (failures)
		return GUEST_FAIL;
	cprintf("usermode: ok\n");
	return GUEST_PASS;
}
