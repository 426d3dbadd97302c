/*
 * The linux-user runner's processes. Guest memory is host memory and the
 * whole interpreter lives in this process, so a host fork() copies a running
 * guest exactly: fork, vfork and every clone that makes a new process (not a
 * thread) are a host clone, and the child goes on interpreting. execve
 * re-executes spry itself as `spry user -0 ARGV0 PROGRAM ARGS...`, so the new
 * program runs under TCG-lite too, with the guest's file descriptors and
 * environment as exec passes them; #! scripts name their interpreter the
 * same way. Threads (clone with CLONE_VM and no CLONE_VFORK) are not
 * supported yet: -ENOSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user.h"

/* The clone flags a new process may carry; CLONE_VM | CLONE_VFORK is done as a fork. */
#define CLONE_PROCESS_FLAGS (CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_SETTLS | \
			     CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)
/* What the host clone gets: the rest is the guest's (stack, TLS) or is emulated. */
#define CLONE_HOST_FLAGS (CSIGNAL | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | \
			  CLONE_CHILD_CLEARTID)

#define MAX_EXEC_ARGS 65536
#define SHEBANG_MAX 256

static int64_t host(long ret)
{
	return ret < 0 ? -errno : ret;
}

/* clone(flags, stack, parent_tid, child_tid, tls) for a new process. */
int64_t user_sys_clone(struct user *u, const uint64_t a[6])
{
	uint64_t flags = a[0], stack = a[1], ptid = a[2], ctid = a[3], tls = a[4];
	long pid;

	if ((flags & CLONE_VM) && !(flags & CLONE_VFORK)) {
		user_warn_once(u, SYS_clone, "threads (clone with CLONE_VM): clone flags", flags);
		return -ENOSYS;
	}
	if (flags & ~(uint64_t)CLONE_PROCESS_FLAGS) {
		user_warn_once(u, SYS_clone, "clone flags", flags);
		return -EINVAL;
	}
	if (((flags & CLONE_PARENT_SETTID) && user_check(u, ptid, 4, PROT_WRITE)) ||
	    ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) &&
	     user_check(u, ctid, 4, PROT_WRITE)))
		return -EFAULT;
	/* No new stack for the host: the child returns here on a copy of this one. */
	pid = syscall(SYS_clone, flags & CLONE_HOST_FLAGS, 0, ptid, ctid, 0);
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (stack)
			u->cpu.gpr[4] = stack;
		if (flags & CLONE_SETTLS)
			u->cpu.fs_base = tls;
	}
	return pid;
}

/* fork and vfork: a vfork child only execs or exits, which a copy does as well. */
int64_t user_sys_fork(struct user *u)
{
	const uint64_t a[6] = { SIGCHLD };

	return user_sys_clone(u, a);
}

/* The number of pointers in the NULL-terminated guest array @arr (NULL: none), or -errno. */
static int64_t count_strings(struct user *u, uint64_t arr)
{
	int64_t n;

	if (!arr)
		return 0;
	for (n = 0; n < MAX_EXEC_ARGS; n++) {
		uint64_t p;
		int err = user_check(u, arr + n * 8, 8, PROT_READ);

		if (err)
			return err;
		memcpy(&p, (const void *)(uintptr_t)(arr + n * 8), 8);
		if (!p)
			return n;
		err = user_check_str(u, p);
		if (err)
			return err;
	}
	return -E2BIG;
}

/* The program @path names, as open() and the exec permission check see it. */
static int open_program(struct user *u, const char *path)
{
	struct stat st;
	int fd;

	if (!strcmp(path, "/proc/self/exe"))
		path = u->exe;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || access(path, X_OK)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/*
 * A "#!" line in @fd: splits it in place in @line into the interpreter and
 * its optional single argument (as Linux does). 1 for a script, 0 otherwise.
 */
static int read_shebang(int fd, char *line, char **interp, char **arg)
{
	ssize_t n = pread(fd, line, SHEBANG_MAX - 1, 0);
	char *p, *end;

	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 0;
	line[n] = 0;
	end = strchr(line, '\n');
	if (end)
		*end = 0;
	for (p = line + 2; *p == ' ' || *p == '\t'; p++)
		;
	*interp = p;
	p += strcspn(p, " \t");
	*arg = NULL;
	if (*p) {
		*p++ = 0;
		p += strspn(p, " \t");
		if (*p) {
			*arg = p;
			for (end = p + strlen(p); end > p && (end[-1] == ' ' || end[-1] == '\t');)
				*--end = 0;
		}
	}
	return **interp ? 1 : -ENOEXEC;
}

/*
 * execve(path, argv, envp): checked, then spry re-executed on the program.
 * Errors the guest's exec would have (a missing or non-executable file)
 * come back as its return value; once spry execs, the new spry reports
 * what it cannot load.
 */
int64_t user_sys_execve(struct user *u, const uint64_t a[6])
{
	const char *path = (const char *)(uintptr_t)a[0];
	char *const *gargv = (char *const *)(uintptr_t)a[1];
	char line[SHEBANG_MAX], *interp, *iarg, **argv;
	int64_t argc, envc, err;
	int fd, script, n = 0;

	err = user_check_str(u, a[0]);
	if (err)
		return err;
	argc = count_strings(u, a[1]);
	envc = count_strings(u, a[2]);
	if (argc < 0 || envc < 0)
		return argc < 0 ? argc : envc;
	fd = open_program(u, path);
	if (fd < 0)
		return fd;
	script = read_shebang(fd, line, &interp, &iarg);
	close(fd);
	if (script < 0)
		return script;
	argv = calloc(argc + 8, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[n++] = "spry";
	argv[n++] = "user";
	if (script) {
		argv[n++] = interp;
		if (iarg)
			argv[n++] = iarg;
		argv[n++] = (char *)path;
	} else {
		argv[n++] = "-0";
		argv[n++] = argc ? gargv[0] : (char *)path;
		argv[n++] = !strcmp(path, "/proc/self/exe") ? u->exe : (char *)path;
	}
	for (int64_t i = 1; i < argc; i++)
		argv[n++] = gargv[i];
	execve("/proc/self/exe", argv, a[2] ? (char *const *)(uintptr_t)a[2] : (char *[]){ NULL });
	err = host(-1);
	free(argv);
	return err;
}
