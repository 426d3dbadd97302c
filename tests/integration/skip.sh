# Sourced by the integration scripts: the rules that turn "this accelerator cannot
# run this here" into meson's skip status (77), always with the reason printed.

# skip_without_kvm ACCEL: /dev/kvm is needed for kvm runs.
skip_without_kvm() {
	if [ "$1" = kvm ] && [ ! -c /dev/kvm ]; then
		echo "SKIP: /dev/kvm is missing on this host"
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
