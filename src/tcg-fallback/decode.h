/*
 * The x86 decoder's interface: one pass over at most 15 bytes gives a decoded
 * instruction (operation, length, operands, sizes, flags read and written).
 * It is pure: no CPU state, no memory access, so it is tested on byte arrays.
 */
#ifndef SPRY_TCG_DECODE_H
#define SPRY_TCG_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_MAX_INSN_LEN 15

/* RFLAGS bits the decoder and the interpreter talk about. */
#define X86_CF 0x0001
#define X86_PF 0x0004
#define X86_AF 0x0010
#define X86_ZF 0x0040
#define X86_SF 0x0080
#define X86_TF 0x0100
#define X86_IF 0x0200
#define X86_DF 0x0400
#define X86_OF 0x0800
#define X86_FL_ARITH (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

/* Semantic operations; X86_OP_UD (0) marks every encoding not in the tables. */
enum x86_op {
	X86_OP_UD,
	X86_OP_ADD, X86_OP_OR, X86_OP_ADC, X86_OP_SBB,
	X86_OP_AND, X86_OP_SUB, X86_OP_XOR, X86_OP_CMP,
	X86_OP_ROL, X86_OP_ROR, X86_OP_RCL, X86_OP_RCR,
	X86_OP_SHL, X86_OP_SHR, X86_OP_SAL, X86_OP_SAR,
	X86_OP_TEST, X86_OP_NOT, X86_OP_NEG, X86_OP_MUL, X86_OP_IMUL1,
	X86_OP_DIV, X86_OP_IDIV, X86_OP_IMUL2, X86_OP_INC, X86_OP_DEC,
	X86_OP_SHLD, X86_OP_SHRD,
	X86_OP_MOV, X86_OP_MOVZX, X86_OP_MOVSX, X86_OP_LEA,
	X86_OP_BT, X86_OP_BTS, X86_OP_BTR, X86_OP_BTC,
	X86_OP_BSF, X86_OP_BSR, X86_OP_TZCNT, X86_OP_LZCNT, X86_OP_POPCNT,
	X86_OP_CMOV, X86_OP_SETCC, X86_OP_JCC, X86_OP_JMP, X86_OP_JMP_IND,
	X86_OP_CALL, X86_OP_CALL_IND, X86_OP_RET, X86_OP_LOOP, X86_OP_JRCXZ,
	X86_OP_PUSH, X86_OP_POP, X86_OP_PUSHF, X86_OP_POPF, X86_OP_LEAVE,
	X86_OP_XCHG, X86_OP_XADD, X86_OP_CMPXCHG, X86_OP_CMPXCHG8B,
	X86_OP_CBW, X86_OP_CWD, X86_OP_BSWAP, X86_OP_MOVBE,
	X86_OP_MOVS, X86_OP_STOS, X86_OP_LODS, X86_OP_CMPS, X86_OP_SCAS,
	X86_OP_NOP, X86_OP_PAUSE, X86_OP_CPUID, X86_OP_RDTSC, X86_OP_SYSCALL,
	X86_OP_CLC, X86_OP_STC, X86_OP_CMC, X86_OP_CLD, X86_OP_STD,
	X86_OP_LAHF, X86_OP_SAHF, X86_OP_UD2, X86_OP_INT3, X86_OP_HLT,
	/* SSE/SSE2: moves */
	X86_OP_MOVDQ, X86_OP_MOVD, X86_OP_MOVQ, X86_OP_MOVSS, X86_OP_MOVSD,
	X86_OP_MOVLPS, X86_OP_MOVHPS, X86_OP_PMOVMSKB, X86_OP_MOVMSKPS, X86_OP_MOVMSKPD,
	X86_OP_PEXTRW, X86_OP_PINSRW,
	/* SSE/SSE2: packed integer and logic (element size from the opcode) */
	X86_OP_PAND, X86_OP_PANDN, X86_OP_POR, X86_OP_PXOR,
	X86_OP_PADD, X86_OP_PSUB, X86_OP_PADDUS, X86_OP_PSUBUS, X86_OP_PCMPEQ, X86_OP_PCMPGT,
	X86_OP_PMINUB, X86_OP_PMAXUB, X86_OP_PMINSW, X86_OP_PMAXSW, X86_OP_PMULLW,
	X86_OP_PMULUDQ, X86_OP_PAVG, X86_OP_PSADBW,
	X86_OP_PSRL, X86_OP_PSRA, X86_OP_PSLL, X86_OP_PSRLDQ, X86_OP_PSLLDQ,
	X86_OP_PSHUFD, X86_OP_PSHUFLW, X86_OP_PSHUFHW, X86_OP_PUNPCKL, X86_OP_PUNPCKH,
	X86_OP_PACKUSWB, X86_OP_PACKSSWB, X86_OP_PACKSSDW, X86_OP_SHUFPS, X86_OP_SHUFPD,
	/* SSE/SSE2: scalar floating point */
	X86_OP_FPARITH, X86_OP_COMIS, X86_OP_CVTSI2F, X86_OP_CVTF2SI, X86_OP_CVTF2F,
	/* state: MXCSR, FXSAVE, fences, the x87 control instructions */
	X86_OP_LDMXCSR, X86_OP_STMXCSR, X86_OP_FXSAVE, X86_OP_FXRSTOR, X86_OP_FENCE,
	X86_OP_FNINIT, X86_OP_FLDCW, X86_OP_FNSTCW, X86_OP_FNSTSW,
	/* SSE3 */
	X86_OP_MOVDUP, X86_OP_FPHORIZ,
	/* SSSE3 */
	X86_OP_PSHUFB, X86_OP_PHADD, X86_OP_PHSUB, X86_OP_PMADDUBSW, X86_OP_PMULHRSW,
	X86_OP_PSIGN, X86_OP_PABS, X86_OP_PALIGNR,
	/* SSE4.1 */
	X86_OP_PBLENDV, X86_OP_BLEND, X86_OP_PTEST, X86_OP_PMOVSX, X86_OP_PMOVZX,
	X86_OP_PMINMAX, X86_OP_PMULLD, X86_OP_PMULDQ, X86_OP_PCMPEQQ, X86_OP_PACKUSDW,
	X86_OP_PEXTR, X86_OP_PINSR, X86_OP_EXTRACTPS, X86_OP_INSERTPS, X86_OP_PHMINPOSUW,
	X86_OP_MPSADBW, X86_OP_ROUND, X86_OP_DPPS, X86_OP_DPPD,
	/* SSE4.2 */
	X86_OP_PCMPSTR, X86_OP_PCMPGTQ, X86_OP_CRC32,
	/* system instructions the environment executes (env->sysinsn): see tables.c */
	X86_OP_SYSINSN,
	X86_OP_COUNT
};

