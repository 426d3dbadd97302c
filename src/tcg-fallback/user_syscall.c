/*
 * The linux-user runner's system calls. Most pass straight to the host,
 * described by a table of argument kinds so that every guest pointer is
 * checked against the region map first (a bad one gives -EFAULT, never a
 * host fault); memory, the program break, FS/GS bases, signal dispositions,
 * futexes, ioctl, fcntl and /proc/self/exe are handled here. Anything else
 * is -ENOSYS, reported once per call number.
 */
#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "user.h"

#define PAGE 4096ULL
#define PATH_LEN 4096

/* Argument kinds: a value, a path, or a buffer sized by another argument or fixed. */
#define A_VAL 0u
#define A_STR (1u << 24)
#define A_IN(n) (2u << 24 | (n))	/* read by the kernel, size in argument n */
#define A_OUT(n) (3u << 24 | (n))	/* written by the kernel, size in argument n */
#define A_INF(sz) (4u << 24 | (sz))	/* read, fixed size */
#define A_OUTF(sz) (5u << 24 | (sz))	/* written (and maybe read), fixed size */
#define A_ARR(n, elt) (6u << 24 | (elt) << 8 | (n))	/* written, argument n elements */
#define A_OPT (1u << 31)		/* NULL is allowed */
#define KIND(a) (((a) >> 24) & 0x7f)

#define STAT_SIZE 144
#define STATX_SIZE 256
#define TIMESPEC 16
#define TERMIOS_SIZE 36		/* the kernel's struct termios (TCGETS) */

struct sysdesc {
	const char *name;
	uint32_t arg[6];
};

#define D(nr, ...) [nr] = { #nr, { __VA_ARGS__ } }

