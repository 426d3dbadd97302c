#!/usr/bin/env bash
# Start-up benchmark: spry against QEMU's microvm, in one run, on a payload that exits at
# once (its second instruction is an `out` to the debug-exit port 0xf4; status 85). Measures, per run, the wall
# time from exec to exit and the peak RSS (getrusage of the child), then prints the median
# and minimum of each, and the spry/QEMU ratios. Targets: spry time <= 0.5x QEMU's; spry
# peak RSS <= 3 MiB (not counting guest memory the guest touches; this payload touches
# almost none). See scripts/bench/README.md.
# Usage: scripts/bench/startup.sh [-n RUNS] [--spry PATH] [--qemu PATH] [--accel kvm|tcg]
#                                 [--memory SIZE] [--keep]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

RUNS=20
SPRY="$ROOT/build/src/spry"
QEMU=qemu-system-x86_64
ACCEL=kvm
MEMORY=128M
KEEP=0

usage() {
	sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

parse_args() {
	while [[ $# -gt 0 ]]; do
		case "$1" in
		-n | --runs) RUNS=$2; shift 2 ;;
		--spry) SPRY=$2; shift 2 ;;
		--qemu) QEMU=$2; shift 2 ;;
		--accel) ACCEL=$2; shift 2 ;;
		--memory) MEMORY=$2; shift 2 ;;
		--keep) KEEP=1; shift ;;
		-h | --help) usage 0 ;;
		*) echo "startup.sh: unknown argument $1" >&2; usage 2 ;;
		esac
	done
	[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "startup.sh: -n wants a positive count" >&2; exit 2; }
}

