/*
 * The linux-user runner's pieces: the guest region map, the ELF loader (on
 * hand-made ELF files) and the initial stack, and system call argument
 * checking (bad pointers give -EFAULT, never a host fault).
 */
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "user.h"

#define LOAD_ADDR 0x30000000ULL	/* free in a PIE test process */

static void region_map(void **state)
{
	struct user_space as = { 0 };

	assert_int_equal(uspace_set(&as, 0x10000, 0x20000, PROT_READ), 0);
	assert_int_equal(uspace_set(&as, 0x20000, 0x30000, PROT_READ), 0);
	assert_int_equal(as.n, 1);	/* merged */
	assert_int_equal(uspace_set(&as, 0x18000, 0x19000, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(as.n, 3);
	assert_true(uspace_owns(&as, 0x10000, 0x30000));
	assert_false(uspace_owns(&as, 0x10000, 0x31000));
	assert_true(uspace_check(&as, 0x18ff0, 16, PROT_WRITE));
	assert_false(uspace_check(&as, 0x18ff0, 17, PROT_WRITE));
	assert_true(uspace_check(&as, 0x10000, 0x20000, PROT_READ));
	assert_true(uspace_check(&as, 0, 0, PROT_READ));		/* empty is fine */
	assert_false(uspace_check(&as, ~0ULL - 4, 16, PROT_READ));	/* wraps */
	assert_int_equal(uspace_clear(&as, 0x14000, 0x1c000), 0);
	assert_null(uspace_find(&as, 0x18000));
	assert_non_null(uspace_find(&as, 0x13fff));
	assert_int_equal(uspace_find(&as, 0x1c000)->prot, PROT_READ);
	free(as.r);
}

/* A minimal ELF: one RX segment with code and one RW segment with .data and .bss. */
struct mini_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t code[16];
	uint8_t data[8];
};

static int write_elf(const struct mini_elf *e, size_t len)
{
	char path[] = "/tmp/spry-elf-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, e, len), (ssize_t)len);
	return fd;
}

static void make_elf(struct mini_elf *e, uint16_t type, uint64_t base)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = type;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_version = EV_CURRENT;
	e->eh.e_entry = base + offsetof(struct mini_elf, code);
	e->eh.e_phoff = offsetof(struct mini_elf, ph);
	e->eh.e_ehsize = sizeof(e->eh);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 2;
	e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
				 .p_vaddr = base, .p_filesz = offsetof(struct mini_elf, data),
				 .p_memsz = offsetof(struct mini_elf, data), .p_align = 4096 };
	/* .data at the same file offset one page up, with 3 pages of .bss after it */
	e->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				 .p_offset = offsetof(struct mini_elf, data),
				 .p_vaddr = base + 0x1000 + offsetof(struct mini_elf, data),
				 .p_filesz = 8, .p_memsz = 0x3000, .p_align = 4096 };
	memset(e->code, 0x90, sizeof(e->code));
	memcpy(e->data, "DATADATA", 8);
}

static void loads_static_exec(void **state)
{
	struct user_space as = { 0 };
	struct user_image img;
	struct mini_elf e;
	char err[256];
	uint8_t *data = (uint8_t *)(uintptr_t)(LOAD_ADDR + 0x1000 + offsetof(struct mini_elf, data));
	int fd;

	make_elf(&e, ET_EXEC, LOAD_ADDR);
	fd = write_elf(&e, sizeof(e));
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), 0);
	assert_int_equal(img.entry, LOAD_ADDR + offsetof(struct mini_elf, code));
	assert_int_equal(img.phdr, LOAD_ADDR + offsetof(struct mini_elf, ph));
	assert_int_equal(img.phnum, 2);
	assert_int_equal(img.lo, LOAD_ADDR);
	assert_int_equal(img.hi, LOAD_ADDR + 0x5000);
	assert_memory_equal(data, "DATADATA", 8);
	assert_int_equal(data[8], 0);			/* .bss is zero */
	assert_int_equal(data[0x2000], 0);
	assert_int_equal(uspace_find(&as, LOAD_ADDR)->prot, PROT_READ | PROT_EXEC);
	assert_int_equal(uspace_find(&as, LOAD_ADDR + 0x3000)->prot, PROT_READ | PROT_WRITE);
	assert_false(uspace_check(&as, LOAD_ADDR, 1, PROT_WRITE));
	/* loading it again collides with the first copy */
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use"));
	close(fd);
	uspace_destroy(&as);
}

