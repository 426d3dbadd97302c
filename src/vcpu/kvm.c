/*
 * The KVM accelerator: the VM fd with KVM's in-kernel irqchip and PIT, one
 * memory slot per RAM region, and per-vCPU state (CPUID, MSRs, LAPIC, boot
 * registers). The KVM_RUN loop lives in kvm_run.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "spry/cpuid.h"
#include "spry/log.h"

#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_IA32_CR_PAT		0x277
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102

#define MISC_ENABLE_FAST_STRING	1ULL
#define PAT_POWER_ON_DEFAULT	0x0007040600070406ULL

#define APIC_LVT_LINT0		0x350
#define APIC_LVT_LINT1		0x360
#define APIC_MODE_NMI		(4u << 8)
#define APIC_MODE_EXTINT	(7u << 8)

static int kvm_check_caps(struct kvm_vm *k)
{
	static const struct { int cap; const char *name; } needed[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
		{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
		{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	};

	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			spry_err("kvm: this kernel lacks %s", needed[i].name);
			return -1;
		}
	}
	return 0;
}

static int kvm_max_vcpus(struct kvm_vm *k)
{
	int n = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	return n > 0 ? n : ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
}

static int kvm_open(struct vm *vm, struct kvm_vm *k)
{
	int version;

	k->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		spry_err("kvm: cannot open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	version = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		spry_err("kvm: API version %d, expected %d", version, KVM_API_VERSION);
		return -1;
	}
	if (kvm_check_caps(k))
		return -1;
	if (vm->ncpus > kvm_max_vcpus(k)) {
		spry_err("kvm: %d vCPUs requested, this host's KVM allows %d",
			 vm->ncpus, kvm_max_vcpus(k));
		return -1;
	}
	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size <= 0) {
		spry_err("kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		spry_err("kvm: KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int kvm_add_memory(struct vm *vm, struct kvm_vm *k)
{
	for (int i = 0; i < vm->mem.nregions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};

		if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			spry_err("kvm: memory slot %d: %s", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void add_route(struct kvm_irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	r->entries[r->nr++] = (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

/*
 * KVM's default routing sends GSI 0 (the PIT) to IOAPIC pin 0, but a PC wires
 * it to pin 2, and that is what our MP table and MADT override say. Route as a
 * PC: ISA IRQs to the PICs (2 is the cascade), IRQ 0 to pin 2, the rest 1:1.
 */
static int kvm_set_pc_irq_routing(struct kvm_vm *k)
{
	enum { MAX_ROUTES = 16 + SPRY_IOAPIC_PINS };
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + MAX_ROUTES * sizeof(r->entries[0]));
	int ret;

	if (!r)
		return -1;
	for (uint32_t irq = 0; irq < 16; irq++)
		if (irq != 2)
			add_route(r, irq, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				  irq % 8);
	for (uint32_t gsi = 0; gsi < SPRY_IOAPIC_PINS; gsi++)
		if (gsi != 2)
			add_route(r, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	ret = ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, r);
	if (ret < 0)
		spry_err("kvm: KVM_SET_GSI_ROUTING: %s", strerror(errno));
	free(r);
	return ret;
}

static int kvm_create_irqchip(struct kvm_vm *k)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)SPRY_KVM_TSS_ADDR) < 0) {
		spry_err("kvm: KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -1;
	}
	/* Not every KVM flavour has it; KVM then picks the address itself. */
	{
		uint64_t idmap = SPRY_KVM_IDENTITY_MAP;

		ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	}
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		spry_err("kvm: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		spry_err("kvm: KVM_CREATE_PIT2: %s", strerror(errno));
		return -1;
	}
	return kvm_set_pc_irq_routing(k);
}

static int kvm_load_supported_cpuid(struct kvm_vm *k)
{
	for (int nent = 128; nent <= 4096; nent *= 2) {
		size_t sz = sizeof(struct kvm_cpuid2) +
			    (nent + CPUID_EXTRA_ENTRIES) * sizeof(struct kvm_cpuid_entry2);

		free(k->cpuid);
		k->cpuid = calloc(1, sz);
		if (!k->cpuid)
			return -1;
		k->cpuid->nent = (uint32_t)nent;
		if (ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, k->cpuid) == 0)
			return 0;
		if (errno != E2BIG)
			break;
	}
	spry_err("kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	return -1;
}

static int kvm_create(struct vm *vm)
{
	struct kvm_vm *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->sys_fd = k->vm_fd = -1;
	vm->accel_state = k;
	if (kvm_open(vm, k) || kvm_create_irqchip(k) || kvm_add_memory(vm, k) ||
	    kvm_load_supported_cpuid(k))
		return -1;
	return 0;
}

