/*
 * The KVM accelerator, and the probe that says whether this host's KVM runs
 * guest ring 0 natively (VMX/SVM) or only by emulation (e.g. PVM).
 */
#ifndef SPRY_KVM_H
#define SPRY_KVM_H

#include <stddef.h>

#include "spry/vm.h"

enum kvm_probe {
	KVM_PROBE_NATIVE,	/* hardware virtualisation: Linux guests run at speed */
	KVM_PROBE_EMULATED,	/* /dev/kvm works, but guest ring 0 is emulated */
	KVM_PROBE_ABSENT,	/* no usable /dev/kvm */
};

/* Classify this host's KVM; @why gets one line for the user. Never blocks. */
enum kvm_probe kvm_probe(char *why, size_t len);

extern const struct accel_ops kvm_accel_ops;

#endif