/* Operand kinds in a decoded instruction. */
enum x86_opnd_kind { X86_OPND_NONE, X86_OPND_REG, X86_OPND_MEM, X86_OPND_IMM, X86_OPND_XMM };

/* Register numbers: 0-15 are rAX..r15; 16-19 are AH, CH, DH, BH. */
#define X86_REG_AH 16
#define X86_REG_RIP 20		/* as a base: RIP-relative */
#define X86_REG_NONE 0xff

/* Prefix bits in struct x86_insn.pfx. */
#define X86_PFX_LOCK 0x01
#define X86_PFX_REP 0x02	/* F3 */
#define X86_PFX_REPNE 0x04	/* F2 */
#define X86_PFX_OPSZ 0x08	/* 66 */
#define X86_PFX_ADSZ 0x10	/* 67 */

enum x86_seg { X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS, X86_SEG_GS };

/* Attributes from the tables (struct x86_insn.attr). */
#define X86_A_MODRM 0x0001	/* has a ModRM byte */
#define X86_A_LOCK 0x0002	/* LOCK allowed with a memory destination */
#define X86_A_BRANCH 0x0004	/* may change RIP other than to the next insn: ends a block */
#define X86_A_D64 0x0008	/* 64-bit operand size by default in long mode */
#define X86_A_F64 0x0010	/* 64-bit operand size always in long mode */
#define X86_A_NO64 0x0020	/* invalid in 64-bit mode */
#define X86_A_ONLY64 0x0040	/* valid only in 64-bit mode */
#define X86_A_STRING 0x0080	/* REP/REPE/REPNE apply */
#define X86_A_NOTEST 0x0100	/* excluded from the differential tester */
#define X86_A_SYSTEM 0x0200	/* leaves the interpreter's pure semantics (env) */
#define X86_A_UNALIGNED 0x0400	/* a 16-byte memory operand need not be aligned */
#define X86_A_NOPFX 0x0800	/* #UD with a 66, F2 or F3 prefix */

