/*
 * TCG-lite's system environment (struct tcg_env_ops tcg_sys_env): what a
 * VM's CPU does beyond the interpreter's pure semantics. The 4-level page
 * walk fills the TLB; physical pages outside RAM go to the MMIO bus, but for
 * the vCPU's own local APIC page; and the system instructions: control and
 * debug registers, MSRs, descriptor tables, the task register, segment loads
 * and far transfers, syscall/sysret and swapgs, int n, port I/O, cli, sti,
 * popf's IF and IOPL, and hlt.
 *
 * Privilege: CPL 0 and 3 (the CPL is CS.RPL). At CPL 3 the page walk checks
 * user access and the system instructions raise #GP (port I/O, cli and sti
 * unless IOPL allows). Segments are flat: a selector load reads the
 * descriptor only for the code size (L and D bits), the FS/GS bases and the
 * CPL; LDT segments are not supported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "ops.h"
#include "spry/exit.h"
#include "spry/irqchip.h"
#include "spry/layout.h"
#include "spry/log.h"
#include "sys.h"

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
 * The 4-level walk with the checks of the current privilege level (at CPL 3
 * every level must allow user access, and writes need RW whatever CR0.WP
 * says; no SMEP or SMAP); 0 with the physical address, or a vector. A successful
 * walk sets the accessed bit in every entry it used and, for a write, the
 * dirty bit in the last one: TLB entries are filled per access kind, so a
 * page first read and then written comes back here for the write.
 */
static int translate(struct tcg_vcpu *t, uint64_t va, enum tcg_access acc, uint64_t *pa)
{
	uint64_t table = t->cr3 & PTE_ADDR, pte = 0, *used[4];
	bool user = t->cpl == 3, rw = true, us = true, nx = false;
	uint32_t err = (acc == TCG_WRITE ? PFERR_W : 0) | (acc == TCG_EXEC ? PFERR_I : 0) |
		       (user ? PFERR_U : 0);
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
		us = us && (pte & PTE_US);
		nx = nx || (pte & PTE_NX);
		if (level == 1 || ((level == 2 || level == 3) && (pte & PTE_PS))) {
			uint64_t mask = (1ULL << shift) - 1;

			*pa = ((pte & PTE_ADDR) & ~mask) | (va & mask);
			break;
		}
		table = pte & PTE_ADDR;
	}
	if (user && !us)
		return page_fault(&t->cpu, err | PFERR_P);
	if (acc == TCG_WRITE && !rw && (user || (t->cr0 & CR0_WP)))
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

void tcg_load_cs(struct tcg_vcpu *t, uint16_t sel)
{
	uint64_t d = descriptor(t, sel);

	if (!(d & (1ULL << 43)))	/* not a code segment */
		tcg_raise(&t->cpu, TCG_EXC_GP, sel & ~3);
	t->sel[SEG_CS] = sel;
	if ((t->efer & EFER_LMA) && (d & (1ULL << 53)))
		t->cpu.mode = 64;
	else
		t->cpu.mode = d & (1ULL << 54) ? 32 : 16;
	tcg_set_cpl(t, sel & 3);
}

void tcg_set_cpl(struct tcg_vcpu *t, int cpl)
{
	if (t->cpl == cpl)
		return;
	t->cpl = cpl;
	tcg_tlb_flush(&t->cpu);
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
	tcg_load_cs(t, sel);
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
	} else if (msr == MSR_ARCH_CAPABILITIES) {
		if (write)
			tcg_raise(cpu, TCG_EXC_GP, 0);
		v = tcg_arch_capabilities();
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
		if (insn->memop) {	/* invlpg */
			tcg_tlb_flush(cpu);
			break;
		}
		if (cpu->mode != 64)	/* swapgs, the only register form decoded */
			tcg_raise(cpu, TCG_EXC_UD, 0);
		base = cpu->gs_base;
		cpu->gs_base = t->kernel_gs_base;
		t->kernel_gs_base = base;
		break;
	default:
		tcg_raise(cpu, TCG_EXC_UD, 0);
	}
}

/* ---- task register, LDT, debug registers ---- */

/*
 * A system descriptor of long mode (16 bytes) for @sel, of @type; #GP(sel)
 * outside the GDT or of another type, #NP(sel) when not present.
 */
static void system_descriptor(struct tcg_vcpu *t, uint16_t sel, int type, uint64_t *lo,
			      uint64_t *hi)
{
	uint64_t at = t->gdt_base + (sel & ~7);

	if ((sel & ~3) == 0 || (sel & 4) || (uint32_t)(sel & ~7) + 15 > t->gdt_limit)
		tcg_raise(&t->cpu, TCG_EXC_GP, sel & ~3);
	*lo = tcg_load(&t->cpu, at, 8);
	*hi = tcg_load(&t->cpu, at + 8, 8);
	if ((*lo >> 40 & 0x1f) != (uint64_t)type)
		tcg_raise(&t->cpu, TCG_EXC_GP, sel & ~3);
	if (!(*lo & (1ULL << 47)))
		tcg_raise(&t->cpu, 11, sel & ~3);
}

