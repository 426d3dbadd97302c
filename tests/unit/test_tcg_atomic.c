/*
 * TCG-lite's locked instructions against other host threads: two vCPUs, each
 * its own struct tcg_cpu on its own thread, run the same loop of LOCK'ed
 * read-modify-writes (and an xchg spinlock) over one shared page of guest
 * memory, and every counter must come out exact: a locked operation done as
 * a load and a store loses updates. Single-threaded checks cover operands
 * across a page or a cache line (which take the plain path: no host split
 * lock), a locked write to decoded code and a locked operand that faults.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu.h"
#include "mem.h"

#define MEM_SIZE (64 * 1024)
#define NTHREADS 2
/*
 * Iterations of each vCPU's loop: a load-and-store counter loses thousands
 * of updates in LOOPS; the lock and bit tests need two threads to meet in a
 * narrower window, so they run longer.
 */
#define LOOPS 200000
#define LONG_LOOPS 400000

static uint8_t *mem;

/* Guest addresses are host addresses inside mem: code at mem, data at DATA. */
#define DATA (mem + 0x4000)

static int flat_fill(struct tcg_cpu *cpu, uint64_t page, enum tcg_access acc, uint8_t **host)
{
	if (page < (uintptr_t)mem || page >= (uintptr_t)mem + MEM_SIZE) {
		cpu->exc_error = 0;
		return TCG_EXC_PF;
	}
	*host = (uint8_t *)page;
	return 0;
}

/* Every program ends in syscall. */
static void stop(struct tcg_cpu *cpu)
{
	cpu->stop = true;
}

static const struct tcg_env_ops flat_env = { .tlb_fill = flat_fill, .syscall = stop };

static int setup(void **state)
{
	mem = aligned_alloc(4096, MEM_SIZE);
	if (!mem)
		return -1;
	memset(mem, 0, MEM_SIZE);
	return 0;
}

static int teardown(void **state)
{
	free(mem);
	return 0;
}

struct vcpu {
	struct tcg_cpu cpu;
	pthread_t thread;
	pthread_barrier_t *start;
	int exit;
};

static void *vcpu_run(void *arg)
{
	struct vcpu *v = arg;

	/* Start together, so that the loops overlap. */
	pthread_barrier_wait(v->start);
	v->exit = tcg_run(&v->cpu, 1ULL << 40);
	return NULL;
}

/*
 * vCPU @t's registers: rdi the data, rcx and r9 the loop count @loops, rsi
 * its number, rdx its bit and rbx the rest, r8 (the error count) zero.
 */
static void vcpu_init(struct tcg_cpu *cpu, int t, uint64_t loops)
{
	assert_int_equal(tcg_cpu_init(cpu, &flat_env, NULL), 0);
	cpu->rip = (uintptr_t)mem;
	cpu->gpr[7] = (uintptr_t)DATA;
	cpu->gpr[1] = cpu->gpr[9] = loops;
	cpu->gpr[6] = t;
	cpu->gpr[2] = 1ULL << t;
	cpu->gpr[3] = ~(1ULL << t);
}

