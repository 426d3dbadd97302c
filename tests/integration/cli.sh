#!/bin/bash
# The spry binary's answers to bad input: exactly one line on stderr naming
# the problem, nothing on stdout, and exit status 2. Also --help/--version.
# Usage: cli.sh SPRY PAYLOAD (a valid kernel image)
set -u

spry=$1 payload=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

# expect_status STATUS WORD ARGS...: spry ARGS must exit STATUS with one stderr line
# containing WORD and nothing on stdout.
expect_status() {
	local want=$1 word=$2 rc lines
	shift 2
	"$spry" "$@" >"$dir/out" 2>"$dir/err" </dev/null
	rc=$?
	lines=$(wc -l <"$dir/err")
	if [ "$rc" -ne "$want" ] || [ "$lines" -ne 1 ] || [ -s "$dir/out" ] ||
	   ! grep -qF -- "$word" "$dir/err"; then
		echo "FAIL: spry $*: exit $rc, $lines stderr lines, want $want and one line with '$word':"
		sed 's/^/  | /' "$dir/err" "$dir/out"
		failures=$((failures + 1))
	else
		echo "ok: spry $* -> $(cat "$dir/err")"
	fi
}

# expect_error WORD ARGS...: spry ARGS must fail with 2 and one stderr line containing WORD.
expect_error() {
	expect_status 2 "$@"
}

printf 'not a kernel' >"$dir/junk"
head -c 100 "$payload" >"$dir/truncated"
: >"$dir/empty"

expect_error "no command"
expect_error "unknown command" frobnicate
expect_error "--kernel PATH is required" run
expect_error "No such file" run --kernel "$dir/missing"
expect_error "is a directory" run --kernel "$dir"
expect_error "file is empty" run --kernel "$dir/empty"
expect_error "initrd" run --kernel "$payload" --initrd "$dir/missing"
expect_error "--cpus '65'" run --kernel "$payload" --cpus 65
expect_error "--memory '12Q'" run --kernel "$payload" --memory 12Q
expect_error "--accel 'xen'" run --kernel "$payload" --accel xen
# The image checks need an accelerator to get that far; KVM is enough here.
if [ -c /dev/kvm ]; then
	expect_error "unknown kernel format" run --kernel "$dir/junk" --accel kvm
	expect_error "$dir/truncated" run --kernel "$dir/truncated" --accel kvm
fi

# What TCG-lite cannot run is refused with "no accelerator" (10), not attempted.
expect_status 10 "one vCPU only" run --kernel "$payload" --accel tcg --cpus 2

"$spry" --version | grep -q '^spry [0-9]' || { echo "FAIL: --version"; failures=$((failures + 1)); }
"$spry" --help | grep -q -- '--kernel' || { echo "FAIL: --help"; failures=$((failures + 1)); }
[ "$failures" -eq 0 ]
