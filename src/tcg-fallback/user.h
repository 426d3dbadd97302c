/*
 * The linux-user runner (`spry user PROGRAM [ARGS...]`, as QEMU's
 * x86_64-user): a static x86-64 Linux ELF runs under the interpreter with its
 * system calls passed to the host.
 *
 * Memory: guest addresses are host addresses (the classic user-mode 1:1
 * trick). The program is loaded at its link address when nothing of spry's
 * is there (ET_EXEC; a static-pie goes wherever the host puts it), and guest
 * mmap, brk and the stack are host mappings in this process. A region map
 * records which pages belong to the guest and with what protection: the
 * interpreter's TLB fill and every pointer a system call takes are checked
 * against it, so the guest can neither reach nor unmap spry's own memory
 * (a bad pointer gives -EFAULT, a bad access SIGSEGV). Host pages keep the
 * guest's read/write bits but are never executable.
 */
#ifndef SPRY_TCG_USER_H
#define SPRY_TCG_USER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "spry/tcg_user.h"

struct user_region {
	uint64_t start, end;	/* page-aligned, end exclusive */
	int prot;		/* PROT_READ | PROT_WRITE | PROT_EXEC, as the guest asked */
};

/* The guest's pages: sorted, non-overlapping regions. */
struct user_space {
	struct user_region *r;
	size_t n, cap;
};

/* Record [@start, @end) as guest memory with @prot (replacing what was there); 0 or -ENOMEM. */
int uspace_set(struct user_space *as, uint64_t start, uint64_t end, int prot);
/* Forget [@start, @end). */
int uspace_clear(struct user_space *as, uint64_t start, uint64_t end);
/* The region holding @addr, or NULL. */
const struct user_region *uspace_find(const struct user_space *as, uint64_t addr);
/* Whether every page of [@start, @end) is guest memory. */
bool uspace_owns(const struct user_space *as, uint64_t start, uint64_t end);
/*
 * Whether @len bytes at @addr may be accessed with @prot (PROT_READ or
 * PROT_WRITE) by the guest; a zero length always may.
 */
bool uspace_check(const struct user_space *as, uint64_t addr, uint64_t len, int prot);
/* Unmap every guest region and free the map. */
void uspace_destroy(struct user_space *as);
/* The host protection for guest protection @prot (never executable). */
int uspace_host_prot(int prot);

/* What the ELF loader found. */
struct user_image {
	uint64_t entry;		/* e_entry plus the load bias */
	uint64_t phdr;		/* the program headers in guest memory */
	uint64_t phnum;
	uint64_t bias;		/* 0 for ET_EXEC */
	uint64_t lo, hi;	/* the mapped span (page-aligned) */
};

/*
 * Map the static x86-64 ELF open on @fd into @as. Returns 0, or -1 with one
 * line in @err (not an ELF, wrong machine, dynamic, colliding with spry...).
 */
int user_load_elf(struct user_space *as, int fd, struct user_image *img, char *err,
		  size_t errlen);

#define USER_STACK_SIZE (8ULL << 20)

/*
 * Map the stack and lay out argc, argv, envp and the auxiliary vector the
 * way Linux does for @img; *@sp gets the initial stack pointer. 0 or -errno.
 */
int user_setup_stack(struct user_space *as, const struct user_image *img, int argc,
		     char *const argv[], char *const envp[], const char *execfn, uint64_t *sp);

/* The runner's state: the CPU's environment (cpu->opaque). */
struct user {
	struct tcg_cpu cpu;
	struct user_space as;
	uint64_t brk_start, brk;	/* the program break: brk_start..brk mapped (page-rounded) */
	char exe[4096];			/* what /proc/self/exe reads as */
	int exit_status;		/* valid once cpu.stop is set */
	uint64_t sigmask;		/* recorded, never acted on: no signal is delivered */
	uint8_t sigact[64][32];		/* recorded struct kernel_sigaction per signal */
	uint64_t clear_child_tid;
	uint64_t warned[8];		/* syscalls already reported as not implemented */
};

/*
 * 0 when @len bytes at @addr may be accessed with @prot (PROT_READ or
 * PROT_WRITE), else -EFAULT; noting a kernel write over decoded code.
 */
int user_check(struct user *u, uint64_t addr, uint64_t len, int prot);
/* A NUL-terminated guest string of at most 4096 bytes: 0, -EFAULT or -ENAMETOOLONG. */
int user_check_str(struct user *u, uint64_t addr);
/* Report "@what @arg not implemented" once per system call @nr. */
void user_warn_once(struct user *u, uint64_t nr, const char *what, uint64_t arg);

/* Processes (user_proc.c): fork-like clone, fork and vfork, execve. */
int64_t user_sys_clone(struct user *u, const uint64_t a[6]);
int64_t user_sys_fork(struct user *u);
int64_t user_sys_execve(struct user *u, const uint64_t a[6]);

/* The system call at cpu->gpr[0] with the Linux x86-64 argument registers. */
void user_syscall(struct tcg_cpu *cpu);
/* One system call by number: the dispatcher, for the runner and the unit tests. */
int64_t user_do_syscall(struct user *u, uint64_t nr, const uint64_t a[6]);

/*
 * Set up @u to run the program at path @argv[0], which sees @argv0 as its
 * argv[0] when not NULL; 0, or -1 with the reason printed.
 */
int user_init(struct user *u, int argc, char *const argv[], const char *argv0,
	      char *const envp[]);
void user_destroy(struct user *u);

#endif
