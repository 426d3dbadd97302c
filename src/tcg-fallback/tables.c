/*
 * The x86 opcode tables: one-byte, 0F, 0F 38 and 0F 3A maps, ModRM.reg
 * groups, and the F3/F2/66 mandatory-prefix variants. Every slot left zero decodes as #UD, so
 * adding an instruction here is what makes the decoder accept it.
 */
#include "decode.h"
#include "tables.h"

#define ALL X86_FL_ARITH
#define CF X86_CF
#define OF X86_OF
#define ZF X86_ZF
#define DF X86_DF

/* Operand specifications. */
#define Eb { TK_E, TS_B }
#define Ew { TK_E, TS_W }
#define Ed { TK_E, TS_D }
#define Ev { TK_E, TS_V }
#define Gb { TK_G, TS_B }
#define Gv { TK_G, TS_V }
#define Mv { TK_M, TS_V }
#define Mq { TK_M, TS_DQ }
#define Ib { TK_I, TS_B }
#define Iw { TK_I, TS_W }
#define Iz { TK_I, TS_Z }
#define Ibs { TK_I, TS_BS }
#define Iv { TK_I, TS_V }
#define Jb { TK_J, TS_BS }
#define Jz { TK_J, TS_Z }
#define AL { TK_A, TS_B }
#define rAX { TK_A, TS_V }
#define CL { TK_C, TS_B }
#define Zb { TK_Z, TS_B }
#define Zv { TK_Z, TS_V }
#define ONE { TK_ONE, TS_B }
#define Ob { TK_O, TS_B }
#define Ov { TK_O, TS_V }
#define Gd { TK_G, TS_D }
#define Mw { TK_M, TS_W }
#define Md { TK_M, TS_D }
#define Mx { TK_M, TS_X }
#define Mq64 { TK_M, TS_Q }
#define Mn { TK_M, TS_NONE }
#define Rd { TK_R, TS_D }
#define Vx { TK_V, TS_X }
#define Wx { TK_W, TS_X }
#define Wq { TK_W, TS_Q }
#define Wd { TK_W, TS_D }
#define Ux { TK_U, TS_X }
#define Ww { TK_W, TS_W }
#define Gy { TK_G, TS_Y }
#define Ey { TK_E, TS_Y }

/* An instruction: operation, attributes, flags read/written/undefined, operands. */
#define I(o, a, r, w, u, ...) \
	{ .op = X86_OP_##o, .attr = (a), .fread = (r), .fwrite = (w), .fundef = (u), \
	  .opnd = { __VA_ARGS__ } }
/* The same on byte operands. */
#define IB(o, a, r, w, u, ...) \
	{ .op = X86_OP_##o, .attr = (a), .fread = (r), .fwrite = (w), .fundef = (u), \
	  .byteop = 1, .opnd = { __VA_ARGS__ } }
/* A ModRM.reg group whose members take these operands unless they give their own. */
#define GRP(g, a, ...) { .group = (g), .attr = (a) | X86_A_MODRM, .opnd = { __VA_ARGS__ } }
#define GRPB(g, a, ...) \
	{ .group = (g), .attr = (a) | X86_A_MODRM, .byteop = 1, .opnd = { __VA_ARGS__ } }
#define PFX(t) { .pfxtab = (t) }
#define SSE PFX(PT_SSE)

#define M X86_A_MODRM
#define L (X86_A_MODRM | X86_A_LOCK)
#define BR X86_A_BRANCH
#define STR X86_A_STRING
/* System instructions: the environment runs them (env->sysinsn), each ends a block. */
#define SYS (X86_A_SYSTEM | X86_A_NOTEST | BR)

/* The eight ALU operations share one layout in the one-byte map. */
#define ALU_ROW(op, r, u, lk) \
	IB(op, lk, r, ALL, u, Eb, Gb), I(op, lk, r, ALL, u, Ev, Gv), \
	IB(op, M, r, ALL, u, Gb, Eb), I(op, M, r, ALL, u, Gv, Ev), \
	IB(op, 0, r, ALL, u, AL, Ib), I(op, 0, r, ALL, u, rAX, Iz)

/* OF is defined only for a count of 1, AF never, after shifts. */
#define SHIFT_UNDEF (X86_AF | OF)

#define X8(...) __VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__, \
	__VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__
#define X16(...) X8(__VA_ARGS__), X8(__VA_ARGS__)
#define X4(...) __VA_ARGS__, __VA_ARGS__, __VA_ARGS__, __VA_ARGS__

