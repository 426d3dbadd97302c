/*
 * TCG-lite's decoder on hand-picked encodings: prefix rules (REX placement,
 * last F2/F3 wins, mandatory prefixes), operand and address sizes per mode,
 * ModRM/SIB/RIP-relative forms, the 0F 38 and 0F 3A maps, the 15-byte limit
 * and #UD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decode.h"

static int dec(int mode, struct x86_insn *insn, const uint8_t *b, size_t n)
{
	return x86_decode(b, n, mode, insn);
}

#define DEC(mode, insn, ...) \
	dec(mode, insn, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void rex_w_and_registers(void **state)
{
	struct x86_insn i;

	/* mov r9, [r12 + rax*8 + 0x10] */
	assert_int_equal(DEC(64, &i, 0x4d, 0x8b, 0x4c, 0xc4, 0x10), 0);
	assert_int_equal(i.op, X86_OP_MOV);
	assert_int_equal(i.len, 5);
	assert_int_equal(i.opsize, 8);
	assert_int_equal(i.opnd[0].reg, 9);
	assert_int_equal(i.base, 12);
	assert_int_equal(i.index, 0);
	assert_int_equal(i.scale, 8);
	assert_int_equal(i.disp, 0x10);
}

static void rex_must_be_last(void **state)
{
	struct x86_insn i;

	/* 48 66 01 c0: REX before 66 is dropped: add ax, ax */
	assert_int_equal(DEC(64, &i, 0x48, 0x66, 0x01, 0xc0), 0);
	assert_int_equal(i.opsize, 2);
	assert_int_equal(i.rex, 0);
	/* 66 48 01 c0: REX.W wins over 66 */
	assert_int_equal(DEC(64, &i, 0x66, 0x48, 0x01, 0xc0), 0);
	assert_int_equal(i.opsize, 8);
}

static void byte_registers(void **state)
{
	struct x86_insn i;

	/* 88 e0: mov al, ah; 40 88 e0: mov al, spl */
	assert_int_equal(DEC(64, &i, 0x88, 0xe0), 0);
	assert_int_equal(i.opnd[0].reg, 0);
	assert_int_equal(i.opnd[1].reg, X86_REG_AH);
	assert_int_equal(DEC(64, &i, 0x40, 0x88, 0xe0), 0);
	assert_int_equal(i.opnd[1].reg, 4);
}

static void rip_relative_and_sib_forms(void **state)
{
	struct x86_insn i;

	/* lea rax, [rip + 0x100] */
	assert_int_equal(DEC(64, &i, 0x48, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00), 0);
	assert_int_equal(i.base, X86_REG_RIP);
	assert_int_equal(i.disp, 0x100);
	/* the same ModRM in 32-bit code is an absolute disp32 */
	assert_int_equal(DEC(32, &i, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00), 0);
	assert_int_equal(i.base, X86_REG_NONE);
	/* SIB with base 5 and mod 0: no base, disp32; index 4: none */
	assert_int_equal(DEC(64, &i, 0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), 0);
	assert_int_equal(i.base, X86_REG_NONE);
	assert_int_equal(i.index, X86_REG_NONE);
	assert_int_equal(i.disp, 0x12345678);
	/* REX.X makes index 4 r12 */
	assert_int_equal(DEC(64, &i, 0x42, 0x8b, 0x04, 0x20), 0);
	assert_int_equal(i.index, 12);
}

static void sixteen_bit_addressing(void **state)
{
	struct x86_insn i;

	/* mov ax, [bp+si+0x12] in 16-bit code, default segment SS */
	assert_int_equal(DEC(16, &i, 0x8b, 0x42, 0x12), 0);
	assert_int_equal(i.opsize, 2);
	assert_int_equal(i.addrsize, 2);
	assert_int_equal(i.base, 5);
	assert_int_equal(i.index, 6);
	assert_int_equal(i.seg, X86_SEG_SS);
	/* 66 67 in 16-bit code: 32-bit operand and address */
	assert_int_equal(DEC(16, &i, 0x66, 0x67, 0x8b, 0x00), 0);
	assert_int_equal(i.opsize, 4);
	assert_int_equal(i.addrsize, 4);
}

