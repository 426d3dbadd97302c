/*
 * TCG-lite as an accelerator: the interpreter runs one vCPU of a VM at CPL 0.
 * This file is its system environment: the 4-level page walk (tlb_fill),
 * physical pages outside RAM going to the MMIO bus, the system instructions
 * (control registers, MSRs, descriptor tables, far transfers, port I/O, cli,
 * sti, hlt) and exceptions delivered through the long-mode IDT; a fault that
 * cannot be delivered twice over shuts the vCPU down as a triple fault.
 *
 * Segments are flat: a selector load reads the descriptor only for the code
 * size (L and D bits) and the FS/GS bases.
 *
 * Interrupts: spry's userspace irqchip (src/irqchip/): each vCPU has its own
 * local APIC, whose page the vCPU handles itself, and the IOAPIC sits on the
 * MMIO bus, driven by irq_line. Interrupts are taken between runs of the
 * interpreter (see tcg_vcpu_run()); hlt sleeps until one can be taken.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "mem.h"
#include "ops.h"
#include "spry/exit.h"
#include "spry/irqchip.h"
#include "spry/layout.h"
#include "spry/log.h"
#include "spry/tcg.h"

#define CR0_PE		(1ULL << 0)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define RFLAGS_NT	(1ULL << 14)
#define RFLAGS_RF	(1ULL << 16)
#define EFER_SCE	(1ULL << 0)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)

#define MSR_TSC			0x10
#define MSR_APIC_BASE		0x1b
#define MSR_MISC_ENABLE		0x1a0
#define MSR_PAT			0x277
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SFMASK		0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)
#define PTE_ADDR	0x000ffffffffff000ULL

#define PFERR_P		1u
#define PFERR_W		2u
#define PFERR_I		0x10u

/*
 * Instructions between checks of vm_stopping() and of the local APIC (its
 * timer, interrupts from other threads): about 0.2 ms of guest time.
 */
#define RUN_BUDGET	(1u << 16)
/* Longest HLT sleep between checks of vm_stopping() when nothing else wakes it. */
#define HALT_MAX_NS	100000000
#define APIC_BASE_ENABLE (1u << 11)

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

