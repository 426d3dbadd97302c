/*
 * TCG-lite as an accelerator (struct accel_ops tcg_accel_ops): the
 * interpreter runs each vCPU of a VM on its own thread, in the system
 * environment of sys.c. Exceptions are delivered through the long-mode IDT;
 * a fault that cannot be delivered twice over shuts the vCPU down as a
 * triple fault.
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

#include "mem.h"
#include "ops.h"
#include "spry/exit.h"
#include "spry/irqchip.h"
#include "spry/layout.h"
#include "spry/log.h"
#include "spry/tcg.h"
#include "sys.h"

/* The IOAPIC's place on the MMIO bus (the bus frees this, the machine the IOAPIC). */
struct ioapic_window {
	struct bus_device dev;
	struct ioapic *ioapic;
};

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
void tcg_halt(struct tcg_vcpu *t)
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

/* The stack a gate switches to: its IST entry, else RSP0 when entering ring 0 from outside. */
static uint64_t gate_stack(struct tcg_vcpu *t, uint64_t gate_lo, int old_cpl, uint64_t rsp)
{
	int ist = gate_lo >> 32 & 7;

	if (ist)
		return tcg_tss_stack(t, 0x24 + 8 * (ist - 1));
	return old_cpl ? tcg_tss_stack(t, 4) : rsp;
}

bool tcg_deliver(struct tcg_vcpu *t, int vec, uint32_t error, enum tcg_event kind)
{
	struct tcg_cpu *cpu = &t->cpu;
	uint64_t lo, hi, sp, target, old_rsp = cpu->gpr[4];
	uint16_t sel, old_cs = t->sel[SEG_CS], old_ss = t->sel[SEG_SS];
	int old_cpl = t->cpl, old_mode = cpu->mode;
	jmp_buf outer;

	/* Faults in here come back here; the interpreter's own handler is kept for after. */
	memcpy(outer, cpu->fault_jmp, sizeof(outer));
	if (setjmp(cpu->fault_jmp)) {
		memcpy(cpu->fault_jmp, outer, sizeof(outer));
		cpu->gpr[4] = old_rsp;
		t->sel[SEG_CS] = old_cs;
		t->sel[SEG_SS] = old_ss;
		cpu->mode = old_mode;
		tcg_set_cpl(t, old_cpl);
		return false;
	}
	if (!(t->efer & EFER_LMA)) {
		/* Protected-mode gates are not implemented: shut down as a triple fault would. */
		memcpy(cpu->fault_jmp, outer, sizeof(outer));
		cpu->exc_vector = TCG_EXC_GP;
		return false;
	}
	/* The IDT, the TSS and the new stack are supervisor accesses whatever the CPL. */
	tcg_set_cpl(t, 0);
	if ((uint32_t)vec * 16 + 15 > t->idt_limit)
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);
	lo = tcg_load(cpu, t->idt_base + vec * 16, 8);
	hi = tcg_load(cpu, t->idt_base + vec * 16 + 8, 8);
	if (!(lo & (1ULL << 47)) || ((lo >> 40 & 0xe) != 0xe))
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);
	if (kind == TCG_EVENT_SOFTWARE && (int)(lo >> 45 & 3) < old_cpl)
		tcg_raise(cpu, TCG_EXC_GP, vec * 8 + 2);
	sel = lo >> 16;
	target = (lo & 0xffff) | (lo >> 48 & 0xffff) << 16 | hi << 32;
	sp = gate_stack(t, lo, old_cpl, old_rsp) & ~15ULL;
	{
		uint64_t frame[6] = { error, cpu->rip, old_cs,
				      saved_rflags(cpu, vec, kind == TCG_EVENT_EXTERNAL), old_rsp,
				      old_ss };
		bool code = kind == TCG_EVENT_EXCEPTION && has_error_code(vec);
		int n = code ? 6 : 5;
		const uint64_t *f = code ? frame : frame + 1;

		tcg_probe_write(cpu, sp - 8 * n, 8 * n);
		for (int i = 0; i < n; i++)
			tcg_store(cpu, sp - 8 * n + 8 * i, 8, f[i]);
		sp -= 8 * n;
	}
	tcg_load_cs(t, sel);
	if (t->cpl != old_cpl)
		t->sel[SEG_SS] = t->cpl;	/* a null SS at the new privilege level */
	memcpy(cpu->fault_jmp, outer, sizeof(outer));
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
	if (tcg_deliver(t, vec, error, vec == TCG_EXC_BP ? TCG_EVENT_SOFTWARE : TCG_EVENT_EXCEPTION))
		return;
	if (vec != 8 && tcg_deliver(t, 8, 0, TCG_EVENT_EXCEPTION))
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

	if (!t || tcg_cpu_init(&t->cpu, &tcg_sys_env, t)) {
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
	if (!tcg_deliver(t, vec, 0, TCG_EVENT_EXTERNAL))
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
	return true;
}
