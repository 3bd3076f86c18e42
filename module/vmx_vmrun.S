/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One world switch on Intel VMX.  Called with interrupts off and vmmu's
 * VMCS current and clear (so VMLAUNCH, never VMRESUME), every field but
 * HOST_RSP written.
 *
 * int __vmmu_vmx_vmlaunch(u64 *gprs)
 *   gprs: 16 registers in encoding order; RSP is not used (it is GUEST_RSP
 *   in the VMCS).  Returns 0 after a VM exit, 1 if VMLAUNCH failed.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/ibt.h>
#include <asm/nospec-branch.h>
#include <asm/unwind_hints.h>

#define GPR(n)	((n) * 8)
/* The VMCS field encoding of the host's RSP (SDM Vol. 3, appendix B). */
#define VMCS_HOST_RSP	0x00006c14

/* Not instrumentable: a VM exit lands in the middle, on HOST_RSP. */
.section .noinstr.text, "ax"

SYM_FUNC_START(__vmmu_vmx_vmlaunch)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	/* The argument, at (%rsp) when a VM exit lands here. */
	push	%rdi

	/* The exit comes back on this very stack. */
	mov	$VMCS_HOST_RSP, %eax
	vmwrite	%rsp, %rax
	jbe	.Lfail

	mov	%rdi, %rax
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
	mov	GPR(0)(%rax), %rax

	UNWIND_HINT_SAVE
	vmlaunch
	/* Only a VMLAUNCH that failed falls through. */
	jmp	.Lfail

SYM_INNER_LABEL(vmmu_vmx_vmexit, SYM_L_GLOBAL)
	/* The stack is as it was before VMLAUNCH. */
	UNWIND_HINT_RESTORE
	ENDBR
	push	%rax
	mov	8(%rsp), %rax
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
	popq	GPR(0)(%rax)

	/*
	 * Before any RET: the guest may have trained the return predictors.
	 * The kernel's own choice for VM exits, as KVM applies it.
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT

	/* No guest value stays in a register the host might use. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%eax, %eax
	jmp	.Lout

.Lfail:
	mov	$1, %eax
.Lout:
	add	$8, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(__vmmu_vmx_vmlaunch)