static void immediates_by_size(void **state)
{
	struct x86_insn i;

	/* mov rax, imm64 */
	assert_int_equal(DEC(64, &i, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8), 0);
	assert_int_equal(i.len, 10);
	assert_int_equal(i.imm, 0x0807060504030201ULL);
	/* add rax, imm32 sign-extended */
	assert_int_equal(DEC(64, &i, 0x48, 0x05, 0xff, 0xff, 0xff, 0xff), 0);
	assert_int_equal(i.imm, ~0ULL);
	/* 66 add ax, imm16 */
	assert_int_equal(DEC(64, &i, 0x66, 0x05, 0x34, 0x12), 0);
	assert_int_equal(i.len, 4);
	/* push imm8 is 64-bit by default */
	assert_int_equal(DEC(64, &i, 0x6a, 0x80), 0);
	assert_int_equal(i.opsize, 8);
	assert_int_equal(i.imm, 0xffffffffffffff80ULL);
}

static void mandatory_prefixes(void **state)
{
	struct x86_insn i;

	/* F3 0F BC is tzcnt (run as bsf), and F3 is not a REP there */
	assert_int_equal(DEC(64, &i, 0xf3, 0x0f, 0xbc, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_TZCNT);
	assert_int_equal(i.pfx & X86_PFX_REP, 0);
	assert_int_equal(DEC(64, &i, 0x0f, 0xbc, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_BSF);
	/* popcnt needs F3; the last of F2/F3 decides */
	assert_int_equal(DEC(64, &i, 0x0f, 0xb8, 0xc1), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0xf2, 0xf3, 0x0f, 0xb8, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_POPCNT);
	/* F3 90 is pause; 41 90 is xchg r8, rax */
	assert_int_equal(DEC(64, &i, 0xf3, 0x90), 0);
	assert_int_equal(i.op, X86_OP_PAUSE);
	assert_int_equal(DEC(64, &i, 0x41, 0x90), 0);
	assert_int_equal(i.op, X86_OP_XCHG);
}

static void sse_mandatory_prefixes(void **state)
{
	struct x86_insn i;

	/* 66 0F 6F is movdqa: 66 selects the form and is not an operand size */
	assert_int_equal(DEC(64, &i, 0x66, 0x41, 0x0f, 0x6f, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_MOVDQ);
	assert_int_equal(i.mpfx, 3);
	assert_int_equal(i.pfx & X86_PFX_OPSZ, 0);
	assert_int_equal(i.opnd[0].kind, X86_OPND_XMM);
	assert_int_equal(i.opnd[1].reg, 9);
	assert_false(i.attr & X86_A_UNALIGNED);
	assert_int_equal(DEC(64, &i, 0xf3, 0x0f, 0x6f, 0x00), 0);	/* movdqu */
	assert_true(i.attr & X86_A_UNALIGNED);
	assert_int_equal(DEC(64, &i, 0x0f, 0x6f, 0xc1), X86_DEC_UD);	/* MMX: not implemented */
	/* 66 F2 0F 2D: cvtsd2si with a 32-bit result; 66 does not size it */
	assert_int_equal(DEC(64, &i, 0x66, 0xf2, 0x0f, 0x2d, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_CVTF2SI);
	assert_int_equal(i.opsize, 4);
	/* 66 0F 73 /3 ib: psrldq from the group behind the prefix variant */
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x73, 0xd9, 4), 0);
	assert_int_equal(i.op, X86_OP_PSRLDQ);
	assert_int_equal(i.len, 5);
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x73, 0x19, 4), X86_DEC_UD);	/* no memory form */
	/* 0F AE: stmxcsr [rax], but not with a 66 prefix; fences have no memory operand */
	assert_int_equal(DEC(64, &i, 0x0f, 0xae, 0x18), 0);
	assert_int_equal(i.op, X86_OP_STMXCSR);
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0xae, 0x18), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0x0f, 0xae, 0xf8), 0);
	assert_int_equal(i.op, X86_OP_FENCE);
	/* movd xmm0, eax and movq xmm0, rax */
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x6e, 0xc0), 0);
	assert_int_equal(i.opnd[1].size, 4);
	assert_int_equal(DEC(64, &i, 0x66, 0x48, 0x0f, 0x6e, 0xc0), 0);
	assert_int_equal(i.opnd[1].size, 8);
}

