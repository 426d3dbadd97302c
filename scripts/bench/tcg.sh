#!/bin/bash
# TCG-lite benchmark: the static benchmark program (crc32, qsort through a
# function pointer, an LCG loop, recursive fib) and busybox sha256sum/md5sum on
# a generated file, natively, under `spry user` and under qemu-x86_64, in one
# run. Prints times, the slowdowns against native and against QEMU, and the
# guest instructions per second the interpreter retired.
#
# Usage: scripts/bench/tcg.sh [BUILD_DIR]   (default: build)
# Environment: SIZE_MB (file size, default 32), RUNS (best of, in turns; default 1).
set -eu

cd "$(dirname "$0")/../.."
build=${1:-build}
spry=$build/src/spry
bench=$build/tests/tcg/tcg_bench
bb=$(command -v busybox || true)
qemu=$(command -v qemu-x86_64 || true)
size_mb=${SIZE_MB:-32}
runs=${RUNS:-1}

for f in "$spry" "$bench"; do
	[ -x "$f" ] || { echo "tcg.sh: $f missing: build first (ninja -C $build)" >&2; exit 1; }
done
[ -n "$bb" ] || { echo "tcg.sh: busybox missing (scripts/setup.sh)" >&2; exit 1; }
[ -n "$qemu" ] || echo "tcg.sh: qemu-x86_64 missing (apt-get install qemu-user): no QEMU column" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c $((size_mb << 20)) /dev/urandom > "$tmp/data.bin"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

# time_once OUTFILE CMD...: the wall time of one run; stdout to OUTFILE.
time_once() {
	local out=$1 t0
	shift
	t0=$(now)
	"$@" > "$out" 2> "$tmp/stderr"
	calc "$(now) - $t0"
}

# min BEST T: the smaller of the two, T when there is no BEST yet.
min() {
	if [ -z "$1" ] || [ "$(calc "$2 < $1")" = 1 ]; then echo "$2"; else echo "$1"; fi
}

workloads=(
	"crc32 32 MiB|$bench crc32 32"
	"qsort 512 Ki|$bench qsort 8"
	"lcg 64 M|$bench lcg 16"
	"fib(34)|$bench fib 1024"
	"sha256sum ${size_mb} MB|$bb sha256sum $tmp/data.bin"
	"md5sum ${size_mb} MB|$bb md5sum $tmp/data.bin"
)

printf '%-18s %9s %9s %9s %8s %8s %10s\n' test native spry qemu spry/nat spry/qemu "spry M/s"
lognat=0 logq=0 nq=0 n=0
for w in "${workloads[@]}"; do
	name=${w%%|*}
	read -r -a cmd <<< "${w#*|}"
	# The best of $runs runs each, taken in turns, so that a busy spell
	# of the machine hits all three alike.
	tn= ts= tq=
	for _ in $(seq "$runs"); do
		tn=$(min "$tn" "$(time_once "$tmp/native.out" "${cmd[@]}")")
		ts=$(min "$ts" "$(time_once "$tmp/spry.out" env SPRY_USER_STATS=1 "$spry" user \
				  "${cmd[@]}")")
		insns=$(sed -n 's/^spry user: \([0-9]*\) guest instructions.*/\1/p' "$tmp/stderr")
		[ -z "$qemu" ] || tq=$(min "$tq" "$(time_once "$tmp/qemu.out" "$qemu" "${cmd[@]}")")
	done
	cmp -s "$tmp/native.out" "$tmp/spry.out" || echo "tcg.sh: $name: spry output differs!" >&2
	if [ -z "$qemu" ]; then
		tq=-
	else
		cmp -s "$tmp/native.out" "$tmp/qemu.out" || echo "tcg.sh: $name: qemu output differs!" >&2
		rq=$(calc "$ts / $tq")
		logq=$(calc "$logq + log($rq)")
		nq=$((nq + 1))
	fi
	rn=$(calc "$ts / $tn")
	lognat=$(calc "$lognat + log($rn)")
	n=$((n + 1))
	mips=$(calc "${insns:-0} / $ts / 1000000")
	printf '%-18s %9.3f %9.3f %9s %7.1fx %8s %10.1f\n' "$name" "$tn" "$ts" \
		"$([ "$tq" = - ] && echo - || printf '%.3f' "$tq")" "$rn" \
		"$([ "$tq" = - ] && echo - || printf '%.2fx' "$rq")" "$mips"
done
printf '%-18s %9s %9s %9s %7.1fx %8s\n' "geometric mean" "" "" "" \
	"$(calc "exp($lognat / $n)")" \
	"$([ $nq = 0 ] && echo - || printf '%.2fx' "$(calc "exp($logq / $nq)")")"
echo "(spry/nat: slowdown against native; spry/qemu: spry's time over qemu-x86_64's," \
     "below 1 is faster than QEMU)"
