#!/usr/bin/env bash
# Integration test: boots the default Linux guest (scripts/mkguest.sh) with spry and checks
# that its /init printed SPRY-GUEST-READY and that spry exited 0 (the guest powered off).
# Usage: linux-boot.sh SPRY ACCEL CPUS GUESTDIR [blk]
#   blk: also give the guest an ext4 image on virtio-blk; its /init writes a file there,
#   syncs and unmounts, and the host reads the file back out of the image (debugfs).
#   Exit 0 pass, 1 fail, 77 skip (the reason is printed): KVM here cannot run guest ring 0
#   natively (per `SPRY probe`), spry says the accelerator is unavailable (exit 10), or the
#   guest is not built and cannot be built.
# Environment: SPRY_BOOT_TIMEOUT (seconds, default 240), SPRY_BOOT_APPEND (more kernel
#   command line), SPRY_MKGUEST=0 (never run scripts/mkguest.sh; by default it is run, and
#   is a quick no-op when GUESTDIR is up to date).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MKGUEST="$SCRIPT_DIR/../../scripts/mkguest.sh"
MARKER=SPRY-GUEST-READY
EXIT_NO_ACCEL=10	# SPRY_EXIT_NO_ACCEL, include/spry/exit.h
SKIP=77

log() { printf 'linux-boot: %s\n' "$*"; }
skip() { log "SKIP: $*"; exit "$SKIP"; }
fail() { log "FAIL: $*"; exit 1; }

# Names one of spry's exit statuses (include/spry/exit.h).
describe_status() {
	case "$1" in
	0) echo "guest powered off" ;;
	2) echo "error" ;;
	4) echo "guest asked for a reset (a kernel panic with panic=-1 ends this way)" ;;
	6) echo "triple fault" ;;
	8) echo "stopped by a signal" ;;
	10) echo "no accelerator can run this guest here" ;;
	12) echo "the accelerator failed to run a vCPU" ;;
	124 | 137) echo "timed out" ;;
	*) if (($1 % 2)); then echo "debug-exit, value $(($1 >> 1))"; else echo "unknown"; fi ;;
	esac
}

# For kvm: skips unless `spry probe` says KVM runs guest ring 0 natively.
check_accel() {
	local spry=$1 accel=$2 line rc=0
	[[ "$accel" == kvm ]] || return 0
	line=$("$spry" probe 2>&1) || rc=$?
	log "spry probe: $line (exit $rc)"
	case "$rc" in
	0) ;;
	"$EXIT_NO_ACCEL") skip "KVM cannot boot Linux here: $line" ;;
	*) fail "spry probe exited $rc" ;;
	esac
}

# Makes sure GUESTDIR holds a guest; prints the initrd path.
check_guest() {
	local dir=$1 initrd
	if [[ "${SPRY_MKGUEST:-1}" != 0 && -x "$MKGUEST" ]]; then
		"$MKGUEST" "$dir" >&2 || log "scripts/mkguest.sh $dir failed" >&2
	fi
	for initrd in "$dir/initramfs.cpio.gz" "$dir/initramfs.cpio"; do
		if [[ -s "$dir/bzImage" && -s "$initrd" ]]; then
			echo "$initrd"
			return 0
		fi
	done
	return 1
}

# Checks the file the guest's blktest wrote into ext4 image $1.
check_disk() {
	local content
	content=$(debugfs -R "cat /spry-test" "$1" 2>/dev/null) || fail "debugfs cannot read $1"
	[[ "$content" == "written by the spry guest" ]] ||
		fail "the image holds '$content', not the guest's line"
	log "the host read the guest's file back from the image"
}

main() {
	[[ $# -eq 4 || $# -eq 5 ]] || { echo "usage: $0 SPRY ACCEL CPUS GUESTDIR [blk]" >&2; exit 2; }
	local spry=$1 accel=$2 cpus=$3 dir=$4 scenario=${5:-boot} initrd out rc=0 start elapsed
	local timeout=${SPRY_BOOT_TIMEOUT:-240} mode=poweroff tmp
	local -a disk=()
	[[ -x "$spry" ]] || fail "$spry is not an executable"

	check_accel "$spry" "$accel"
	initrd=$(check_guest "$dir") || skip "no guest in $dir: build it with scripts/mkguest.sh $dir"

	tmp=$(mktemp -d)
	out=$tmp/out
	# shellcheck disable=SC2064  # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	if [[ "$scenario" == blk ]]; then
		truncate -s 64M "$tmp/disk.img"
		mkfs.ext4 -q -F "$tmp/disk.img"
		disk=(--disk "path=$tmp/disk.img")
		mode=blktest
	fi
	local cmdline="console=ttyS0 spry.init=$mode panic=-1${SPRY_BOOT_APPEND:+ $SPRY_BOOT_APPEND}"
	log "booting $dir/bzImage under $accel with $cpus vCPU(s), timeout ${timeout}s"
	start=$(date +%s%N)
	timeout --kill-after=10 "$timeout" "$spry" run --kernel "$dir/bzImage" --initrd "$initrd" \
		--cmdline "$cmdline" --cpus "$cpus" --memory 256M --accel "$accel" "${disk[@]}" \
		</dev/null 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
	elapsed=$((($(date +%s%N) - start) / 1000000))
	log "spry exited $rc ($(describe_status "$rc")) after ${elapsed} ms"

	if [[ "$rc" -eq "$EXIT_NO_ACCEL" ]]; then
		skip "spry cannot run the guest with --accel $accel: $(grep -v '^$' "$out" | tail -n 1)"
	fi
	if [[ "$rc" -eq 124 || "$rc" -eq 137 ]]; then
		fail "spry did not finish within ${timeout}s ($(grep -c "$MARKER" "$out") $MARKER line(s) seen)"
	fi
	grep -q "$MARKER" "$out" || fail "the guest never printed $MARKER"
	[[ "$rc" -eq 0 ]] || fail "the guest printed $MARKER but spry exited $rc, not 0"
	if [[ "$scenario" == blk ]]; then
		grep -q SPRY-BLK-OK "$out" || fail "the guest could not write its file on /dev/vda"
		check_disk "$tmp/disk.img"
	fi
	log "PASS: $MARKER seen, guest powered off"
}

main "$@"