struct tcg_vcpu {
	struct tcg_cpu cpu;
	struct vcpu *vcpu;
	struct vm *vm;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint16_t sel[SEG_COUNT];
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, pat, misc_enable, apic_base;
	atomic_bool kicked;
	struct lapic *lapic;
	bool irq_shadow;	/* after STI: one more instruction before interrupts */
	/* HLT sleeps here; kicks and new interrupts signal it. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool wake;
};

/* The machine-wide state: the IOAPIC all vCPUs' local APICs hang off. */
struct tcg_machine {
	struct ioapic *ioapic;
};

/* The IOAPIC's place on the MMIO bus (the bus frees this, the machine the IOAPIC). */
struct ioapic_window {
	struct bus_device dev;
	struct ioapic *ioapic;
};

static struct tcg_vcpu *tv_of(struct tcg_cpu *cpu)
{
	return cpu->opaque;
}

/* ---- memory ---- */

static int page_fault(struct tcg_cpu *cpu, uint32_t error)
{
	cpu->exc_error = error;
	return TCG_EXC_PF;
}

/*
 * Set @bits (accessed, dirty) in a paging entry the way the CPU does: only
 * when clear, and atomically, since the guest may update the entry at the
 * same time from another CPU.
 */
static void pte_mark(uint64_t *pte, uint64_t bits)
{
	if ((__atomic_load_n(pte, __ATOMIC_RELAXED) & bits) != bits)
		__atomic_fetch_or(pte, bits, __ATOMIC_RELAXED);
}

/*
 * The 4-level walk; 0 with the physical address, or a vector. A successful
 * walk sets the accessed bit in every entry it used and, for a write, the
 * dirty bit in the last one: TLB entries are filled per access kind, so a
 * page first read and then written comes back here for the write.
 */
static int translate(struct tcg_vcpu *t, uint64_t va, enum tcg_access acc, uint64_t *pa)
{
	uint64_t table = t->cr3 & PTE_ADDR, pte = 0, *used[4];
	uint32_t err = (acc == TCG_WRITE ? PFERR_W : 0) | (acc == TCG_EXEC ? PFERR_I : 0);
	bool rw = true, nx = false;
	int level, n = 0;

	if (!(t->cr0 & CR0_PG)) {
		*pa = (uint32_t)va;
		return 0;
	}
	for (level = 4; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		uint64_t *p = gpa_to_host(&t->vm->mem, table + ((va >> shift) & 511) * 8, 8);

		pte = p ? __atomic_load_n(p, __ATOMIC_RELAXED) : 0;
		if (!(pte & PTE_P))
			return page_fault(&t->cpu, err);
		used[n++] = p;
		rw = rw && (pte & PTE_RW);
		nx = nx || (pte & PTE_NX);
		if (level == 1 || ((level == 2 || level == 3) && (pte & PTE_PS))) {
			uint64_t mask = (1ULL << shift) - 1;

			*pa = ((pte & PTE_ADDR) & ~mask) | (va & mask);
			break;
		}
		table = pte & PTE_ADDR;
	}
	if (acc == TCG_WRITE && !rw && (t->cr0 & CR0_WP))
		return page_fault(&t->cpu, err | PFERR_P);
	if (acc == TCG_EXEC && nx && (t->efer & EFER_NXE))
		return page_fault(&t->cpu, err | PFERR_P);
	for (int i = 0; i < n; i++)
		pte_mark(used[i], PTE_A | (i == n - 1 && acc == TCG_WRITE ? PTE_D : 0));
	return 0;
}

static int sys_tlb_fill(struct tcg_cpu *cpu, uint64_t vaddr, enum tcg_access access,
			uint8_t **host)
{
	struct tcg_vcpu *t = tv_of(cpu);
	uint64_t pa;
	int vec = translate(t, vaddr, access, &pa);

	if (vec)
		return vec;
	*host = gpa_to_host(&t->vm->mem, pa & TCG_PAGE_MASK, TCG_PAGE_SIZE);
	if (!*host) {
		cpu->mmio_phys = pa;
		return TCG_FILL_MMIO;
	}
	return 0;
}

/*
 * The local APIC page is the CPU's own, as on hardware: it never reaches the
 * bus. 32-bit aligned accesses only; others read 0 and write nothing.
 */
static void lapic_access(struct tcg_vcpu *t, uint64_t off, void *data, int size, bool write)
{
	uint32_t v = 0;

	if (size != 4 || (off & 3)) {
		if (!write)
			memset(data, 0, size);
		return;
	}
	if (write) {
		memcpy(&v, data, 4);
		lapic_write(t->lapic, off, v);
		t->cpu.stop = true;	/* an EOI or a self IPI may let an interrupt in */
	} else {
		v = lapic_read(t->lapic, off);
		memcpy(data, &v, 4);
	}
}

static void sys_mmio(struct tcg_cpu *cpu, uint64_t phys, void *data, int size, bool write)
{
	struct tcg_vcpu *t = tv_of(cpu);

	if ((t->apic_base & APIC_BASE_ENABLE) && phys >= SPRY_LAPIC_BASE &&
	    phys < SPRY_LAPIC_BASE + LAPIC_MMIO_SIZE) {
		lapic_access(t, phys - SPRY_LAPIC_BASE, data, size, write);
		return;
	}
	if (write)
		bus_write(&t->vm->mmio, phys, data, size);
	else
		bus_read(&t->vm->mmio, phys, data, size);
	if (vm_stopping(t->vm))
		cpu->stop = true;
}

/* ---- segments and far transfers ---- */

/* The descriptor of @sel in the GDT; #GP(sel) outside it, #NP(sel) when not present. */
static uint64_t descriptor(struct tcg_vcpu *t, uint16_t sel)
{
	uint64_t d;

	if ((sel & ~3) == 0 || (sel & 4) || (uint32_t)(sel & ~7) + 7 > t->gdt_limit)
		tcg_raise(&t->cpu, TCG_EXC_GP, sel & ~3);
	d = tcg_load(&t->cpu, t->gdt_base + (sel & ~7), 8);
	if (!(d & (1ULL << 47)))
		tcg_raise(&t->cpu, 11, sel & ~3);
	return d;
}

static uint64_t desc_base(uint64_t d)
{
	return (d >> 16 & 0xffffff) | (d >> 56 & 0xff) << 24;
}

static void load_cs(struct tcg_vcpu *t, uint16_t sel)
{
	uint64_t d = descriptor(t, sel);

	if (!(d & (1ULL << 43)))	/* not a code segment */
		tcg_raise(&t->cpu, TCG_EXC_GP, sel & ~3);
	t->sel[SEG_CS] = sel;
	if ((t->efer & EFER_LMA) && (d & (1ULL << 53)))
		t->cpu.mode = 64;
	else
		t->cpu.mode = d & (1ULL << 54) ? 32 : 16;
}

static void load_seg(struct tcg_vcpu *t, int seg, uint16_t sel)
{
	uint64_t base = 0;

	if (seg == SEG_CS || seg >= SEG_COUNT)
		tcg_raise(&t->cpu, TCG_EXC_UD, 0);
	if (sel & ~3)
		base = desc_base(descriptor(t, sel));
	else if (seg == SEG_SS && t->cpu.mode != 64)
		tcg_raise(&t->cpu, TCG_EXC_GP, 0);
	t->sel[seg] = sel;
	if (seg == SEG_FS)
		t->cpu.fs_base = base;
	else if (seg == SEG_GS)
		t->cpu.gs_base = base;
}

/* Far jump, far return, iret: the new CS:RIP. */
static void far_transfer(struct tcg_vcpu *t, uint16_t sel, uint64_t rip)
{
	load_cs(t, sel);
	t->cpu.next_rip = t->cpu.mode == 64 ? rip : (uint32_t)rip;
}

#define RFLAGS_WRITABLE 0x3f7fd5ULL

static void op_iret(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int sz = insn->opsize;
	uint64_t sp = cpu->gpr[4], rip, cs, fl, rsp = 0, ss = 0;
	bool stack = cpu->mode == 64;

	rip = tcg_load(cpu, sp, sz);
	cs = tcg_load(cpu, sp + sz, sz);
	fl = tcg_load(cpu, sp + 2 * sz, sz);
	if (stack) {
		rsp = tcg_load(cpu, sp + 3 * sz, sz);
		ss = tcg_load(cpu, sp + 4 * sz, sz);
	}
	far_transfer(t, cs, rip);
	if (sz == 2)
		fl = (cpu->rflags & ~0xffffULL) | (fl & 0xffff);
	cpu->rflags = (fl & RFLAGS_WRITABLE) | 2;
	if (cpu->rflags & X86_IF)
		cpu->stop = true;	/* back to the run loop: an interrupt may be waiting */
	if (stack) {
		t->sel[SEG_SS] = ss;
		cpu->gpr[4] = rsp;
	} else {
		reg_set(cpu, 4, stack_width(cpu), sp + 3 * sz);
	}
}

static void op_retf(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int sz = insn->opsize, sw = stack_width(cpu);
	uint64_t sp = cpu->gpr[4] & size_mask(sw);
	uint64_t rip = tcg_load(cpu, sp, sz), cs = tcg_load(cpu, sp + sz, sz);

	far_transfer(t, cs, rip);
	sw = stack_width(cpu);
	reg_set(cpu, 4, sw, sp + 2 * sz + (insn->nopnd ? (insn->imm & 0xffff) : 0));
}

/* ---- control registers and MSRs ---- */

static void set_cr0(struct tcg_vcpu *t, uint64_t v)
{
	if ((v & CR0_PG) && !(v & CR0_PE))
		tcg_raise(&t->cpu, TCG_EXC_GP, 0);
	if ((v & CR0_PG) && !(t->cr0 & CR0_PG) && (t->efer & EFER_LME) && !(t->cr4 & CR4_PAE))
		tcg_raise(&t->cpu, TCG_EXC_GP, 0);
	if (!(v & CR0_PG) && t->cpu.mode == 64)
		tcg_raise(&t->cpu, TCG_EXC_GP, 0);
	if ((v & CR0_PG) && !(t->efer & EFER_LME)) {
		spry_err("tcg: the guest enables 32-bit paging, which TCG-lite does not implement");
		vm_vcpu_failed(t->vcpu, SPRY_EXIT_VCPU_FAILURE);
		t->cpu.stop = true;
	}
	t->cr0 = v | 0x10;	/* ET is fixed */
	if ((v & CR0_PG) && (t->efer & EFER_LME))
		t->efer |= EFER_LMA;
	else
		t->efer &= ~EFER_LMA;
	tcg_tlb_flush(&t->cpu);
}

static void op_mov_cr(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int cr = ((insn->modrm >> 3) & 7) | ((insn->rex & 4) << 1);
	int reg = insn->opnd[0].reg, sz = cpu->mode == 64 ? 8 : 4;
	uint64_t *p;

	switch (cr) {
	case 0: p = &t->cr0; break;
	case 2: p = &t->cr2; break;
	case 3: p = &t->cr3; break;
	case 4: p = &t->cr4; break;
	case 8: p = &t->cr8; break;
	default: tcg_raise(cpu, TCG_EXC_UD, 0);
	}
	if (insn->opcode == 0x20) {
		reg_set(cpu, reg, sz, *p);
		return;
	}
	switch (cr) {
	case 0:
		set_cr0(t, reg_get(cpu, reg, sz));
		break;
	case 4:
		if (t->cpu.mode == 64 && !(reg_get(cpu, reg, sz) & CR4_PAE))
			tcg_raise(cpu, TCG_EXC_GP, 0);
		t->cr4 = reg_get(cpu, reg, sz);
		tcg_tlb_flush(cpu);
		break;
	case 3:
		t->cr3 = reg_get(cpu, reg, sz);
		tcg_tlb_flush(cpu);
		break;
	default:
		*p = reg_get(cpu, reg, sz);
	}
}

static uint64_t *msr_slot(struct tcg_vcpu *t, uint32_t msr)
{
	switch (msr) {
	case MSR_STAR: return &t->star;
	case MSR_LSTAR: return &t->lstar;
	case MSR_CSTAR: return &t->cstar;
	case MSR_SFMASK: return &t->sfmask;
	case MSR_FS_BASE: return &t->cpu.fs_base;
	case MSR_GS_BASE: return &t->cpu.gs_base;
	case MSR_KERNEL_GS_BASE: return &t->kernel_gs_base;
	case MSR_PAT: return &t->pat;
	case MSR_MISC_ENABLE: return &t->misc_enable;
	case MSR_APIC_BASE: return &t->apic_base;
	default: return NULL;
	}
}

static void op_msr(struct tcg_vcpu *t, bool write)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint32_t msr = cpu->gpr[1];
	uint64_t v = (uint32_t)cpu->gpr[0] | cpu->gpr[2] << 32, *slot;

