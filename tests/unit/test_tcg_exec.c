/*
 * TCG-lite's interpreter on small programs in a flat identity-mapped buffer:
 * faults and their precise state, tzcnt as bsf, bulk REP string semantics,
 * self-modifying code, cmpxchg16b alignment, syscall and the CPU model;
 * SSE alignment, MXCSR, FXSAVE/FXRSTOR and the x87 control instructions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu.h"
#include "exec.h"

#define MEM_SIZE (64 * 1024)

static uint8_t *mem;
static int syscalls;
static uint64_t syscall_next_rip;

static int flat_fill(struct tcg_cpu *cpu, uint64_t page, enum tcg_access acc, uint8_t **host)
{
	if (page < (uintptr_t)mem || page >= (uintptr_t)mem + MEM_SIZE) {
		cpu->exc_error = 0;
		return TCG_EXC_PF;
	}
	*host = (uint8_t *)page;
	return 0;
}

static void count_syscall(struct tcg_cpu *cpu)
{
	syscalls++;
	syscall_next_rip = cpu->next_rip;
	cpu->gpr[0] = 42;
	cpu->stop = true;
}

static const struct tcg_env_ops flat_env = { .tlb_fill = flat_fill, .syscall = count_syscall };

static int setup(void **state)
{
	struct tcg_cpu *cpu = malloc(sizeof(*cpu));

	mem = aligned_alloc(4096, MEM_SIZE);
	if (!cpu || !mem || tcg_cpu_init(cpu, &flat_env, NULL))
		return -1;
	memset(mem, 0xcc, MEM_SIZE);
	cpu->rip = (uintptr_t)mem;
	cpu->gpr[4] = (uintptr_t)mem + MEM_SIZE;
	syscalls = 0;
	*state = cpu;
	return 0;
}

static int teardown(void **state)
{
	tcg_cpu_destroy(*state);
	free(*state);
	free(mem);
	return 0;
}

/* Put @code at the start of memory and run it until it stops or faults. */
static int run(struct tcg_cpu *cpu, const uint8_t *code, size_t len, uint64_t budget)
{
	memcpy(mem, code, len);
	tcg_flush(cpu);
	cpu->rip = (uintptr_t)mem;
	return tcg_run(cpu, budget);
}

#define RUN(cpu, budget, ...) \
	run(cpu, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), budget)

static void divide_error_is_precise(void **state)
{
	struct tcg_cpu *cpu = *state;

	cpu->gpr[0] = 7;
	cpu->gpr[1] = 0;
	/* inc rax; div rcx */
	assert_int_equal(RUN(cpu, 10, 0x48, 0xff, 0xc0, 0x48, 0xf7, 0xf1), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_DE);
	assert_int_equal(cpu->rip, (uintptr_t)mem + 3);
	assert_int_equal(cpu->gpr[0], 8);
	/* idiv of INT64_MIN by -1 overflows */
	cpu->gpr[0] = 0x8000000000000000ULL;
	cpu->gpr[2] = ~0ULL;
	cpu->gpr[1] = ~0ULL;
	assert_int_equal(RUN(cpu, 1, 0x48, 0xf7, 0xf9), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_DE);
}

static void tzcnt_runs_as_bsf(void **state)
{
	struct tcg_cpu *cpu = *state;

	/* tzcnt rax, rcx with rcx = 0: as bsf, rax is kept and ZF set (tzcnt would give 64, CF) */
	cpu->gpr[0] = 1234;
	cpu->gpr[1] = 0;
	cpu->rflags = 0x202;
	assert_int_equal(RUN(cpu, 1, 0xf3, 0x48, 0x0f, 0xbc, 0xc1), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->gpr[0], 1234);
	assert_true(cpu->rflags & X86_ZF);
	assert_false(cpu->rflags & X86_CF);
	cpu->gpr[1] = 0x50;
	assert_int_equal(RUN(cpu, 1, 0xf3, 0x48, 0x0f, 0xbd, 0xc1), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->gpr[0], 6);	/* lzcnt as bsr: the highest set bit */
}

static void rep_movs_overlap_replicates(void **state)
{
	struct tcg_cpu *cpu = *state;
	uint8_t *buf = mem + 0x2000;

	memcpy(buf, "ab", 2);
	cpu->gpr[6] = (uintptr_t)buf;
	cpu->gpr[7] = (uintptr_t)buf + 2;
	cpu->gpr[1] = 6;
	cpu->rflags = 0x202;
	/* rep movsb forward over an overlapping range copies the pattern */
	assert_int_equal(RUN(cpu, 1, 0xf3, 0xa4), TCG_EXIT_BUDGET);
	assert_memory_equal(buf, "abababab", 8);
	assert_int_equal(cpu->gpr[1], 0);
	assert_int_equal(cpu->gpr[7], (uintptr_t)buf + 8);
}