static void loads_static_pie(void **state)
{
	struct user_space as = { 0 };
	struct user_image img;
	struct mini_elf e;
	char err[256];
	int fd;

	make_elf(&e, ET_DYN, 0);
	fd = write_elf(&e, sizeof(e));
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), 0);
	assert_int_not_equal(img.bias, 0);
	assert_int_equal(img.entry, img.bias + offsetof(struct mini_elf, code));
	assert_memory_equal((void *)(uintptr_t)(img.bias + 0x1000 + offsetof(struct mini_elf, data)),
			    "DATADATA", 8);
	close(fd);
	uspace_destroy(&as);
}

static void rejects_bad_elves(void **state)
{
	struct user_space as = { 0 };
	struct user_image img;
	struct mini_elf e;
	char err[256];
	int fd;

	make_elf(&e, ET_EXEC, LOAD_ADDR);
	e.eh.e_machine = EM_AARCH64;
	fd = write_elf(&e, sizeof(e));
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "x86-64"));
	close(fd);

	make_elf(&e, ET_EXEC, LOAD_ADDR);
	e.ph[2] = (Elf64_Phdr){ .p_type = PT_INTERP };
	e.eh.e_phnum = 3;
	fd = write_elf(&e, sizeof(e));
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "dynamically linked"));
	close(fd);

	make_elf(&e, ET_EXEC, LOAD_ADDR);
	e.ph[1].p_filesz = 4096;		/* past the end of the file */
	fd = write_elf(&e, sizeof(e));
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), -1);
	close(fd);

	fd = write_elf(&e, 10);			/* truncated header */
	assert_int_equal(user_load_elf(&as, fd, &img, err, sizeof(err)), -1);
	close(fd);
	assert_int_equal(as.n, 0);
	uspace_destroy(&as);
}

static void initial_stack(void **state)
{
	struct user_space as = { 0 };
	struct user_image img = { .entry = 0x401000, .phdr = 0x400040, .phnum = 7 };
	char *const argv[] = { "/bin/prog", "a1", NULL };
	char *const envp[] = { "X=1", NULL };
	uint64_t sp, *w;
	bool seen_random = false, seen_entry = false;

	assert_int_equal(user_setup_stack(&as, &img, 2, argv, envp, "/bin/prog", &sp), 0);
	assert_int_equal(sp & 15, 0);
	w = (uint64_t *)(uintptr_t)sp;
	assert_int_equal(w[0], 2);
	assert_string_equal((char *)(uintptr_t)w[1], "/bin/prog");
	assert_string_equal((char *)(uintptr_t)w[2], "a1");
	assert_int_equal(w[3], 0);
	assert_string_equal((char *)(uintptr_t)w[4], "X=1");
	assert_int_equal(w[5], 0);
	for (uint64_t *a = &w[6]; a[0] != AT_NULL; a += 2) {
		if (a[0] == AT_RANDOM) {
			seen_random = true;
			assert_true(uspace_check(&as, a[1], 16, PROT_READ));
		}
		if (a[0] == AT_ENTRY)
			seen_entry = a[1] == 0x401000;
		if (a[0] == AT_SECURE)
			assert_int_equal(a[1], 0);
		if (a[0] == AT_PHNUM)
			assert_int_equal(a[1], 7);
	}
	assert_true(seen_random && seen_entry);
	uspace_destroy(&as);
}