	if (msr == MSR_EFER) {
		if (!write) {
			v = t->efer;
		} else {
			if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
				tcg_raise(cpu, TCG_EXC_GP, 0);
			if ((t->cr0 & CR0_PG) && ((v ^ t->efer) & EFER_LME))
				tcg_raise(cpu, TCG_EXC_GP, 0);
			t->efer = (v & ~EFER_LMA) | (t->efer & EFER_LMA);
			tcg_tlb_flush(cpu);
		}
	} else if (msr == MSR_TSC) {
		if (write)
			tcg_raise(cpu, TCG_EXC_GP, 0);	/* the TSC is the host's */
		v = __builtin_ia32_rdtsc();
	} else {
		slot = msr_slot(t, msr);
		if (!slot)
			tcg_raise(cpu, TCG_EXC_GP, 0);
		if (write)
			*slot = v;
		else
			v = *slot;
	}
	if (!write) {
		cpu->gpr[0] = (uint32_t)v;
		cpu->gpr[2] = v >> 32;
	}
}

/* sgdt, sidt, lgdt, lidt, invlpg (0F 01 with a memory operand). */
static void op_0f01(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t a = tcg_ea(cpu, insn), base;
	int r = (insn->modrm >> 3) & 7, bsz = cpu->mode == 64 ? 8 : 4;
	bool idt = r & 1;
	uint16_t limit;

	switch (r) {
	case 0: case 1:
		tcg_probe_write(cpu, a, 2 + bsz);
		tcg_store(cpu, a, 2, idt ? t->idt_limit : t->gdt_limit);
		tcg_store(cpu, a + 2, bsz, idt ? t->idt_base : t->gdt_base);
		break;
	case 2: case 3:
		limit = tcg_load(cpu, a, 2);
		base = tcg_load(cpu, a + 2, bsz);
		if (insn->opsize == 2 && cpu->mode != 64)
			base &= 0xffffff;
		if (idt) {
			t->idt_base = base;
			t->idt_limit = limit;
		} else {
			t->gdt_base = base;
			t->gdt_limit = limit;
		}
		break;
	case 7:
		tcg_tlb_flush(cpu);
		break;
	default:
		tcg_raise(cpu, TCG_EXC_UD, 0);
	}
}