const struct x86_opdesc x86_map1[256] = {
	[0x00] = ALU_ROW(ADD, 0, 0, L),
	[0x08] = ALU_ROW(OR, 0, X86_AF, L),
	[0x10] = ALU_ROW(ADC, CF, 0, L),
	[0x18] = ALU_ROW(SBB, CF, 0, L),
	[0x20] = ALU_ROW(AND, 0, X86_AF, L),
	[0x28] = ALU_ROW(SUB, 0, 0, L),
	[0x30] = ALU_ROW(XOR, 0, X86_AF, L),
	[0x38] = ALU_ROW(CMP, 0, 0, M),
	[0x40] = X8(I(INC, X86_A_NO64, 0, ALL & ~CF, 0, Zv)),
	[0x48] = X8(I(DEC, X86_A_NO64, 0, ALL & ~CF, 0, Zv)),
	[0x50] = X8(I(PUSH, X86_A_D64, 0, 0, 0, Zv)),
	[0x58] = X8(I(POP, X86_A_D64, 0, 0, 0, Zv)),
	[0x63] = I(MOVSX, M | X86_A_ONLY64, 0, 0, 0, Gv, Ed),
	[0x68] = I(PUSH, X86_A_D64, 0, 0, 0, Iz),
	[0x69] = I(IMUL2, M, 0, ALL, ALL & ~(CF | OF), Gv, Ev, Iz),
	[0x6a] = I(PUSH, X86_A_D64, 0, 0, 0, Ibs),
	[0x6b] = I(IMUL2, M, 0, ALL, ALL & ~(CF | OF), Gv, Ev, Ibs),
	[0x6c] = IB(SYSINSN, SYS | STR, DF, 0, 0),	/* ins */
	[0x6d] = I(SYSINSN, SYS | STR, DF, 0, 0),
	[0x6e] = IB(SYSINSN, SYS | STR, DF, 0, 0),	/* outs */
	[0x6f] = I(SYSINSN, SYS | STR, DF, 0, 0),
	[0x70] = X16(I(JCC, BR | X86_A_F64, 0, 0, 0, Jb)),
	[0x80] = GRPB(G1, 0, Eb, Ib),
	[0x81] = GRP(G1, 0, Ev, Iz),
	[0x82] = GRPB(G1, X86_A_NO64, Eb, Ib),
	[0x83] = GRP(G1, 0, Ev, Ibs),
	[0x84] = IB(TEST, M, 0, ALL, X86_AF, Eb, Gb),
	[0x85] = I(TEST, M, 0, ALL, X86_AF, Ev, Gv),
	[0x86] = IB(XCHG, L, 0, 0, 0, Eb, Gb),
	[0x87] = I(XCHG, L, 0, 0, 0, Ev, Gv),
	[0x88] = IB(MOV, M, 0, 0, 0, Eb, Gb),
	[0x89] = I(MOV, M, 0, 0, 0, Ev, Gv),
	[0x8a] = IB(MOV, M, 0, 0, 0, Gb, Eb),
	[0x8b] = I(MOV, M, 0, 0, 0, Gv, Ev),
	[0x8c] = I(SYSINSN, M | SYS, 0, 0, 0, Ev),	/* mov r/m, Sreg */
	[0x8d] = I(LEA, M, 0, 0, 0, Gv, Mv),
	[0x8e] = I(SYSINSN, M | SYS, 0, 0, 0, Ew),	/* mov Sreg, r/m */
	[0x8f] = GRP(G1A, X86_A_D64, Ev),
	[0x90] = X8(I(XCHG, 0, 0, 0, 0, Zv, rAX)),
	[0x98] = I(CBW, 0, 0, 0, 0),
	[0x99] = I(CWD, 0, 0, 0, 0),
	[0x9c] = I(PUSHF, X86_A_D64, ALL | DF, 0, 0),
	[0x9d] = I(POPF, X86_A_D64 | X86_A_SYSTEM, 0, ALL | DF, 0),
	[0x9e] = I(SAHF, 0, 0, ALL & ~OF, 0),
	[0x9f] = I(LAHF, 0, ALL & ~OF, 0, 0),
	[0xa0] = IB(MOV, 0, 0, 0, 0, AL, Ob),
	[0xa1] = I(MOV, 0, 0, 0, 0, rAX, Ov),
	[0xa2] = IB(MOV, 0, 0, 0, 0, Ob, AL),
	[0xa3] = I(MOV, 0, 0, 0, 0, Ov, rAX),
	[0xa4] = IB(MOVS, STR, DF, 0, 0),
	[0xa5] = I(MOVS, STR, DF, 0, 0),
	[0xa6] = IB(CMPS, STR, DF, ALL, 0),
	[0xa7] = I(CMPS, STR, DF, ALL, 0),
	[0xa8] = IB(TEST, 0, 0, ALL, X86_AF, AL, Ib),
	[0xa9] = I(TEST, 0, 0, ALL, X86_AF, rAX, Iz),
	[0xaa] = IB(STOS, STR, DF, 0, 0),
	[0xab] = I(STOS, STR, DF, 0, 0),
	[0xac] = IB(LODS, STR, DF, 0, 0),
	[0xad] = I(LODS, STR, DF, 0, 0),
	[0xae] = IB(SCAS, STR, DF, ALL, 0),
	[0xaf] = I(SCAS, STR, DF, ALL, 0),
	[0xb0] = X8(IB(MOV, 0, 0, 0, 0, Zb, Ib)),
	[0xb8] = X8(I(MOV, 0, 0, 0, 0, Zv, Iv)),
	[0xc0] = GRPB(G2, 0, Eb, Ib),
	[0xc1] = GRP(G2, 0, Ev, Ib),
	[0xc2] = I(RET, BR | X86_A_F64, 0, 0, 0, Iw),
	[0xc3] = I(RET, BR | X86_A_F64, 0, 0, 0),
	[0xc6] = GRPB(G11, 0, Eb, Ib),
	[0xc7] = GRP(G11, 0, Ev, Iz),
	[0xc9] = I(LEAVE, X86_A_D64, 0, 0, 0),
	[0xca] = I(SYSINSN, SYS, 0, 0, 0, Iw),	/* far ret */
	[0xcb] = I(SYSINSN, SYS, 0, 0, 0),
	[0xcc] = I(INT3, BR | X86_A_NOTEST, 0, 0, 0),
	[0xcd] = I(SYSINSN, SYS, 0, 0, 0, Ib),	/* int n */
	[0xcf] = I(SYSINSN, SYS, 0, ALL | DF, 0),	/* iret */
	[0xd0] = GRPB(G2, 0, Eb, ONE),
	[0xd1] = GRP(G2, 0, Ev, ONE),
	[0xd2] = GRPB(G2, 0, Eb, CL),
	[0xd3] = GRP(G2, 0, Ev, CL),
	[0xd9] = GRP(G_D9, 0),
	[0xdb] = GRP(G_DB, 0),
	[0xdd] = GRP(G_DD, 0),
	[0xdf] = GRP(G_DF, 0),
	[0xe0] = I(LOOP, BR | X86_A_F64, ZF, 0, 0, Jb),
	[0xe1] = I(LOOP, BR | X86_A_F64, ZF, 0, 0, Jb),
	[0xe2] = I(LOOP, BR | X86_A_F64, 0, 0, 0, Jb),
	[0xe3] = I(JRCXZ, BR | X86_A_F64, 0, 0, 0, Jb),
	[0xe4] = IB(SYSINSN, SYS, 0, 0, 0, Ib),	/* in, out with a port number */
	[0xe5] = I(SYSINSN, SYS, 0, 0, 0, Ib),
	[0xe6] = IB(SYSINSN, SYS, 0, 0, 0, Ib),
	[0xe7] = I(SYSINSN, SYS, 0, 0, 0, Ib),
	[0xe8] = I(CALL, BR | X86_A_F64, 0, 0, 0, Jz),
	[0xe9] = I(JMP, BR | X86_A_F64, 0, 0, 0, Jz),
	[0xea] = I(SYSINSN, SYS | X86_A_NO64, 0, 0, 0, Iz, Iw),	/* far jmp ptr16:z */
	[0xeb] = I(JMP, BR | X86_A_F64, 0, 0, 0, Jb),
	[0xec] = IB(SYSINSN, SYS, 0, 0, 0),	/* in, out with the port in DX */
	[0xed] = I(SYSINSN, SYS, 0, 0, 0),
	[0xee] = IB(SYSINSN, SYS, 0, 0, 0),
	[0xef] = I(SYSINSN, SYS, 0, 0, 0),
	[0xf4] = I(HLT, BR | X86_A_SYSTEM | X86_A_NOTEST, 0, 0, 0),
	[0xf5] = I(CMC, 0, CF, CF, 0),
	[0xf6] = GRPB(G3B, 0, Eb),
	[0xf7] = GRP(G3V, 0, Ev),
	[0xf8] = I(CLC, 0, 0, CF, 0),
	[0xf9] = I(STC, 0, 0, CF, 0),
	[0xfa] = I(SYSINSN, SYS, 0, 0, 0),	/* cli */
	[0xfb] = I(SYSINSN, SYS, 0, 0, 0),	/* sti */
	[0xfc] = I(CLD, 0, 0, DF, 0),
	[0xfd] = I(STD, 0, 0, DF, 0),
	[0xfe] = GRPB(G4, 0, Eb),
	[0xff] = GRP(G5, 0, Ev),
};