static void rep_stos_crosses_pages_in_bulk(void **state)
{
	struct tcg_cpu *cpu = *state;
	uint64_t *buf = (uint64_t *)(mem + 0x2ff0);

	cpu->gpr[0] = 0x1122334455667788ULL;
	cpu->gpr[7] = (uintptr_t)buf;
	cpu->gpr[1] = 600;
	cpu->rflags = 0x202;
	assert_int_equal(RUN(cpu, 1, 0xf3, 0x48, 0xab), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->icount, 1);
	for (int i = 0; i < 600; i++)
		assert_int_equal(buf[i], 0x1122334455667788ULL);
	assert_int_equal(cpu->gpr[1], 0);
}

static void rep_stos_fault_is_restartable(void **state)
{
	struct tcg_cpu *cpu = *state;

	/* stosb runs off the end of memory: the completed part is kept */
	cpu->gpr[7] = (uintptr_t)mem + MEM_SIZE - 10;
	cpu->gpr[1] = 30;
	cpu->rflags = 0x202;
	assert_int_equal(RUN(cpu, 1, 0xf3, 0xaa), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_PF);
	assert_int_equal(cpu->gpr[1], 20);
	assert_int_equal(cpu->gpr[7], (uintptr_t)mem + MEM_SIZE);
	assert_int_equal(cpu->rip, (uintptr_t)mem);
}

static void self_modifying_code(void **state)
{
	struct tcg_cpu *cpu = *state;

	/*
	 * mov byte [rip+1], 0x05 rewrites the immediate of the next
	 * instruction, mov eax, 1 -> mov eax, 5, already decoded in this block.
	 */
	cpu->gpr[0] = 0;
	assert_int_equal(RUN(cpu, 2, 0xc6, 0x05, 0x01, 0, 0, 0, 0x05, 0xb8, 1, 0, 0, 0),
			 TCG_EXIT_BUDGET);
	assert_int_equal(cpu->gpr[0], 5);
}

static void cmpxchg16b_alignment(void **state)
{
	struct tcg_cpu *cpu = *state;
	uint64_t *m = (uint64_t *)(mem + 0x3000);

	m[0] = 1;
	m[1] = 2;
	cpu->gpr[0] = 1;
	cpu->gpr[2] = 2;
	cpu->gpr[3] = 3;
	cpu->gpr[1] = 4;
	cpu->gpr[6] = (uintptr_t)m;
	/* lock cmpxchg16b [rsi] */
	assert_int_equal(RUN(cpu, 1, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), TCG_EXIT_BUDGET);
	assert_true(cpu->rflags & X86_ZF);
	assert_int_equal(m[0], 3);
	assert_int_equal(m[1], 4);
	cpu->gpr[6] += 8;
	assert_int_equal(RUN(cpu, 1, 0xf0, 0x48, 0x0f, 0xc7, 0x0e), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_GP);
}

static void syscall_reaches_the_environment(void **state)
{
	struct tcg_cpu *cpu = *state;

	cpu->gpr[0] = 60;
	assert_int_equal(RUN(cpu, 10, 0x0f, 0x05, 0x90), TCG_EXIT_STOP);
	assert_int_equal(syscalls, 1);
	assert_int_equal(cpu->gpr[0], 42);
	/* the environment gets the return address (its RCX); the interpreter goes on there */
	assert_int_equal(syscall_next_rip, (uintptr_t)mem + 2);
	assert_int_equal(cpu->rip, (uintptr_t)mem + 2);
}

static void blocks_count_executions(void **state)
{
	struct tcg_cpu *cpu = *state;
	struct tcg_block *b;

	/* mov ecx, 10; L: dec ecx; jnz L */
	assert_int_equal(RUN(cpu, 21, 0xb9, 10, 0, 0, 0, 0xff, 0xc9, 0x75, 0xfc), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->gpr[1], 0);
	cpu->rip = (uintptr_t)mem + 5;
	b = tcg_block_get(cpu);
	/* the first iteration ran in the block that starts with the mov */
	assert_int_equal(b->ninsn, 2);
	assert_int_equal(b->execs, 9);
}

static void cpu_model_hides_bmi(void **state)
{
	uint32_t r[4];

	tcg_cpuid(0, 0, r);
	assert_memory_equal(&r[1], "Genu", 4);
	tcg_cpuid(7, 0, r);
	assert_int_equal(r[1] & (1u << 3), 0);	/* no BMI1 */
	tcg_cpuid(0x80000001, 0, r);
	assert_int_equal(r[2] & (1u << 5), 0);	/* no LZCNT (ABM) */
}

static void undecodable_raises_ud(void **state)
{
	struct tcg_cpu *cpu = *state;

	/* nop; then palignr mm0, mm1, 8 (no MMX, so #UD): the nop retires, the fault is at the second */
	assert_int_equal(RUN(cpu, 10, 0x90, 0x0f, 0x3a, 0x0f, 0xc1, 0x08), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_UD);
	assert_int_equal(cpu->rip, (uintptr_t)mem + 1);
}

