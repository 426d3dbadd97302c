#!/bin/sh
# Runs a virtio guest payload (tests/guests/virtio-*.c) under spry with its
# device, checks exit status and output, and for the disk the image file after.
# Usage: virtio-payload.sh SPRY ACCEL CASE PAYLOAD
#   CASE: blk-rw | blk-ro | console-echo | rng
# With SPRY_VIRTIO_VMM=qemu the same payload runs under QEMU's microvm
# instead (SPRY is then ignored), to check the test against a known device.
# Exits 77 (meson's "skipped") with the reason when ACCEL cannot run here.
set -u

if [ $# -ne 4 ]; then
	echo "usage: $0 SPRY ACCEL CASE PAYLOAD" >&2
	exit 99
fi
spry=$1 accel=$2 case=$3 payload=$4
limit=${SPRY_PAYLOAD_TIMEOUT:-60}
vmm=${SPRY_VIRTIO_VMM:-spry}
serial_id="spry-test-disk-7"
sectors=2048

. "$(dirname "$0")/skip.sh"
skip_without_kvm "$accel"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Sector N of the disk starts with "SPRY SECTOR N\n", then 'a' + N % 26 to its end.
python3 - "$dir/disk.img" "$sectors" <<'EOF' || exit 99
import sys
with open(sys.argv[1], "wb") as f:
    for n in range(int(sys.argv[2])):
        label = b"SPRY SECTOR %d\n" % n
        f.write(label + bytes([97 + n % 26]) * (512 - len(label)))
EOF
cp "$dir/disk.img" "$dir/orig.img"

cmdline=
spry_dev="" qemu_dev=""
stdin=/dev/null
want_re=
case $case in
blk-rw|blk-ro)
	mode=${case#blk-}
	cmdline="mode=$mode sectors=$sectors serial=$serial_id"
	ro="" qro=""
	[ "$mode" = ro ] && ro=,readonly=on qro=,readonly=on
	spry_dev="--disk path=$dir/disk.img,serial=$serial_id$ro"
	qemu_dev="-drive id=d0,file=$dir/disk.img,format=raw,if=none$qro
		  -device virtio-blk-device,drive=d0,serial=$serial_id"
	want_re="^virtio-blk: $mode ok\$"
	;;
console-echo)
	printf 'hello spry\nsecond line, a little longer than the others\nquit\n' >"$dir/input"
	stdin=$dir/input
	spry_dev="--console stdio"
	qemu_dev="-chardev stdio,id=c0 -device virtio-serial-device
		  -device virtconsole,chardev=c0"
	want_re='^virtio-console: ok$'
	;;
rng)
	spry_dev="--rng on"
	qemu_dev="-device virtio-rng-device"
	want_re='^virtio-rng: ok$'
	;;
*)
	echo "unknown case '$case'" >&2
	exit 99
	;;
esac

if [ "$vmm" = qemu ]; then
	# microvm's virtio-mmio windows: 0xfeb00000 + i * 0x200.
	cmdline="$cmdline virtio_base=0xfeb00000 virtio_step=0x200 virtio_count=24"
	serial="-serial stdio"
	# The console takes QEMU's stdio; the serial console then goes to a file.
	[ "$case" = console-echo ] && serial="-serial file:$dir/serial"
	# shellcheck disable=SC2086 # word splitting of the device options is wanted
	set -- qemu-system-x86_64 -M microvm,x-option-roms=off,pit=on,pic=on,rtc=on \
		-accel "$accel" -m 256M -nodefaults -no-user-config -display none \
		-monitor none $serial -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-global virtio-mmio.force-legacy=false \
		-kernel "$payload" -append "$cmdline" $qemu_dev
else
	# shellcheck disable=SC2086
	set -- "$spry" run --kernel "$payload" --accel "$accel" --cmdline "$cmdline" $spry_dev
fi
echo "running: $*"
timeout -k 5 "$limit" "$@" <"$stdin" >"$dir/stdout" 2>"$dir/stderr"
rc=$?

[ "$vmm" = spry ] && skip_if_no_accel "$rc" "$accel" "$dir/stderr"

fail=
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	fail="did not finish within ${limit}s"
elif [ "$rc" -ne 1 ]; then
	fail="exit status: expected 1, got $rc"
fi
if ! grep -Eq -- "$want_re" "$dir/stdout"; then
	fail="${fail:+$fail; }output has no line matching /$want_re/"
fi

case $case in
console-echo)
	# Every input line comes back, in order, between the payload's markers.
	{ echo 'virtio-console: ready'; cat "$dir/input"; echo 'virtio-console: ok'; } \
		>"$dir/want"
	tr -d '\r' <"$dir/stdout" | grep -Fx -f "$dir/want" >"$dir/got"
	if ! cmp -s "$dir/want" "$dir/got"; then
		fail="${fail:+$fail; }console output is not the input echoed:"
		fail="$fail $(diff "$dir/want" "$dir/got" | tr '\n' ' ')"
	fi
	;;
blk-ro)
	if ! cmp "$dir/orig.img" "$dir/disk.img"; then
		fail="${fail:+$fail; }the readonly image changed"
	fi
	;;
blk-rw)
	zeroed=0
	grep -q '^virtio-blk: write zeroes ok' "$dir/stdout" && zeroed=1
	if ! python3 - "$dir/orig.img" "$dir/disk.img" "$zeroed" <<'EOF'; then
import sys
orig = open(sys.argv[1], "rb").read()
disk = open(sys.argv[2], "rb").read()
zeroed = sys.argv[3] == "1"
bad = []
if len(orig) != len(disk):
    bad.append("size %d, expected %d" % (len(disk), len(orig)))
for n in range(len(orig) // 512):
    got = disk[n * 512:(n + 1) * 512]
    if 100 <= n < 108:      # written: "SPRY WRITE n\n", then (n + i) & 0xff
        label = b"SPRY WRITE %d\n" % n
        want = label + bytes((n + i) & 0xff for i in range(len(label), 512))
    elif 200 <= n < 208:    # discarded: any content
        continue
    elif 300 <= n < 308 and zeroed:
        want = bytes(512)
    else:
        want = orig[n * 512:(n + 1) * 512]
    if got != want:
        bad.append("sector %d: %r..." % (n, got[:24]))
for b in bad[:10]:
    print("image: " + b)
sys.exit(1 if bad else 0)
EOF
		fail="${fail:+$fail; }the image does not hold what the guest wrote"
	fi
	;;
esac

if [ -z "$fail" ]; then
	cat "$dir/stdout"
	exit 0
fi
echo "FAIL: $fail"
echo "--- expected: exit 1, a line matching /$want_re/"
echo "+++ got: exit $rc, stdout:"
sed 's/^/  | /' "$dir/stdout"
if [ -f "$dir/serial" ]; then
	echo "+++ serial:"
	sed 's/^/  | /' "$dir/serial"
fi
echo "+++ stderr (last 20 lines):"
tail -n 20 "$dir/stderr" | sed 's/^/  | /'
exit 1
