/*
 * TCG-lite's compiled benchmark, built static: crc32 over a buffer (table
 * driven), qsort through a function pointer, an LCG loop, and recursive fib.
 * Each part prints a checksum, so native and `spry user` runs can be
 * compared byte for byte. Usage: tcg_bench [crc32|qsort|lcg|fib|all] [SCALE]
 * (SCALE 1 is the test size, about 0.1 s under the interpreter; the
 * benchmark script uses larger ones).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_buf(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* crc32 over a 1 MiB buffer, @scale times. */
static void bench_crc32(long scale)
{
	size_t n = 1 << 20;
	uint8_t *buf = malloc(n);
	uint32_t crc = 0;

	crc_init();
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	for (long r = 0; r < scale; r++)
		crc = crc32_buf(crc, buf, n);
	printf("crc32 %ld MiB: %08x\n", scale, crc);
	free(buf);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* qsort of 64 Ki * @scale pseudo-random integers. */
static void bench_qsort(long scale)
{
	size_t n = (size_t)65536 * scale;
	uint32_t *v = malloc(n * sizeof(*v)), x = 12345, sum = 0;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = x >> 1;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + v[i];
	printf("qsort %zu: first %u last %u sum %08x\n", n, v[0], v[n - 1], sum);
	free(v);
}

/* 4 M * @scale steps of a 64-bit LCG. */
static void bench_lcg(long scale)
{
	uint64_t x = 1, acc = 0;

	for (long i = 0; i < 4000000L * scale; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		acc ^= x >> 29;
	}
	printf("lcg %ld M: %016llx\n", 4 * scale, (unsigned long long)acc);
}

static long fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* fib(24 + log2(scale)). */
static void bench_fib(long scale)
{
	int n = 24;

	while (scale > 1) {
		scale /= 2;
		n++;
	}
	printf("fib(%d) = %ld\n", n, fib(n));
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";
	long scale = argc > 2 ? atol(argv[2]) : 1;
	bool all = !strcmp(what, "all"), any = false;

	if (scale < 1) {
		fprintf(stderr, "tcg_bench: SCALE must be at least 1\n");
		return 2;
	}
	static const struct {
		const char *name;
		void (*run)(long scale);
	} parts[] = {
		{ "crc32", bench_crc32 }, { "qsort", bench_qsort },
		{ "lcg", bench_lcg }, { "fib", bench_fib },
	};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (all || !strcmp(what, parts[i].name)) {
			parts[i].run(scale);
			any = true;
		}
	}
	if (!any) {
		fprintf(stderr, "usage: tcg_bench [crc32|qsort|lcg|fib|all] [SCALE]\n");
		return 2;
	}
	return 0;
}