static void sse4_maps(void **state)
{
	struct x86_insn i;

	/* pcmpistri xmm1, [rip+0x100], 0x0c: the imm8 follows the displacement */
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x3a, 0x63, 0x0d, 0x00, 0x01, 0, 0, 0x0c), 0);
	assert_int_equal(i.op, X86_OP_PCMPSTR);
	assert_int_equal(i.map, 3);
	assert_int_equal(i.len, 10);
	assert_int_equal(i.base, X86_REG_RIP);
	assert_int_equal(i.disp, 0x100);
	assert_int_equal(i.imm, 0x0c);
	assert_int_equal(i.memop, 2);
	assert_int_equal(i.opnd[0].reg, 1);
	assert_true(i.attr & X86_A_UNALIGNED);
	assert_int_equal(i.fwrite, X86_FL_ARITH);
	assert_int_equal(i.fundef, 0);
	/* pcmpestri xmm0, [esp+8], 0x1a in 32-bit code; REX.W makes the lengths 64-bit */
	assert_int_equal(DEC(32, &i, 0x66, 0x0f, 0x3a, 0x61, 0x44, 0x24, 0x08, 0x1a), 0);
	assert_int_equal(i.len, 8);
	assert_int_equal(i.imm, 0x1a);
	assert_int_equal(DEC(64, &i, 0x66, 0x48, 0x0f, 0x3a, 0x61, 0xc1, 0x00), 0);
	assert_int_equal(i.opsize, 8);
	/* the 66 forms only: without it (MMX) or with F3 instead they are #UD */
	assert_int_equal(DEC(64, &i, 0x0f, 0x38, 0x00, 0xc1), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0x0f, 0x3a, 0x63, 0xc1, 0x00), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0xf3, 0x0f, 0x38, 0x17, 0xc1), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x38, 0x17, 0xc1), 0);	/* ptest */
	assert_int_equal(i.op, X86_OP_PTEST);
	assert_int_equal(i.fwrite, X86_FL_ARITH);
	assert_false(i.attr & X86_A_UNALIGNED);
	/* pmovzxbq reads two bytes of memory; pextrd/pextrq by REX.W */
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x38, 0x32, 0x00), 0);
	assert_int_equal(i.opnd[1].size, 2);
	assert_int_equal(DEC(64, &i, 0x66, 0x0f, 0x3a, 0x16, 0xc0, 0x01), 0);
	assert_int_equal(i.opnd[0].size, 4);
	assert_int_equal(DEC(64, &i, 0x66, 0x48, 0x0f, 0x3a, 0x16, 0xc0, 0x01), 0);
	assert_int_equal(i.opnd[0].size, 8);
	/* lddqu: memory only, unaligned */
	assert_int_equal(DEC(64, &i, 0xf2, 0x0f, 0xf0, 0xc1), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0xf2, 0x0f, 0xf0, 0x00), 0);
	assert_true(i.attr & X86_A_UNALIGNED);
}

static void crc32_sizes(void **state)
{
	struct x86_insn i;

	/* F2 0F 38 F1: crc32 eax, ecx; 66 makes the source a word, REX.W a quadword */
	assert_int_equal(DEC(64, &i, 0xf2, 0x0f, 0x38, 0xf1, 0xc1), 0);
	assert_int_equal(i.op, X86_OP_CRC32);
	assert_int_equal(i.opnd[0].size, 4);
	assert_int_equal(i.opnd[1].size, 4);
	assert_int_equal(DEC(64, &i, 0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xc1), 0);
	assert_int_equal(i.opnd[0].size, 4);
	assert_int_equal(i.opnd[1].size, 2);
	assert_int_equal(DEC(64, &i, 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1), 0);
	assert_int_equal(i.opnd[0].size, 8);
	assert_int_equal(i.opnd[1].size, 8);
	/* F0: a byte source (AH without REX), into a 32- or 64-bit register */
	assert_int_equal(DEC(64, &i, 0xf2, 0x0f, 0x38, 0xf0, 0xc4), 0);
	assert_int_equal(i.opnd[1].reg, X86_REG_AH);
	assert_int_equal(DEC(64, &i, 0x66, 0xf2, 0x48, 0x0f, 0x38, 0xf0, 0xc4), 0);
	assert_int_equal(i.opnd[0].size, 8);
	assert_int_equal(i.opnd[1].size, 1);
	assert_int_equal(i.opnd[1].reg, 4);
	/* without F2 the same bytes are movbe (memory only) */
	assert_int_equal(DEC(64, &i, 0x0f, 0x38, 0xf0, 0xc1), X86_DEC_UD);
	assert_int_equal(DEC(64, &i, 0x0f, 0x38, 0xf0, 0x01), 0);
	assert_int_equal(i.op, X86_OP_MOVBE);
}