/* ---- port I/O ---- */

static uint64_t pio_in(struct tcg_vcpu *t, uint16_t port, int size)
{
	uint64_t v = 0;

	bus_read(&t->vm->pio, port, &v, size);
	return v;
}

static void pio_out(struct tcg_vcpu *t, uint16_t port, int size, uint64_t v)
{
	bus_write(&t->vm->pio, port, &v, size);
}

static void op_io(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int size = insn->opsize > 4 ? 4 : insn->opsize;
	uint16_t port = insn->opcode < 0xec ? (uint8_t)insn->imm : (uint16_t)cpu->gpr[2];
	bool in = !(insn->opcode & 2);

	if (in)
		reg_set(cpu, 0, size, pio_in(t, port, size));
	else
		pio_out(t, port, size, cpu->gpr[0]);
}

/* ins, outs, with REP one element at a time (each is a device access anyway). */
static void op_io_string(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int size = insn->opsize > 4 ? 4 : insn->opsize, as = insn->addrsize;
	bool rep = insn->pfx & (X86_PFX_REP | X86_PFX_REPNE), out = insn->opcode & 2;
	int64_t step = cpu->rflags & X86_DF ? -size : size;
	uint16_t port = cpu->gpr[2];

	while (!rep || reg_get(cpu, 1, as)) {
		if (out) {
			uint64_t si = reg_get(cpu, 6, as);

			pio_out(t, port, size, tcg_load(cpu, seg_linear(cpu, insn->seg, si), size));
			reg_set(cpu, 6, as, si + step);
		} else {
			uint64_t di = reg_get(cpu, 7, as), a = seg_linear(cpu, X86_SEG_ES, di);

			tcg_probe_write(cpu, a, size);
			tcg_store(cpu, a, size, pio_in(t, port, size));
			reg_set(cpu, 7, as, di + step);
		}
		if (!rep)
			break;
		reg_set(cpu, 1, as, reg_get(cpu, 1, as) - 1);
		if (vm_stopping(t->vm))
			break;
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * hlt: sleep until an interrupt can be taken (with IF clear, only the VM's
 * stop ends it), waking for the local APIC's next timer event, for an
 * interrupt another thread delivers, or for a kick.
 */
static void op_halt(struct tcg_vcpu *t)
{
	while (!vm_stopping(t->vm)) {
		int64_t now = now_ns(), until = lapic_next_event(t->lapic);
		struct timespec ts;

		if ((t->cpu.rflags & X86_IF) && lapic_pending(t->lapic) >= 0)
			return;
		if (until - now > HALT_MAX_NS || !(t->cpu.rflags & X86_IF))
			until = now + HALT_MAX_NS;
		ts.tv_sec = until / 1000000000;
		ts.tv_nsec = until % 1000000000;
		pthread_mutex_lock(&t->wait_lock);
		while (!t->wake && !vm_stopping(t->vm) &&
		       pthread_cond_timedwait(&t->wait_cond, &t->wait_lock, &ts) == 0)
			;
		t->wake = false;
		pthread_mutex_unlock(&t->wait_lock);
	}
}

/* Wake the vCPU from HLT (a new interrupt, or a kick). */
static void wake_up(struct tcg_vcpu *t)
{
	pthread_mutex_lock(&t->wait_lock);
	t->wake = true;
	pthread_cond_signal(&t->wait_cond);
	pthread_mutex_unlock(&t->wait_lock);
}

static void sys_insn(struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	struct tcg_vcpu *t = tv_of(cpu);
	uint64_t a;

	if (insn->op == X86_OP_HLT) {
		op_halt(t);
	} else if (insn->map == 1) {
		switch (insn->opcode) {
		case 0x01: op_0f01(t, insn); break;
		case 0x20: case 0x22: op_mov_cr(t, insn); break;
		case 0x30: op_msr(t, true); break;
		case 0x32: op_msr(t, false); break;
		default: tcg_raise(cpu, TCG_EXC_UD, 0);
		}
	} else {
		switch (insn->opcode) {
		case 0x6c: case 0x6d: case 0x6e: case 0x6f:
			op_io_string(t, insn);
			break;
		case 0x8c:
			a = mem_addr(cpu, insn);
			if ((insn->modrm >> 3 & 7) >= SEG_COUNT)
				tcg_raise(cpu, TCG_EXC_UD, 0);
			if (insn->memop)
				tcg_store(cpu, a, 2, t->sel[insn->modrm >> 3 & 7]);
			else
				reg_set(cpu, insn->opnd[0].reg, insn->opsize,
					t->sel[insn->modrm >> 3 & 7]);
			break;
		case 0x8e:
			a = mem_addr(cpu, insn);
			load_seg(t, insn->modrm >> 3 & 7, opnd_get(cpu, insn, 0, a));
			break;
		case 0xca: case 0xcb: op_retf(t, insn); break;
		case 0xcf: op_iret(t, insn); break;
		case 0xe4: case 0xe5: case 0xe6: case 0xe7:
		case 0xec: case 0xed: case 0xee: case 0xef:
			op_io(t, insn);
			break;
		case 0xea:
			far_transfer(t, insn->imm2, insn->imm & size_mask(insn->opsize));
			break;
		case 0xfa: cpu->rflags &= ~(uint64_t)X86_IF; break;
		case 0xfb:	/* sti: interrupts wait one more instruction */
			if (!(cpu->rflags & X86_IF)) {
				t->irq_shadow = true;
				cpu->stop = true;
			}
			cpu->rflags |= X86_IF;
			break;
		case 0xff: {	/* jmp m16:z */
			int sz = insn->opsize;
			uint64_t rip;

			a = tcg_ea(cpu, insn);
			rip = tcg_load(cpu, a, sz);
			far_transfer(t, tcg_load(cpu, a + sz, 2), rip);
			break;
		}
		default:
			tcg_raise(cpu, TCG_EXC_UD, 0);
		}
	}
	if (vm_stopping(t->vm) || atomic_load(&t->kicked))
		cpu->stop = true;
}

static const struct tcg_env_ops sys_env = {
	.tlb_fill = sys_tlb_fill,
	.sysinsn = sys_insn,
	.mmio = sys_mmio,
};

/* ---- exceptions ---- */

static bool has_error_code(int vec)
{
	return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
}

/*
 * Faults (all exceptions but #DB, #BP and #OF, which are traps here) save
 * RFLAGS with RF set, so that IRET back to the faulting instruction does not
 * hit an instruction breakpoint there again.
 */
static uint64_t saved_rflags(const struct tcg_cpu *cpu, int vec, bool extint)
{
	return cpu->rflags | (extint || vec == 1 || vec == 3 || vec == 4 ? 0 : RFLAGS_RF);
}

/*
 * Deliver exception @vec, or an external interrupt with @extint (no error
 * code, no RF), through the long-mode IDT; false when that faults
 * (cpu->exc_vector says how).
 */
static bool deliver(struct tcg_vcpu *t, int vec, uint32_t error, bool extint)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t lo, hi, sp, target, old_rsp = cpu->gpr[4];
	uint16_t sel;

	if (setjmp(cpu->fault_jmp)) {
		cpu->gpr[4] = old_rsp;
		return false;
	}
	if (!(t->efer & EFER_LMA)) {
		/* Protected-mode gates are not implemented: shut down as a triple fault would. */
		cpu->exc_vector = TCG_EXC_GP;
		return false;
	}
	if ((uint32_t)vec * 16 + 15 > t->idt_limit)
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);
	lo = tcg_load(cpu, t->idt_base + vec * 16, 8);
	hi = tcg_load(cpu, t->idt_base + vec * 16 + 8, 8);
	if (!(lo & (1ULL << 47)) || ((lo >> 40 & 0xe) != 0xe))
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);
	if (lo >> 32 & 7)
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);	/* IST needs a TSS: not yet */
	sel = lo >> 16;
	target = (lo & 0xffff) | (lo >> 48 & 0xffff) << 16 | hi << 32;
	sp = cpu->gpr[4] & ~15ULL;
	{
		uint64_t frame[6] = { error, cpu->rip, t->sel[SEG_CS],
				      saved_rflags(cpu, vec, extint), cpu->gpr[4], t->sel[SEG_SS] };
		bool code = !extint && has_error_code(vec);
		int n = code ? 6 : 5;
		const uint64_t *f = code ? frame : frame + 1;

		tcg_probe_write(cpu, sp - 8 * n, 8 * n);
		for (int i = 0; i < n; i++)
			tcg_store(cpu, sp - 8 * n + 8 * i, 8, f[i]);
		sp -= 8 * n;
	}
	load_cs(t, sel);
	cpu->gpr[4] = sp;
	cpu->rip = target;
	cpu->rflags &= ~(uint64_t)(X86_TF | RFLAGS_NT | RFLAGS_RF);
	if (!(lo >> 40 & 1))
		cpu->rflags &= ~(uint64_t)X86_IF;	/* interrupt gate */
	return true;
}

