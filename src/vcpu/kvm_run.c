/*
 * The KVM_RUN loop of one vCPU thread: port I/O and MMIO exits go to the
 * buses, shutdowns and failures stop the VM. A kick sets immediate_exit and
 * signals the thread so KVM_RUN returns even if the kick races with entry.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"
#include "spry/exit.h"
#include "spry/log.h"
#include "spry/vcpu.h"

static void handle_io(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned int size = run->io.size;

	/* KVM puts the data of a string instruction's `count` repeats back to back. */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vm->pio, run->io.port, data, size);
		else
			bus_read(&vm->pio, run->io.port, data, size);
	}
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	if (run->mmio.is_write)
		bus_write(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
	else
		bus_read(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
}

static void handle_system_event(struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, SPRY_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, SPRY_EXIT_REBOOT);
		break;
	default:
		spry_err("vcpu %d: unexpected system event %u", vcpu->index,
			 run->system_event.type);
		vm_vcpu_failed(vcpu, SPRY_EXIT_VCPU_FAILURE);
	}
}

static void report_failure(struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_INTERNAL_ERROR:
		spry_err("vcpu %d: KVM internal error, suberror %u%s", vcpu->index,
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 " (instruction emulation failed)" : "");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		spry_err("vcpu %d: VM entry failed, reason 0x%llx", vcpu->index,
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	default:
		spry_err("vcpu %d: unhandled KVM exit %u", vcpu->index, run->exit_reason);
	}
	vm_vcpu_failed(vcpu, SPRY_EXIT_VCPU_FAILURE);
}

static void handle_exit(struct vcpu *vcpu, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu->vm, run);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu->vm, run);
		break;
	case KVM_EXIT_SHUTDOWN:
		spry_err("vcpu %d: triple fault", vcpu->index);
		vm_vcpu_failed(vcpu, SPRY_EXIT_TRIPLE_FAULT);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu, run);
		break;
	case KVM_EXIT_INTR:
		break;
	default:
		report_failure(vcpu, run);
	}
}

void kvm_vcpu_run(struct vcpu *vcpu)
{
	struct kvm_vcpu *kv = vcpu->accel_state;

	while (!vm_stopping(vcpu->vm)) {
		if (ioctl(kv->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				kv->run->immediate_exit = 0;
				continue;
			}
			spry_err("vcpu %d: KVM_RUN: %s", vcpu->index, strerror(errno));
			vm_request_stop(vcpu->vm, SPRY_EXIT_VCPU_FAILURE);
			break;
		}
		handle_exit(vcpu, kv->run);
	}
}

void kvm_vcpu_kick(struct vcpu *vcpu)
{
	struct kvm_vcpu *kv = vcpu->accel_state;

	if (!kv || !kv->run || !vcpu->started)
		return;
	kv->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, SPRY_SIG_KICK);
}
