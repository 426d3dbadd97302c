# Sourced by the integration scripts: the rules that turn "this accelerator cannot
# run this here" into meson's skip status (77), always with the reason printed.

# skip_without_kvm ACCEL: /dev/kvm is needed for kvm runs.
skip_without_kvm() {
	if [ "$1" = kvm ] && [ ! -c /dev/kvm ]; then
		echo "SKIP: /dev/kvm is missing on this host"
		exit 77
	fi
}

# skip_kvm_without_ring0 SPRY ACCEL: for payloads that need what only a hardware
# hypervisor gives a plain guest (syscall from ring 3 into LSTAR: PVM-style KVM,
# which emulates ring 0, delivers it to a PVM-aware kernel only).
skip_kvm_without_ring0() {
	if [ "$2" = kvm ] && ! "$1" probe > /dev/null 2>&1; then
		echo "SKIP: this host's KVM emulates ring 0 and does not deliver a plain guest's syscall:"
		"$1" probe 2>&1 | sed 's/^/  /'
		exit 77
	fi
}

# skip_if_no_accel STATUS ACCEL STDERR_FILE: spry exits 10 when no accelerator can run
# the guest; its stderr says why.
skip_if_no_accel() {
	if [ "$1" -eq 10 ]; then
		echo "SKIP: accelerator '$2' is not usable here:"
		sed 's/^/  /' "$3"
		exit 77
	fi
}
