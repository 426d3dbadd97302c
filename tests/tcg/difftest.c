/*
 * Differential tester: random instruction sequences from the decoder's
 * tables run natively (in a forked child, through native.S) and in TCG-lite
 * from the same registers, flags, MXCSR, XMM registers and scratch page;
 * every GPR and XMM, MXCSR, the defined flags, the scratch page and any
 * fault must agree. A mismatch is shrunk to
 * a minimal sequence and printed. Usage: tcg_difftest [CASES [SEED]]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu.h"
#include "gen.h"

#define CODE_ADDR 0x10000000ULL		/* two pages: code, then the exit stub */
#define SCRATCH_ADDR 0x10010000ULL	/* below 4 GiB, so 32-bit addressing reaches it */
#define STUB_ADDR (CODE_ADDR + 4096)
#define SEQ_MAX 8
#define BATCH 4096
#define FLAGS_CMP (X86_FL_ARITH | X86_DF)

/* The layout native.S uses. */
struct native_regs {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t rip;
	uint64_t mxcsr;
	uint64_t pad;
	union tcg_xmm xmm[16];
};

struct result {
	uint64_t gpr[16];
	union tcg_xmm xmm[16];
	uint32_t mxcsr;
	uint64_t rflags;
	uint64_t fault_rip;
	uint64_t hash;		/* of the scratch page */
	int sig;		/* 0: ran to the end */
	uint16_t undef;		/* flags left undefined (interpreter side only) */
	bool tainted;		/* read an undefined flag: not comparable */
	uint64_t retired;	/* instructions the interpreter retired */
};

struct tcase {
	struct unit u[SEQ_MAX];
	int n;
	struct native_regs in;
};

extern struct native_regs native_out;
extern uint64_t native_host_rsp;
void native_enter(const struct native_regs *in);
void native_exit(void);
void native_resume(void);

static uint8_t scratch_init[4096];
static volatile int fault_sig;
static volatile uint64_t fault_rip;

static const char *const reg_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static uint64_t page_hash(const void *p)
{
	const uint64_t *w = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 512; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

/* Code is placed so that it ends where the exit stub begins. */
static uint64_t place_code(const struct tcase *c)
{
	uint64_t base = STUB_ADDR - gen_length(c->u, c->n);

	gen_assemble(c->u, c->n, base, SCRATCH_ADDR, (uint8_t *)base, 4096);
	return base;
}

/* ---- native side (in the child) ---- */

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	static const int map[16] = {
		REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
	};

	for (int i = 0; i < 16; i++)
		native_out.gpr[i] = g[map[i]];
	native_out.rflags = g[REG_EFL];
	native_out.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	memcpy(native_out.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(native_out.xmm));
	fault_sig = sig;
	fault_rip = g[REG_RIP];
	g[REG_RSP] = native_host_rsp;
	g[REG_RIP] = (greg_t)native_resume;
	g[REG_EFL] &= ~(greg_t)(X86_DF | X86_TF);
	(void)si;
}

static void native_setup(void)
{
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };

	sigaltstack(&ss, NULL);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void native_one(const struct tcase *c, struct result *res)
{
	struct native_regs in = c->in;

	memcpy((void *)SCRATCH_ADDR, scratch_init, 4096);
	in.rip = place_code(c);
	fault_sig = 0;
	native_enter(&in);
	memcpy(res->gpr, native_out.gpr, sizeof(res->gpr));
	memcpy(res->xmm, native_out.xmm, sizeof(res->xmm));
	res->mxcsr = native_out.mxcsr;
	res->rflags = native_out.rflags;
	res->sig = fault_sig;
	res->fault_rip = fault_sig ? fault_rip : 0;
	res->hash = page_hash((void *)SCRATCH_ADDR);
}