const struct x86_opdesc x86_map2[256] = {
	[0x00] = GRP(G6, 0),
	[0x01] = GRP(G7, 0),
	[0x05] = I(SYSCALL, BR | X86_A_ONLY64 | X86_A_SYSTEM | X86_A_NOTEST, 0, 0, 0),
	[0x07] = I(SYSINSN, SYS | X86_A_ONLY64, 0, 0, 0),	/* sysret */
	[0x0b] = I(UD2, BR | X86_A_NOTEST, 0, 0, 0),
	[0x0d] = I(NOP, M, 0, 0, 0, Mv),
	[0x10] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x18] = X8(I(NOP, M, 0, 0, 0, Ev)),
	[0x20] = I(SYSINSN, M | X86_A_F64 | SYS, 0, 0, 0, { TK_R, TS_V }),	/* mov r, CRn */
	[0x21] = I(SYSINSN, M | X86_A_F64 | SYS, 0, 0, 0, { TK_R, TS_V }),	/* mov r, DRn */
	[0x22] = I(SYSINSN, M | X86_A_F64 | SYS, 0, 0, 0, { TK_R, TS_V }),	/* mov CRn, r */
	[0x23] = I(SYSINSN, M | X86_A_F64 | SYS, 0, 0, 0, { TK_R, TS_V }),	/* mov DRn, r */
	[0x28] = SSE, SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x30] = I(SYSINSN, SYS, 0, 0, 0),	/* wrmsr */
	[0x31] = I(RDTSC, X86_A_SYSTEM | X86_A_NOTEST, 0, 0, 0),
	[0x32] = I(SYSINSN, SYS, 0, 0, 0),	/* rdmsr */
	[0x40] = X16(I(CMOV, M, 0, 0, 0, Gv, Ev)),
	[0x50] = X16(SSE),
	[0x60] = X16(SSE),
	[0x70] = SSE, SSE, SSE, SSE, SSE, SSE, SSE,
	[0x7c] = SSE, SSE, SSE, SSE,
	[0x80] = X16(I(JCC, BR | X86_A_F64, 0, 0, 0, Jz)),
	[0x90] = X16(IB(SETCC, M, 0, 0, 0, Eb)),
	[0xa2] = I(CPUID, X86_A_SYSTEM | X86_A_NOTEST, 0, 0, 0),
	[0xa3] = I(BT, M, 0, CF, ALL & ~(CF | ZF), Ev, Gv),
	[0xa4] = I(SHLD, M, 0, ALL, SHIFT_UNDEF, Ev, Gv, Ib),
	[0xa5] = I(SHLD, M, 0, ALL, SHIFT_UNDEF, Ev, Gv, CL),
	[0xab] = I(BTS, L, 0, CF, ALL & ~(CF | ZF), Ev, Gv),
	[0xae] = GRP(G15, X86_A_NOPFX),
	[0xac] = I(SHRD, M, 0, ALL, SHIFT_UNDEF, Ev, Gv, Ib),
	[0xad] = I(SHRD, M, 0, ALL, SHIFT_UNDEF, Ev, Gv, CL),
	[0xaf] = I(IMUL2, M, 0, ALL, ALL & ~(CF | OF), Gv, Ev),
	[0xb0] = IB(CMPXCHG, L, 0, ALL, 0, Eb, Gb),
	[0xb1] = I(CMPXCHG, L, 0, ALL, 0, Ev, Gv),
	[0xb3] = I(BTR, L, 0, CF, ALL & ~(CF | ZF), Ev, Gv),
	[0xb6] = I(MOVZX, M, 0, 0, 0, Gv, Eb),
	[0xb7] = I(MOVZX, M, 0, 0, 0, Gv, Ew),
	[0xb8] = PFX(PT_POPCNT),
	[0xba] = GRP(G8, 0, Ev, Ib),
	[0xbb] = I(BTC, L, 0, CF, ALL & ~(CF | ZF), Ev, Gv),
	[0xbc] = PFX(PT_BSF),
	[0xbd] = PFX(PT_BSR),
	[0xbe] = I(MOVSX, M, 0, 0, 0, Gv, Eb),
	[0xbf] = I(MOVSX, M, 0, 0, 0, Gv, Ew),
	[0xc0] = IB(XADD, L, 0, ALL, 0, Eb, Gb),
	[0xc1] = I(XADD, L, 0, ALL, 0, Ev, Gv),
	[0xc4] = SSE, SSE, SSE,
	[0xc7] = GRP(G9, 0),
	[0xc8] = X8(I(BSWAP, 0, 0, 0, 0, Zv)),
	[0xd0] = X16(SSE),
	[0xe0] = X16(SSE),
	[0xf0] = X16(SSE),
};