/* Run @code on NTHREADS vCPUs at once; each must reach its syscall with r8 zero. */
static void run_threads(const uint8_t *code, size_t len, uint64_t loops)
{
	struct vcpu *v = calloc(NTHREADS, sizeof(*v));
	pthread_barrier_t start;

	assert_non_null(v);
	memcpy(mem, code, len);
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int t = 0; t < NTHREADS; t++) {
		vcpu_init(&v[t].cpu, t, loops);
		v[t].start = &start;
		assert_int_equal(pthread_create(&v[t].thread, NULL, vcpu_run, &v[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(v[t].thread, NULL);
	pthread_barrier_destroy(&start);
	for (int t = 0; t < NTHREADS; t++) {
		assert_int_equal(v[t].exit, TCG_EXIT_STOP);
		assert_int_equal(v[t].cpu.gpr[8], 0);
		tcg_cpu_destroy(&v[t].cpu);
	}
	free(v);
}

#define RUN_THREADS(loops, ...) \
	run_threads((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), loops)

static uint64_t data_get(int off, int size)
{
	uint64_t v = 0;

	memcpy(&v, DATA + off, size);
	return v;
}

static void lock_xadd_counts(void **state)
{
	RUN_THREADS(LOOPS,
		0xb8, 1, 0, 0, 0,		/* 1: mov eax, 1 */
		0xf0, 0x48, 0x0f, 0xc1, 0x07,	/* lock xadd [rdi], rax */
		0xb8, 3, 0, 0, 0,		/* mov eax, 3 */
		0x66, 0xf0, 0x0f, 0xc1, 0x47, 8, /* lock xadd [rdi+8], ax */
		0xff, 0xc9,			/* dec ecx */
		0x75, 0xe7,			/* jnz 1b */
		0x0f, 0x05);			/* syscall */
	assert_int_equal(data_get(0, 8), NTHREADS * LOOPS);
	assert_int_equal(data_get(8, 2), (3 * NTHREADS * LOOPS) & 0xffff);
}

/*
 * add, adc, sbb, inc, dec, sub, not and neg, of every size, one misaligned;
 * not and neg run an even number of times in all, so they must come back to
 * where they started.
 */
static void lock_alu_counts(void **state)
{
	memcpy(DATA + 32, &(uint64_t){ 0x0123456789abcdefULL }, 8);
	memcpy(DATA + 40, &(uint64_t){ 5 }, 8);
	RUN_THREADS(LOOPS,
		0xf0, 0x48, 0x83, 0x07, 1,		/* 1: lock add qword [rdi], 1 */
		0xf9,					/* stc */
		0xf0, 0x83, 0x57, 8, 0,			/* lock adc dword [rdi+8], 0 */
		0xf8,					/* clc */
		0xf0, 0x48, 0x83, 0x5f, 16, 0xff,	/* lock sbb qword [rdi+16], -1 */
		0x66, 0xf0, 0xff, 0x47, 24,		/* lock inc word [rdi+24] */
		0xf0, 0xfe, 0x4f, 26,			/* lock dec byte [rdi+26] */
		0xf0, 0x83, 0x6f, 28, 2,		/* lock sub dword [rdi+28], 2 */
		0xf0, 0x48, 0xf7, 0x57, 32,		/* lock not qword [rdi+32] */
		0xf0, 0x48, 0xf7, 0x5f, 40,		/* lock neg qword [rdi+40] */
		0xf0, 0x83, 0x47, 49, 1,		/* lock add dword [rdi+49], 1 */
		0xff, 0xc9,				/* dec ecx */
		0x75, 0xcd,				/* jnz 1b */
		0x0f, 0x05);				/* syscall */
	assert_int_equal(data_get(0, 8), NTHREADS * LOOPS);
	assert_int_equal(data_get(8, 4), NTHREADS * LOOPS);
	assert_int_equal(data_get(16, 8), NTHREADS * LOOPS);
	assert_int_equal(data_get(24, 2), (NTHREADS * LOOPS) & 0xffff);
	assert_int_equal(data_get(26, 1), -(NTHREADS * LOOPS) & 0xff);
	assert_int_equal(data_get(28, 4), (uint32_t)-(2 * NTHREADS * LOOPS));
	assert_int_equal(data_get(32, 8), 0x0123456789abcdefULL);
	assert_int_equal(data_get(40, 8), 5);
	assert_int_equal(data_get(49, 4), NTHREADS * LOOPS);
}

/* The compare-and-swap retry loop, on a qword and a word. */
static void lock_cmpxchg_loop_counts(void **state)
{
	RUN_THREADS(LOOPS,
		0x48, 0x8b, 0x07,			/* 1: mov rax, [rdi] */
		0x48, 0x8d, 0x50, 1,			/* 2: lea rdx, [rax+1] */
		0xf0, 0x48, 0x0f, 0xb1, 0x17,		/* lock cmpxchg [rdi], rdx */
		0x75, 0xf5,				/* jnz 2b */
		0x66, 0x8b, 0x47, 8,			/* mov ax, [rdi+8] */
		0x8d, 0x50, 5,				/* 3: lea edx, [rax+5] */
		0x66, 0xf0, 0x0f, 0xb1, 0x57, 8,	/* lock cmpxchg [rdi+8], dx */
		0x75, 0xf5,				/* jnz 3b */
		0xff, 0xc9,				/* dec ecx */
		0x75, 0xdf,				/* jnz 1b */
		0x0f, 0x05);				/* syscall */
	assert_int_equal(data_get(0, 8), NTHREADS * LOOPS);
	assert_int_equal(data_get(8, 2), (5 * NTHREADS * LOOPS) & 0xffff);
}

/* Both halves move together: a torn update would break the 1:2 and 1:3 ratios. */
static void lock_cmpxchg16b_8b_loop_counts(void **state)
{
	RUN_THREADS(LOOPS,
		0x48, 0x8b, 0x07,			/* 1: mov rax, [rdi] */
		0x48, 0x8b, 0x57, 8,			/* mov rdx, [rdi+8] */
		0x48, 0x8d, 0x58, 1,			/* 2: lea rbx, [rax+1] */
		0x48, 0x8d, 0x4a, 2,			/* lea rcx, [rdx+2] */
		0xf0, 0x48, 0x0f, 0xc7, 0x0f,		/* lock cmpxchg16b [rdi] */
		0x75, 0xf1,				/* jnz 2b */
		0x8b, 0x47, 20,				/* mov eax, [rdi+20] */
		0x8b, 0x57, 24,				/* mov edx, [rdi+24] */
		0x8d, 0x58, 1,				/* 3: lea ebx, [rax+1] */
		0x8d, 0x4a, 3,				/* lea ecx, [rdx+3] */
		0xf0, 0x0f, 0xc7, 0x4f, 20,		/* lock cmpxchg8b [rdi+20] */
		0x75, 0xf3,				/* jnz 3b */
		0x49, 0xff, 0xc9,			/* dec r9 */
		0x75, 0xd2,				/* jnz 1b */
		0x0f, 0x05);				/* syscall */
	assert_int_equal(data_get(0, 8), NTHREADS * LOOPS);
	assert_int_equal(data_get(8, 8), 2 * NTHREADS * LOOPS);
	assert_int_equal(data_get(20, 4), NTHREADS * LOOPS);
	assert_int_equal(data_get(24, 4), 3 * NTHREADS * LOOPS);
}

/*
 * xchg without LOCK takes the lock; a plain load, add and store is the
 * critical section. Were xchg a load and a store, a release could be lost
 * and the lock stay taken: the spin gives up (r8) after about a second.
 */
static void xchg_spinlock_guards_counter(void **state)
{
	RUN_THREADS(LONG_LOOPS,
		0xb8, 1, 0, 0, 0,		/* 1: mov eax, 1 */
		0x41, 0xba, 0, 0, 0, 1,		/* mov r10d, 1 << 24 */
		0x87, 0x07,			/* 2: xchg [rdi], eax */
		0x85, 0xc0,			/* test eax, eax */
		0x74, 0x0c,			/* jz 3f */
		0xf3, 0x90,			/* pause */
		0x41, 0xff, 0xca,		/* dec r10d */
		0x75, 0xf3,			/* jnz 2b */
		0x49, 0xff, 0xc0,		/* inc r8 */
		0x0f, 0x05,			/* syscall */
		0x48, 0x8b, 0x47, 8,		/* 3: mov rax, [rdi+8] */
		0x48, 0x83, 0xc0, 1,		/* add rax, 1 */
		0x48, 0x89, 0x47, 8,		/* mov [rdi+8], rax */
		0xc7, 0x07, 0, 0, 0, 0,		/* mov dword [rdi], 0 */
		0xff, 0xc9,			/* dec ecx */
		0x75, 0xcd,			/* jnz 1b */
		0x0f, 0x05);			/* syscall */
	assert_int_equal(data_get(0, 4), 0);
	assert_int_equal(data_get(8, 8), NTHREADS * LONG_LOOPS);
}

/*
 * Each vCPU owns one bit of a shared qword and sets, clears and toggles it
 * with or, and, xor, bts, btr and btc: the bit's old value (CF, checked by
 * bt at the end) must always be what its owner left, whatever the others do
 * to their bits of the same qword. r8 counts the surprises.
 */
static void lock_bit_ops_keep_owned_bits(void **state)
{
	RUN_THREADS(LONG_LOOPS,
		0xf0, 0x48, 0x09, 0x17,			/* 1: lock or [rdi], rdx */
		0xf0, 0x48, 0x0f, 0xb3, 0x37,		/* lock btr [rdi], rsi: CF = 1 */
		0xf5,					/* cmc */
		0x49, 0x83, 0xd0, 0,			/* adc r8, 0 */
		0xf0, 0x48, 0x31, 0x17,			/* lock xor [rdi], rdx */
		0xf0, 0x48, 0x0f, 0xbb, 0x37,		/* lock btc [rdi], rsi: CF = 1 */
		0xf5,					/* cmc */
		0x49, 0x83, 0xd0, 0,			/* adc r8, 0 */
		0xf0, 0x48, 0x0f, 0xab, 0x37,		/* lock bts [rdi], rsi: CF = 0 */
		0x49, 0x83, 0xd0, 0,			/* adc r8, 0 */
		0xf0, 0x48, 0x21, 0x1f,			/* lock and [rdi], rbx */
		0x48, 0x0f, 0xa3, 0x37,			/* bt [rdi], rsi: CF = 0 */
		0x49, 0x83, 0xd0, 0,			/* adc r8, 0 */
		0xff, 0xc9,				/* dec ecx */
		0x75, 0xcb,				/* jnz 1b */
		0x0f, 0x05);				/* syscall */
	assert_int_equal(data_get(0, 8), 0);
}

/* Run @code alone on one vCPU with rdi = @rdi. */
static int run_one(struct tcg_cpu *cpu, const uint8_t *code, size_t len, uint8_t *rdi)
{
	memcpy(mem, code, len);
	vcpu_init(cpu, 0, 1);
	cpu->gpr[7] = (uintptr_t)rdi;
	return tcg_run(cpu, 100);
}

#define RUN_ONE(cpu, rdi, ...) \
	run_one(cpu, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), rdi)

/* An operand across a page (a split lock) still gives the right result and flags. */
static void lock_across_pages(void **state)
{
	struct tcg_cpu cpu;
	uint8_t *p = DATA + 0xffe;

	memcpy(p, &(uint32_t){ 0xfffffffe }, 4);
	/* mov eax, 2; lock xadd [rdi], eax; lock inc dword [rdi]; syscall */
	assert_int_equal(RUN_ONE(&cpu, p, 0xb8, 2, 0, 0, 0, 0xf0, 0x0f, 0xc1, 0x07,
				 0xf0, 0xff, 0x07, 0x0f, 0x05), TCG_EXIT_STOP);
	assert_int_equal(data_get(0xffe, 4), 1);
	assert_int_equal(cpu.gpr[0], 0xfffffffe);
	assert_true(cpu.rflags & X86_CF);	/* from the xadd: inc keeps CF */
	assert_false(cpu.rflags & X86_ZF);
	tcg_cpu_destroy(&cpu);
}

/*
 * An operand across a cache line is no host atomic (that would be a split
 * lock, which a host may answer with SIGBUS) but still computes right.
 */
static void lock_across_cache_line(void **state)
{
	struct tcg_cpu cpu;
	uint8_t *line = DATA + 0x40;

	memcpy(line + 62, &(uint32_t){ 0x7fffffff }, 4);
	/* mov eax, 1; lock xadd [rdi], eax; syscall */
	assert_int_equal(RUN_ONE(&cpu, line + 62, 0xb8, 1, 0, 0, 0, 0xf0, 0x0f, 0xc1, 0x07,
				 0x0f, 0x05), TCG_EXIT_STOP);
	assert_int_equal(data_get(0x40 + 62, 4), 0x80000000);
	assert_int_equal(cpu.gpr[0], 0x7fffffff);
	assert_true(cpu.rflags & X86_OF);
	assert_null(tcg_atomic_ptr(&cpu, (uintptr_t)line + 62, 4));
	assert_null(tcg_atomic_ptr(&cpu, (uintptr_t)line + 57, 8));
	assert_ptr_equal(tcg_atomic_ptr(&cpu, (uintptr_t)line + 60, 4), line + 60);
	assert_ptr_equal(tcg_atomic_ptr(&cpu, (uintptr_t)line + 49, 8), line + 49);
	tcg_cpu_destroy(&cpu);
}

/* A locked write to decoded code drops it, as a plain store does. */
static void lock_write_to_code(void **state)
{
	struct tcg_cpu cpu;

	/* lock add byte [rip+1], 4 makes the next insn mov eax, 5; syscall */
	assert_int_equal(RUN_ONE(&cpu, DATA, 0xf0, 0x80, 0x05, 1, 0, 0, 0, 4,
				 0xb8, 1, 0, 0, 0, 0x0f, 0x05), TCG_EXIT_STOP);
	assert_int_equal(cpu.gpr[0], 5);
	tcg_cpu_destroy(&cpu);
}

/* A locked operand outside memory faults before anything changes. */
static void lock_fault_is_precise(void **state)
{
	struct tcg_cpu cpu;

	/* lock xadd [rdi], rax */
	assert_int_equal(RUN_ONE(&cpu, mem + MEM_SIZE, 0xf0, 0x48, 0x0f, 0xc1, 0x07),
			 TCG_EXIT_EXCEPTION);
	assert_int_equal(cpu.exc_vector, TCG_EXC_PF);
	assert_int_equal(cpu.fault_addr, (uintptr_t)mem + MEM_SIZE);
	assert_int_equal(cpu.rip, (uintptr_t)mem);
	assert_int_equal(cpu.rflags, 0x202);
	tcg_cpu_destroy(&cpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lock_xadd_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_alu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_cmpxchg_loop_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_cmpxchg16b_8b_loop_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(xchg_spinlock_guards_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_bit_ops_keep_owned_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_across_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_across_cache_line, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_write_to_code, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_fault_is_precise, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