static int kvm_set_cpuid(struct vcpu *vcpu, struct kvm_vm *k, struct kvm_vcpu *kv)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    (k->cpuid->nent + CPUID_EXTRA_ENTRIES) * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);
	int tsc_khz = ioctl(kv->fd, KVM_GET_TSC_KHZ, 0);
	int ret;

	if (!c)
		return -1;
	memcpy(c, k->cpuid, sizeof(*c) + k->cpuid->nent * sizeof(struct kvm_cpuid_entry2));
	cpuid_adjust(c, (unsigned int)vcpu->index, (unsigned int)vcpu->vm->ncpus,
		     tsc_khz > 0 ? (uint32_t)tsc_khz : 0);
	/* cpuid_adjust() offers the TSC-deadline timer; KVM must be able to emulate it. */
	if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) <= 0) {
		struct kvm_cpuid_entry2 *leaf1 = cpuid_find(c, 1, 0);

		if (leaf1)
			leaf1->ecx &= ~CPUID_1_ECX_TSC_DEADLINE;
	}
	ret = ioctl(kv->fd, KVM_SET_CPUID2, c);
	if (ret < 0)
		spry_err("kvm: vcpu %d: KVM_SET_CPUID2: %s", vcpu->index, strerror(errno));
	free(c);
	return ret;
}

/* The MSR values firmware leaves behind, which Linux expects at entry. */
static int kvm_set_boot_msrs(struct vcpu *vcpu, struct kvm_vcpu *kv)
{
	static const struct { uint32_t index; uint64_t value; } boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 }, { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_IA32_CR_PAT, PAT_POWER_ON_DEFAULT },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + N * sizeof(msrs->entries[0]));
	int ret;

	if (!msrs)
		return -1;
	msrs->nmsrs = N;
	for (int i = 0; i < N; i++) {
		msrs->entries[i].index = boot_msrs[i].index;
		msrs->entries[i].data = boot_msrs[i].value;
	}
	ret = ioctl(kv->fd, KVM_SET_MSRS, msrs);
	free(msrs);
	if (ret != N) {
		spry_err("kvm: vcpu %d: KVM_SET_MSRS set %d of %d", vcpu->index, ret, N);
		return -1;
	}
	return 0;
}

static void lapic_set_reg(struct kvm_lapic_state *l, unsigned int reg, uint32_t v)
{
	memcpy(&l->regs[reg], &v, sizeof(v));
}

static uint32_t lapic_get_reg(const struct kvm_lapic_state *l, unsigned int reg)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], sizeof(v));
	return v;
}

/* LINT0 delivers the PIC's ExtINT and LINT1 NMIs, as a PC's firmware sets them. */
static int kvm_set_lapic_lints(struct vcpu *vcpu, struct kvm_vcpu *kv)
{
	struct kvm_lapic_state l;

	if (ioctl(kv->fd, KVM_GET_LAPIC, &l) < 0)
		goto fail;
	lapic_set_reg(&l, APIC_LVT_LINT0,
		      (lapic_get_reg(&l, APIC_LVT_LINT0) & ~0x700u) | APIC_MODE_EXTINT);
	lapic_set_reg(&l, APIC_LVT_LINT1,
		      (lapic_get_reg(&l, APIC_LVT_LINT1) & ~0x700u) | APIC_MODE_NMI);
	if (ioctl(kv->fd, KVM_SET_LAPIC, &l) < 0)
		goto fail;
	return 0;
fail:
	spry_err("kvm: vcpu %d: LAPIC setup: %s", vcpu->index, strerror(errno));
	return -1;
}

static int kvm_set_fpu(struct vcpu *vcpu, struct kvm_vcpu *kv)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(kv->fd, KVM_SET_FPU, &fpu) < 0) {
		spry_err("kvm: vcpu %d: KVM_SET_FPU: %s", vcpu->index, strerror(errno));
		return -1;
	}
	return 0;
}

static int kvm_vcpu_create(struct vcpu *vcpu)
{
	struct kvm_vm *k = vcpu->vm->accel_state;
	struct kvm_vcpu *kv = calloc(1, sizeof(*kv));

	if (!kv)
		return -1;
	vcpu->accel_state = kv;
	kv->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)vcpu->index);
	if (kv->fd < 0) {
		spry_err("kvm: KVM_CREATE_VCPU %d: %s", vcpu->index, strerror(errno));
		return -1;
	}
	kv->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kv->fd, 0);
	if (kv->run == MAP_FAILED) {
		kv->run = NULL;
		spry_err("kvm: vcpu %d: mmap kvm_run: %s", vcpu->index, strerror(errno));
		return -1;
	}
	if (kvm_set_cpuid(vcpu, k, kv) || kvm_set_boot_msrs(vcpu, kv) ||
	    kvm_set_lapic_lints(vcpu, kv) || kvm_set_fpu(vcpu, kv))
		return -1;
	return 0;
}