/* System calls passed to the host once their pointers are checked. */
static const struct sysdesc passthrough[] = {
	D(SYS_read, A_VAL, A_OUT(2)),
	D(SYS_write, A_VAL, A_IN(2)),
	D(SYS_open, A_STR),
	D(SYS_close),
	D(SYS_stat, A_STR, A_OUTF(STAT_SIZE)),
	D(SYS_fstat, A_VAL, A_OUTF(STAT_SIZE)),
	D(SYS_lstat, A_STR, A_OUTF(STAT_SIZE)),
	D(SYS_poll, A_ARR(1, 8)),
	D(SYS_lseek),
	D(SYS_pread64, A_VAL, A_OUT(2)),
	D(SYS_pwrite64, A_VAL, A_IN(2)),
	D(SYS_access, A_STR),
	D(SYS_pipe, A_OUTF(8)),
	D(SYS_sched_yield),
	D(SYS_dup),
	D(SYS_dup2),
	D(SYS_nanosleep, A_INF(TIMESPEC), A_OUTF(TIMESPEC) | A_OPT),
	D(SYS_getpid),
	D(SYS_wait4, A_VAL, A_OUTF(4) | A_OPT, A_VAL, A_OUTF(144) | A_OPT),
	D(SYS_kill),
	D(SYS_setpgid),
	D(SYS_setsid),
	D(SYS_sendfile, A_VAL, A_VAL, A_OUTF(8) | A_OPT),
	D(SYS_uname, A_OUTF(390)),
	D(SYS_flock),
	D(SYS_fsync),
	D(SYS_fdatasync),
	D(SYS_truncate, A_STR),
	D(SYS_ftruncate),
	D(SYS_getcwd, A_OUT(1)),
	D(SYS_chdir, A_STR),
	D(SYS_fchdir),
	D(SYS_rename, A_STR, A_STR),
	D(SYS_mkdir, A_STR),
	D(SYS_rmdir, A_STR),
	D(SYS_creat, A_STR),
	D(SYS_link, A_STR, A_STR),
	D(SYS_unlink, A_STR),
	D(SYS_symlink, A_STR, A_STR),
	D(SYS_chmod, A_STR),
	D(SYS_fchmod),
	D(SYS_chown, A_STR),
	D(SYS_fchown),
	D(SYS_lchown, A_STR),
	D(SYS_umask),
	D(SYS_gettimeofday, A_OUTF(16) | A_OPT, A_OUTF(8) | A_OPT),
	D(SYS_getrlimit, A_VAL, A_OUTF(16)),
	D(SYS_getrusage, A_VAL, A_OUTF(144)),
	D(SYS_sysinfo, A_OUTF(112)),
	D(SYS_times, A_OUTF(32) | A_OPT),
	D(SYS_getuid),
	D(SYS_getgid),
	D(SYS_geteuid),
	D(SYS_getegid),
	D(SYS_getppid),
	D(SYS_getpgrp),
	D(SYS_getgroups, A_VAL, A_ARR(0, 4) | A_OPT),
	D(SYS_getpgid),
	D(SYS_getsid),
	D(SYS_statfs, A_STR, A_OUTF(120)),
	D(SYS_fstatfs, A_VAL, A_OUTF(120)),
	D(SYS_gettid),
	D(SYS_time, A_OUTF(8) | A_OPT),
	D(SYS_sched_getaffinity, A_VAL, A_VAL, A_OUT(1)),
	D(SYS_getdents64, A_VAL, A_OUT(2)),
	D(SYS_fadvise64),
	D(SYS_clock_gettime, A_VAL, A_OUTF(TIMESPEC)),
	D(SYS_clock_getres, A_VAL, A_OUTF(TIMESPEC) | A_OPT),
	D(SYS_clock_nanosleep, A_VAL, A_VAL, A_INF(TIMESPEC), A_OUTF(TIMESPEC) | A_OPT),
	D(SYS_openat, A_VAL, A_STR),
	D(SYS_mkdirat, A_VAL, A_STR),
	D(SYS_fchownat, A_VAL, A_STR),
	D(SYS_newfstatat, A_VAL, A_STR, A_OUTF(STAT_SIZE)),
	D(SYS_unlinkat, A_VAL, A_STR),
	D(SYS_renameat, A_VAL, A_STR, A_VAL, A_STR),
	D(SYS_linkat, A_VAL, A_STR, A_VAL, A_STR),
	D(SYS_symlinkat, A_STR, A_VAL, A_STR),
	D(SYS_fchmodat, A_VAL, A_STR),
	D(SYS_faccessat, A_VAL, A_STR),
	D(SYS_utimensat, A_VAL, A_STR | A_OPT, A_INF(2 * TIMESPEC) | A_OPT),
	D(SYS_dup3),
	D(SYS_pipe2, A_OUTF(8)),
	D(SYS_prlimit64, A_VAL, A_VAL, A_INF(16) | A_OPT, A_OUTF(16) | A_OPT),
	D(SYS_getrandom, A_OUT(1)),
	D(SYS_waitid, A_VAL, A_VAL, A_OUTF(128) | A_OPT, A_VAL, A_OUTF(144) | A_OPT),
	D(SYS_statx, A_VAL, A_STR, A_VAL, A_VAL, A_OUTF(STATX_SIZE)),
	D(SYS_faccessat2, A_VAL, A_STR),
};

#define NPASS (sizeof(passthrough) / sizeof(passthrough[0]))

/*
 * -EFAULT unless @len bytes at @addr may be accessed with @prot. A kernel
 * write over decoded code drops the decoded blocks after this instruction.
 */
int user_check(struct user *u, uint64_t addr, uint64_t len, int prot)
{
	if (!uspace_check(&u->as, addr, len, prot))
		return -EFAULT;
	if (prot == PROT_WRITE && tcg_code_in_range(&u->cpu, addr, addr + len))
		u->cpu.code_written = true;
	return 0;
}

/* user_check() for an optional pointer: NULL passes. */
static int check_opt(struct user *u, uint64_t addr, uint64_t len, int prot)
{
	return addr ? user_check(u, addr, len, prot) : 0;
}

