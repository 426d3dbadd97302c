/*
 * Random x86 instruction encodings drawn from the decoder's own tables, for
 * the objdump length check (any operand form) and the differential tester
 * (memory operands aimed into a scratch page, branches kept inside the code).
 */
#ifndef SPRY_TCG_GEN_H
#define SPRY_TCG_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	/* splitmix64: fast, and good enough to cover encodings. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline unsigned int rng_below(struct rng *r, unsigned int n)
{
	return (unsigned int)(rng_next(r) % n);
}

/* A random 64-bit value biased towards edge cases. */
uint64_t rng_value(struct rng *r);

#define UNIT_MAX 64

/* A tested instruction with the setup it needs, as one shrinkable unit. */
struct unit {
	uint8_t bytes[UNIT_MAX];
	uint8_t len;
	uint8_t insn_off;	/* where the tested instruction starts */
	uint8_t rel_size;	/* 1 or 4: a branch displacement to patch, 0: none */
	uint8_t rel_off;	/* its offset in bytes[] */
	uint8_t skip;		/* branch: units jumped over */
	uint8_t riprel_off;	/* nonzero: offset of a RIP-relative disp32 to aim */
	uint16_t rip_target;	/* ... at this offset in the scratch page */
	uint8_t op;		/* enum x86_op of the tested instruction */
};

struct gen_opts {
	int mode;		/* 16, 32, 64 */
	bool difftest;		/* constrain for native execution in the tester */
	uint64_t scratch;	/* difftest: the scratch page (below 4 GiB) */
};

/* Generate one unit; the tested instruction decodes to @u->op. */
void gen_unit(struct rng *r, const struct gen_opts *o, struct unit *u);

/*
 * Lay out @n units at @base into @code (at most @cap bytes), patching branch
 * displacements and RIP-relative operands; returns the length.
 */
int gen_assemble(const struct unit *u, int n, uint64_t base, uint64_t scratch,
		 uint8_t *code, int cap);

/* Total length of @n units. */
int gen_length(const struct unit *u, int n);

#endif