/* A user with an empty address space but for one RW page and one RO page. */
static struct user *user_with_pages(uint8_t **rw, uint8_t **ro)
{
	struct user *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	*rw = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(*rw != MAP_FAILED);
	*ro = *rw + 4096;
	memset(*ro, 'y', 4096);		/* no NUL: an unterminated string */
	mprotect(*ro, 4096, PROT_READ);
	assert_int_equal(uspace_set(&u->as, (uintptr_t)*rw, (uintptr_t)*ro, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(uspace_set(&u->as, (uintptr_t)*ro, (uintptr_t)*ro + 4096, PROT_READ), 0);
	assert_int_equal(tcg_cpu_init(&u->cpu, NULL, u), 0);
	return u;
}

static int64_t sys(struct user *u, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	const uint64_t a[6] = { a0, a1, a2, a3, 0, 0 };

	return user_do_syscall(u, nr, a);
}

static void bad_pointers_fault(void **state)
{
	uint8_t *rw, *ro, host_buf[64];
	struct user *u = user_with_pages(&rw, &ro);
	uint64_t spry_own = (uintptr_t)host_buf;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "hello", 5), 5);
	/* read into spry's own memory, into read-only memory, across the end: -EFAULT */
	assert_int_equal(sys(u, SYS_read, p[0], spry_own, 5, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_read, p[0], (uintptr_t)ro, 5, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_read, p[0], (uintptr_t)ro - 2, 5, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_read, p[0], (uintptr_t)rw, 5, 0), 5);
	assert_memory_equal(rw, "hello", 5);
	/* write from read-only guest memory is fine, from spry's is not */
	assert_int_equal(sys(u, SYS_write, p[1], (uintptr_t)ro, 3, 0), 3);
	assert_int_equal(sys(u, SYS_write, p[1], spry_own, 3, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_write, p[1], 0, 1, 0), -EFAULT);
	/* paths must be guest strings; an unterminated one at the end of guest memory faults */
	memcpy(rw, "/", 2);
	assert_int_equal(sys(u, SYS_access, (uintptr_t)rw, F_OK, 0, 0), 0);
	assert_int_equal(sys(u, SYS_access, (uintptr_t)"/", F_OK, 0, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_access, (uintptr_t)ro + 100, F_OK, 0, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_access, (uintptr_t)ro, F_OK, 0, 0), -ENAMETOOLONG);
	/* fixed-size results and iovecs */
	assert_int_equal(sys(u, SYS_clock_gettime, CLOCK_MONOTONIC, (uintptr_t)ro, 0, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_clock_gettime, CLOCK_MONOTONIC, (uintptr_t)rw, 0, 0), 0);
	memcpy(rw, &(struct iovec){ .iov_base = host_buf, .iov_len = 4 }, sizeof(struct iovec));
	assert_int_equal(sys(u, SYS_writev, p[1], (uintptr_t)rw, 1, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_uname, spry_own, 0, 0, 0), -EFAULT);
	/* the guest cannot unmap or reprotect spry's memory */
	assert_int_equal(sys(u, SYS_mprotect, spry_own & ~4095ULL, 4096, PROT_NONE, 0), -ENOMEM);
	assert_int_equal(sys(u, SYS_munmap, (uintptr_t)rw, 4096, 0, 0), 0);
	assert_null(uspace_find(&u->as, (uintptr_t)rw));
	assert_int_equal(sys(u, SYS_read, p[0], (uintptr_t)rw, 1, 0), -EFAULT);
	/* unknown system calls */
	assert_int_equal(sys(u, SYS_ptrace, 0, 0, 0, 0), -ENOSYS);
	close(p[0]);
	close(p[1]);
	tcg_cpu_destroy(&u->cpu);
	uspace_destroy(&u->as);
	free(u);
}