/* SSE and SSE2 in the 0F map, by mandatory prefix: none, F3, F2, 66. */
#define U X86_A_UNALIGNED
#define NT X86_A_NOTEST
#define P66(o, ...) { [3] = I(o, M, 0, 0, 0, __VA_ARGS__) }
#define PS_PD(o, ...) { I(o, M, 0, 0, 0, __VA_ARGS__), [3] = I(o, M, 0, 0, 0, __VA_ARGS__) }
/* pcmpestrm/pcmpestri/pcmpistrm/pcmpistri: all six flags, unaligned memory */
#define I66U(o) { [3] = I(o, M | U, 0, ALL, 0, Vx, Wx, Ib) }
#define SS_SD(o, a, b) { [1] = I(o, M, 0, 0, 0, Vx, a), [2] = I(o, M, 0, 0, 0, Vx, b) }

const struct x86_opdesc x86_sse[256][4] = {
	[0x10] = { I(MOVDQ, M | U, 0, 0, 0, Vx, Wx), I(MOVSS, M, 0, 0, 0, Vx, Wd),
		   I(MOVSD, M, 0, 0, 0, Vx, Wq), I(MOVDQ, M | U, 0, 0, 0, Vx, Wx) },
	[0x11] = { I(MOVDQ, M | U, 0, 0, 0, Wx, Vx), I(MOVSS, M, 0, 0, 0, Wd, Vx),
		   I(MOVSD, M, 0, 0, 0, Wq, Vx), I(MOVDQ, M | U, 0, 0, 0, Wx, Vx) },
	[0x12] = { I(MOVLPS, M, 0, 0, 0, Vx, Wq), I(MOVDUP, M, 0, 0, 0, Vx, Wx),
		   I(MOVDUP, M, 0, 0, 0, Vx, Wq), I(MOVLPS, M, 0, 0, 0, Vx, Mq64) },
	[0x13] = PS_PD(MOVLPS, Mq64, Vx),
	[0x14] = PS_PD(PUNPCKL, Vx, Wx),
	[0x15] = PS_PD(PUNPCKH, Vx, Wx),
	[0x16] = { I(MOVHPS, M, 0, 0, 0, Vx, Wq), I(MOVDUP, M, 0, 0, 0, Vx, Wx),
		   [3] = I(MOVHPS, M, 0, 0, 0, Vx, Mq64) },
	[0x17] = PS_PD(MOVHPS, Mq64, Vx),
	[0x28] = PS_PD(MOVDQ, Vx, Wx),
	[0x29] = PS_PD(MOVDQ, Wx, Vx),
	[0x2a] = { [1] = I(CVTSI2F, M, 0, 0, 0, Vx, Ev), [2] = I(CVTSI2F, M, 0, 0, 0, Vx, Ev) },
	[0x2b] = PS_PD(MOVDQ, Mx, Vx),
	[0x2c] = { [1] = I(CVTF2SI, M, 0, 0, 0, Gv, Wd), [2] = I(CVTF2SI, M, 0, 0, 0, Gv, Wq) },
	[0x2d] = { [1] = I(CVTF2SI, M, 0, 0, 0, Gv, Wd), [2] = I(CVTF2SI, M, 0, 0, 0, Gv, Wq) },
	[0x2e] = { I(COMIS, M, 0, ALL, 0, Vx, Wd), [3] = I(COMIS, M, 0, ALL, 0, Vx, Wq) },
	[0x2f] = { I(COMIS, M, 0, ALL, 0, Vx, Wd), [3] = I(COMIS, M, 0, ALL, 0, Vx, Wq) },
	[0x50] = { I(MOVMSKPS, M, 0, 0, 0, Gd, Ux), [3] = I(MOVMSKPD, M, 0, 0, 0, Gd, Ux) },
	[0x51] = SS_SD(FPARITH, Wd, Wq),
	[0x54] = PS_PD(PAND, Vx, Wx),
	[0x55] = PS_PD(PANDN, Vx, Wx),
	[0x56] = PS_PD(POR, Vx, Wx),
	[0x57] = PS_PD(PXOR, Vx, Wx),
	[0x58] = SS_SD(FPARITH, Wd, Wq),
	[0x59] = SS_SD(FPARITH, Wd, Wq),
	[0x5a] = SS_SD(CVTF2F, Wd, Wq),
	[0x5c] = SS_SD(FPARITH, Wd, Wq),
	[0x5d] = SS_SD(FPARITH, Wd, Wq),
	[0x5e] = SS_SD(FPARITH, Wd, Wq),
	[0x5f] = SS_SD(FPARITH, Wd, Wq),
	[0x60] = P66(PUNPCKL, Vx, Wx), [0x61] = P66(PUNPCKL, Vx, Wx), [0x62] = P66(PUNPCKL, Vx, Wx),
	[0x63] = P66(PACKSSWB, Vx, Wx),
	[0x64] = P66(PCMPGT, Vx, Wx), [0x65] = P66(PCMPGT, Vx, Wx), [0x66] = P66(PCMPGT, Vx, Wx),
	[0x67] = P66(PACKUSWB, Vx, Wx),
	[0x68] = P66(PUNPCKH, Vx, Wx), [0x69] = P66(PUNPCKH, Vx, Wx), [0x6a] = P66(PUNPCKH, Vx, Wx),
	[0x6b] = P66(PACKSSDW, Vx, Wx),
	[0x6c] = P66(PUNPCKL, Vx, Wx), [0x6d] = P66(PUNPCKH, Vx, Wx),
	[0x6e] = P66(MOVD, Vx, Ev),
	[0x6f] = { [1] = I(MOVDQ, M | U, 0, 0, 0, Vx, Wx), [3] = I(MOVDQ, M, 0, 0, 0, Vx, Wx) },
	[0x70] = { [1] = I(PSHUFHW, M, 0, 0, 0, Vx, Wx, Ib), [2] = I(PSHUFLW, M, 0, 0, 0, Vx, Wx, Ib),
		   [3] = I(PSHUFD, M, 0, 0, 0, Vx, Wx, Ib) },
	[0x71] = { [3] = GRP(G12, 0, Ux, Ib) },
	[0x72] = { [3] = GRP(G13, 0, Ux, Ib) },
	[0x73] = { [3] = GRP(G14, 0, Ux, Ib) },
	[0x74] = P66(PCMPEQ, Vx, Wx), [0x75] = P66(PCMPEQ, Vx, Wx), [0x76] = P66(PCMPEQ, Vx, Wx),
	[0x7c] = { [2] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx), [3] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx) },
	[0x7d] = { [2] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx), [3] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx) },
	[0x7e] = { [1] = I(MOVQ, M, 0, 0, 0, Vx, Wq), [3] = I(MOVD, M, 0, 0, 0, Ev, Vx) },
	[0x7f] = { [1] = I(MOVDQ, M | U, 0, 0, 0, Wx, Vx), [3] = I(MOVDQ, M, 0, 0, 0, Wx, Vx) },
	[0xc4] = P66(PINSRW, Vx, Ew, Ib),
	[0xc5] = P66(PEXTRW, Gd, Ux, Ib),
	[0xc6] = PS_PD(SHUFPS, Vx, Wx, Ib),
	[0xd0] = { [2] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx), [3] = I(FPHORIZ, M, 0, 0, 0, Vx, Wx) },
	[0xd1] = P66(PSRL, Vx, Wx), [0xd2] = P66(PSRL, Vx, Wx), [0xd3] = P66(PSRL, Vx, Wx),
	[0xd4] = P66(PADD, Vx, Wx), [0xd5] = P66(PMULLW, Vx, Wx), [0xd6] = P66(MOVQ, Wq, Vx),
	[0xd7] = P66(PMOVMSKB, Gd, Ux),
	[0xd8] = P66(PSUBUS, Vx, Wx), [0xd9] = P66(PSUBUS, Vx, Wx),
	[0xda] = P66(PMINUB, Vx, Wx), [0xdb] = P66(PAND, Vx, Wx),
	[0xdc] = P66(PADDUS, Vx, Wx), [0xdd] = P66(PADDUS, Vx, Wx),
	[0xde] = P66(PMAXUB, Vx, Wx), [0xdf] = P66(PANDN, Vx, Wx),
	[0xe0] = P66(PAVG, Vx, Wx), [0xe1] = P66(PSRA, Vx, Wx), [0xe2] = P66(PSRA, Vx, Wx),
	[0xe3] = P66(PAVG, Vx, Wx), [0xe7] = P66(MOVDQ, Mx, Vx),
	[0xea] = P66(PMINSW, Vx, Wx), [0xeb] = P66(POR, Vx, Wx),
	[0xee] = P66(PMAXSW, Vx, Wx), [0xef] = P66(PXOR, Vx, Wx),
	[0xf0] = { [2] = I(MOVDQ, M | U, 0, 0, 0, Vx, Mx) },	/* lddqu */
	[0xf1] = P66(PSLL, Vx, Wx), [0xf2] = P66(PSLL, Vx, Wx), [0xf3] = P66(PSLL, Vx, Wx),
	[0xf4] = P66(PMULUDQ, Vx, Wx), [0xf6] = P66(PSADBW, Vx, Wx),
	[0xf8] = P66(PSUB, Vx, Wx), [0xf9] = P66(PSUB, Vx, Wx), [0xfa] = P66(PSUB, Vx, Wx),
	[0xfb] = P66(PSUB, Vx, Wx),
	[0xfc] = P66(PADD, Vx, Wx), [0xfd] = P66(PADD, Vx, Wx), [0xfe] = P66(PADD, Vx, Wx),
};