static uint64_t system_base(uint64_t lo, uint64_t hi)
{
	return desc_base(lo) | (hi & 0xffffffff) << 32;
}

static uint32_t system_limit(uint64_t lo)
{
	uint32_t limit = (lo & 0xffff) | (lo >> 32 & 0xf0000);

	return lo & (1ULL << 55) ? limit << 12 | 0xfff : limit;
}

#define TSS_AVAILABLE	0x09
#define TSS_BUSY	0x0b
#define LDT_TYPE	0x02

/* ltr: an available 64-bit TSS, which becomes busy. */
static void load_tr(struct tcg_vcpu *t, uint16_t sel)
{
	uint64_t lo, hi;

	system_descriptor(t, sel, TSS_AVAILABLE, &lo, &hi);
	tcg_store(&t->cpu, t->gdt_base + (sel & ~7), 8, lo | (uint64_t)(TSS_BUSY ^ TSS_AVAILABLE) << 40);
	t->tr = sel;
	t->tr_base = system_base(lo, hi);
	t->tr_limit = system_limit(lo);
}

/* lldt: a null selector or an LDT descriptor; segments from an LDT are not supported. */
static void load_ldt(struct tcg_vcpu *t, uint16_t sel)
{
	uint64_t lo, hi;

	if ((sel & ~3) != 0)
		system_descriptor(t, sel, LDT_TYPE, &lo, &hi);
	t->ldtr = sel;
}

uint64_t tcg_tss_stack(struct tcg_vcpu *t, uint32_t offset)
{
	if (!t->tr || offset + 7 > t->tr_limit)
		tcg_raise(&t->cpu, 10, t->tr & ~3);	/* #TS */
	return tcg_load(&t->cpu, t->tr_base + offset, 8);
}

/* sldt, str, lldt, ltr (0F 00 /0-/3). */
static void op_0f00(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t a = mem_addr(cpu, insn);

	switch ((insn->modrm >> 3) & 7) {
	case 0: opnd_set(cpu, insn, 0, a, t->ldtr); break;
	case 1: opnd_set(cpu, insn, 0, a, t->tr); break;
	case 2: load_ldt(t, opnd_get(cpu, insn, 0, a)); break;
	case 3: load_tr(t, opnd_get(cpu, insn, 0, a)); break;
	default: tcg_raise(cpu, TCG_EXC_UD, 0);
	}
}

#define DR6_RESET	0xffff0ff0ULL
#define DR7_RESET	0x400ULL
#define CR4_DE		(1ULL << 3)

/* mov to and from DR0-DR7 (DR4/DR5 are DR6/DR7 unless CR4.DE). */
static void op_mov_dr(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	int dr = (insn->modrm >> 3) & 7, reg = insn->opnd[0].reg, sz = cpu->mode == 64 ? 8 : 4;

	if ((insn->rex & 4) || ((dr == 4 || dr == 5) && (t->cr4 & CR4_DE)))
		tcg_raise(cpu, TCG_EXC_UD, 0);
	if (dr == 4 || dr == 5)
		dr += 2;
	if (insn->opcode == 0x21) {
		reg_set(cpu, reg, sz, t->dr[dr]);
		return;
	}
	if (dr >= 6 && (reg_get(cpu, reg, sz) >> 32))
		tcg_raise(cpu, TCG_EXC_GP, 0);
	t->dr[dr] = reg_get(cpu, reg, sz);
	if (dr == 6)
		t->dr[6] |= DR6_RESET;
	else if (dr == 7)
		t->dr[7] |= DR7_RESET;
}

/* ---- syscall, sysret ---- */

#define RFLAGS_IOPL(f)	((int)((f) >> 12 & 3))

/* syscall (from the interpreter's op_syscall): into the kernel at LSTAR. */
static void sys_syscall(struct tcg_cpu *cpu)
{
	struct tcg_vcpu *t = tv_of(cpu);

	if (!(t->efer & EFER_SCE) || !(t->efer & EFER_LMA))
		tcg_raise(cpu, TCG_EXC_UD, 0);
	cpu->gpr[1] = cpu->next_rip;
	cpu->gpr[11] = cpu->rflags;
	cpu->rflags = (cpu->rflags & ~t->sfmask & ~RFLAGS_RF) | 2;
	t->sel[SEG_CS] = (t->star >> 32) & 0xfffc;
	t->sel[SEG_SS] = ((t->star >> 32) + 8) & 0xfffc;
	cpu->mode = 64;
	tcg_set_cpl(t, 0);
	cpu->next_rip = t->lstar;
}