static void lock_rules(void **state)
{
	struct x86_insn i;

	assert_int_equal(DEC(64, &i, 0xf0, 0x01, 0x00), 0);		/* lock add [rax], eax */
	assert_int_equal(DEC(64, &i, 0xf0, 0x01, 0xc0), X86_DEC_UD);	/* register destination */
	assert_int_equal(DEC(64, &i, 0xf0, 0x8b, 0x00), X86_DEC_UD);	/* mov is not lockable */
	assert_int_equal(DEC(64, &i, 0xf0, 0x0f, 0xc7, 0x08), 0);	/* lock cmpxchg8b [rax] */
	assert_int_equal(DEC(64, &i, 0x0f, 0xc7, 0xc8), X86_DEC_UD);	/* cmpxchg8b needs memory */
}

static void length_limit_and_truncation(void **state)
{
	struct x86_insn i;
	uint8_t b[16];

	/* 14 prefixes + nop = 15 bytes is fine; 15 prefixes + nop is #GP */
	for (int k = 0; k < 16; k++)
		b[k] = 0x66;
	b[14] = 0x90;
	assert_int_equal(x86_decode(b, 16, 64, &i), 0);
	assert_int_equal(i.len, 15);
	b[14] = 0x66;
	b[15] = 0x90;
	assert_int_equal(x86_decode(b, 16, 64, &i), X86_DEC_GP);
	/* running out of bytes */
	assert_int_equal(DEC(64, &i, 0x48, 0xb8, 1, 2), X86_DEC_TRUNC);
}

static void invalid_and_mode_specific(void **state)
{
	struct x86_insn i;

	assert_int_equal(DEC(64, &i, 0x0f, 0x0b), 0);		/* ud2 decodes, raises when run */
	assert_int_equal(i.op, X86_OP_UD2);
	assert_int_equal(DEC(64, &i, 0x0f, 0x3a, 0x0f, 0xc1, 0), X86_DEC_UD);	/* MMX form */
	assert_int_equal(DEC(64, &i, 0x82, 0xc0, 1), X86_DEC_UD);	/* invalid in 64-bit mode */
	assert_int_equal(DEC(32, &i, 0x82, 0xc0, 1), 0);
	assert_int_equal(DEC(32, &i, 0x40), 0);			/* inc eax */
	assert_int_equal(i.op, X86_OP_INC);
	assert_int_equal(DEC(32, &i, 0x63, 0xc0), X86_DEC_UD);	/* arpl: not implemented */
}

static void flags_read_and_written(void **state)
{
	struct x86_insn i;

	assert_int_equal(DEC(64, &i, 0x11, 0xc0), 0);		/* adc: reads CF */
	assert_int_equal(i.fread, X86_CF);
	assert_int_equal(i.fwrite, X86_FL_ARITH);
	assert_int_equal(DEC(64, &i, 0x7e, 0x00), 0);		/* jle: ZF, SF, OF */
	assert_int_equal(i.fread, X86_ZF | X86_SF | X86_OF);
	assert_int_equal(DEC(64, &i, 0xff, 0xc0), 0);		/* inc keeps CF */
	assert_int_equal(i.fwrite & X86_CF, 0);
	assert_int_equal(DEC(64, &i, 0xf7, 0xe1), 0);		/* mul: SF ZF AF PF undefined */
	assert_int_equal(i.fundef, X86_SF | X86_ZF | X86_AF | X86_PF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rex_w_and_registers),
		cmocka_unit_test(rex_must_be_last),
		cmocka_unit_test(byte_registers),
		cmocka_unit_test(rip_relative_and_sib_forms),
		cmocka_unit_test(sixteen_bit_addressing),
		cmocka_unit_test(immediates_by_size),
		cmocka_unit_test(mandatory_prefixes),
		cmocka_unit_test(sse_mandatory_prefixes),
		cmocka_unit_test(sse4_maps),
		cmocka_unit_test(crc32_sizes),
		cmocka_unit_test(lock_rules),
		cmocka_unit_test(length_limit_and_truncation),
		cmocka_unit_test(invalid_and_mode_specific),
		cmocka_unit_test(flags_read_and_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