#define SSE38 PFX(PT_SSE38)
#define SSE3A PFX(PT_SSE3A)

const struct x86_opdesc x86_map3[256] = {
	[0x00] = X8(SSE38), X8(SSE38),
	[0x10] = SSE38, [0x14] = SSE38, SSE38, [0x17] = SSE38,
	[0x1c] = SSE38, SSE38, SSE38,
	[0x20] = SSE38, SSE38, SSE38, SSE38, SSE38, SSE38,
	[0x28] = SSE38, SSE38, SSE38, SSE38,
	[0x30] = SSE38, SSE38, SSE38, SSE38, SSE38, SSE38, [0x37] = SSE38,
	[0x38] = X8(SSE38),
	[0x40] = SSE38, SSE38,
	[0xf0] = PFX(PT_MOVBE_LD),	/* movbe; F2: crc32 */
	[0xf1] = PFX(PT_MOVBE_ST),
};

const struct x86_opdesc x86_map4[256] = {
	[0x08] = X8(SSE3A),
	[0x14] = SSE3A, SSE3A, SSE3A, SSE3A,
	[0x20] = SSE3A, SSE3A, SSE3A,
	[0x40] = SSE3A, SSE3A, SSE3A,
	[0x60] = SSE3A, SSE3A, SSE3A, SSE3A,
};

