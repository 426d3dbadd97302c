/*
 * Control transfer and miscellaneous handlers: jcc, jmp, call, ret, loop,
 * jrcxz; flag instructions; cpuid, rdtsc and syscall through the CPU model
 * and the environment; and the instructions that only raise exceptions.
 */
#include "ops.h"

/* A branch target, truncated to the operand size outside 64-bit mode. */
static uint64_t branch_target(const struct tcg_cpu *cpu, const struct x86_insn *insn,
			      uint64_t t)
{
	return cpu->mode == 64 ? t : t & size_mask(insn->opsize);
}

static uint64_t rel_target(const struct tcg_cpu *cpu, const struct x86_insn *insn)
{
	return branch_target(cpu, insn, cpu->next_rip + insn->imm);
}

TCG_HANDLER(op_jcc)
{
	if (tcg_cond(cpu, insn->cond))
		cpu->next_rip = rel_target(cpu, insn);
}

TCG_HANDLER(op_jmp)
{
	cpu->next_rip = rel_target(cpu, insn);
}

TCG_HANDLER(op_jmp_ind)
{
	uint64_t addr = mem_addr(cpu, insn);

	cpu->next_rip = branch_target(cpu, insn, opnd_get(cpu, insn, 0, addr));
}

TCG_HANDLER(op_call)
{
	tcg_push(cpu, cpu->next_rip, insn->opsize);
	cpu->next_rip = rel_target(cpu, insn);
}

/* The target is read before the push, so [rsp]-relative targets see the old rsp. */
TCG_HANDLER(op_call_ind)
{
	uint64_t addr = mem_addr(cpu, insn), t = opnd_get(cpu, insn, 0, addr);

	tcg_push(cpu, cpu->next_rip, insn->opsize);
	cpu->next_rip = branch_target(cpu, insn, t);
}

TCG_HANDLER(op_ret)
{
	uint64_t t = tcg_pop(cpu, insn->opsize);
	int sw = stack_width(cpu);

	if (insn->nopnd)
		reg_set(cpu, 4, sw, cpu->gpr[4] + (insn->imm & 0xffff));
	cpu->next_rip = branch_target(cpu, insn, t);
}

/* loop, loope (E1), loopne (E0): the counter is rCX of the address size. */
TCG_HANDLER(op_loop)
{
	uint64_t c = (reg_get(cpu, 1, insn->addrsize) - 1) & size_mask(insn->addrsize);
	bool take = c != 0;

	reg_set(cpu, 1, insn->addrsize, c);
	if (insn->opcode == 0xe1)
		take = take && (cpu->rflags & X86_ZF);
	else if (insn->opcode == 0xe0)
		take = take && !(cpu->rflags & X86_ZF);
	if (take)
		cpu->next_rip = rel_target(cpu, insn);
}

TCG_HANDLER(op_jrcxz)
{
	if (!reg_get(cpu, 1, insn->addrsize))
		cpu->next_rip = rel_target(cpu, insn);
}

TCG_HANDLER(op_nop)
{
}

/* clc, stc, cmc, cld, std. */
TCG_HANDLER(op_flagop)
{
	switch (insn->op) {
	case X86_OP_CLC: cpu->rflags &= ~(uint64_t)X86_CF; break;
	case X86_OP_STC: cpu->rflags |= X86_CF; break;
	case X86_OP_CMC: cpu->rflags ^= X86_CF; break;
	case X86_OP_CLD: cpu->rflags &= ~(uint64_t)X86_DF; break;
	default: cpu->rflags |= X86_DF; break;
	}
}

#define LAHF_MASK (X86_SF | X86_ZF | X86_AF | X86_PF | X86_CF)

TCG_HANDLER(op_lahf)
{
	reg_set(cpu, X86_REG_AH, 1, (cpu->rflags & LAHF_MASK) | 2);
}

TCG_HANDLER(op_sahf)
{
	set_flags(cpu, reg_get(cpu, X86_REG_AH, 1), LAHF_MASK);
}

TCG_HANDLER(op_cpuid)
{
	uint32_t r[4];

	tcg_cpuid(cpu->gpr[0], cpu->gpr[1], r);
	cpu->gpr[0] = r[0];
	cpu->gpr[3] = r[1];
	cpu->gpr[1] = r[2];
	cpu->gpr[2] = r[3];
}

TCG_HANDLER(op_rdtsc)
{
	uint64_t t = __builtin_ia32_rdtsc();

	cpu->gpr[0] = (uint32_t)t;
	cpu->gpr[2] = t >> 32;
}

/* The environment does it all: a host system call, or the VM's entry at LSTAR. */
TCG_HANDLER(op_syscall)
{
	if (!cpu->env->syscall)
		tcg_raise(cpu, TCG_EXC_UD, 0);
	cpu->env->syscall(cpu);
}

TCG_HANDLER(op_ud)
{
	tcg_raise(cpu, TCG_EXC_UD, 0);
}

/* int3 is a trap: the exception reports the address after it. */
TCG_HANDLER(op_int3)
{
	cpu->rip = cpu->next_rip;
	tcg_raise(cpu, TCG_EXC_BP, 0);
}

/* Without a system environment guests run at CPL 3, where these are privileged. */
TCG_HANDLER(op_hlt)
{
	if (!cpu->env->sysinsn)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	cpu->env->sysinsn(cpu, insn);
}

TCG_HANDLER(op_sysinsn)
{
	if (!cpu->env->sysinsn)
		tcg_raise(cpu, TCG_EXC_GP, 0);
	cpu->env->sysinsn(cpu, insn);
}