static void sse_alignment(void **state)
{
	struct tcg_cpu *cpu = *state;

	memset(mem + 0x2000, 0xab, 32);
	cpu->gpr[0] = (uintptr_t)mem + 0x2001;
	/* movdqu xmm0, [rax] is fine unaligned; movdqa xmm1, [rax] is #GP */
	assert_int_equal(RUN(cpu, 1, 0xf3, 0x0f, 0x6f, 0x00), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->xmm[0].q[1], 0xababababababababULL);
	assert_int_equal(RUN(cpu, 1, 0x66, 0x0f, 0x6f, 0x08), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_GP);
	/* pxor xmm0, xmm0; pcmpeqb xmm0, [rax]; pmovmskb ecx, xmm0 */
	cpu->gpr[0] = (uintptr_t)mem + 0x2000;
	mem[0x2003] = 0;
	assert_int_equal(RUN(cpu, 3, 0x66, 0x0f, 0xef, 0xc0, 0x66, 0x0f, 0x74, 0x00,
			     0x66, 0x0f, 0xd7, 0xc8), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->gpr[1], 1 << 3);
}

static void mxcsr_and_fxsave(void **state)
{
	struct tcg_cpu *cpu = *state;
	uint8_t *img = mem + 0x3000;
	uint32_t v = 0x10000;

	/* ldmxcsr with a reserved bit set is #GP */
	memcpy(mem + 0x2000, &v, 4);
	cpu->gpr[0] = (uintptr_t)mem + 0x2000;
	assert_int_equal(RUN(cpu, 1, 0x0f, 0xae, 0x10), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_GP);
	assert_int_equal(cpu->mxcsr, TCG_MXCSR_RESET);
	/* fxsave, scribble, fxrstor: everything comes back */
	for (int i = 0; i < 16; i++)
		memset(&cpu->xmm[i], i + 1, 16);
	cpu->mxcsr = 0x3f80;
	cpu->gpr[0] = (uintptr_t)img;
	assert_int_equal(RUN(cpu, 1, 0x0f, 0xae, 0x00), TCG_EXIT_BUDGET);
	assert_int_equal(img[0] | img[1] << 8, TCG_FCW_RESET);
	assert_int_equal(img[24] | img[25] << 8, 0x3f80);
	assert_int_equal(img[160 + 16 * 15], 16);
	memset(cpu->xmm, 0, sizeof(cpu->xmm));
	cpu->mxcsr = 0;
	assert_int_equal(RUN(cpu, 1, 0x0f, 0xae, 0x08), TCG_EXIT_BUDGET);
	assert_int_equal(cpu->mxcsr, 0x3f80);
	assert_int_equal(cpu->xmm[7].b[9], 8);
	/* a misaligned image is #GP */
	cpu->gpr[0] = (uintptr_t)img + 8;
	assert_int_equal(RUN(cpu, 1, 0x0f, 0xae, 0x00), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_GP);
}

static void x87_control(void **state)
{
	struct tcg_cpu *cpu = *state;
	uint16_t cw = 0x27f, out;

	memcpy(mem + 0x2000, &cw, 2);
	cpu->gpr[0] = (uintptr_t)mem + 0x2000;
	cpu->gpr[1] = (uintptr_t)mem + 0x2010;
	/* fldcw [rax]; fnstcw [rcx]; fninit; fnstsw ax */
	assert_int_equal(RUN(cpu, 4, 0xd9, 0x28, 0xd9, 0x39, 0xdb, 0xe3, 0xdf, 0xe0),
			 TCG_EXIT_BUDGET);
	memcpy(&out, mem + 0x2010, 2);
	assert_int_equal(out, 0x27f);
	assert_int_equal(cpu->fcw, TCG_FCW_RESET);
	assert_int_equal(cpu->gpr[0] & 0xffff, 0);
	/* DB E4 (fsetpm) is not implemented: #UD */
	assert_int_equal(RUN(cpu, 1, 0xdb, 0xe4), TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu->exc_vector, TCG_EXC_UD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(divide_error_is_precise, setup, teardown),
		cmocka_unit_test_setup_teardown(tzcnt_runs_as_bsf, setup, teardown),
		cmocka_unit_test_setup_teardown(rep_movs_overlap_replicates, setup, teardown),
		cmocka_unit_test_setup_teardown(rep_stos_crosses_pages_in_bulk, setup, teardown),
		cmocka_unit_test_setup_teardown(rep_stos_fault_is_restartable, setup, teardown),
		cmocka_unit_test_setup_teardown(self_modifying_code, setup, teardown),
		cmocka_unit_test_setup_teardown(cmpxchg16b_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(syscall_reaches_the_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(blocks_count_executions, setup, teardown),
		cmocka_unit_test_setup_teardown(cpu_model_hides_bmi, setup, teardown),
		cmocka_unit_test_setup_teardown(undecodable_raises_ud, setup, teardown),
		cmocka_unit_test_setup_teardown(sse_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(mxcsr_and_fxsave, setup, teardown),
		cmocka_unit_test_setup_teardown(x87_control, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