/*
 * SSSE3 and SSE4 in the 0F 38 and 0F 3A maps: the 66 forms only. The MMX
 * (no-prefix) forms of the SSSE3 instructions stay #UD, as MMX is not
 * implemented. pblendvb, blendvps and blendvpd read XMM0 as a third source.
 */
const struct x86_opdesc x86_sse38[256][4] = {
	[0x00] = P66(PSHUFB, Vx, Wx),
	[0x01] = P66(PHADD, Vx, Wx), [0x02] = P66(PHADD, Vx, Wx), [0x03] = P66(PHADD, Vx, Wx),
	[0x04] = P66(PMADDUBSW, Vx, Wx),
	[0x05] = P66(PHSUB, Vx, Wx), [0x06] = P66(PHSUB, Vx, Wx), [0x07] = P66(PHSUB, Vx, Wx),
	[0x08] = P66(PSIGN, Vx, Wx), [0x09] = P66(PSIGN, Vx, Wx), [0x0a] = P66(PSIGN, Vx, Wx),
	[0x0b] = P66(PMULHRSW, Vx, Wx),
	[0x10] = P66(PBLENDV, Vx, Wx), [0x14] = P66(PBLENDV, Vx, Wx),
	[0x15] = P66(PBLENDV, Vx, Wx),
	[0x17] = { [3] = I(PTEST, M, 0, ALL, 0, Vx, Wx) },
	[0x1c] = P66(PABS, Vx, Wx), [0x1d] = P66(PABS, Vx, Wx), [0x1e] = P66(PABS, Vx, Wx),
	/* pmovsx/pmovzx bw, bd, bq, wd, wq, dq read 8, 4, 2, 8, 4, 8 bytes of memory */
	[0x20] = P66(PMOVSX, Vx, Wq), [0x21] = P66(PMOVSX, Vx, Wd), [0x22] = P66(PMOVSX, Vx, Ww),
	[0x23] = P66(PMOVSX, Vx, Wq), [0x24] = P66(PMOVSX, Vx, Wd), [0x25] = P66(PMOVSX, Vx, Wq),
	[0x28] = P66(PMULDQ, Vx, Wx), [0x29] = P66(PCMPEQQ, Vx, Wx),
	[0x2a] = P66(MOVDQ, Vx, Mx),	/* movntdqa */
	[0x2b] = P66(PACKUSDW, Vx, Wx),
	[0x30] = P66(PMOVZX, Vx, Wq), [0x31] = P66(PMOVZX, Vx, Wd), [0x32] = P66(PMOVZX, Vx, Ww),
	[0x33] = P66(PMOVZX, Vx, Wq), [0x34] = P66(PMOVZX, Vx, Wd), [0x35] = P66(PMOVZX, Vx, Wq),
	[0x37] = P66(PCMPGTQ, Vx, Wx),
	[0x38] = X8(P66(PMINMAX, Vx, Wx)),
	[0x40] = P66(PMULLD, Vx, Wx), [0x41] = P66(PHMINPOSUW, Vx, Wx),
};

/*
 * pextrb/pextrw/extractps write a 32-bit register (zero-extended) or 1, 2, 4
 * bytes of memory, and pinsrb reads a 32-bit register or 1 byte: the handlers
 * size the memory access. pcmpestr* read rAX and rDX, pcmpistri/pcmpestri
 * write rCX, pcmpistrm/pcmpestrm write XMM0; none of them needs alignment.
 */
const struct x86_opdesc x86_sse3a[256][4] = {
	[0x08] = P66(ROUND, Vx, Wx, Ib), [0x09] = P66(ROUND, Vx, Wx, Ib),
	[0x0a] = P66(ROUND, Vx, Wd, Ib), [0x0b] = P66(ROUND, Vx, Wq, Ib),
	[0x0c] = P66(BLEND, Vx, Wx, Ib), [0x0d] = P66(BLEND, Vx, Wx, Ib),
	[0x0e] = P66(BLEND, Vx, Wx, Ib), [0x0f] = P66(PALIGNR, Vx, Wx, Ib),
	[0x14] = P66(PEXTR, Ed, Vx, Ib), [0x15] = P66(PEXTR, Ed, Vx, Ib),
	[0x16] = P66(PEXTR, Ey, Vx, Ib), [0x17] = P66(EXTRACTPS, Ed, Vx, Ib),
	[0x20] = P66(PINSR, Vx, Ed, Ib), [0x21] = P66(INSERTPS, Vx, Wd, Ib),
	[0x22] = P66(PINSR, Vx, Ey, Ib),
	[0x40] = P66(DPPS, Vx, Wx, Ib), [0x41] = P66(DPPD, Vx, Wx, Ib),
	[0x42] = P66(MPSADBW, Vx, Wx, Ib),
	[0x60] = X4(I66U(PCMPSTR)),
};

#define BITSCAN_UNDEF (ALL & ~ZF)

