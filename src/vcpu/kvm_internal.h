/*
 * State shared by the KVM accelerator's files: the VM-wide fds and the
 * per-vCPU fd and kvm_run page.
 */
#ifndef SPRY_KVM_INTERNAL_H
#define SPRY_KVM_INTERNAL_H

#include <linux/kvm.h>

#include "spry/kvm.h"

struct kvm_vm {
	int sys_fd;
	int vm_fd;
	int run_size;
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID, before per-vCPU changes */
};

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
};

void kvm_vcpu_run(struct vcpu *vcpu);
void kvm_vcpu_kick(struct vcpu *vcpu);

#endif
