#!/bin/sh
# Runs one guest payload under spry and checks its exit status and serial
# output. Usage: run-payload.sh SPRY ACCEL PAYLOAD EXPECTED_EXIT REGEX [spry args...]
# Exits 77 (meson's "skipped") with the reason when ACCEL cannot run here
# (SPRY_PAYLOAD_NEEDS_RING0=1: also when KVM here is not a hardware hypervisor).
set -u

if [ $# -lt 5 ]; then
	echo "usage: $0 SPRY ACCEL PAYLOAD EXPECTED_EXIT REGEX [spry args...]" >&2
	exit 99
fi
spry=$1 accel=$2 payload=$3 want_rc=$4 want_re=$5
shift 5
limit=${SPRY_PAYLOAD_TIMEOUT:-50}

. "$(dirname "$0")/skip.sh"
skip_without_kvm "$accel"
[ -n "${SPRY_PAYLOAD_NEEDS_RING0:-}" ] && skip_kvm_without_ring0 "$spry" "$accel"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
set -- "$spry" run --kernel "$payload" --accel "$accel" "$@"
echo "running: $*"
timeout -k 5 "$limit" "$@" >"$dir/stdout" 2>"$dir/stderr"
rc=$?

skip_if_no_accel "$rc" "$accel" "$dir/stderr"

fail=
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	fail="spry did not finish within ${limit}s"
elif [ "$rc" -ne "$want_rc" ]; then
	fail="exit status: expected $want_rc, got $rc"
fi
if ! grep -Eq -- "$want_re" "$dir/stdout"; then
	fail="${fail:+$fail; }serial output has no line matching /$want_re/"
fi

if [ -z "$fail" ]; then
	cat "$dir/stdout"
	exit 0
fi
echo "FAIL: $fail"
echo "--- expected: exit $want_rc, a stdout line matching /$want_re/"
echo "+++ got: exit $rc, stdout:"
sed 's/^/  | /' "$dir/stdout"
echo "+++ stderr (last 20 lines):"
tail -n 20 "$dir/stderr" | sed 's/^/  | /'
exit 1
