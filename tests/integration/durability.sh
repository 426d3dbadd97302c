#!/bin/sh
# A flushed write survives the VMM's death: the virtio-blk payload in
# mode=durable writes K sectors, FLUSHes, prints "flushed K" once the flush
# completed, then keeps writing unflushed sectors. We SIGKILL spry as soon as
# that line appears and check that all K sectors are in the image file.
# (A SIGKILL keeps the host page cache, so this checks that spry wrote every
# acknowledged sector to the file before completing the flush; power loss,
# i.e. the fdatasync itself, is beyond a test.)
# Usage: durability.sh SPRY ACCEL PAYLOAD; SPRY_VIRTIO_VMM=qemu runs QEMU's microvm instead.
# Exits 77 (meson's "skipped") with the reason when ACCEL cannot run here.
set -u

if [ $# -ne 3 ]; then
	echo "usage: $0 SPRY ACCEL PAYLOAD" >&2
	exit 99
fi
spry=$1 accel=$2 payload=$3
limit=${SPRY_PAYLOAD_TIMEOUT:-60}
vmm=${SPRY_VIRTIO_VMM:-spry}
k=64 sectors=2048 first=1024	# first: DURABLE_SECTOR in virtio-blk.c

. "$(dirname "$0")/skip.sh"
skip_without_kvm "$accel"

dir=$(mktemp -d)
pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
truncate -s $((sectors * 512)) "$dir/disk.img" || exit 99

cmdline="mode=durable k=$k sectors=$sectors"
if [ "$vmm" = qemu ]; then
	set -- qemu-system-x86_64 -M microvm,x-option-roms=off,pit=on,pic=on,rtc=on \
		-accel "$accel" -m 256M -nodefaults -no-user-config -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false -kernel "$payload" \
		-append "$cmdline virtio_base=0xfeb00000 virtio_step=0x200 virtio_count=24" \
		-drive "id=d0,file=$dir/disk.img,format=raw,if=none" \
		-device virtio-blk-device,drive=d0
else
	set -- "$spry" run --kernel "$payload" --accel "$accel" --cmdline "$cmdline" \
		--disk "path=$dir/disk.img"
fi
echo "running: $*"
"$@" </dev/null >"$dir/stdout" 2>"$dir/stderr" &
pid=$!

# Wait for "flushed K" (or the VM's end), then kill at once.
i=0 flushed=
while [ $i -lt $((limit * 20)) ]; do
	if grep -qx "flushed $k" "$dir/stdout"; then
		flushed=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
	i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=

[ -z "$flushed" ] && [ "$vmm" = spry ] && skip_if_no_accel "$rc" "$accel" "$dir/stderr"

fail=
if [ -z "$flushed" ]; then
	fail="no line 'flushed $k' (exit status $rc)"
elif [ "$rc" -ne 137 ]; then
	fail="the VM had ended (exit status $rc) before it was killed"
elif ! python3 - "$dir/disk.img" "$first" "$k" <<'EOF'; then
import sys
disk = open(sys.argv[1], "rb").read()
first, k = int(sys.argv[2]), int(sys.argv[3])
bad = 0
for n in range(first, first + k):
    label = b"SPRY DURABLE %d\n" % n
    want = label + bytes((n + i) & 0xff for i in range(len(label), 512))
    if disk[n * 512:(n + 1) * 512] != want:
        if bad < 10:
            print("sector %d: %r..." % (n, disk[n * 512:n * 512 + 24]))
        bad += 1
unflushed = sum(1 for n in range(first + k, len(disk) // 512)
                if disk[n * 512:n * 512 + 15] == b"SPRY UNFLUSHED ")
print("%d of %d flushed sectors missing; %d unflushed sectors reached the file"
      % (bad, k, unflushed))
sys.exit(1 if bad else 0)
EOF
	fail="flushed sectors are missing from the image"
fi

if [ -z "$fail" ]; then
	cat "$dir/stdout"
	exit 0
fi
echo "FAIL: $fail"
echo "+++ stdout:"
sed 's/^/  | /' "$dir/stdout"
echo "+++ stderr (last 20 lines):"
tail -n 20 "$dir/stderr" | sed 's/^/  | /'
exit 1
