/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest payloads (see payloads.h for what each does and how it ends).
 * Data, not host code: the guest library copies the blob between
 * guest_payloads_start and guest_payloads_end into guest memory.  Position
 * independent: only relative jumps, no absolute addresses of the blob.
 */
#include "payloads.h"

	.section .rodata.guest_payloads, "a"

.macro PAYLOAD name
	.balign 16
	.globl \name
	.type \name, @object
\name:
.endm

/* The end of every payload: eax = result. */
.macro DONE
	outl %eax, $GUEST_PORT_DONE
99:	hlt
	jmp 99b
.endm

	.balign 16
	.globl guest_payloads_start
guest_payloads_start:

	.code64

PAYLOAD guest_fill			/* rdi = start, rsi = bytes, rdx = seed */
	lea (%rdi, %rsi), %rcx
	jmp 2f
1:	mov %rdi, %rax
	xor %rdx, %rax
	mov %rax, (%rdi)
	add $8, %rdi
2:	cmp %rcx, %rdi
	jb 1b
	xor %eax, %eax
	DONE

PAYLOAD guest_verify			/* rdi = start, rsi = bytes, rdx = seed */
	lea (%rdi, %rsi), %rcx
	jmp 2f
1:	mov %rdi, %rbx
	xor %rdx, %rbx
	mov (%rdi), %rax
	cmp %rbx, %rax
	jne 3f
	add $8, %rdi
2:	cmp %rcx, %rdi
	jb 1b
	xor %eax, %eax
	DONE
3:	outl %eax, $GUEST_PORT_MISMATCH
	mov $1, %eax
	DONE

PAYLOAD guest_io_loop			/* rdi = count */
	xor %eax, %eax
	jmp 2f
1:	outl %eax, $GUEST_PORT_VALUE
	inc %eax
2:	cmp %rdi, %rax
	jb 1b
	xor %eax, %eax
	DONE

PAYLOAD guest_io_echo
	inb $GUEST_PORT_IN, %al
	outb %al, $GUEST_PORT_ECHO
	inw $GUEST_PORT_IN, %ax
	outw %ax, $GUEST_PORT_ECHO
	inl $GUEST_PORT_IN, %eax
	outl %eax, $GUEST_PORT_ECHO
	xor %eax, %eax
	DONE

PAYLOAD guest_mmio			/* rdi = gpa without a memslot */
	movq (%rdi), %rax
	movq %rax, 8(%rdi)
	movl 16(%rdi), %eax
	movl %eax, 20(%rdi)
	movw 24(%rdi), %ax
	movw %ax, 26(%rdi)
	movb 28(%rdi), %al
	movb %al, 29(%rdi)
	xor %eax, %eax
	DONE

PAYLOAD guest_hlt
	hlt
	xor %eax, %eax
	DONE

PAYLOAD guest_spin			/* rdi = control block */
	xor %eax, %eax
1:	inc %rax
	mov %rax, GUEST_SPIN_COUNT(%rdi)
	cmpq $0, GUEST_SPIN_STOP(%rdi)
	je 1b
	xor %eax, %eax
	DONE

/* rdi = start, rsi = words, rdx = stride, rcx = passes (0: forever) */
PAYLOAD guest_read_loop
	mov %rdi, %r8
1:	mov %r8, %rdi
	mov %rsi, %r10
	jmp 3f
2:	movl (%rdi), %eax
	outl %eax, $GUEST_PORT_VALUE
	add %rdx, %rdi
	dec %r10
3:	test %r10, %r10
	jnz 2b
	test %rcx, %rcx			/* 0: forever */
	jz 1b
	dec %rcx
	jnz 1b
	xor %eax, %eax
	DONE

/*
 * rdi = control word, rsi = data word.  Keep reading both (the data's
 * translation stays hot in the TLB); when the control word changes, OUT
 * the data word to GUEST_PORT_VALUE with rbx = the new control word.  A
 * control word of ~0 ends it.
 */
PAYLOAD guest_poll_report
	xor %r8d, %r8d
1:	movl (%rsi), %ecx
	movl (%rdi), %eax
	cmp %r8d, %eax
	je 1b
	mov %eax, %r8d
	cmp $0xffffffff, %eax
	je 2f
	mov %r8, %rbx
	movl (%rsi), %eax
	outl %eax, $GUEST_PORT_VALUE
	jmp 1b
2:	xor %eax, %eax
	DONE

PAYLOAD guest_sse			/* rdi = where xmm0 goes, rsi = xmm1's */
	movdqu %xmm0, (%rdi)
	movdqu (%rsi), %xmm1
	xor %eax, %eax
	DONE

PAYLOAD guest_ud2
	ud2

/*
 * One stub per vector, each pushing a dummy error code where the CPU
 * pushes none, then the vector: the frame is then the same for all.
 */
PAYLOAD guest_exception_stubs
	vector = 0
	.rept GUEST_EXCEPTION_VECTORS
	.balign GUEST_EXCEPTION_STUB
	.if !(vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || \
	      vector == 21 || vector == 29 || vector == 30)
	pushq $0
	.endif
	pushq $vector
	jmp exception_common
	vector = vector + 1
	.endr

exception_common:			/* vector, error code, rip, cs, ... */
	mov (%rsp), %eax
	mov 8(%rsp), %rcx
	mov 16(%rsp), %rbx
	mov %cr2, %rdx
	outl %eax, $GUEST_PORT_EXCEPTION
1:	hlt
	jmp 1b

	/* rdi = address, rsi = value, in 32-bit code with PAE paging. */
	.code32
PAYLOAD guest_pae_copy
	movl (%edi), %eax
	outl %eax, $GUEST_PORT_VALUE
	movl %esi, 4(%edi)
	xorl %eax, %eax
	outl %eax, $GUEST_PORT_DONE
1:	hlt
	jmp 1b
	.code64

	/*
	 * rdi = address, rsi = CR3: turn PAE paging on (CR4.PAE set, CR0.PG
	 * clear on entry), clearing CR0.NE with it, then as guest_pae_copy
	 * but for the store.
	 */
	.code32
PAYLOAD guest_pae_enable
	movl %esi, %cr3
	movl %cr0, %eax
	orl $0x80000000, %eax
	andl $~0x20, %eax
	movl %eax, %cr0
	movl (%edi), %eax
	outl %eax, $GUEST_PORT_VALUE
	xorl %eax, %eax
	outl %eax, $GUEST_PORT_DONE
1:	hlt
	jmp 1b
	.code64

	.code16
PAYLOAD guest_real_mode
	movw $GUEST_REAL_MODE_MAGIC, %ax
	movw %ax, GUEST_REAL_MODE_DATA
	outw %ax, $GUEST_PORT_DONE
1:	hlt
	jmp 1b
	.code64

	.balign 16
	.globl guest_payloads_end
guest_payloads_end:

	.section .note.GNU-stack, "", @progbits