/* sysret: back to CPL 3 at RCX with RFLAGS from R11 (64-bit with REX.W, else 32-bit). */
static void op_sysret(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	bool w = insn->rex & 8;
	uint64_t rip = w ? cpu->gpr[1] : (uint32_t)cpu->gpr[1], base = t->star >> 48 & 0xffff;

	if (!(t->efer & EFER_SCE))
		tcg_raise(cpu, TCG_EXC_UD, 0);
	if (t->cpl != 0 || !(t->efer & EFER_LMA) ||
	    (uint64_t)((int64_t)(rip << 16) >> 16) != rip)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	t->sel[SEG_CS] = (w ? base + 16 : base) | 3;
	t->sel[SEG_SS] = (base + 8) | 3;
	cpu->rflags = (cpu->gpr[11] & RFLAGS_WRITABLE & ~RFLAGS_RF) | 2;
	cpu->mode = w ? 64 : 32;
	tcg_set_cpl(t, 3);
	cpu->next_rip = rip;
	if (cpu->rflags & X86_IF)
		cpu->stop = true;	/* an interrupt may be waiting */
}

/* int n: a software interrupt through a gate whose DPL allows the CPL. */
static void op_int(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t here = cpu->rip;

	cpu->rip = cpu->next_rip;	/* the return address */
	if (!tcg_deliver(t, insn->imm & 0xff, 0, TCG_EVENT_SOFTWARE)) {
		cpu->rip = here;
		tcg_raise(cpu, cpu->exc_vector, cpu->exc_error);
	}
	cpu->next_rip = cpu->rip;
	cpu->stop = true;		/* the handler may run with another mode or CPL */
}

/* popf: IF only where CPL <= IOPL, IOPL only at CPL 0, as the CPU allows. */
static void op_popf_sys(struct tcg_vcpu *t, const struct x86_insn *insn)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t mask = X86_FL_ARITH | X86_TF | X86_DF | RFLAGS_NT | RFLAGS_AC | RFLAGS_ID;
	uint64_t v = tcg_pop(cpu, insn->opsize), old = cpu->rflags;

	if (t->cpl <= RFLAGS_IOPL(old))
		mask |= X86_IF;
	if (t->cpl == 0)
		mask |= RFLAGS_IOPL_MASK;
	mask &= size_mask(insn->opsize);
	cpu->rflags = (old & ~mask) | (v & mask) | 2;
	if ((cpu->rflags & ~old) & X86_IF)
		cpu->stop = true;	/* an interrupt may be waiting */
}

/*
 * Whether @insn may run at the current CPL; the rest raise #GP(0) there.
 * Port I/O, cli and sti need CPL <= IOPL (the TSS I/O bitmap is not read).
 */
static bool allowed_at_cpl(const struct tcg_vcpu *t, const struct x86_insn *insn)
{
	int reg = (insn->modrm >> 3) & 7;

	if (t->cpl == 0)
		return true;
	if (insn->map == 1)
		return (insn->opcode == 0x01 && reg <= 1 && insn->memop) ||	/* sgdt, sidt */
		       (insn->opcode == 0x00 && reg <= 1);			/* sldt, str */
	switch (insn->opcode) {
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
	case 0xec: case 0xed: case 0xee: case 0xef:
	case 0xfa: case 0xfb:
		return t->cpl <= RFLAGS_IOPL(t->cpu.rflags);
	case 0xf4:	/* hlt */
		return false;
	default:	/* iret, far ret and jmp, segment moves, int n, popf */
		return true;
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

static void sys_insn(struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	struct tcg_vcpu *t = tv_of(cpu);
	uint64_t a;

	if (!allowed_at_cpl(t, insn))
		tcg_raise(cpu, TCG_EXC_GP, 0);
	if (insn->op == X86_OP_HLT) {
		tcg_halt(t);
	} else if (insn->op == X86_OP_POPF) {
		op_popf_sys(t, insn);
	} else if (insn->map == 1) {
		switch (insn->opcode) {
		case 0x00: op_0f00(t, insn); break;
		case 0x01: op_0f01(t, insn); break;
		case 0x07: op_sysret(t, insn); break;
		case 0x20: case 0x22: op_mov_cr(t, insn); break;
		case 0x21: case 0x23: op_mov_dr(t, insn); break;
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
		case 0xcd: op_int(t, insn); break;
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

const struct tcg_env_ops tcg_sys_env = {
	.tlb_fill = sys_tlb_fill,
	.syscall = sys_syscall,
	.sysinsn = sys_insn,
	.mmio = sys_mmio,
};
