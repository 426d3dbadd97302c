/*
 * glibc's string and memory functions on random inputs, for tcg-user-compare:
 * under `spry user` CPUID offers SSE4.2 and glibc picks its SSE4.2/SSSE3
 * variants (pcmpistri and friends), natively whatever the host has; the
 * checksum of every result must be the same. Strings sit at random offsets,
 * some of them ending right before an unmapped page, so that the 16-byte
 * loads near a page end are exercised. Usage: tcg_strfuncs [ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#define PAGE 4096
#define MAXLEN 300

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t sum = 0xcbf29ce484222325ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned int below(unsigned int n)
{
	return (unsigned int)(next() % n);
}

static void mix(int64_t v)
{
	sum = (sum ^ (uint64_t)v) * 0x100000001b3ULL;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

/* An offset into @base, or -1 for NULL. */
static int64_t off(const void *p, const void *base)
{
	return p ? (const char *)p - (const char *)base : -1;
}

/* Random bytes from a small alphabet (so that matches happen), upper and lower case. */
static void fill(char *p, size_t n, int alpha)
{
	for (size_t i = 0; i < n; i++) {
		char c = 'a' + below(alpha);

		p[i] = below(8) ? c : c - 'a' + 'A';
		if (below(64) == 0)
			p[i] = (char)(0x80 + below(128));
	}
}

/*
 * A NUL-terminated string of @len bytes in @area (two pages, the second
 * unmapped): at the very end of the first page, or at a random offset.
 */
static char *place(char *area, size_t len, int alpha)
{
	char *s = below(3) == 0 ? area + PAGE - len - 1 : area + below(PAGE - MAXLEN - 1);

	fill(s, len, alpha);
	s[len] = 0;
	return s;
}

static void round_once(char *a1, char *a2)
{
	int alpha = 2 + below(25);
	size_t l1 = below(MAXLEN), l2 = below(below(4) ? 12 : MAXLEN);
	char *s = place(a1, l1, alpha), *t = place(a2, l2, alpha);
	int c = below(4) ? s[l1 ? below(l1) : 0] : (int)('a' + below(26));
	size_t n = below(MAXLEN);

	if (below(4) == 0 && l2 <= l1)
		memcpy(t, s, l2);	/* equal prefixes for the compares */
	mix(strlen(s));
	mix(strcspn(s, t));
	mix(strspn(s, t));
	mix(off(strpbrk(s, t), s));
	mix(sign(strcmp(s, t)));
	mix(sign(strncmp(s, t, n)));
	mix(sign(strcasecmp(s, t)));
	mix(sign(strncasecmp(s, t, n)));
	mix(off(strstr(s, t), s));
	mix(off(strchr(s, c), s));
	mix(off(strrchr(s, c), s));
	mix(off(rawmemchr(s, strchr(s, c) ? c : 0), s));
	mix(off(memchr(s, c, l1 + 1), s));
	mix(off(memrchr(s, c, l1), s));
	mix(sign(memcmp(s, t, l1 < l2 ? l1 : l2)));
	mix(strnlen(s, n));
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20000;
	char *a[2];

	for (int i = 0; i < 2; i++) {
		a[i] = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
		if (a[i] == MAP_FAILED || mprotect(a[i] + PAGE, PAGE, PROT_NONE))
			return 2;
	}
	for (long i = 0; i < rounds; i++)
		round_once(a[0], a[1]);
	printf("%ld rounds, checksum %016llx\n", rounds, (unsigned long long)sum);
	return 0;
}