/* A NUL-terminated guest string of at most PATH_LEN bytes: 0, -EFAULT or -ENAMETOOLONG. */
int user_check_str(struct user *u, uint64_t addr)
{
	for (uint64_t n = 0; n < PATH_LEN;) {
		const struct user_region *r = uspace_find(&u->as, addr + n);
		uint64_t chunk;

		if (!r || !(r->prot & (PROT_READ | PROT_EXEC)))
			return -EFAULT;
		chunk = r->end - (addr + n);
		if (chunk > PATH_LEN - n)
			chunk = PATH_LEN - n;
		if (memchr((const void *)(uintptr_t)(addr + n), 0, chunk))
			return 0;
		n += chunk;
	}
	return -ENAMETOOLONG;
}

static int check_arg(struct user *u, uint32_t kind, const uint64_t a[6], uint64_t v)
{
	if (!v && (kind & A_OPT))
		return 0;
	switch (KIND(kind)) {
	case KIND(A_STR): return user_check_str(u, v);
	case KIND(A_IN(0)): return user_check(u, v, a[kind & 7], PROT_READ);
	case KIND(A_OUT(0)): return user_check(u, v, a[kind & 7], PROT_WRITE);
	case KIND(A_INF(0)): return user_check(u, v, kind & 0xffff, PROT_READ);
	case KIND(A_OUTF(0)): return user_check(u, v, kind & 0xffff, PROT_WRITE);
	case KIND(A_ARR(0, 0)):
		if (a[kind & 7] > (1u << 20))
			return -EINVAL;
		return user_check(u, v, a[kind & 7] * ((kind >> 8) & 0xff), PROT_WRITE);
	default: return 0;
	}
}

static int64_t host(long ret)
{
	return ret < 0 ? -errno : ret;
}