static void memory_calls(void **state)
{
	uint8_t *rw, *ro;
	struct user *u = user_with_pages(&rw, &ro);
	int64_t m, b0;
	void *hole = mmap(NULL, 64 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	m = sys(u, SYS_mmap, 0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	assert_true(m > 0);
	assert_true(uspace_check(&u->as, m, 3 * 4096, PROT_WRITE));
	assert_int_equal(sys(u, SYS_mprotect, m + 4096, 4096, PROT_READ, 0), 0);
	assert_false(uspace_check(&u->as, m + 4096, 1, PROT_WRITE));
	/* MAP_FIXED over spry's own memory is refused rather than replacing it */
	assert_true(sys(u, SYS_mmap, (uintptr_t)u & ~4095ULL, 4096, PROT_READ,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) < 0);
	/* the program break, in a hole nothing else uses */
	assert_true(hole != MAP_FAILED);
	munmap(hole, 64 * 4096);
	u->brk_start = u->brk = (uintptr_t)hole;
	b0 = sys(u, SYS_brk, 0, 0, 0, 0);
	assert_int_equal(b0, (uintptr_t)hole);
	assert_int_equal(sys(u, SYS_brk, b0 + 10000, 0, 0, 0), b0 + 10000);
	assert_true(uspace_check(&u->as, b0, 10000, PROT_WRITE));
	assert_int_equal(sys(u, SYS_brk, b0, 0, 0, 0), b0);
	assert_false(uspace_check(&u->as, b0, 1, PROT_READ));
	/* FS base */
	assert_int_equal(sys(u, SYS_arch_prctl, 0x1002, 0x1234000, 0, 0), 0);
	assert_int_equal(u->cpu.fs_base, 0x1234000);
	assert_int_equal(sys(u, SYS_arch_prctl, 0x1003, (uintptr_t)ro, 0, 0), -EFAULT);
	tcg_cpu_destroy(&u->cpu);
	uspace_destroy(&u->as);
	free(u);
}

/*
 * fork and clone make a real child that carries on with the guest's state
 * (here: its stack and TLS from clone); threads are refused; execve checks
 * every pointer and reports the errors the guest's exec would see.
 */
static void process_calls(void **state)
{
	uint8_t *rw, *ro;
	struct user *u = user_with_pages(&rw, &ro);
	uint64_t *tid = (uint64_t *)rw, *argv = (uint64_t *)(rw + 64);
	const uint64_t tls_clone[6] = { SIGCHLD | CLONE_SETTLS | CLONE_CHILD_SETTID, 0x7000,
					0, (uintptr_t)tid, 0x5000 };
	char *path = (char *)rw + 128;
	int64_t pid;
	int status;

	pid = sys(u, SYS_fork, 0, 0, 0, 0);
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(42);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 42);

	pid = user_do_syscall(u, SYS_clone, tls_clone);
	assert_true(pid >= 0);
	if (pid == 0)	/* the child's guest state, and the tid the kernel stored for it */
		_exit(u->cpu.gpr[4] == 0x7000 && u->cpu.fs_base == 0x5000 &&
		      (pid_t)*tid == getpid() ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(u->cpu.fs_base, 0);	/* the parent's is untouched */

	assert_int_equal(sys(u, SYS_clone, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND, 0x7000, 0, 0),
			 -ENOSYS);
	assert_int_equal(sys(u, SYS_clone, SIGCHLD | CLONE_NEWNS, 0, 0, 0), -EINVAL);
	assert_int_equal(sys(u, SYS_clone, SIGCHLD | CLONE_CHILD_SETTID, 0, 0, (uintptr_t)ro), -EFAULT);

	/* execve: the path, the argv array and each of its strings are guest memory */
	strcpy(path, "/nonexistent/program");
	argv[0] = (uintptr_t)path;
	argv[1] = 0;
	assert_int_equal(sys(u, SYS_execve, (uintptr_t)"/bin/sh", (uintptr_t)argv, 0, 0), -EFAULT);
	assert_int_equal(sys(u, SYS_execve, (uintptr_t)path, (uintptr_t)ro - 4, 0, 0), -EFAULT);
	argv[1] = (uintptr_t)"spry's own string";
	assert_int_equal(sys(u, SYS_execve, (uintptr_t)path, (uintptr_t)argv, 0, 0), -EFAULT);
	argv[1] = 0;
	assert_int_equal(sys(u, SYS_execve, (uintptr_t)path, (uintptr_t)argv, 0, 0), -ENOENT);
	strcpy(path, "/");
	assert_int_equal(sys(u, SYS_execve, (uintptr_t)path, (uintptr_t)argv, 0, 0), -EACCES);
	tcg_cpu_destroy(&u->cpu);
	uspace_destroy(&u->as);
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(region_map),
		cmocka_unit_test(loads_static_exec),
		cmocka_unit_test(loads_static_pie),
		cmocka_unit_test(rejects_bad_elves),
		cmocka_unit_test(initial_stack),
		cmocka_unit_test(bad_pointers_fault),
		cmocka_unit_test(memory_calls),
		cmocka_unit_test(process_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
