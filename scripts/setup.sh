#!/usr/bin/env bash
# Installs every Debian 12 package spry needs to build, test, build its Linux
# test guest (scripts/mkguest.sh) and run its benchmarks (scripts/bench/).
# Idempotent: when everything is installed it only runs dpkg-query and exits.
# Usage: scripts/setup.sh        (as root, or as a user with sudo)
set -euo pipefail

PACKAGES=(
	# build
	build-essential meson ninja-build pkg-config linux-libc-dev
	liburing-dev libjson-c-dev libcap-ng-dev libseccomp-dev
	# tests
	libcmocka-dev binutils coreutils util-linux e2fsprogs
	# guest image (scripts/mkguest.sh)
	apt busybox-static cpio lz4 xz-utils gzip python3 file
	# benchmarks (scripts/bench/)
	qemu-system-x86 qemu-user time
)

# Prints the packages of PACKAGES that are not fully installed.
missing_packages() {
	local pkg status
	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
		if [[ "$status" != "ii "* ]]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# Runs a command as root: directly, or through sudo.
as_root() {
	if [[ "$(id -u)" -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "setup.sh: not root and no sudo; install as root: apt-get install $*" >&2
		exit 1
	fi
}

main() {
	local -a missing
	mapfile -t missing < <(missing_packages)
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "setup.sh: all ${#PACKAGES[@]} packages are installed"
		return 0
	fi
	echo "setup.sh: installing: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
	mapfile -t missing < <(missing_packages)
	if [[ ${#missing[@]} -ne 0 ]]; then
		echo "setup.sh: still missing after install: ${missing[*]}" >&2
		exit 1
	fi
	echo "setup.sh: done"
}

main "$@"
