/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest payloads: small programs, assembled once (payloads.S), that the
 * guest library copies into every VM at GUEST_CODE_GPA and starts with
 * guest_vcpu_call().  They are position independent.
 *
 * Convention (64-bit payloads): arguments in rdi, rsi, rdx, rcx; a stack
 * at rsp; the guest's memory identity-mapped.  Every payload ends the same
 * way: OUT of eax (the result, 0 for success) to GUEST_PORT_DONE, then HLT
 * forever.  Ports are 32-bit wide unless a payload says otherwise.
 *
 * Also used by payloads.S: keep it to #defines outside __ASSEMBLER__.
 */
#ifndef VMMU_GUEST_PAYLOADS_H
#define VMMU_GUEST_PAYLOADS_H

#define GUEST_PORT_DONE		0xf0	/* end of a payload: eax = result */
#define GUEST_PORT_MISMATCH	0xf1	/* guest_verify: rdi = gpa, rax = word */
#define GUEST_PORT_VALUE	0xf2	/* a value the payload reports */
#define GUEST_PORT_IN		0xf3	/* IN of 1, 2, 4 bytes, answered by the host */
#define GUEST_PORT_ECHO		0xf4	/* OUT of what the previous IN read */
/*
 * An exception in a 64-bit payload: eax = vector, rbx = rip, rcx = the
 * error code (0 if none), rdx = cr2; then HLT forever.
 */
#define GUEST_PORT_EXCEPTION	0xf5

#define GUEST_EXCEPTION_VECTORS	32	/* stubs, 16 bytes apart */
#define GUEST_EXCEPTION_STUB	16

/* guest_real_mode stores this at GUEST_REAL_MODE_DATA and OUTs it (16 bits). */
#define GUEST_REAL_MODE_MAGIC	0x5a3c
#define GUEST_REAL_MODE_DATA	0x500

/* guest_spin's control block: the host sets STOP, the guest counts. */
#define GUEST_SPIN_STOP		0	/* offsets, 64-bit words */
#define GUEST_SPIN_COUNT	8

#ifndef __ASSEMBLER__
#include <linux/types.h>

/* The word guest_fill writes and guest_verify expects at @gpa (8-aligned). */
static inline __u64 guest_pattern(__u64 seed, __u64 gpa)
{
	return seed ^ gpa;
}

/* The whole blob, copied to GUEST_CODE_GPA. */
extern const char guest_payloads_start[], guest_payloads_end[];

/*
 * Fill [rdi, rdi + rsi) with 64-bit words guest_pattern(rdx, address);
 * rsi a multiple of 8.  DONE 0.
 */
extern const char guest_fill[];

/*
 * Check [rdi, rdi + rsi) against guest_pattern(rdx, address).  At the first
 * word that differs: OUT of its low half to GUEST_PORT_MISMATCH with rdi =
 * its address and rax = the word (read them with guest_get_regs()), then
 * DONE 1.  DONE 0 when all match.
 */
extern const char guest_verify[];

/* OUT 0, 1, ..., rdi - 1 to GUEST_PORT_VALUE; DONE 0.  Exit round trips. */
extern const char guest_io_loop[];

/*
 * IN 1 byte from GUEST_PORT_IN and OUT it to GUEST_PORT_ECHO; the same with
 * 2 then 4 bytes; DONE 0.
 */
extern const char guest_io_echo[];

/*
 * MMIO at rdi (no memslot there): read 8 bytes at rdi and write them at
 * rdi + 8; read 4 at +16, write them at +20; read 2 at +24, write at +26;
 * read 1 at +28, write at +29.  DONE 0.
 */
extern const char guest_mmio[];

/* HLT, then DONE 0 (when run again). */
extern const char guest_hlt[];

/*
 * Spin, counting in rax and storing the count at rdi + GUEST_SPIN_COUNT,
 * until the 64-bit word at rdi + GUEST_SPIN_STOP is not 0.  DONE 0.
 */
extern const char guest_spin[];

/*
 * Read the 32-bit words at rdi, rdi + rdx, rdi + 2 * rdx, ... (rsi words)
 * and OUT each to GUEST_PORT_VALUE; rcx passes over them, 0 for forever.
 * At each OUT rdi holds the address read.  DONE 0.
 */
extern const char guest_read_loop[];

/*
 * rdi = a control word, rsi = a data word (gpas).  Spin reading both; each
 * time the control word changes, OUT the data word (32 bits) to
 * GUEST_PORT_VALUE with rbx = the control word.  Control ~0: DONE 0.  The
 * coherence oracle: the host changes the data's backing, then the control.
 */
extern const char guest_poll_report[];

/* Store xmm0 at rdi, load xmm1 from rsi.  DONE 0. */
extern const char guest_sse[];

/* ud2: raises #UD (see GUEST_PORT_EXCEPTION). */
extern const char guest_ud2[];

/*
 * 32-bit protected mode (flat; the test sets up PAE paging): OUT the
 * 32-bit word at edi to GUEST_PORT_VALUE, store esi at edi + 4, DONE 0.
 */
extern const char guest_pae_copy[];

/*
 * 32-bit protected mode without paging, CR4.PAE set: load CR3 with esi,
 * turn paging on with one MOV to CR0 that also clears NE (which VMX keeps
 * set, so the MOV exits there and the VMM emulates it), then OUT the
 * 32-bit word at edi to GUEST_PORT_VALUE; DONE 0.
 */
extern const char guest_pae_enable[];

/*
 * 16-bit real mode (flat, below 64 KiB): store GUEST_REAL_MODE_MAGIC at
 * GUEST_REAL_MODE_DATA, OUT it as 16 bits to GUEST_PORT_DONE, HLT forever.
 */
extern const char guest_real_mode[];

/* GUEST_EXCEPTION_VECTORS stubs for the IDT, GUEST_EXCEPTION_STUB apart. */
extern const char guest_exception_stubs[];
#endif

#endif /* VMMU_GUEST_PAYLOADS_H */