/* Index 0: no mandatory prefix; 1: F3; 2: F2; 3: 66. */
const struct x86_opdesc x86_pfx_tables[PT_COUNT][4] = {
	[PT_POPCNT] = {
		[1] = I(POPCNT, M, 0, ALL, 0, Gv, Ev),
	},
	/* Without BMI1/LZCNT advertised, tzcnt and lzcnt execute as bsf and bsr. */
	[PT_BSF] = {
		I(BSF, M, 0, ALL, BITSCAN_UNDEF, Gv, Ev),
		I(TZCNT, M | X86_A_NOTEST, 0, ALL, BITSCAN_UNDEF, Gv, Ev),
	},
	[PT_BSR] = {
		I(BSR, M, 0, ALL, BITSCAN_UNDEF, Gv, Ev),
		I(LZCNT, M | X86_A_NOTEST, 0, ALL, BITSCAN_UNDEF, Gv, Ev),
	},
	/* F2 0F 38 F0/F1: crc32 of a byte, or of a word/doubleword/quadword (66, REX.W) */
	[PT_MOVBE_LD] = { I(MOVBE, M, 0, 0, 0, Gv, Mv), [2] = I(CRC32, M, 0, 0, 0, Gy, Eb) },
	[PT_MOVBE_ST] = { I(MOVBE, M, 0, 0, 0, Mv, Gv), [2] = I(CRC32, M, 0, 0, 0, Gy, Ev) },
};

#define ROT(o, r) I(o, 0, r, CF | OF, OF)
#define MULF (ALL & ~(CF | OF))

/* Group members: operands come from the opcode entry unless given here. */
const struct x86_opdesc x86_groups[GRP_COUNT][8] = {
	[G1] = {
		I(ADD, X86_A_LOCK, 0, ALL, 0), I(OR, X86_A_LOCK, 0, ALL, X86_AF),
		I(ADC, X86_A_LOCK, CF, ALL, 0), I(SBB, X86_A_LOCK, CF, ALL, 0),
		I(AND, X86_A_LOCK, 0, ALL, X86_AF), I(SUB, X86_A_LOCK, 0, ALL, 0),
		I(XOR, X86_A_LOCK, 0, ALL, X86_AF), I(CMP, 0, 0, ALL, 0),
	},
	[G1A] = { I(POP, 0, 0, 0, 0) },
	[G2] = {
		ROT(ROL, 0), ROT(ROR, 0), ROT(RCL, CF), ROT(RCR, CF),
		I(SHL, 0, 0, ALL, SHIFT_UNDEF), I(SHR, 0, 0, ALL, SHIFT_UNDEF),
		I(SAL, X86_A_NOTEST, 0, ALL, SHIFT_UNDEF), I(SAR, 0, 0, ALL, SHIFT_UNDEF),
	},
	[G3B] = {
		IB(TEST, 0, 0, ALL, X86_AF, Eb, Ib), IB(TEST, X86_A_NOTEST, 0, ALL, X86_AF, Eb, Ib),
		I(NOT, X86_A_LOCK, 0, 0, 0), I(NEG, X86_A_LOCK, 0, ALL, 0),
		I(MUL, 0, 0, ALL, MULF), I(IMUL1, 0, 0, ALL, MULF),
		I(DIV, 0, 0, ALL, ALL), I(IDIV, 0, 0, ALL, ALL),
	},
	[G3V] = {
		I(TEST, 0, 0, ALL, X86_AF, Ev, Iz), I(TEST, X86_A_NOTEST, 0, ALL, X86_AF, Ev, Iz),
		I(NOT, X86_A_LOCK, 0, 0, 0), I(NEG, X86_A_LOCK, 0, ALL, 0),
		I(MUL, 0, 0, ALL, MULF), I(IMUL1, 0, 0, ALL, MULF),
		I(DIV, 0, 0, ALL, ALL), I(IDIV, 0, 0, ALL, ALL),
	},
	[G4] = { I(INC, X86_A_LOCK, 0, ALL & ~CF, 0), I(DEC, X86_A_LOCK, 0, ALL & ~CF, 0) },
	[G5] = {
		I(INC, X86_A_LOCK, 0, ALL & ~CF, 0), I(DEC, X86_A_LOCK, 0, ALL & ~CF, 0),
		I(CALL_IND, BR | X86_A_F64, 0, 0, 0), {0},
		I(JMP_IND, BR | X86_A_F64, 0, 0, 0),
		I(SYSINSN, SYS, 0, 0, 0, Mn),	/* far jmp m16:z */
		I(PUSH, X86_A_D64, 0, 0, 0),
	},
	/* 0F 01 with a memory operand: sgdt, sidt, lgdt, lidt, invlpg */
	[G7] = {
		I(SYSINSN, SYS, 0, 0, 0, Mn), I(SYSINSN, SYS, 0, 0, 0, Mn),
		I(SYSINSN, SYS, 0, 0, 0, Mn), I(SYSINSN, SYS, 0, 0, 0, Mn),
		[7] = I(SYSINSN, SYS, 0, 0, 0, Ev),	/* invlpg m; swapgs (F8) */
	},
	/* sldt, str, lldt, ltr (verr/verw: #UD) */
	[G6] = {
		I(SYSINSN, SYS, 0, 0, 0, Ew), I(SYSINSN, SYS, 0, 0, 0, Ew),
		I(SYSINSN, SYS, 0, 0, 0, Ew), I(SYSINSN, SYS, 0, 0, 0, Ew),
	},
	[G8] = {
		[4] = I(BT, 0, 0, CF, ALL & ~(CF | ZF)),
		[5] = I(BTS, X86_A_LOCK, 0, CF, ALL & ~(CF | ZF)),
		[6] = I(BTR, X86_A_LOCK, 0, CF, ALL & ~(CF | ZF)),
		[7] = I(BTC, X86_A_LOCK, 0, CF, ALL & ~(CF | ZF)),
	},
	[G9] = { [1] = I(CMPXCHG8B, X86_A_LOCK, 0, ZF, 0, Mq) },
	[G11] = { I(MOV, 0, 0, 0, 0) },
	/* 66 0F 71, 72, 73: shifts by an immediate (words, doublewords, quadwords) */
	[G12] = { [2] = I(PSRL, 0, 0, 0, 0), [4] = I(PSRA, 0, 0, 0, 0), [6] = I(PSLL, 0, 0, 0, 0) },
	[G13] = { [2] = I(PSRL, 0, 0, 0, 0), [4] = I(PSRA, 0, 0, 0, 0), [6] = I(PSLL, 0, 0, 0, 0) },
	[G14] = {
		[2] = I(PSRL, 0, 0, 0, 0), [3] = I(PSRLDQ, 0, 0, 0, 0),
		[6] = I(PSLL, 0, 0, 0, 0), [7] = I(PSLLDQ, 0, 0, 0, 0),
	},
	/* 0F AE: the x87/SSE state with a memory operand, fences without one */
	[G15] = {
		I(FXSAVE, NT, 0, 0, 0, Mn), I(FXRSTOR, NT, 0, 0, 0, Mn),
		I(LDMXCSR, NT, 0, 0, 0, Md), I(STMXCSR, 0, 0, 0, 0, Md),
		[5] = I(FENCE, 0, 0, 0, 0, Rd), [6] = I(FENCE, 0, 0, 0, 0, Rd),
		[7] = I(FENCE, 0, 0, 0, 0, Rd),
	},
	/* x87: only what programs need to save, restore and reset it */
	[G_D9] = { [5] = I(FLDCW, NT, 0, 0, 0, Mw), [7] = I(FNSTCW, NT, 0, 0, 0, Mw) },
	[G_DB] = { [4] = I(FNINIT, NT, 0, 0, 0, Rd) },		/* DB E3 fninit, DB E2 fnclex */
	[G_DD] = { [7] = I(FNSTSW, NT, 0, 0, 0, Mw) },
	[G_DF] = { [4] = I(FNSTSW, NT, 0, 0, 0, { TK_R, TS_W }) },	/* DF E0: fnstsw ax */
};

