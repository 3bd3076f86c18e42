/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One world switch on AMD SVM.  Called with interrupts off and GIF clear:
 * between the VMLOAD of the guest's segment state and the VMLOAD of the
 * host's, the GS base is the guest's, so nothing may use per-CPU data and
 * no NMI may be taken.
 *
 * void __vmmu_svm_vmrun(u64 vmcb_pa, u64 host_save_pa, u64 *gprs)
 *   gprs: 16 registers in encoding order; RAX and RSP are not used (VMRUN
 *   switches them through the VMCB).
 */
#include <linux/linkage.h>
#include <linux/stringify.h>
#include <asm/asm.h>
#include <asm/msr-index.h>
#include <asm/nospec-branch.h>
#include <asm/segment.h>

#include "vmrun_gprs.S"

/* Not instrumentable: between the VMLOADs the GS base is the guest's. */
.section .noinstr.text, "ax"

SYM_FUNC_START(__vmmu_svm_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	/* The arguments, for after the exit: 16(%rsp), 8(%rsp), (%rsp). */
	push	%rsi
	push	%rdx
	push	%rdi

	/* The host's FS, GS, TR, LDTR and syscall MSRs, then the guest's. */
	mov	%rsi, %rax
	vmsave	%rax
	mov	%rdi, %rax
	vmload	%rax

	mov	%rdx, %rax
	VMMU_LOAD_GUEST_GPRS
	mov	(%rsp), %rax

	/* The CPU's buffers, where the kernel flushes them for its VMs (TSA). */
	ALTERNATIVE "jmp .Lverw_done", "", X86_FEATURE_CLEAR_CPU_BUF_VM
	verw	vmmu_verw_sel(%rip)
.Lverw_done:

	/* GIF is clear: STI lets the guest's physical interrupts exit. */
	sti
	vmrun	%rax
	cli

	/* RSP and RAX are the host's again; the rest is the guest's. */
	mov	8(%rsp), %rax
	VMMU_SAVE_GUEST_GPRS

	mov	(%rsp), %rax
	vmsave	%rax
	mov	16(%rsp), %rax
	vmload	%rax

	/*
	 * Before any RET: the guest may have trained the return predictors.
	 * The kernel's own choice of mitigation, as KVM applies it, spelled
	 * out with what every kernel exports to modules (7.x keeps its IBPB
	 * helper for KVM): refill the RSB, untrain returns, or IBPB.
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT
	CALL_UNTRAIN_RET
	ALTERNATIVE "", __stringify(mov $MSR_IA32_PRED_CMD, %ecx; \
		mov $PRED_CMD_IBPB, %eax; xor %edx, %edx; wrmsr), \
		X86_FEATURE_IBPB_ON_VMEXIT

	/* No guest value stays in a register the host might use. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(__vmmu_svm_vmrun)
