#!/bin/bash
# Run busybox applets, the static benchmark and the string-function check
# natively and under `spry user`: stdout must be byte-identical and the exit
# status the same. Usage: user-compare.sh SPRY BUSYBOX BENCH BENCH_PIE STRFUNCS
set -u

spry=$1 bb=$2 bench=$3 bench_pie=$4 strfuncs=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0

# Inputs: random bytes, shuffled numbers, text.
head -c 262144 /dev/urandom > "$tmp/rand.bin"
"$bb" seq 1 3000 | "$bb" shuf > "$tmp/nums.txt"
printf 'the quick brown fox\njumps over\nthe lazy dog\n' > "$tmp/text.txt"

# compare NAME STDIN-FILE CMD...: run CMD both ways with STDIN-FILE as input.
compare() {
	local name=$1 in=$2 rn ru
	shift 2
	n=$((n + 1))
	"$@" < "$in" > "$tmp/native.out" 2> /dev/null
	rn=$?
	"$spry" user "$@" < "$in" > "$tmp/user.out" 2> "$tmp/user.err"
	ru=$?
	if [ $rn != $ru ] || ! cmp -s "$tmp/native.out" "$tmp/user.out"; then
		echo "FAIL $name: exit $rn natively, $ru under spry user"
		cmp "$tmp/native.out" "$tmp/user.out" | head -3
		head -5 "$tmp/user.err"
		fails=$((fails + 1))
	else
		echo "ok   $name"
	fi
}

none=/dev/null
compare "echo" $none "$bb" echo hello, world
compare "true" $none "$bb" true
compare "false" $none "$bb" false
compare "cat" $none "$bb" cat "$tmp/text.txt" "$tmp/nums.txt"
compare "cat missing file" $none "$bb" cat "$tmp/missing"
compare "sha256sum" $none "$bb" sha256sum "$tmp/rand.bin"
compare "md5sum" $none "$bb" md5sum "$tmp/rand.bin"
compare "md5sum stdin" "$tmp/rand.bin" "$bb" md5sum
compare "sha1sum" $none "$bb" sha1sum "$tmp/rand.bin"
compare "sort" $none "$bb" sort "$tmp/nums.txt"
compare "sort -n -r" $none "$bb" sort -n -r "$tmp/nums.txt"
compare "wc" $none "$bb" wc "$tmp/nums.txt" "$tmp/rand.bin"
compare "gzip" $none "$bb" gzip -c -9 "$tmp/nums.txt"
compare "awk" $none "$bb" awk '{ s += $1; if ($1 > m) m = $1 } END { print s, m, NR }' \
	"$tmp/nums.txt"
compare "sed" $none "$bb" sed -e 's/o/0/g' -e '2d' "$tmp/text.txt"
compare "grep" $none "$bb" grep -c 7 "$tmp/nums.txt"
compare "tr" "$tmp/text.txt" "$bb" tr a-z A-Z
compare "od" $none "$bb" od -A x -t x1z -N 4096 "$tmp/rand.bin"
compare "uniq" $none "$bb" uniq -c "$tmp/text.txt"
compare "ls" $none "$bb" ls -a "$tmp"
# Processes: fork (command substitution, subshells, pipelines), exec of
# applets through /proc/self/exe and of #! scripts, wait statuses, exec errors.
gzip -c "$tmp/nums.txt" > "$tmp/nums.gz"
printf '#!%s sh\necho "script $0 $1"; exit 7\n' "$bb" > "$tmp/script.sh"
chmod +x "$tmp/script.sh"
compare "sh fork" $none "$bb" sh -c 'x=$(echo hi); echo "$x $(( 6 * 7 ))"; (exit 5); echo $?'
compare "sh pipeline" "$tmp/text.txt" "$bb" sh -c 'tr a-z A-Z | sort | uniq -c'
compare "sh exec" $none "$bb" sh -c "exec $bb wc -l $tmp/nums.txt"
compare "sh script" $none "$bb" sh -c "$tmp/script.sh arg; echo \$?"
compare "sh not found" $none "$bb" sh -c 'nosuchcommand 2>/dev/null; echo $?'
compare "sh exit status" $none "$bb" sh -c 'exit 3'
compare "zcat" $none "$bb" zcat "$tmp/nums.gz"
compare "bench" $none "$bench" all 1
compare "bench static-pie" $none "$bench_pie" all 1
compare "string functions" $none "$strfuncs" 20000

n=$((n + 1))
"$spry" user "$tmp/missing" > /dev/null 2>&1
if [ $? != 2 ]; then
	echo "FAIL a missing program must exit 2"
	fails=$((fails + 1))
else
	echo "ok   missing program"
fi
echo "$((n - fails))/$n passed"
[ $fails = 0 ]
