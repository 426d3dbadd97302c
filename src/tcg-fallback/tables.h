/*
 * The decoder's opcode tables (tables.c), shared with decode.c only: maps,
 * ModRM.reg groups and mandatory-prefix variants.
 */
#ifndef SPRY_TCG_TABLES_H
#define SPRY_TCG_TABLES_H

#include "decode.h"

enum x86_group {
	G_NONE, G1, G1A, G2, G3B, G3V, G4, G5, G8, G9, G11, G12, G13, G14, G15,
	G_D9, G_DB, G_DD, G_DF, G7, G6, GRP_COUNT
};
/*
 * PT_SSE, PT_SSE38, PT_SSE3A: the variants are x86_sse[opcode] (0F map),
 * x86_sse38[opcode] (0F 38) or x86_sse3a[opcode] (0F 3A) rather than a row here.
 */
enum x86_pfxtab {
	PT_NONE, PT_POPCNT, PT_BSF, PT_BSR, PT_MOVBE_LD, PT_MOVBE_ST, PT_COUNT,
	PT_SSE = PT_COUNT, PT_SSE38, PT_SSE3A
};

extern const struct x86_opdesc x86_map1[256];	/* one-byte opcodes */
extern const struct x86_opdesc x86_map2[256];	/* 0F xx */
extern const struct x86_opdesc x86_map3[256];	/* 0F 38 xx */
extern const struct x86_opdesc x86_map4[256];	/* 0F 3A xx */
extern const struct x86_opdesc x86_groups[GRP_COUNT][8];
/* Index 0: no mandatory prefix; 1: F3; 2: F2; 3: 66. */
extern const struct x86_opdesc x86_pfx_tables[PT_COUNT][4];
extern const struct x86_opdesc x86_sse[256][4];
extern const struct x86_opdesc x86_sse38[256][4];
extern const struct x86_opdesc x86_sse3a[256][4];

/* The opcode map @map (0: one byte, 1: 0F, 2: 0F 38, 3: 0F 3A). */
static inline const struct x86_opdesc *x86_map(int map)
{
	static const struct x86_opdesc *const maps[4] = { x86_map1, x86_map2, x86_map3, x86_map4 };

	return maps[map];
}

#endif
