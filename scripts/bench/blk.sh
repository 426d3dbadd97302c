#!/usr/bin/env bash
# Block benchmark: the virtio-bench guest payload (tests/guests/virtio-bench.c) does 4 KiB
# random reads at queue depth 32 and 1 MiB sequential reads and writes on a disk image, its
# hot loops at CPL3 so they run natively even where KVM emulates ring 0. The same payload
# runs under spry and under QEMU 7.2 (-M microvm, virtio-blk-device, aio=io_uring),
# alternately, in one run; prints IOPS, MiB/s and the spry/QEMU ratios (median of runs).
# Usage: scripts/bench/blk.sh [-n RUNS] [--reads N] [--seq-mib M] [--accel kvm|tcg]
#        [--spry PATH] [--qemu PATH] [--image-mib SIZE]
set -euo pipefail

cd "$(dirname "$0")/../.."

RUNS=5 READS=200000 SEQ_MIB=256 ACCEL=kvm IMAGE_MIB=1024
SPRY=build/src/spry QEMU=qemu-system-x86_64
PAYLOAD=build/tests/guests/virtio-bench.pvh.elf

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		-n) RUNS=$2; shift 2 ;;
		--reads) READS=$2; shift 2 ;;
		--seq-mib) SEQ_MIB=$2; shift 2 ;;
		--accel) ACCEL=$2; shift 2 ;;
		--spry) SPRY=$2; shift 2 ;;
		--qemu) QEMU=$2; shift 2 ;;
		--image-mib) IMAGE_MIB=$2; shift 2 ;;
		*) usage ;;
		esac
	done
}

# run_vmm spry|qemu IMAGE: one benchmark run; prints the payload's "bench:" lines.
run_vmm() {
	local vmm=$1 image=$2
	local args="n=$READS qd=32 seqmb=$SEQ_MIB seqqd=4"
	if [[ $vmm == spry ]]; then
		"$SPRY" run --kernel "$PAYLOAD" --accel "$ACCEL" --memory 512M \
			--disk "path=$image" --cmdline "$args" </dev/null 2>/dev/null
	else
		# microvm's virtio-mmio windows: 0xfeb00000 + i * 0x200.
		"$QEMU" -M microvm,x-option-roms=off,pit=on,pic=on,rtc=on -accel "$ACCEL" \
			-m 512M -nodefaults -no-user-config -display none -monitor none \
			-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-global virtio-mmio.force-legacy=false \
			-drive "id=d0,file=$image,format=raw,if=none,aio=io_uring,cache=writeback" \
			-device virtio-blk-device,drive=d0 -kernel "$PAYLOAD" \
			-append "$args virtio_base=0xfeb00000 virtio_step=0x200 virtio_count=24" \
			</dev/null 2>/dev/null
	fi || true	# the payload ends through debug-exit: a non-zero status
}

# metric OUTPUT PHASE KEY: the number after KEY= on the payload's line for PHASE.
metric() {
	sed -n "s/^bench: $2 .*$3=\([0-9]*\).*/\1/p" <<<"$1" | head -n 1
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'
}

main() {
	parse_args "$@"
	[[ -x $SPRY && -f $PAYLOAD ]] || { echo "build spry first: meson setup build && ninja -C build" >&2; exit 1; }
	local dir vmm i out
	dir=$(mktemp -d)
	# shellcheck disable=SC2064  # expand now: dir is local
	trap "rm -rf '$dir'" EXIT
	truncate -s "${IMAGE_MIB}M" "$dir/disk.img"
	# Real data, so reads are not served from holes.
	dd if=/dev/urandom of="$dir/disk.img" bs=1M count="$IMAGE_MIB" conv=notrunc status=none

	echo "block benchmark: $RUNS runs each, alternating; accel $ACCEL, ${IMAGE_MIB} MiB image"
	echo "  4 KiB random reads x $READS at qd 32; ${SEQ_MIB} MiB sequential 1 MiB reads/writes, qd 4"
	echo "  qemu: $("$QEMU" --version | head -n 1)"
	for ((i = 0; i < RUNS; i++)); do
		for vmm in spry qemu; do
			out=$(run_vmm "$vmm" "$dir/disk.img")
			if ! grep -q '^bench: done' <<<"$out"; then
				echo "$vmm run $i did not finish:"; tail -n 3 <<<"$out"
				continue
			fi
			metric "$out" randread iops >>"$dir/$vmm.iops"
			metric "$out" seqread mbps >>"$dir/$vmm.read"
			metric "$out" seqwrite mbps >>"$dir/$vmm.write"
		done
	done
	report "$dir"
}

report() {
	local dir=$1 vmm
	declare -A iops read write
	for vmm in spry qemu; do
		iops[$vmm]=$(median <"$dir/$vmm.iops" 2>/dev/null || echo 0)
		read[$vmm]=$(median <"$dir/$vmm.read" 2>/dev/null || echo 0)
		write[$vmm]=$(median <"$dir/$vmm.write" 2>/dev/null || echo 0)
	done
	echo
	printf '%-6s %14s %16s %17s\n' "" "randread IOPS" "seqread MB/s" "seqwrite MB/s"
	for vmm in spry qemu; do
		printf '%-6s %14s %16s %17s\n' "$vmm" "${iops[$vmm]}" "${read[$vmm]}" "${write[$vmm]}"
	done
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
	echo
	echo "spry/QEMU  randread IOPS $(ratio "${iops[spry]}" "${iops[qemu]}") (target >= 1.2x)," \
		"seqread $(ratio "${read[spry]}" "${read[qemu]}")," \
		"seqwrite $(ratio "${write[spry]}" "${write[qemu]}") (target >= 1.0x)"
}

main "$@"
