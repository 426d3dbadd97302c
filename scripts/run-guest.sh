#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds spry, makes the default Linux guest and
# boots it to a shell on the serial console (Ctrl-A x quits). With --accel
# auto, spry says plainly when this host's KVM cannot run guest ring 0.
# Usage: scripts/run-guest.sh [extra spry run options, e.g. --cpus 2 --accel kvm]
set -euo pipefail

cd "$(dirname "$0")/.."

main() {
	scripts/setup.sh >&2
	[[ -d build ]] || meson setup build >&2
	ninja -C build >&2
	scripts/mkguest.sh guest
	exec build/src/spry run --kernel guest/bzImage --initrd guest/initramfs.cpio.gz \
		--cmdline "console=ttyS0 spry.init=shell" --memory 256M "$@"
}

main "$@"