const char *const x86_op_names[X86_OP_COUNT] = {
#define N(o) [X86_OP_##o] = #o
	N(UD), N(ADD), N(OR), N(ADC), N(SBB), N(AND), N(SUB), N(XOR), N(CMP),
	N(ROL), N(ROR), N(RCL), N(RCR), N(SHL), N(SHR), N(SAL), N(SAR),
	N(TEST), N(NOT), N(NEG), N(MUL), N(IMUL1), N(DIV), N(IDIV), N(IMUL2),
	N(INC), N(DEC), N(SHLD), N(SHRD), N(MOV), N(MOVZX), N(MOVSX), N(LEA),
	N(BT), N(BTS), N(BTR), N(BTC), N(BSF), N(BSR), N(TZCNT), N(LZCNT),
	N(POPCNT), N(CMOV), N(SETCC), N(JCC), N(JMP), N(JMP_IND), N(CALL),
	N(CALL_IND), N(RET), N(LOOP), N(JRCXZ), N(PUSH), N(POP), N(PUSHF),
	N(POPF), N(LEAVE), N(XCHG), N(XADD), N(CMPXCHG), N(CMPXCHG8B), N(CBW),
	N(CWD), N(BSWAP), N(MOVBE), N(MOVS), N(STOS), N(LODS), N(CMPS), N(SCAS),
	N(NOP), N(PAUSE), N(CPUID), N(RDTSC), N(SYSCALL), N(CLC), N(STC), N(CMC),
	N(CLD), N(STD), N(LAHF), N(SAHF), N(UD2), N(INT3), N(HLT),
	N(MOVDQ), N(MOVD), N(MOVQ), N(MOVSS), N(MOVSD), N(MOVLPS), N(MOVHPS), N(PMOVMSKB),
	N(MOVMSKPS), N(MOVMSKPD), N(PEXTRW), N(PINSRW), N(PAND), N(PANDN), N(POR), N(PXOR),
	N(PADD), N(PSUB), N(PADDUS), N(PSUBUS), N(PCMPEQ), N(PCMPGT), N(PMINUB), N(PMAXUB),
	N(PMINSW), N(PMAXSW), N(PMULLW), N(PMULUDQ), N(PAVG), N(PSADBW), N(PSRL), N(PSRA),
	N(PSLL), N(PSRLDQ), N(PSLLDQ), N(PSHUFD), N(PSHUFLW), N(PSHUFHW), N(PUNPCKL),
	N(PUNPCKH), N(PACKUSWB), N(PACKSSWB), N(PACKSSDW), N(SHUFPS), N(SHUFPD), N(FPARITH),
	N(COMIS), N(CVTSI2F), N(CVTF2SI), N(CVTF2F), N(LDMXCSR), N(STMXCSR), N(FXSAVE),
	N(FXRSTOR), N(FENCE), N(FNINIT), N(FLDCW), N(FNSTCW), N(FNSTSW),
	N(MOVDUP), N(FPHORIZ), N(PSHUFB), N(PHADD), N(PHSUB), N(PMADDUBSW), N(PMULHRSW),
	N(PSIGN), N(PABS), N(PALIGNR), N(PBLENDV), N(BLEND), N(PTEST), N(PMOVSX), N(PMOVZX),
	N(PMINMAX), N(PMULLD), N(PMULDQ), N(PCMPEQQ), N(PACKUSDW), N(PEXTR), N(PINSR),
	N(EXTRACTPS), N(INSERTPS), N(PHMINPOSUW), N(MPSADBW), N(ROUND), N(DPPS), N(DPPD),
	N(PCMPSTR), N(PCMPGTQ), N(CRC32), N(SYSINSN),
#undef N
};
