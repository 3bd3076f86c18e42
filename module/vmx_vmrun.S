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
#include <linux/objtool.h>
#include <asm/asm.h>
#include <asm/ibt.h>
#include <asm/msr-index.h>
#include <asm/nospec-branch.h>
#include <asm/percpu.h>
#include <asm/unwind_hints.h>

/* Its name from 7.0 on. */
#ifndef X86_FEATURE_CLEAR_BHB_VMEXIT
#define X86_FEATURE_CLEAR_BHB_VMEXIT	X86_FEATURE_CLEAR_BHB_LOOP_ON_VMEXIT
#endif

#include "vmrun_gprs.S"

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
	VMMU_LOAD_GUEST_GPRS
	mov	GPR(0)(%rax), %rax

	/*
	 * Last before the guest: flush the CPU's buffers (MDS, TAA and
	 * their kin) when the kernel does so for its own VMs.  VERW only
	 * changes ZF.
	 */
	ALTERNATIVE_2 "jmp .Lverw_done", "", X86_FEATURE_CLEAR_CPU_BUF, \
		"", X86_FEATURE_CLEAR_CPU_BUF_VM
	verw	vmmu_verw_sel(%rip)
.Lverw_done:

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
	VMMU_SAVE_GUEST_GPRS
	popq	GPR(0)(%rax)
	xor	%eax, %eax

.Lclear_gprs:
	/*
	 * No guest value stays in a register, not even in the callee-saved
	 * ones the pops below reload (speculation, and the frame pointer
	 * the helpers below push).  EAX is the return value.
	 */
	xor	%ebx, %ebx
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%ebp, %ebp
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d

	/*
	 * Before any RET: the guest may have trained the return predictors.
	 * The kernel's own choice for VM exits: refill the RSB, or (eIBRS)
	 * only the one entry that PBRSB leaves guest-controlled.  Clobbers
	 * RCX, as do the two steps after it; RAX is kept.
	 */
	FILL_RETURN_BUFFER %rcx, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
		X86_FEATURE_RSB_VMEXIT_LITE

	/*
	 * Legacy IBRS isolates the host's predictions only when written
	 * after the less privileged mode ran: write the kernel's value
	 * again.  The guest cannot have changed SPEC_CTRL (WRMSR exits).
	 */
	ALTERNATIVE "jmp .Lspec_ctrl_done", "", X86_FEATURE_KERNEL_IBRS
	push	%rax
	mov	$MSR_IA32_SPEC_CTRL, %ecx
	mov	PER_CPU_VAR(x86_spec_ctrl_current), %rax
	mov	%rax, %rdx
	shr	$32, %rdx
	wrmsr
	pop	%rax
	xor	%edx, %edx
.Lspec_ctrl_done:
	/* No speculation past the write, or past its absence. */
	lfence

	/* The guest's branch history, where the kernel clears it on exit. */
	ALTERNATIVE "", "call vmmu_vmx_clear_bhb", X86_FEATURE_CLEAR_BHB_VMEXIT

	add	$8, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET

.Lfail:
	/* VMLAUNCH refused: the guest's registers are loaded all the same. */
	mov	$1, %eax
	jmp	.Lclear_gprs
SYM_FUNC_END(__vmmu_vmx_vmlaunch)

/*
 * Overwrite the branch history the guest left (BHI, on CPUs without the
 * BHI_DIS_S control): Intel's software sequence, enough taken branches
 * in a loop of calls and jumps for every history entry to be the host's.
 * Clobbers RCX and RDX: RAX is the caller's return value.
 */
SYM_FUNC_START_LOCAL(vmmu_vmx_clear_bhb)
	push	%rbp
	mov	%rsp, %rbp
	mov	$5, %ecx
	ANNOTATE_INTRA_FUNCTION_CALL
	call	.Lbhb_outer
	jmp	.Lbhb_done
	.align	64, 0xcc
.Lbhb_outer:
	ANNOTATE_INTRA_FUNCTION_CALL
	call	.Lbhb_inner
	RET
	.align	64, 0xcc
.Lbhb_inner:
	mov	$5, %edx
.Lbhb_jump:
	jmp	.Lbhb_count
	nop
.Lbhb_count:
	dec	%edx
	jnz	.Lbhb_jump
	dec	%ecx
	jnz	.Lbhb_outer
	RET
.Lbhb_done:
	/* No speculation past the loop before it is over. */
	lfence
	pop	%rbp
	RET
SYM_FUNC_END(vmmu_vmx_clear_bhb)
STACK_FRAME_NON_STANDARD(vmmu_vmx_clear_bhb)
