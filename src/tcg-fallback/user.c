/*
 * `spry user PROGRAM [ARGS...]`: load a static x86-64 Linux program, run it
 * under the interpreter with its system calls passed to the host, and exit
 * as it exits. A fault the program takes is reported (with the instruction
 * bytes for #UD, which is how missing instructions show up) and ends spry
 * with the signal Linux would have killed the program with; no signal is
 * ever delivered to a guest handler. SPRY_USER_STATS=1 prints the number of
 * guest instructions and their rate on exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "spry/exit.h"
#include "decode.h"
#include "user.h"

/* Guest pages are host pages: the TLB gets the page itself if the region map allows @acc. */
static int user_fill(struct tcg_cpu *cpu, uint64_t page, enum tcg_access acc, uint8_t **host)
{
	const struct user *u = cpu->opaque;
	const struct user_region *r = uspace_find(&u->as, page);
	int need = acc == TCG_WRITE ? PROT_WRITE : acc == TCG_EXEC ? PROT_EXEC :
		   PROT_READ | PROT_WRITE | PROT_EXEC;

	if (!r || !(r->prot & need)) {
		cpu->exc_error = (r ? 1 : 0) | (acc == TCG_WRITE ? 2 : 0) | 4 |
				 (acc == TCG_EXEC ? 16 : 0);
		return TCG_EXC_PF;
	}
	*host = (uint8_t *)(uintptr_t)page;
	return 0;
}

static const struct tcg_env_ops user_env = { .tlb_fill = user_fill, .syscall = user_syscall };

/* The initial stack, with @argv0 (when not NULL) in place of the path as argv[0]. */
static int setup_stack(struct user *u, const struct user_image *img, int argc,
		       char *const argv[], const char *argv0, char *const envp[], uint64_t *sp)
{
	char **args;
	int rc;

	if (!argv0)
		return user_setup_stack(&u->as, img, argc, argv, envp, argv[0], sp);
	args = calloc(argc + 1, sizeof(*args));
	if (!args)
		return -ENOMEM;
	memcpy(args, argv, argc * sizeof(*args));
	args[0] = (char *)argv0;
	rc = user_setup_stack(&u->as, img, argc, args, envp, argv[0], sp);
	free(args);
	return rc;
}

int user_init(struct user *u, int argc, char *const argv[], const char *argv0,
	      char *const envp[])
{
	struct user_image img;
	char err[256];
	uint64_t sp;
	int fd, rc;

	memset(u, 0, sizeof(*u));
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "spry user: %s: %s\n", argv[0], strerror(errno));
		return -1;
	}
	if (!realpath(argv[0], u->exe))
		snprintf(u->exe, sizeof(u->exe), "%s", argv[0]);
	rc = user_load_elf(&u->as, fd, &img, err, sizeof(err));
	close(fd);
	if (rc) {
		fprintf(stderr, "spry user: %s: %s\n", argv[0], err);
		uspace_destroy(&u->as);
		return -1;
	}
	rc = setup_stack(u, &img, argc, argv, argv0, envp, &sp);
	if (!rc)
		rc = tcg_cpu_init(&u->cpu, &user_env, u);
	if (rc) {
		fprintf(stderr, "spry user: %s: cannot set up the process: %s\n", argv[0],
			strerror(-rc));
		uspace_destroy(&u->as);
		return -1;
	}
	u->brk_start = u->brk = img.hi;
	u->cpu.rip = img.entry;
	u->cpu.gpr[4] = sp;
	return 0;
}

void user_destroy(struct user *u)
{
	tcg_cpu_destroy(&u->cpu);
	uspace_destroy(&u->as);
}

static int fault_signal(int vector)
{
	switch (vector) {
	case TCG_EXC_DE: return SIGFPE;
	case TCG_EXC_UD: return SIGILL;
	case TCG_EXC_BP: return SIGTRAP;
	default: return SIGSEGV;
	}
}

static const char *fault_name(int vector)
{
	switch (vector) {
	case TCG_EXC_DE: return "#DE (divide error)";
	case TCG_EXC_UD: return "#UD (invalid or unimplemented instruction)";
	case TCG_EXC_BP: return "#BP (int3)";
	case TCG_EXC_GP: return "#GP (general protection)";
	case TCG_EXC_PF: return "#PF (page fault)";
	default: return "exception";
	}
}

static void report_fault(const struct user *u)
{
	const struct tcg_cpu *cpu = &u->cpu;

	fprintf(stderr, "spry user: %s at rip %#llx", fault_name(cpu->exc_vector),
		(unsigned long long)cpu->rip);
	if (cpu->exc_vector == TCG_EXC_PF)
		fprintf(stderr, ", address %#llx", (unsigned long long)cpu->fault_addr);
	if (cpu->exc_vector == TCG_EXC_UD || cpu->exc_vector == TCG_EXC_GP) {
		fputs(", bytes", stderr);
		for (uint64_t a = cpu->rip; a < cpu->rip + X86_MAX_INSN_LEN; a++) {
			if (!uspace_check(&u->as, a, 1, PROT_READ))
				break;
			fprintf(stderr, " %02x", *(const uint8_t *)(uintptr_t)a);
		}
	}
	fputc('\n', stderr);
}

/* End spry with @sig, as the kernel would have ended the program (without a core file). */
static int die_by_signal(int sig)
{
	struct rlimit none = { 0, 0 };
	sigset_t set;

	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int tcg_user_main(int argc, char *const argv[], const char *argv0)
{
	static struct user u;
	extern char **environ;
	sigset_t none;
	double t0;
	int rc, status;

	/* spry blocks its stop signals for the VM's threads; a program gets them as usual. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (user_init(&u, argc, argv, argv0, environ))
		return SPRY_EXIT_ERROR;
	t0 = now();
	do
		rc = tcg_run(&u.cpu, UINT64_MAX / 2);
	while (rc == TCG_EXIT_BUDGET);
	if (getenv("SPRY_USER_STATS")) {
		double t = now() - t0;

		fprintf(stderr, "spry user: %llu guest instructions in %.3f s: %.1f M/s\n",
			(unsigned long long)u.cpu.icount, t, u.cpu.icount / t / 1e6);
	}
	if (rc == TCG_EXIT_EXCEPTION) {
		report_fault(&u);
		return die_by_signal(fault_signal(u.cpu.exc_vector));
	}
	status = u.exit_status;
	user_destroy(&u);
	return status;
}
