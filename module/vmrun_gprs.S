/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Included by svm_vmrun.S and vmx_vmrun.S, not built on its own: the
 * guest's general-purpose registers around a world switch, an array of 16
 * in encoding order (struct vmmu_gprs).  RAX and RSP are each backend's
 * own business: SVM switches both through the VMCB, VMX only RSP
 * (GUEST_RSP), so these leave them be.
 */
#ifndef VMMU_VMRUN_GPRS_S
#define VMMU_VMRUN_GPRS_S

#define GPR(n)	((n) * 8)

/* Load the guest's RCX, RDX, RBX and RBP-R15 from the array at %rax. */
.macro VMMU_LOAD_GUEST_GPRS
	mov	GPR(1)(%rax), %rcx
	mov	GPR(2)(%rax), %rdx
	mov	GPR(3)(%rax), %rbx
	mov	GPR(5)(%rax), %rbp
	mov	GPR(6)(%rax), %rsi
	mov	GPR(7)(%rax), %rdi
	mov	GPR(8)(%rax), %r8
	mov	GPR(9)(%rax), %r9
	mov	GPR(10)(%rax), %r10
	mov	GPR(11)(%rax), %r11
	mov	GPR(12)(%rax), %r12
	mov	GPR(13)(%rax), %r13
	mov	GPR(14)(%rax), %r14
	mov	GPR(15)(%rax), %r15
.endm

/* Store the same registers into the array at %rax. */
.macro VMMU_SAVE_GUEST_GPRS
	mov	%rcx, GPR(1)(%rax)
	mov	%rdx, GPR(2)(%rax)
	mov	%rbx, GPR(3)(%rax)
	mov	%rbp, GPR(5)(%rax)
	mov	%rsi, GPR(6)(%rax)
	mov	%rdi, GPR(7)(%rax)
	mov	%r8, GPR(8)(%rax)
	mov	%r9, GPR(9)(%rax)
	mov	%r10, GPR(10)(%rax)
	mov	%r11, GPR(11)(%rax)
	mov	%r12, GPR(12)(%rax)
	mov	%r13, GPR(13)(%rax)
	mov	%r14, GPR(14)(%rax)
	mov	%r15, GPR(15)(%rax)
.endm

#endif /* VMMU_VMRUN_GPRS_S */
