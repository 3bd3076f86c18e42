/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Decoding of the guest instruction behind an MMIO exit, for CPUs without
 * decode assists: which bytes of which register (or which immediate) go to
 * or come from memory, and how long the instruction is.
 *
 * Self-contained on purpose: insn.c uses nothing but <linux/types.h> and
 * <linux/errno.h>, so that selftests/insn_test.c builds the same file in
 * user space.
 */
#ifndef VMMU_INSN_H
#define VMMU_INSN_H

#include <linux/types.h>

/* The architectural limit; longer instructions raise #GP. */
#define VMMU_INSN_MAX_LEN	15

/* vmmu_insn.reg of ah, ch, dh, bh: 16 + the register holding the byte. */
#define VMMU_INSN_REG_AH	16
/* vmmu_insn.reg of a store of an immediate. */
#define VMMU_INSN_REG_NONE	(-1)

/* GPRs in x86 encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15. */
struct vmmu_gprs {
	u64 r[16];
};

enum vmmu_insn_op {
	VMMU_INSN_MOV,
	VMMU_INSN_MOVZX,
	VMMU_INSN_MOVSX,
};

/* A decoded instruction that accesses memory through one operand. */
struct vmmu_insn {
	enum vmmu_insn_op op;
	u8 len;		/* bytes, prefixes included */
	u8 size;	/* bytes accessed in memory: 1, 2, 4 or 8 */
	u8 dst_size;	/* register bytes written by a load; 0 for a store */
	bool write;	/* a store to memory */
	bool has_imm;	/* a store of @imm (mov r/m, imm) */
	u64 imm;	/* the @size bytes stored, sign-extended from imm32 for 8 */
	int reg;	/* 0..15, ah..bh from VMMU_INSN_REG_AH, or REG_NONE */
};

int vmmu_insn_decode(const u8 *bytes, unsigned int n, int mode,
		     struct vmmu_insn *insn);
u64 vmmu_insn_store_value(const struct vmmu_insn *insn,
			  const struct vmmu_gprs *gprs);
void vmmu_insn_complete_load(const struct vmmu_insn *insn,
			     struct vmmu_gprs *gprs, u64 value);

#endif /* VMMU_INSN_H */