static void set_flat_segment(struct kvm_segment *s, uint16_t sel, bool code, bool long_mode)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = code ? 0xb : 0x3,	/* execute/read or read/write, accessed */
		.present = 1,
		.dpl = 0,
		.db = code && long_mode ? 0 : 1,
		.s = 1,
		.l = code && long_mode,
		.g = 1,
	};
}

static int kvm_vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_cpu_state *b)
{
	struct kvm_vcpu *kv = vcpu->accel_state;
	bool lm = b->mode == BOOT_CPU_LONG64;
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = b->rip, .rsp = b->rsp, .rflags = b->rflags | 2,
		.rax = b->rax, .rbx = b->rbx, .rsi = b->rsi,
	};

	if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	set_flat_segment(&sregs.cs, b->code_sel, true, lm);
	set_flat_segment(&sregs.ds, b->data_sel, false, lm);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = b->gdt_base;
	sregs.gdt.limit = b->gdt_limit;
	sregs.cr0 = b->cr0;
	sregs.cr3 = b->cr3;
	sregs.cr4 = b->cr4;
	sregs.efer = b->efer;
	if (ioctl(kv->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(kv->fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	spry_err("kvm: vcpu %d: setting boot registers: %s", vcpu->index, strerror(errno));
	return -1;
}

static int kvm_vcpu_get_state(struct vcpu *vcpu, struct vcpu_state *s)
{
	struct kvm_vcpu *kv = vcpu->accel_state;
	const struct kvm_segment *seg[6];
	struct kvm_sregs sr;
	struct kvm_regs r;

	if (ioctl(kv->fd, KVM_GET_REGS, &r) < 0 || ioctl(kv->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	*s = (struct vcpu_state){
		.gpr = { r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
			 r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15 },
		.rip = r.rip, .rflags = r.rflags,
		.cr0 = sr.cr0, .cr2 = sr.cr2, .cr3 = sr.cr3, .cr4 = sr.cr4, .efer = sr.efer,
		.fs_base = sr.fs.base, .gs_base = sr.gs.base,
		.gdt_base = sr.gdt.base, .gdt_limit = sr.gdt.limit,
		.idt_base = sr.idt.base, .idt_limit = sr.idt.limit,
	};
	seg[0] = &sr.es, seg[1] = &sr.cs, seg[2] = &sr.ss;
	seg[3] = &sr.ds, seg[4] = &sr.fs, seg[5] = &sr.gs;
	for (int i = 0; i < 6; i++)
		s->sel[i] = seg[i]->selector;
	return 0;
}

static int kvm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_vm *k = vm->accel_state;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	return ioctl(k->vm_fd, KVM_IRQ_LINE, &irq);
}

static int kvm_ioeventfd(struct vm *vm, int fd, uint64_t addr, uint32_t datamatch)
{
	struct kvm_vm *k = vm->accel_state;
	struct kvm_ioeventfd io = {
		.datamatch = datamatch, .addr = addr, .len = 4, .fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return ioctl(k->vm_fd, KVM_IOEVENTFD, &io);
}

static int kvm_irqfd(struct vm *vm, int fd, unsigned int gsi)
{
	struct kvm_vm *k = vm->accel_state;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	return ioctl(k->vm_fd, KVM_IRQFD, &irqfd);
}

static void kvm_destroy(struct vm *vm)
{
	struct kvm_vm *k = vm->accel_state;

	for (int i = 0; i < vm->ncpus; i++) {
		struct kvm_vcpu *kv = vm->vcpus[i].accel_state;

		if (!kv)
			continue;
		if (kv->run)
			munmap(kv->run, (size_t)k->run_size);
		if (kv->fd >= 0)
			close(kv->fd);
		free(kv);
		vm->vcpus[i].accel_state = NULL;
	}
	if (!k)
		return;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	free(k->cpuid);
	free(k);
	vm->accel_state = NULL;
}

const struct accel_ops kvm_accel_ops = {
	.name = "kvm",
	.has_pit = true,
	.create = kvm_create,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_set_boot_state = kvm_vcpu_set_boot_state,
	.vcpu_get_state = kvm_vcpu_get_state,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.irq_line = kvm_irq_line,
	.ioeventfd = kvm_ioeventfd,
	.irqfd = kvm_irqfd,
	.destroy = kvm_destroy,
};