static int64_t pass(struct user *u, uint64_t nr, const uint64_t a[6])
{
	const struct sysdesc *d = &passthrough[nr];

	for (int i = 0; i < 6; i++) {
		int err = check_arg(u, d->arg[i], a, a[i]);

		if (err)
			return err;
	}
	return host(syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

/* After the guest's mappings change: drop stale TLB entries, and blocks decoded there. */
static void mappings_changed(struct user *u, uint64_t start, uint64_t end)
{
	tcg_tlb_flush(&u->cpu);
	if (tcg_code_in_range(&u->cpu, start, end))
		u->cpu.code_written = true;
}

static uint64_t page_up(uint64_t a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

static int64_t sys_mmap(struct user *u, const uint64_t a[6])
{
	uint64_t len = page_up(a[1]);
	int flags = a[3], prot = a[2];
	void *p;

	if (!a[1] || !len || (a[0] & (PAGE - 1)) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	/* MAP_FIXED may replace guest pages only; elsewhere it must not replace anything. */
	if ((flags & MAP_FIXED) && !uspace_owns(&u->as, a[0], a[0] + len))
		flags = (flags & ~MAP_FIXED) | MAP_FIXED_NOREPLACE;
	p = mmap((void *)(uintptr_t)a[0], len, uspace_host_prot(prot), flags, a[4], a[5]);
	if (p == MAP_FAILED)
		return -errno;
	if ((flags & MAP_FIXED_NOREPLACE) && p != (void *)(uintptr_t)a[0]) {
		munmap(p, len);
		return -EEXIST;
	}
	if (uspace_set(&u->as, (uintptr_t)p, (uintptr_t)p + len, prot)) {
		munmap(p, len);
		return -ENOMEM;
	}
	mappings_changed(u, (uintptr_t)p, (uintptr_t)p + len);
	return (uintptr_t)p;
}

/* Unmap the guest's pages in [@start, @end) and nothing else. */
static void unmap_guest(struct user *u, uint64_t start, uint64_t end)
{
	const struct user_space *as = &u->as;

	for (size_t i = 0; i < as->n; i++) {
		uint64_t s = as->r[i].start > start ? as->r[i].start : start;
		uint64_t e = as->r[i].end < end ? as->r[i].end : end;

		if (s < e)
			munmap((void *)(uintptr_t)s, e - s);
	}
	uspace_clear(&u->as, start, end);
	mappings_changed(u, start, end);
}

static int64_t sys_munmap(struct user *u, const uint64_t a[6])
{
	uint64_t len = page_up(a[1]);

	if ((a[0] & (PAGE - 1)) || !len || a[0] + len < a[0])
		return -EINVAL;
	unmap_guest(u, a[0], a[0] + len);
	return 0;
}

static int64_t sys_mprotect(struct user *u, const uint64_t a[6])
{
	uint64_t len = page_up(a[1]);
	int prot = a[2];

	if ((a[0] & (PAGE - 1)) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	if (!uspace_owns(&u->as, a[0], a[0] + len))
		return -ENOMEM;
	if (mprotect((void *)(uintptr_t)a[0], len, uspace_host_prot(prot)))
		return -errno;
	if (uspace_set(&u->as, a[0], a[0] + len, prot))
		return -ENOMEM;
	mappings_changed(u, a[0], a[0] + len);
	return 0;
}

static int64_t sys_mremap(struct user *u, const uint64_t a[6])
{
	uint64_t old = a[0], oldlen = page_up(a[1]), newlen = page_up(a[2]);
	const struct user_region *r = uspace_find(&u->as, old);
	int prot;
	void *p;

	if ((old & (PAGE - 1)) || !newlen || (a[3] & ~(uint64_t)MREMAP_MAYMOVE))
		return -EINVAL;
	if (!r || !oldlen || !uspace_owns(&u->as, old, old + oldlen))
		return -EFAULT;
	prot = r->prot;
	p = mremap((void *)(uintptr_t)old, oldlen, newlen, (int)a[3]);
	if (p == MAP_FAILED)
		return -errno;
	uspace_clear(&u->as, old, old + oldlen);
	if (uspace_set(&u->as, (uintptr_t)p, (uintptr_t)p + newlen, prot))
		return -ENOMEM;
	mappings_changed(u, old, old + oldlen);
	mappings_changed(u, (uintptr_t)p, (uintptr_t)p + newlen);
	return (uintptr_t)p;
}

/* The break grows with fixed mappings that must not replace anything; a failure keeps it. */
static int64_t sys_brk(struct user *u, uint64_t want)
{
	uint64_t cur = page_up(u->brk), end = page_up(want);

	if (want < u->brk_start)
		return u->brk;
	if (end > cur) {
		void *p = mmap((void *)(uintptr_t)cur, end - cur, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == MAP_FAILED)
			return u->brk;
		if (p != (void *)(uintptr_t)cur ||
		    uspace_set(&u->as, cur, end, PROT_READ | PROT_WRITE)) {
			munmap(p, end - cur);
			return u->brk;
		}
	} else if (end < cur) {
		unmap_guest(u, end, cur);
	}
	u->brk = want;
	return u->brk;
}

static int64_t sys_iov(struct user *u, uint64_t nr, const uint64_t a[6])
{
	const struct iovec *iov = (const struct iovec *)(uintptr_t)a[1];
	int prot = nr == SYS_readv ? PROT_WRITE : PROT_READ;

	if (a[2] > IOV_MAX)
		return -EINVAL;
	if (user_check(u, a[1], a[2] * sizeof(*iov), PROT_READ))
		return -EFAULT;
	for (uint64_t i = 0; i < a[2]; i++)
		if (user_check(u, (uintptr_t)iov[i].iov_base, iov[i].iov_len, prot))
			return -EFAULT;
	return host(syscall(nr, a[0], a[1], a[2]));
}

static int64_t sys_readlink(struct user *u, uint64_t nr, const uint64_t a[6])
{
	int p = nr == SYS_readlinkat, err = user_check_str(u, a[p]);
	const char *path = (const char *)(uintptr_t)a[p];
	size_t len = strlen(u->exe);

	if (err || (err = user_check(u, a[p + 1], a[p + 2], PROT_WRITE)))
		return err;
	if (strcmp(path, "/proc/self/exe"))
		return host(syscall(nr, a[0], a[1], a[2], a[3]));
	if (len > a[p + 2])
		len = a[p + 2];
	memcpy((void *)(uintptr_t)a[p + 1], u->exe, len);
	return len;
}

void user_warn_once(struct user *u, uint64_t nr, const char *what, uint64_t arg)
{
	if (nr < 512 && (u->warned[nr / 64] >> (nr % 64) & 1))
		return;
	if (nr < 512)
		u->warned[nr / 64] |= 1ULL << (nr % 64);
	fprintf(stderr, "spry user: %s %#llx not implemented\n", what, (unsigned long long)arg);
}

static int64_t sys_ioctl(struct user *u, const uint64_t a[6])
{
	uint32_t size;
	int prot = PROT_WRITE;

	switch (a[1]) {
	case TCGETS: size = TERMIOS_SIZE; break;
	case TCSETS: case TCSETSW: case TCSETSF: size = TERMIOS_SIZE; prot = PROT_READ; break;
	case TIOCGWINSZ: size = 8; break;
	case TIOCGPGRP: case FIONREAD: size = 4; break;
	default:
		user_warn_once(u, SYS_ioctl, "ioctl", a[1]);
		return -ENOTTY;
	}
	if (user_check(u, a[2], size, prot))
		return -EFAULT;
	return host(syscall(SYS_ioctl, a[0], a[1], a[2]));
}

static int64_t sys_fcntl(struct user *u, const uint64_t a[6])
{
	switch (a[1]) {
	case F_DUPFD: case F_DUPFD_CLOEXEC: case F_GETFD: case F_SETFD: case F_GETFL:
	case F_SETFL: case F_GETPIPE_SZ: case F_SETPIPE_SZ:
		break;
	case F_GETLK: case F_SETLK: case F_SETLKW:
		if (user_check(u, a[2], sizeof(struct flock), PROT_WRITE))
			return -EFAULT;
		break;
	default:
		return -EINVAL;
	}
	return host(syscall(SYS_fcntl, a[0], a[1], a[2]));
}

/*
 * Dispositions are recorded for the guest to read back; no signal is ever
 * delivered to a guest handler. SIG_IGN also applies to the host, so an
 * ignored signal (SIGPIPE, SIGCHLD's auto-reaping, a SIGINT ignored across
 * exec) behaves as it would natively; anything else is the host default.
 */
static int64_t sys_sigaction(struct user *u, const uint64_t a[6])
{
	uint64_t sig = a[0], handler;

	if (a[3] != 8 || sig < 1 || sig > 64 || (a[1] && (sig == SIGKILL || sig == SIGSTOP)))
		return -EINVAL;
	if (check_opt(u, a[1], 32, PROT_READ) || check_opt(u, a[2], 32, PROT_WRITE))
		return -EFAULT;
	if (a[2])
		memcpy((void *)(uintptr_t)a[2], u->sigact[sig - 1], 32);
	if (!a[1])
		return 0;
	memcpy(u->sigact[sig - 1], (const void *)(uintptr_t)a[1], 32);
	memcpy(&handler, u->sigact[sig - 1], 8);
	if (sig != SIGSTOP && sig != SIGKILL)
		signal(sig, handler == (uintptr_t)SIG_IGN ? SIG_IGN : SIG_DFL);
	return 0;
}

static int64_t sys_sigprocmask(struct user *u, const uint64_t a[6])
{
	uint64_t set;

	if (a[3] != 8 || (a[1] && a[0] > SIG_SETMASK))
		return -EINVAL;
	if (check_opt(u, a[1], 8, PROT_READ) || check_opt(u, a[2], 8, PROT_WRITE))
		return -EFAULT;
	if (a[2])
		memcpy((void *)(uintptr_t)a[2], &u->sigmask, 8);
	if (!a[1])
		return 0;
	memcpy(&set, (const void *)(uintptr_t)a[1], 8);
	set &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	if (a[0] == SIG_BLOCK)
		u->sigmask |= set;
	else if (a[0] == SIG_UNBLOCK)
		u->sigmask &= ~set;
	else
		u->sigmask = set;
	return 0;
}

/* Guest memory is host memory, so the host futex serves (one thread: waits time out or hang). */
static int64_t sys_futex(struct user *u, const uint64_t a[6])
{
	int op = a[1] & FUTEX_CMD_MASK;

	if (op != FUTEX_WAIT && op != FUTEX_WAKE && op != FUTEX_WAIT_BITSET &&
	    op != FUTEX_WAKE_BITSET) {
		user_warn_once(u, SYS_futex, "futex op", op);
		return -ENOSYS;
	}
	if ((a[0] & 3) || user_check(u, a[0], 4, PROT_READ))
		return -EFAULT;
	if ((op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET) &&
	    check_opt(u, a[3], TIMESPEC, PROT_READ))
		return -EFAULT;
	return host(syscall(SYS_futex, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static int64_t sys_arch_prctl(struct user *u, const uint64_t a[6])
{
	switch (a[0]) {
	case ARCH_SET_FS: u->cpu.fs_base = a[1]; return 0;
	case ARCH_SET_GS: u->cpu.gs_base = a[1]; return 0;
	case ARCH_GET_FS: case ARCH_GET_GS:
		if (user_check(u, a[1], 8, PROT_WRITE))
			return -EFAULT;
		memcpy((void *)(uintptr_t)a[1], a[0] == ARCH_GET_FS ? &u->cpu.fs_base :
		       &u->cpu.gs_base, 8);
		return 0;
	default:
		return -EINVAL;
	}
}

/* prctl: the thread name only. */
static int64_t sys_prctl(struct user *u, const uint64_t a[6])
{
	if (a[0] != PR_SET_NAME && a[0] != PR_GET_NAME) {
		user_warn_once(u, SYS_prctl, "prctl option", a[0]);
		return -EINVAL;
	}
	if (user_check(u, a[1], 16, a[0] == PR_SET_NAME ? PROT_READ : PROT_WRITE))
		return -EFAULT;
	return host(syscall(SYS_prctl, a[0], a[1], 0, 0, 0));
}

static int64_t sys_exit(struct user *u, uint64_t status)
{
	u->exit_status = status & 0xff;
	u->cpu.stop = true;
	return 0;
}

int64_t user_do_syscall(struct user *u, uint64_t nr, const uint64_t a[6])
{
	switch (nr) {
	case SYS_mmap: return sys_mmap(u, a);
	case SYS_munmap: return sys_munmap(u, a);
	case SYS_mprotect: return sys_mprotect(u, a);
	case SYS_mremap: return sys_mremap(u, a);
	case SYS_madvise: return 0;
	case SYS_brk: return sys_brk(u, a[0]);
	case SYS_readv: case SYS_writev: return sys_iov(u, nr, a);
	case SYS_readlink: case SYS_readlinkat: return sys_readlink(u, nr, a);
	case SYS_ioctl: return sys_ioctl(u, a);
	case SYS_fcntl: return sys_fcntl(u, a);
	case SYS_rt_sigaction: return sys_sigaction(u, a);
	case SYS_rt_sigprocmask: return sys_sigprocmask(u, a);
	case SYS_futex: return sys_futex(u, a);
	case SYS_arch_prctl: return sys_arch_prctl(u, a);
	case SYS_prctl: return sys_prctl(u, a);
	case SYS_set_tid_address: u->clear_child_tid = a[0]; return gettid();
	case SYS_set_robust_list: return a[1] == 24 ? 0 : -EINVAL;
	case SYS_rseq: return -ENOSYS;
	case SYS_exit: case SYS_exit_group: return sys_exit(u, a[0]);
	case SYS_clone: return user_sys_clone(u, a);
	case SYS_fork: case SYS_vfork: return user_sys_fork(u);
	case SYS_execve: return user_sys_execve(u, a);
	}
	if (nr < NPASS && passthrough[nr].name)
		return pass(u, nr, a);
	user_warn_once(u, nr, "system call", nr);
	return -ENOSYS;
}

void user_syscall(struct tcg_cpu *cpu)
{
	struct user *u = cpu->opaque;
	const uint64_t a[6] = { cpu->gpr[7], cpu->gpr[6], cpu->gpr[2], cpu->gpr[10],
				cpu->gpr[8], cpu->gpr[9] };

	/* As the kernel returns: rcx holds the return address and r11 the flags. */
	cpu->gpr[1] = cpu->next_rip;
	cpu->gpr[11] = cpu->rflags;
	cpu->gpr[0] = user_do_syscall(u, cpu->gpr[0], a);
}
