#!/bin/sh
# A guest that kills its vCPU (a triple fault) gets the vCPU's state logged,
# and KVM and TCG-lite log the same state for the same guest: registers,
# control registers, selectors and descriptor tables (RFLAGS aside: at a
# shutdown KVM reports RF as left by the failed delivery).
# Usage: vcpu-state.sh SPRY PAYLOAD
set -u

spry=$1 payload=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
accels=tcg
[ -c /dev/kvm ] && accels="kvm tcg"

for accel in $accels; do
	"$spry" run --accel "$accel" --kernel "$payload" > /dev/null 2> "$dir/$accel.err"
	rc=$?
	if [ $rc != 6 ]; then
		echo "FAIL: $accel: exit status $rc, want 6 (triple fault)"
		cat "$dir/$accel.err"
		exit 1
	fi
	grep -E '^spry: vcpu 0: (rip|rax|r8|es) ' "$dir/$accel.err" |
		sed 's/ rflags 0x[0-9a-f]*//' > "$dir/$accel.state"
	if [ "$(wc -l < "$dir/$accel.state")" != 4 ]; then
		echo "FAIL: $accel: no vCPU state in the log"
		cat "$dir/$accel.err"
		exit 1
	fi
	echo "$accel:"
	sed 's/^/  /' "$dir/$accel.state"
done
if [ "$accels" = tcg ]; then
	echo "(no /dev/kvm: TCG-lite's state not compared with KVM's)"
	exit 0
fi
if ! diff "$dir/kvm.state" "$dir/tcg.state"; then
	echo "FAIL: KVM and TCG-lite disagree on the vCPU state"
	exit 1
fi
echo "ok: the same state under both"