# Assembles DIR/exit.elf: a 32-bit ELF loaded at 1 MiB whose entry point writes 0x2a to the
# debug-exit port (exit status 85), with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18) so that QEMU
# microvm, like spry, starts it directly in 32-bit protected mode.
make_payload() {
	local dir=$1
	cat >"$dir/exit.s" <<'EOF'
	.code32
	.section .text, "ax"
	.globl _start
_start:
	movb $0x2a, %al		/* a value no failing process exits with: status 85 */
	outb %al, $0xf4		/* debug-exit: status (al << 1) | 1 */
	hlt
	jmp _start

	.section .note.pvh, "a", @note
	.balign 4
	.long 4, 4, 18		/* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start
EOF
	cat >"$dir/exit.ld" <<'EOF'
ENTRY(_start)
PHDRS { text PT_LOAD FLAGS(5); note PT_NOTE FLAGS(4); }
SECTIONS {
	. = 0x100000;
	.text : { *(.text) } :text
	.note.pvh : { *(.note.pvh) } :text :note
	/DISCARD/ : { *(*) }
}
EOF
	as --32 -o "$dir/exit.o" "$dir/exit.s"
	ld -m elf_i386 -T "$dir/exit.ld" -o "$dir/exit.elf" "$dir/exit.o"
}

# Runs the commands alternately RUNS times and prints the table. Each command is one
# argument: NAME, then its words separated by US (0x1f).
measure() {
	python3 - "$RUNS" "$@" <<'PY'
import os, statistics, sys, time

EXPECTED = 85
runs = int(sys.argv[1])
progs = []
for spec in sys.argv[2:]:
    name, *argv = spec.split("\x1f")
    progs.append({"name": name, "argv": argv, "times": [], "rss": [], "bad": 0, "error": None})

def spawn(argv):
    """Spawns ARGV with stdio on /dev/null (stderr to a file); returns (status, s, rusage, err)."""
    errpath = "/tmp/spry-bench-%d.err" % os.getpid()
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
               (os.POSIX_SPAWN_DUP2, err, 2)]
    t0 = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    except OSError as e:
        os.close(null); os.close(err)
        return None, 0.0, None, str(e)
    _, wstatus, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    os.close(null); os.close(err)
    text = open(errpath, errors="replace").read().strip()
    os.unlink(errpath)
    return os.waitstatus_to_exitcode(wstatus), t1 - t0, ru, text

def peak_rss_kib(argv):
    """Peak RSS of ARGV alone. posix_spawn's vfork child shares this Python's memory until
    exec, and Linux carries that high-water mark into the child's ru_maxrss, so the RSS is
    taken in a separate run under GNU time, whose own footprint is far below either VMM's."""
    out = "/tmp/spry-bench-%d.rss" % os.getpid()
    spawn(["/usr/bin/time", "-f", "%M", "-o", out] + argv)
    try:
        return int(open(out).read().split()[-1])
    finally:
        os.unlink(out)

def run_once(prog):
    """Returns (status, seconds, peak RSS KiB, stderr text) of one timed run of PROG."""
    status, secs, _, text = spawn(prog["argv"])
    kib = peak_rss_kib(prog["argv"]) if status == EXPECTED else 0
    return status, secs, kib, text

for i in range(runs):
    for prog in progs:
        if prog["error"]:
            continue
        status, secs, kib, text = run_once(prog)
        # The payload exits through debug-exit with 0x2a: (0x2a << 1) | 1.
        if status != EXPECTED:
            prog["bad"] += 1
            if not prog["times"]:
                prog["error"] = "exit status %s%s" % (status, (": " + text.splitlines()[-1]) if text else "")
                print("%s failed on its first run (%s); continuing without it"
                      % (prog["name"], prog["error"]), flush=True)
            continue
        prog["times"].append(secs)
        prog["rss"].append(kib)

def ms(x): return "%.2f" % (x * 1e3)
def mib(k): return "%.2f" % (k / 1024)
print()
print("%-6s %5s %5s %11s %9s %15s %12s" % ("", "runs", "ok", "median ms", "min ms",
                                           "median RSS MiB", "max RSS MiB"))
for p in progs:
    if p["times"]:
        print("%-6s %5d %5d %11s %9s %15s %12s" % (
            p["name"], runs, len(p["times"]), ms(statistics.median(p["times"])), ms(min(p["times"])),
            mib(statistics.median(p["rss"])), mib(max(p["rss"]))))
    else:
        print("%-6s %5d %5d   failed: %s" % (p["name"], runs, 0, p["error"]))

spry, qemu = progs[0], progs[1] if len(progs) > 1 else None
print()
if spry["times"] and qemu and qemu["times"]:
    tr = statistics.median(spry["times"]) / statistics.median(qemu["times"])
    tm = min(spry["times"]) / min(qemu["times"])
    rr = statistics.median(spry["rss"]) / statistics.median(qemu["rss"])
    print("spry/QEMU  time: median %.3fx, min %.3fx   (target <= 0.5x: %s)"
          % (tr, tm, "met" if tr <= 0.5 else "NOT met"))
    print("spry/QEMU  peak RSS: %.3fx" % rr)
else:
    print("spry/QEMU  ratios: n/a (a side did not run)")
if spry["times"]:
    rss = max(spry["rss"]) / 1024
    print("spry peak RSS %.2f MiB (target <= 3 MiB, excluding touched guest memory: %s)"
          % (rss, "met" if rss <= 3 else "NOT met"))
sys.exit(0 if spry["times"] else 1)
PY
}

main() {
	parse_args "$@"
	local tmp us=$'\x1f' spry_cmd qemu_cmd
	tmp=$(mktemp -d)
	if [[ "$KEEP" == 1 ]]; then
		echo "startup.sh: keeping $tmp"
	else
		# shellcheck disable=SC2064  # expand now: tmp is local
		trap "rm -rf '$tmp'" EXIT
	fi
	if ! command -v as >/dev/null || ! command -v ld >/dev/null; then
		echo "startup.sh: needs as and ld (binutils; scripts/setup.sh)" >&2
		exit 2
	fi
	make_payload "$tmp"

	spry_cmd="spry${us}$SPRY${us}run${us}--kernel${us}$tmp/exit.elf${us}--accel${us}$ACCEL${us}--memory${us}$MEMORY"
	qemu_cmd="qemu${us}$QEMU${us}-M${us}microvm${us}-accel${us}$ACCEL${us}-m${us}$MEMORY"
	qemu_cmd+="${us}-nodefaults${us}-no-user-config${us}-nographic${us}-display${us}none"
	qemu_cmd+="${us}-serial${us}none${us}-device${us}isa-debug-exit,iobase=0xf4,iosize=4"
	qemu_cmd+="${us}-kernel${us}$tmp/exit.elf"

	echo "start-up benchmark: $RUNS runs each, alternating; accel $ACCEL, memory $MEMORY"
	echo "  spry: ${spry_cmd#*"$us"}" | tr "$us" ' '
	echo "  qemu: ${qemu_cmd#*"$us"} ($("$QEMU" --version 2>/dev/null | head -n 1 || echo "not found"))" | tr "$us" " "
	echo "  payload: $(stat -c %s "$tmp/exit.elf") byte ELF, PVH entry: mov \$0x2a,%al; out %al,\$0xf4 (exit 85)"
	echo "  host: $(nproc) CPUs, $(grep -cE 'vmx|svm' /proc/cpuinfo || true) with vmx/svm, kernel $(uname -r)"
	measure "$spry_cmd" "$qemu_cmd"
}

main "$@"