/* A decoded operand. */
struct x86_operand {
	uint8_t kind;		/* enum x86_opnd_kind */
	uint8_t size;		/* bytes: 1, 2, 4, 8, 16 (cmpxchg16b, XMM) */
	uint8_t reg;		/* X86_OPND_REG or _XMM: register number */
};

struct x86_insn {
	uint8_t op;		/* enum x86_op */
	uint8_t len;		/* bytes, 1-15 */
	uint8_t mode;		/* code size: 16, 32, 64 */
	uint8_t opsize;		/* operation size in bytes */
	uint8_t addrsize;	/* address size in bytes */
	uint8_t pfx;		/* X86_PFX_* */
	uint8_t seg;		/* segment of the memory operand (enum x86_seg) */
	uint8_t rex;		/* REX byte, 0 when absent */
	uint8_t map;		/* 0: one byte, 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t opcode;		/* the last opcode byte */
	uint8_t mpfx;		/* mandatory prefix of SSE forms: 0 none, 1 F3, 2 F2, 3 66 */
	uint8_t modrm;
	uint8_t cond;		/* condition for jcc/setcc/cmovcc (low nibble of the opcode) */
	uint8_t nopnd;
	uint8_t memop;		/* index of the memory operand + 1, 0 when none */
	uint16_t attr;		/* X86_A_* */
	uint16_t fread, fwrite;	/* RFLAGS bits read and written */
	uint16_t fundef;	/* RFLAGS bits left architecturally undefined */
	struct x86_operand opnd[3];
	/* The memory operand, when an operand has kind X86_OPND_MEM. */
	uint8_t base, index, scale;
	int64_t disp;
	uint64_t imm;		/* sign- or zero-extended as the instruction uses it */
	uint16_t imm2;		/* a second immediate: the selector of a far jmp ptr16:z */
};

/* Decoder results other than success (0). */
enum x86_decode_err {
	X86_DEC_UD = 1,		/* invalid or not implemented: #UD */
	X86_DEC_GP,		/* longer than 15 bytes: #GP(0) */
	X86_DEC_TRUNC,		/* ran out of the @avail bytes given */
};

/*
 * Decode one instruction from @buf (@avail bytes readable) for code of size
 * @mode (16, 32 or 64). Returns 0 with @insn filled, or an x86_decode_err.
 */
int x86_decode(const uint8_t *buf, size_t avail, int mode, struct x86_insn *insn);

/* Operand-kind codes of the opcode tables (exposed for the encoding generator). */
enum x86_tk {
	TK_NONE, TK_E, TK_G, TK_M, TK_I, TK_J, TK_A, TK_C, TK_Z, TK_ONE, TK_O,
	TK_R,			/* general register from ModRM.rm, no memory form */
	TK_V, TK_W, TK_U,	/* XMM from ModRM.reg; XMM or memory; XMM only (rm) */
};

/* Operand-size codes of the opcode tables. */
enum x86_ts {
	TS_NONE, TS_B, TS_W, TS_D, TS_V, TS_Z, TS_BS, TS_DQ, TS_Q, TS_X,
	TS_Y,			/* 8 bytes with REX.W, else 4 */
};

struct x86_tspec {
	uint8_t kind;		/* enum x86_tk */
	uint8_t size;		/* enum x86_ts */
};

/* One opcode-table entry. */
struct x86_opdesc {
	uint8_t op;		/* enum x86_op, or X86_OP_UD */
	uint8_t group;		/* nonzero: ModRM.reg selects from group table @group */
	uint8_t pfxtab;		/* nonzero: F3/F2/66 select from prefix table @pfxtab */
	uint8_t byteop;		/* operation size is one byte */
	uint16_t attr;
	uint16_t fread, fwrite, fundef;
	struct x86_tspec opnd[3];
};

/*
 * The tables, for the random encoding generators of the tests: @map 0-3,
 * @opcode; @reg selects in a group (ignored otherwise); @pfx: 0, 0xf3, 0xf2,
 * 0x66 (a mandatory prefix: tables without a 66 form fall back to none).
 * A group member is merged with its opcode entry into @merged. NULL when that
 * slot holds nothing.
 */
const struct x86_opdesc *x86_table_lookup(int map, int opcode, int reg, int pfx,
					 struct x86_opdesc *merged);

extern const char *const x86_op_names[X86_OP_COUNT];

#endif