static void exception(struct tcg_vcpu *t)
{
	struct tcg_cpu *cpu = &t->cpu;
	int vec = cpu->exc_vector;
	uint32_t error = cpu->exc_error;

	if (vec == TCG_EXC_PF)
		t->cr2 = cpu->fault_addr;
	if (getenv("SPRY_TCG_DEBUG"))
		spry_info("tcg: exception %d error %#x at rip %#llx (mode %d)", vec, error,
			  (unsigned long long)cpu->rip, cpu->mode);
	if (deliver(t, vec, error, false))
		return;
	if (vec != 8 && deliver(t, 8, 0, false))
		return;
	spry_err("tcg: vcpu %d: triple fault (exception %d could not be delivered)",
		 t->vcpu->index, vec);
	vm_vcpu_failed(t->vcpu, SPRY_EXIT_TRIPLE_FAULT);
}

/* ---- accel_ops ---- */

/* The IOAPIC routes to every local APIC its destination names. */
static void ioapic_to_lapics(void *opaque, uint8_t dest, bool logical, uint8_t vector,
			     bool level)
{
	struct vm *vm = opaque;

	for (int i = 0; i < vm->ncpus; i++) {
		struct tcg_vcpu *t = vm->vcpus[i].accel_state;

		if (t && lapic_match(t->lapic, dest, logical))
			lapic_set_irq(t->lapic, vector, level);
	}
}