/* Run @n cases natively in a child; false if the child itself died. */
static bool native_batch(const struct tcase *c, int n, struct result *res)
{
	struct result *shared = mmap(NULL, n * sizeof(*res), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int status;

	if (shared == MAP_FAILED)
		return false;
	pid = fork();
	if (pid == 0) {
		native_setup();
		for (int i = 0; i < n; i++)
			native_one(&c[i], &shared[i]);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	memcpy(res, shared, n * sizeof(*res));
	munmap(shared, n * sizeof(*res));
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- interpreter side ---- */

static int env_fill(struct tcg_cpu *cpu, uint64_t page, enum tcg_access acc, uint8_t **host)
{
	if ((page == CODE_ADDR && acc != TCG_WRITE) || page == SCRATCH_ADDR) {
		*host = (uint8_t *)page;
		return 0;
	}
	cpu->exc_error = 0;
	return TCG_EXC_PF;
}

static const struct tcg_env_ops env = { .tlb_fill = env_fill };

/* Flags an instruction writes and leaves undefined, refined by its shift count. */
static void flag_effects(const struct tcg_cpu *cpu, const struct x86_insn *insn,
			 uint16_t *wr, uint16_t *undef)
{
	unsigned int count;
	int cnt_op = insn->op == X86_OP_SHLD || insn->op == X86_OP_SHRD ? 2 : 1;

	*wr = insn->fwrite;
	*undef = insn->fundef;
	if ((insn->pfx & (X86_PFX_REP | X86_PFX_REPNE)) && (insn->attr & X86_A_STRING) &&
	    !(cpu->gpr[1] & (insn->addrsize == 8 ? ~0ULL : (1ULL << 8 * insn->addrsize) - 1)))
		*wr = 0;	/* REP with rCX = 0 does nothing */
	if (!(insn->op >= X86_OP_ROL && insn->op <= X86_OP_SAR) && cnt_op == 1)
		return;
	count = insn->opnd[cnt_op].kind == X86_OPND_IMM ? insn->imm : cpu->gpr[1];
	count &= insn->opsize == 8 ? 63 : 31;
	if (!count) {
		*wr = *undef = 0;
		return;
	}
	if (count == 1)
		*undef &= ~X86_OF;
	if ((insn->op == X86_OP_SHL || insn->op == X86_OP_SHR) && count >= insn->opsize * 8u)
		*undef |= X86_CF;
}

/* SIGBUS and SIGSEGV both stand for a protection or alignment fault. */
static int sig_class(int sig)
{
	return sig == SIGBUS ? SIGSEGV : sig;
}

static int vector_sig(int vector)
{
	static const int sigs[] = { SIGFPE, SIGSEGV, SIGSEGV, SIGTRAP, SIGSEGV, SIGSEGV, SIGILL };

	return vector < 7 ? sigs[vector] : SIGSEGV;
}

/*
 * Run @c in the interpreter: with @step, one instruction at a time (through
 * the generic handlers but for blocks of one instruction), following the
 * undefined flags; else in one go, as whole blocks with their specialised
 * handlers and dead flags left out.
 */
static void interp_one(struct tcg_cpu *cpu, const struct tcase *c, struct result *res,
		       bool step)
{
	uint64_t icount0 = cpu->icount;
	uint16_t undef = 0;
	int steps = 0;

	memset(res, 0, sizeof(*res));
	memcpy((void *)SCRATCH_ADDR, scratch_init, 4096);
	memcpy(cpu->gpr, c->in.gpr, sizeof(cpu->gpr));
	memcpy(cpu->xmm, c->in.xmm, sizeof(cpu->xmm));
	cpu->mxcsr = c->in.mxcsr;
	cpu->rflags = c->in.rflags;
	cpu->rip = place_code(c);
	tcg_flush(cpu);
	if (!step)
		tcg_run(cpu, 1001);	/* as many as the stepping below runs at most */
	while (step) {
		struct x86_insn insn;
		uint16_t wr, un;
		int rc;

		if (cpu->rip >= CODE_ADDR && cpu->rip < STUB_ADDR &&
		    !x86_decode((uint8_t *)cpu->rip, STUB_ADDR - cpu->rip, 64, &insn)) {
			if (insn.fread & undef)
				res->tainted = true;
			flag_effects(cpu, &insn, &wr, &un);
		} else {
			wr = un = 0;
		}
		rc = tcg_run(cpu, 1);
		if (rc == TCG_EXIT_EXCEPTION)
			break;
		undef = (undef & ~wr) | un;
		if (++steps > 1000)
			break;
	}
	memcpy(res->gpr, cpu->gpr, sizeof(res->gpr));
	memcpy(res->xmm, cpu->xmm, sizeof(res->xmm));
	res->mxcsr = cpu->mxcsr;
	res->rflags = cpu->rflags;
	res->undef = undef;
	if (!(cpu->exc_vector == TCG_EXC_PF && cpu->rip == STUB_ADDR)) {
		res->sig = vector_sig(cpu->exc_vector);
		res->fault_rip = cpu->rip;
	}
	res->hash = page_hash((void *)SCRATCH_ADDR);
	res->retired = cpu->icount - icount0;
}

/* NULL when @n (native) and @t (interpreter) agree, else what differs. */
static const char *compare(const struct result *n, const struct result *t)
{
	static char why[256];
	uint64_t fm = FLAGS_CMP & ~(uint64_t)t->undef;

	if (sig_class(n->sig) != t->sig || n->fault_rip != t->fault_rip) {
		snprintf(why, sizeof(why), "fault: native sig %d at %#llx, tcg sig %d at %#llx",
			 n->sig, (unsigned long long)n->fault_rip, t->sig,
			 (unsigned long long)t->fault_rip);
		return why;
	}
	for (int i = 0; i < 16; i++) {
		if (n->gpr[i] != t->gpr[i]) {
			snprintf(why, sizeof(why), "%s: native %#llx, tcg %#llx", reg_names[i],
				 (unsigned long long)n->gpr[i], (unsigned long long)t->gpr[i]);
			return why;
		}
	}
	for (int i = 0; i < 16; i++) {
		if (memcmp(&n->xmm[i], &t->xmm[i], 16)) {
			snprintf(why, sizeof(why), "xmm%d: native %016llx%016llx, tcg %016llx%016llx",
				 i, (unsigned long long)n->xmm[i].q[1],
				 (unsigned long long)n->xmm[i].q[0],
				 (unsigned long long)t->xmm[i].q[1],
				 (unsigned long long)t->xmm[i].q[0]);
			return why;
		}
	}
	if (n->mxcsr != t->mxcsr) {
		snprintf(why, sizeof(why), "mxcsr: native %#x, tcg %#x", n->mxcsr, t->mxcsr);
		return why;
	}
	if ((n->rflags ^ t->rflags) & fm) {
		snprintf(why, sizeof(why), "rflags: native %#llx, tcg %#llx (compared %#llx)",
			 (unsigned long long)n->rflags, (unsigned long long)t->rflags,
			 (unsigned long long)fm);
		return why;
	}
	if (n->hash != t->hash)
		return "scratch page differs";
	return NULL;
}

/*
 * Whether @c run by the interpreter (*@t) agrees with @n, its native run:
 * a step at a time and as whole blocks. NULL when it does or the case is
 * not comparable (t->tainted), else what differs.
 */
static const char *judge(struct tcg_cpu *cpu, const struct tcase *c, const struct result *n,
			 struct result *t)
{
	static char why[300];
	struct result w;
	const char *d;

	interp_one(cpu, c, t, true);
	if (t->tainted)
		return NULL;
	d = compare(n, t);
	if (d)
		return d;
	interp_one(cpu, c, &w, false);
	w.undef = t->undef;
	d = compare(n, &w);
	if (!d && w.retired == t->retired)
		return NULL;
	if (!d)
		snprintf(why, sizeof(why), "run as blocks: %llu instructions retired, stepping %llu",
			 (unsigned long long)w.retired, (unsigned long long)t->retired);
	else
		snprintf(why, sizeof(why), "run as blocks: %s", d);
	return why;
}

static const char *check_case(struct tcg_cpu *cpu, const struct tcase *c, bool *skipped)
{
	struct result n, t;
	const char *why;

	if (!native_batch(c, 1, &n))
		return "native child died";
	why = judge(cpu, c, &n, &t);
	*skipped = t.tainted;
	return why;
}

/* Drop units while the case still fails, then print what is left. */
static void shrink_and_report(struct tcg_cpu *cpu, struct tcase *c, const char *why)
{
	bool skipped, again = true;

	while (again) {
		again = false;
		for (int i = c->n - 1; i >= 0 && c->n > 1; i--) {
			struct tcase t = *c;

			memmove(&t.u[i], &t.u[i + 1], (t.n - i - 1) * sizeof(t.u[0]));
			t.n--;
			if (check_case(cpu, &t, &skipped)) {
				*c = t;
				again = true;
			}
		}
	}
	why = check_case(cpu, c, &skipped);
	printf("MISMATCH: %s\n  initial state:", why ? why : "(flaky)");
	for (int i = 0; i < 16; i++)
		printf("%s %s=%#llx", i % 4 ? "" : "\n   ", reg_names[i],
		       (unsigned long long)c->in.gpr[i]);
	printf("\n    rflags=%#llx mxcsr=%#llx\n", (unsigned long long)c->in.rflags,
	       (unsigned long long)c->in.mxcsr);
	for (int i = 0; i < 16; i++)
		printf("    xmm%d=%016llx%016llx\n", i, (unsigned long long)c->in.xmm[i].q[1],
		       (unsigned long long)c->in.xmm[i].q[0]);
	printf("  code (%d units):\n", c->n);
	for (int i = 0; i < c->n; i++) {
		printf("   ");
		for (int k = 0; k < c->u[i].len; k++)
			printf("%s%02x", k == c->u[i].insn_off ? " | " : " ", c->u[i].bytes[k]);
		printf("   (%s)\n", x86_op_names[c->u[i].op]);
	}
}

static void make_case(struct rng *r, struct tcase *c)
{
	const struct gen_opts o = { .mode = 64, .difftest = true, .scratch = SCRATCH_ADDR };

	c->n = 1 + rng_below(r, SEQ_MAX);
	for (int i = 0; i < c->n; i++)
		gen_unit(r, &o, &c->u[i]);
	for (int i = 0; i < 16; i++)
		c->in.gpr[i] = rng_value(r);
	c->in.gpr[4] = SCRATCH_ADDR + 2048 - 8 * rng_below(r, 16);
	c->in.rflags = 0x202 | (rng_next(r) & FLAGS_CMP);
	for (int i = 0; i < 16; i++) {
		c->in.xmm[i].q[0] = rng_value(r);
		c->in.xmm[i].q[1] = rng_value(r);
	}
	/* every exception masked; random rounding, FTZ, DAZ and sticky flags */
	c->in.mxcsr = 0x1f80 | (rng_next(r) & 0xe07f);
}

static bool map_pages(void)
{
	void *code = mmap((void *)CODE_ADDR, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *scratch = mmap((void *)SCRATCH_ADDR, 4096, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	uint8_t *stub = (uint8_t *)STUB_ADDR;
	uint64_t target = (uint64_t)native_exit;

	if (code != (void *)CODE_ADDR || scratch != (void *)SCRATCH_ADDR)
		return false;
	/* jmp [rip+0]; .quad native_exit */
	stub[0] = 0xff;
	stub[1] = 0x25;
	memset(stub + 2, 0, 4);
	memcpy(stub + 6, &target, 8);
	return true;
}

int main(int argc, char **argv)
{
	long cases = argc > 1 ? atol(argv[1]) : 1000000;
	struct rng r = { .s = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed };
	static struct tcase batch[BATCH];
	static struct result nres[BATCH];
	long done = 0, skipped = 0, mismatches = 0, faulted = 0;
	struct tcg_cpu cpu;

	if (!map_pages() || tcg_cpu_init(&cpu, &env, NULL)) {
		fprintf(stderr, "tcg_difftest: cannot map the test pages\n");
		return 2;
	}
	while (done < cases && mismatches < 3) {
		int n = cases - done < BATCH ? (int)(cases - done) : BATCH;

		for (int i = 0; i < 4096; i++)
			scratch_init[i] = rng_next(&r);
		for (int i = 0; i < n; i++)
			make_case(&r, &batch[i]);
		if (!native_batch(batch, n, nres)) {
			fprintf(stderr, "tcg_difftest: the native child died\n");
			return 2;
		}
		for (int i = 0; i < n && mismatches < 3; i++) {
			struct result t;
			const char *why;

			why = judge(&cpu, &batch[i], &nres[i], &t);
			if (t.tainted) {
				skipped++;
				continue;
			}
			faulted += t.sig != 0;
			if (why) {
				mismatches++;
				shrink_and_report(&cpu, &batch[i], why);
			}
		}
		done += n;
	}
	printf("tcg_difftest: %ld cases (%ld ended in a fault, %ld skipped: read an undefined flag), "
	       "%ld mismatches\n", done, faulted, skipped, mismatches);
	tcg_cpu_destroy(&cpu);
	return mismatches ? 1 : 0;
}
