/*
 * The linux-user runner's region map: which host pages belong to the guest
 * and with which protection. Every change rebuilds the (short) sorted array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "user.h"

int uspace_host_prot(int prot)
{
	int host = prot & (PROT_READ | PROT_WRITE);

	if (prot & (PROT_EXEC | PROT_WRITE))
		host |= PROT_READ;
	return host;
}

static int reserve(struct user_space *as, size_t n)
{
	struct user_region *r;
	size_t cap = as->cap ? as->cap : 16;

	if (n <= as->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	r = realloc(as->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	as->r = r;
	as->cap = cap;
	return 0;
}

/* Cut [@start, @end) out of every region, then insert it with @prot unless @prot < 0. */
static int replace(struct user_space *as, uint64_t start, uint64_t end, int prot)
{
	size_t n = 0, k;
	struct user_region *out;

	if (start >= end)
		return 0;
	out = malloc((2 * as->n + 2) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (k = 0; k < as->n && as->r[k].end <= start; k++)
		out[n++] = as->r[k];
	if (k < as->n && as->r[k].start < start) {
		out[n] = as->r[k];
		out[n++].end = start;
	}
	if (prot >= 0)
		out[n++] = (struct user_region){ start, end, prot };
	for (; k < as->n && as->r[k].start < end; k++) {
		if (as->r[k].end > end) {
			out[n] = as->r[k];
			out[n++].start = end;
		}
	}
	for (; k < as->n; k++)
		out[n++] = as->r[k];
	/* Merge neighbours with the same protection. */
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && out[k - 1].end == out[i].start && out[k - 1].prot == out[i].prot)
			out[k - 1].end = out[i].end;
		else
			out[k++] = out[i];
	}
	if (reserve(as, k)) {
		free(out);
		return -ENOMEM;
	}
	memcpy(as->r, out, k * sizeof(*out));
	as->n = k;
	free(out);
	return 0;
}

int uspace_set(struct user_space *as, uint64_t start, uint64_t end, int prot)
{
	return replace(as, start, end, prot);
}

int uspace_clear(struct user_space *as, uint64_t start, uint64_t end)
{
	return replace(as, start, end, -1);
}

const struct user_region *uspace_find(const struct user_space *as, uint64_t addr)
{
	size_t lo = 0, hi = as->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < as->r[mid].start)
			hi = mid;
		else if (addr >= as->r[mid].end)
			lo = mid + 1;
		else
			return &as->r[mid];
	}
	return NULL;
}

/* Whether [@start, @end) is covered by regions each allowing @prot (0: any). */
static bool covered(const struct user_space *as, uint64_t start, uint64_t end, int prot)
{
	while (start < end) {
		const struct user_region *r = uspace_find(as, start);

		if (!r || (r->prot & prot) != prot)
			return false;
		start = r->end;
	}
	return true;
}

bool uspace_owns(const struct user_space *as, uint64_t start, uint64_t end)
{
	return covered(as, start, end, 0);
}

bool uspace_check(const struct user_space *as, uint64_t addr, uint64_t len, int prot)
{
	if (!len)
		return true;
	if (addr + len < addr)
		return false;
	/* Executable pages are readable, as on x86. */
	if (prot == PROT_READ) {
		while (len) {
			const struct user_region *r = uspace_find(as, addr);

			if (!r || !(r->prot & (PROT_READ | PROT_EXEC)))
				return false;
			if (r->end - addr >= len)
				return true;
			len -= r->end - addr;
			addr = r->end;
		}
		return true;
	}
	return covered(as, addr, addr + len, prot);
}

void uspace_destroy(struct user_space *as)
{
	for (size_t i = 0; i < as->n; i++)
		munmap((void *)(uintptr_t)as->r[i].start, as->r[i].end - as->r[i].start);
	free(as->r);
	memset(as, 0, sizeof(*as));
}