static void ioapic_window_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct ioapic_window *w = opaque;
	uint32_t v = len == 4 ? ioapic_read(w->ioapic, off) : 0;

	memcpy(data, &v, len < 4 ? len : 4);
}

static void ioapic_window_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct ioapic_window *w = opaque;
	uint32_t v;

	if (len != 4)
		return;
	memcpy(&v, data, 4);
	ioapic_write(w->ioapic, off, v);
}

static int tcg_create(struct vm *vm)
{
	struct tcg_machine *m;
	struct ioapic_window *w;

	if (vm->ncpus != 1) {
		spry_err("tcg: TCG-lite runs one vCPU only (--cpus %d asked)", vm->ncpus);
		return -1;
	}
	m = calloc(1, sizeof(*m));
	w = calloc(1, sizeof(*w));
	if (m)
		m->ioapic = ioapic_new(ioapic_to_lapics, vm);
	if (!m || !w || !m->ioapic) {
		if (m)
			ioapic_free(m->ioapic);
		free(m);
		free(w);
		spry_err("tcg: out of memory for the irqchip");
		return -1;
	}
	vm->accel_state = m;
	w->ioapic = m->ioapic;
	w->dev = (struct bus_device){
		.name = "ioapic", .base = SPRY_IOAPIC_BASE, .size = IOAPIC_MMIO_SIZE, .opaque = w,
		.read = ioapic_window_read, .write = ioapic_window_write,
	};
	return bus_add_owned(&vm->mmio, &w->dev);
}

