#!/bin/bash
# How a running VM ends, checked from outside: a stopped stdout reader never
# stalls the guest (output is dropped and counted), a slow one loses nothing,
# and SIGTERM/SIGINT stop spry cleanly with status 8.
# Also: stdin reaches a slow guest through the UART whole and in order.
# Usage: lifecycle.sh SPRY ACCEL CASE FLOOD_PAYLOAD IDLE_PAYLOAD ECHO_PAYLOAD
#   CASE: stalled-reader | stalled-reader-tail | slow-reader | sigterm | sigint | serial-input
set -u

spry=$1 accel=$2 case=$3 flood=$4 idle=$5 echo_payload=$6
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	[ -s "$dir/stderr" ] && sed 's/^/  stderr| /' "$dir/stderr"
	exit 1
}

. "$(dirname "$0")/skip.sh"

skip_if_unusable() {
	skip_if_no_accel "$1" "$accel" "$dir/stderr"
}

# Waits up to $2 seconds for process $1; sets rc, or fails.
wait_for_exit() {
	local pid=$1 limit=$2 i
	for ((i = 0; i < limit * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			rc=$?
			return
		fi
		sleep 0.1
	done
	fail "spry did not finish within ${limit}s"
}

# Nobody ever reads the FIFO on stdout: the guest must still finish. With kib=64 the
# pipe fills exactly and the last line is the writer's one stuck chunk: spry must not
# wait for it at exit either.
stalled_reader() {
	local kib=$1
	mkfifo "$dir/fifo"
	exec 3<>"$dir/fifo"	# keeps a reader end open that never reads
	"$spry" run --kernel "$flood" --accel "$accel" --cmdline kib="$kib" \
		>"$dir/fifo" 2>"$dir/stderr" &
	pids+=($!)
	wait_for_exit $! 60
	skip_if_unusable "$rc"
	[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1 (the guest's clean debug-exit)"
	grep -q "bytes of guest output dropped" "$dir/stderr" ||
		fail "no report of dropped output"
	grep "dropped" "$dir/stderr"
}

# Runs CMD... with its stdout on a one-page pipe read 4 KiB at a time, 0.2 s
# apart; prints the bytes read and leaves CMD's exit status in RCFILE.
# Usage: read_slowly RCFILE CMD...
read_slowly() {
	python3 - "$@" <<'PY'
import fcntl, os, subprocess, sys, time

F_SETPIPE_SZ = 1031
r, w = os.pipe()
fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
child = subprocess.Popen(sys.argv[2:], stdout=w)
os.close(w)
total = 0
while True:
    time.sleep(0.2)
    chunk = os.read(r, 4096)
    if not chunk:
        break
    total += len(chunk)
with open(sys.argv[1], "w") as f:
    print(child.wait(), file=f)
print(total)
PY
}

# A reader that reads slowly still gets every byte: the output fits the ring,
# but the pipe holds one page, so the ring empties about 3 s after the
# guest's exit; the flush timeout (2 s) must count from the output's last
# move, not from the exit.
slow_reader() {
	local kib=60 want got
	want=$((kib * 1024 + ${#kib} + 17))	# the lines, then "flood: 60 KiB sent\n"
	read_slowly "$dir/rc" "$spry" run --kernel "$flood" --accel "$accel" \
		--cmdline kib=$kib >"$dir/count" 2>"$dir/stderr"
	rc=$(cat "$dir/rc")
	skip_if_unusable "$rc"
	[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
	got=$(cat "$dir/count")
	[ "$got" -eq "$want" ] || fail "reader got $got bytes, expected $want"
	! grep -q dropped "$dir/stderr" || fail "output was dropped"
	echo "slow reader got all $got bytes"
}

# The guest idles until a signal stops spry.
stop_on_signal() {
	local sig=$1 i
	"$spry" run --kernel "$idle" --accel "$accel" </dev/null >"$dir/stdout" 2>"$dir/stderr" &
	pids+=($!)
	for ((i = 0; i < 300; i++)); do
		grep -q "idle: waiting" "$dir/stdout" && break
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "idle: waiting" "$dir/stdout"; then
		wait_for_exit "${pids[-1]}" 1
		skip_if_unusable "$rc"
		fail "the idle payload never said it was waiting (exit $rc)"
	fi
	kill -"$sig" "${pids[-1]}"
	wait_for_exit "${pids[-1]}" 5
	[ "$rc" -eq 8 ] || fail "exit status $rc after SIG$sig, expected 8"
	grep "stopping on signal" "$dir/stderr" || fail "no line saying why spry stopped"
}

# 40 lines, 2.5 KiB: far more than the UART's FIFO holds while the guest echoes slowly.
serial_input() {
	local i
	for ((i = 0; i < 40; i++)); do
		printf 'line %02d of the input the guest must echo back, all of it\n' "$i"
	done >"$dir/input"
	echo quit >>"$dir/input"
	timeout 120 "$spry" run --kernel "$echo_payload" --accel "$accel" \
		<"$dir/input" >"$dir/stdout" 2>"$dir/stderr"
	rc=$?
	skip_if_unusable "$rc"
	[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
	# The echo is the input itself, between the ready line and the byte count.
	sed -n '2,42p' "$dir/stdout" | cmp -s - "$dir/input" ||
		fail "the echo differs from the input: $(diff <(sed -n '2,42p' "$dir/stdout") "$dir/input" | head -5)"
	grep "serial-echo: $(wc -c <"$dir/input") bytes" "$dir/stdout" ||
		fail "the guest did not count every byte"
}

case $case in
stalled-reader) stalled_reader 256 ;;
stalled-reader-tail) stalled_reader 64 ;;
slow-reader) slow_reader ;;
sigterm) stop_on_signal TERM ;;
sigint) stop_on_signal INT ;;
serial-input) serial_input ;;
*) echo "unknown case $case"; exit 99 ;;
esac
exit 0
