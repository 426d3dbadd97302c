#!/usr/bin/env bash
# Sets up a Debian 12 machine (scripts/setup.sh), builds spry, and runs every
# test: unit, guest payload and Linux guest suites in a normal build, then the
# unit tests again under ASan+UBSan. Ends with "N passed, N failed, N skipped".
# Usage: scripts/test.sh         (the README's test command; CI runs it too)
set -euo pipefail

cd "$(dirname "$0")/.."

# Runs meson's tests in build dir $1 (extra args follow); never fails itself,
# the summary at the end decides.
run_suite() {
	local dir=$1
	shift
	meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" "$@" || true
}

# Adds the results in $1/meson-logs/testlog.json to the totals.
count_results() {
	python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
ok = fail = skip = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:
            fail += 1
print(ok, fail, skip)
PY
}

main() {
	scripts/setup.sh

	[[ -d build ]] || meson setup build
	ninja -C build
	run_suite build

	[[ -d build-asan ]] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_suite build-asan --suite unit

	local passed=0 failed=0 skipped=0 p f s dir
	for dir in build build-asan; do
		read -r p f s < <(count_results "$dir")
		passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	done
	echo
	echo "${passed} passed, ${failed} failed, ${skipped} skipped"
	[[ $failed -eq 0 ]]
}

main "$@"