static void lapic_kick(void *opaque)
{
	wake_up(opaque);
}

static void lapic_eoi(void *opaque, uint8_t vector)
{
	struct tcg_vcpu *t = opaque;
	struct tcg_machine *m = t->vm->accel_state;

	ioapic_eoi(m->ioapic, vector);
}

static const struct lapic_ops lapic_ops = { .kick = lapic_kick, .eoi = lapic_eoi };

/* HLT's wait: a condition variable on the monotonic clock, as the APIC timer runs. */
static int wait_init(struct tcg_vcpu *t)
{
	pthread_condattr_t attr;
	int err;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	err = pthread_cond_init(&t->wait_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!err)
		pthread_mutex_init(&t->wait_lock, NULL);
	return err;
}

static int tcg_vcpu_create(struct vcpu *vcpu)
{
	struct tcg_vcpu *t = calloc(1, sizeof(*t));

	if (!t || tcg_cpu_init(&t->cpu, &sys_env, t)) {
		free(t);
		spry_err("tcg: out of memory for vcpu %d", vcpu->index);
		return -1;
	}
	t->lapic = lapic_new(vcpu->index, &lapic_ops, t);
	if (!t->lapic || wait_init(t)) {
		lapic_free(t->lapic);
		tcg_cpu_destroy(&t->cpu);
		free(t);
		spry_err("tcg: out of memory for vcpu %d", vcpu->index);
		return -1;
	}
	vcpu->accel_state = t;
	t->vcpu = vcpu;
	t->vm = vcpu->vm;
	t->cr0 = 0x60000010;	/* reset value: CD, NW, ET */
	t->pat = 0x0007040600070406ULL;
	t->apic_base = 0xfee00000 | (1u << 11) | (vcpu->index ? 0 : 1u << 8);
	t->misc_enable = 1;
	t->cpu.rflags = 2;
	return 0;
}

static int tcg_vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_cpu_state *s)
{
	struct tcg_vcpu *t = vcpu->accel_state;
	struct tcg_cpu *cpu = &t->cpu;

	cpu->gpr[0] = s->rax;
	cpu->gpr[3] = s->rbx;
	cpu->gpr[6] = s->rsi;
	cpu->gpr[4] = s->rsp;
	cpu->rip = s->rip;
	cpu->rflags = s->rflags | 2;
	t->cr0 = s->cr0;
	t->cr3 = s->cr3;
	t->cr4 = s->cr4;
	t->efer = s->efer;
	t->gdt_base = s->gdt_base;
	t->gdt_limit = s->gdt_limit;
	t->sel[SEG_CS] = s->code_sel;
	t->sel[SEG_DS] = t->sel[SEG_ES] = t->sel[SEG_SS] = s->data_sel;
	t->sel[SEG_FS] = t->sel[SEG_GS] = s->data_sel;
	cpu->mode = s->mode == BOOT_CPU_LONG64 ? 64 : 32;
	if (s->mode == BOOT_CPU_LONG64)
		t->efer |= EFER_LMA | EFER_LME;
	tcg_flush(cpu);
	return 0;
}

static int tcg_vcpu_get_state(struct vcpu *vcpu, struct vcpu_state *s)
{
	const struct tcg_vcpu *t = vcpu->accel_state;
	const struct tcg_cpu *cpu = &t->cpu;

	*s = (struct vcpu_state){
		.rip = cpu->rip, .rflags = cpu->rflags,
		.cr0 = t->cr0, .cr2 = t->cr2, .cr3 = t->cr3, .cr4 = t->cr4, .efer = t->efer,
		.fs_base = cpu->fs_base, .gs_base = cpu->gs_base,
		.gdt_base = t->gdt_base, .gdt_limit = t->gdt_limit,
		.idt_base = t->idt_base, .idt_limit = t->idt_limit,
	};
	memcpy(s->gpr, cpu->gpr, sizeof(s->gpr));
	for (int i = 0; i < SEG_COUNT; i++)
		s->sel[i] = t->sel[i];
	return 0;
}

/* Take the local APIC's highest deliverable interrupt, if IF allows one. */
static void take_interrupt(struct tcg_vcpu *t)
{
	int vec;

	if (!(t->cpu.rflags & X86_IF))
		return;
	vec = lapic_pending(t->lapic);
	if (vec < 0)
		return;
	lapic_ack(t->lapic, vec);
	if (!deliver(t, vec, 0, true))
		exception(t);
}

/*
 * Interrupts are taken between runs of the interpreter: at most RUN_BUDGET
 * instructions apart, right after STI's one-instruction shadow, and after
 * anything that may have let one in (IRET, a local APIC write, HLT).
 */
static void tcg_vcpu_run(struct vcpu *vcpu)
{
	struct tcg_vcpu *t = vcpu->accel_state;

	while (!vm_stopping(vcpu->vm)) {
		unsigned int budget = t->irq_shadow ? 1 : RUN_BUDGET;

		if (!t->irq_shadow)
			take_interrupt(t);
		t->irq_shadow = false;
		atomic_store(&t->kicked, false);
		t->cpu.stop = false;
		if (tcg_run(&t->cpu, budget) == TCG_EXIT_EXCEPTION)
			exception(t);
	}
}

/* The interpreter stops at the next system instruction or RUN_BUDGET instructions at most. */
static void tcg_vcpu_kick(struct vcpu *vcpu)
{
	struct tcg_vcpu *t = vcpu->accel_state;

	if (!t)
		return;
	atomic_store(&t->kicked, true);
	wake_up(t);
}

static int tcg_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	struct tcg_machine *m = vm->accel_state;

	ioapic_set_irq(m->ioapic, gsi, level);
	return 0;
}

static void tcg_destroy(struct vm *vm)
{
	struct tcg_machine *m;

	for (int i = 0; i < vm->ncpus; i++) {
		struct tcg_vcpu *t = vm->vcpus[i].accel_state;

		if (!t)
			continue;
		tcg_cpu_destroy(&t->cpu);
		lapic_free(t->lapic);
		pthread_cond_destroy(&t->wait_cond);
		pthread_mutex_destroy(&t->wait_lock);
		free(t);
		vm->vcpus[i].accel_state = NULL;
	}
	m = vm->accel_state;
	ioapic_free(m->ioapic);
	free(m);
	vm->accel_state = NULL;
}

const struct accel_ops tcg_accel_ops = {
	.name = "tcg",
	.create = tcg_create,
	.vcpu_create = tcg_vcpu_create,
	.vcpu_set_boot_state = tcg_vcpu_set_boot_state,
	.vcpu_get_state = tcg_vcpu_get_state,
	.vcpu_run = tcg_vcpu_run,
	.vcpu_kick = tcg_vcpu_kick,
	.irq_line = tcg_irq_line,
	.destroy = tcg_destroy,
};

/* ---- which guests ---- */

bool tcg_accel_can_run(const struct vm *vm, char *why, size_t len)
{
	if (vm->ncpus != 1) {
		snprintf(why, len, "TCG-lite runs one vCPU only (--cpus %d asked)", vm->ncpus);
		return false;
	}
	if (vm->kernel_is_linux) {
		snprintf(why, len, "TCG-lite cannot boot Linux yet (no TSS, user mode or SMP)");
		return false;
	}
	return true;
}
