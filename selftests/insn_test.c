// SPDX-License-Identifier: GPL-2.0-only
/*
 * The MMIO instruction decoder, module/insn.c itself built into this
 * binary (lib/kshim/ stands in for the kernel's types): for each encoding,
 * length, access size, direction, register or immediate; the register a
 * load leaves behind and the value a store writes; -EINVAL for what it
 * must not emulate, -ENODATA for every instruction cut short.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "../module/insn.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* Register i holds 0x80706050403020 10 + i * 0x0101010101010101 before. */
static void fill_gprs(struct vmmu_gprs *gprs)
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		gprs->r[i] = 0x8070605040302010ULL + i * 0x0101010101010101ULL;
}

/* What loads read: bytes 0x80 and up, so that movsx has a sign to extend. */
#define NEG	0xfedcba98f6e5d4c3ULL
#define POS	0x1122334455667748ULL

struct insn_case {
	const char *text;	/* the instruction, Intel syntax */
	int mode;
	u8 bytes[VMMU_INSN_MAX_LEN];
	unsigned int n;		/* exactly one instruction: its length */
	struct vmmu_insn want;	/* len is n */
	u64 mem;		/* a load: the memory it reads */
	u64 after;		/* a load: its register after, from fill_gprs() */
	u64 stored;		/* a store of a register: the value written */
};

#define BYTES(s)	.bytes = s, .n = sizeof(s) - 1
#define M64(t)		.text = (t), .mode = 64
#define M32(t)		.text = (t), .mode = 32
#define M16(t)		.text = (t), .mode = 16
#define LOAD(op_, size_, dst_, reg_)					\
	.want = { .op = VMMU_INSN_##op_, .size = (size_),		\
		  .dst_size = (dst_), .reg = (reg_) }
#define STORE(size_, reg_)						\
	.want = { .op = VMMU_INSN_MOV, .size = (size_), .write = true,	\
		  .reg = (reg_) }
#define STORE_IMM(size_, imm_)						\
	.want = { .op = VMMU_INSN_MOV, .size = (size_), .write = true,	\
		  .has_imm = true, .imm = (imm_),			\
		  .reg = VMMU_INSN_REG_NONE }
#define AH	(VMMU_INSN_REG_AH + 0)
#define CH	(VMMU_INSN_REG_AH + 1)
#define DH	(VMMU_INSN_REG_AH + 2)
#define BH	(VMMU_INSN_REG_AH + 3)
/* A displacement, a 32-bit address and a 64-bit one, little-endian. */
#define D16	"\x34\x12"
#define D32	"\x78\x56\x34\x12"
#define D64	"\x88\x77\x66\x55" D32

static const struct insn_case loads[] = {
	/* mov r8, r/m8 (8a): merges; ah..bh without REX, spl..dil with */
	{ M64("mov al, [rax]"), BYTES("\x8a\x00"), LOAD(MOV, 1, 1, 0),
	  .mem = NEG, .after = 0x80706050403020c3 },
	{ M64("mov ah, [rax]"), BYTES("\x8a\x20"), LOAD(MOV, 1, 1, AH),
	  .mem = NEG, .after = 0x807060504030c310 },
	{ M64("mov ch, [rax]"), BYTES("\x8a\x28"), LOAD(MOV, 1, 1, CH),
	  .mem = NEG, .after = 0x817161514131c311 },
	{ M64("mov dh, [rbx]"), BYTES("\x8a\x33"), LOAD(MOV, 1, 1, DH),
	  .mem = NEG, .after = 0x827262524232c312 },
	{ M64("mov bh, [rcx]"), BYTES("\x8a\x39"), LOAD(MOV, 1, 1, BH),
	  .mem = NEG, .after = 0x837363534333c313 },
	{ M64("mov spl, [rax]"), BYTES("\x40\x8a\x20"), LOAD(MOV, 1, 1, 4),
	  .mem = NEG, .after = 0x84746454443424c3 },
	{ M64("mov dil, [rax]"), BYTES("\x40\x8a\x38"), LOAD(MOV, 1, 1, 7),
	  .mem = NEG, .after = 0x87776757473727c3 },
	{ M64("mov r15b, [rax]"), BYTES("\x44\x8a\x38"), LOAD(MOV, 1, 1, 15),
	  .mem = NEG, .after = 0x8f7f6f5f4f3f2fc3 },

	/* mov r, r/m (8b): 16 bits merge, 32 zero-extend, 64 replace */
	{ M64("mov ax, [rax]"), BYTES("\x66\x8b\x00"), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M64("mov eax, [rax]"), BYTES("\x8b\x00"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov rax, [rax]"), BYTES("\x48\x8b\x00"), LOAD(MOV, 8, 8, 0),
	  .mem = NEG, .after = NEG },
	{ M64("mov r9d, [rax]"), BYTES("\x44\x8b\x08"), LOAD(MOV, 4, 4, 9),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov r15, [rax]"), BYTES("\x4c\x8b\x38"), LOAD(MOV, 8, 8, 15),
	  .mem = NEG, .after = NEG },
	{ M64("mov r10w, [rdx]"), BYTES("\x66\x44\x8b\x12"),
	  LOAD(MOV, 2, 2, 10), .mem = NEG, .after = 0x8a7a6a5a4a3ad4c3 },

	/* ModRM and SIB forms, REX.X and REX.B (which change no register) */
	{ M64("mov rax, [rax+r9]"), BYTES("\x4a\x8b\x04\x08"),
	  LOAD(MOV, 8, 8, 0), .mem = NEG, .after = NEG },
	{ M64("mov eax, [r8]"), BYTES("\x41\x8b\x00"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [r12]"), BYTES("\x41\x8b\x04\x24"),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [r13+0]"), BYTES("\x41\x8b\x45\x00"),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rsp]"), BYTES("\x8b\x04\x24"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rax+rcx*4+0x10]"), BYTES("\x8b\x44\x88\x10"),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rcx*8+0x12345678]"), BYTES("\x8b\x04\xcd" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [0x12345678] (SIB, no base, no index)"),
	  BYTES("\x8b\x04\x25" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [0x12345678] (SIB, no base, REX.B)"),
	  BYTES("\x41\x8b\x04\x25" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rbx+0x12345678]"), BYTES("\x8b\x83" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rsp+rax*2+0x12345678]"),
	  BYTES("\x8b\x84\x44" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [rip+0x12345678]"), BYTES("\x8b\x05" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov r10, [rip+0x12345678]"), BYTES("\x4c\x8b\x15" D32),
	  LOAD(MOV, 8, 8, 10), .mem = NEG, .after = NEG },
	{ M64("mov eax, [r13+0x12345678] (mod 2, REX.B)"),
	  BYTES("\x41\x8b\x85" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },

	/* 0x67, segment overrides, and REX only right before the opcode */
	{ M64("mov eax, [eax]"), BYTES("\x67\x8b\x00"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov eax, [eip+0x12345678]"), BYTES("\x67\x8b\x05" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov rax, fs:[rax]"), BYTES("\x64\x48\x8b\x00"),
	  LOAD(MOV, 8, 8, 0), .mem = NEG, .after = NEG },
	{ M64("mov ax, cs:[rax]"), BYTES("\x2e\x66\x8b\x00"),
	  LOAD(MOV, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },
	{ M64("mov ecx, es:ss:ds:gs:[rax]"),
	  BYTES("\x26\x36\x3e\x65\x8b\x08"), LOAD(MOV, 4, 4, 1),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov ax, [rax] (REX.W, then 66: REX ignored)"),
	  BYTES("\x48\x66\x8b\x00"), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M64("mov rax, [rax] (66 then REX.W: REX.W wins)"),
	  BYTES("\x66\x48\x8b\x00"), LOAD(MOV, 8, 8, 0),
	  .mem = NEG, .after = NEG },
	{ M64("mov r8, [rax] (REX 41, then REX 4c: the last counts)"),
	  BYTES("\x41\x4c\x8b\x00"), LOAD(MOV, 8, 8, 8),
	  .mem = NEG, .after = NEG },

	/* movzx (0f b6, 0f b7) */
	{ M64("movzx eax, byte [rax]"), BYTES("\x0f\xb6\x00"),
	  LOAD(MOVZX, 1, 4, 0), .mem = NEG, .after = 0xc3 },
	{ M64("movzx ax, byte [rax]"), BYTES("\x66\x0f\xb6\x00"),
	  LOAD(MOVZX, 1, 2, 0), .mem = NEG, .after = 0x80706050403000c3 },
	{ M64("movzx rax, byte [rax]"), BYTES("\x48\x0f\xb6\x00"),
	  LOAD(MOVZX, 1, 8, 0), .mem = NEG, .after = 0xc3 },
	{ M64("movzx esp, byte [rax] (not ah)"), BYTES("\x0f\xb6\x20"),
	  LOAD(MOVZX, 1, 4, 4), .mem = NEG, .after = 0xc3 },
	{ M64("movzx r9d, word [rax]"), BYTES("\x44\x0f\xb7\x08"),
	  LOAD(MOVZX, 2, 4, 9), .mem = NEG, .after = 0xd4c3 },
	{ M64("movzx rax, word [rax]"), BYTES("\x48\x0f\xb7\x00"),
	  LOAD(MOVZX, 2, 8, 0), .mem = NEG, .after = 0xd4c3 },
	{ M64("movzx ax, word [rax]"), BYTES("\x66\x0f\xb7\x00"),
	  LOAD(MOVZX, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },

	/* movsx (0f be, 0f bf) */
	{ M64("movsx eax, byte [rax]"), BYTES("\x0f\xbe\x00"),
	  LOAD(MOVSX, 1, 4, 0), .mem = NEG, .after = 0xffffffc3 },
	{ M64("movsx rax, byte [rax]"), BYTES("\x48\x0f\xbe\x00"),
	  LOAD(MOVSX, 1, 8, 0), .mem = NEG, .after = 0xffffffffffffffc3 },
	{ M64("movsx ax, byte [rax]"), BYTES("\x66\x0f\xbe\x00"),
	  LOAD(MOVSX, 1, 2, 0), .mem = NEG, .after = 0x807060504030ffc3 },
	{ M64("movsx eax, word [rax]"), BYTES("\x0f\xbf\x00"),
	  LOAD(MOVSX, 2, 4, 0), .mem = NEG, .after = 0xffffd4c3 },
	{ M64("movsx rax, word [rax]"), BYTES("\x48\x0f\xbf\x00"),
	  LOAD(MOVSX, 2, 8, 0), .mem = NEG, .after = 0xffffffffffffd4c3 },
	{ M64("movsx r8, byte [rax] (positive)"),
	  BYTES("\x4c\x0f\xbe\x00"), LOAD(MOVSX, 1, 8, 8),
	  .mem = POS, .after = 0x48 },
	{ M64("movsx edx, word [rip+0x12345678] (positive)"),
	  BYTES("\x0f\xbf\x15" D32), LOAD(MOVSX, 2, 4, 2),
	  .mem = POS, .after = 0x7748 },

	/* a0, a1: the address is as wide as the address size */
	{ M64("mov al, [moffs64]"), BYTES("\xa0" D64), LOAD(MOV, 1, 1, 0),
	  .mem = NEG, .after = 0x80706050403020c3 },
	{ M64("mov eax, [moffs64]"), BYTES("\xa1" D64), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov rax, [moffs64]"), BYTES("\x48\xa1" D64),
	  LOAD(MOV, 8, 8, 0), .mem = NEG, .after = NEG },
	{ M64("mov ax, [moffs64]"), BYTES("\x66\xa1" D64),
	  LOAD(MOV, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },
	{ M64("mov eax, [moffs32]"), BYTES("\x67\xa1" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M64("mov al, [moffs64] (REX.B: still al)"), BYTES("\x41\xa0" D64),
	  LOAD(MOV, 1, 1, 0), .mem = NEG, .after = 0x80706050403020c3 },

	/* 32-bit code */
	{ M32("mov eax, [eax]"), BYTES("\x8b\x00"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M32("mov eax, [0x12345678] (not RIP-relative)"),
	  BYTES("\x8b\x05" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M32("mov eax, [esp+8]"), BYTES("\x8b\x44\x24\x08"),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M32("mov ax, [bx]"), BYTES("\x66\x67\x8b\x07"),
	  LOAD(MOV, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },
	{ M32("mov eax, [bp+si+0x1234]"), BYTES("\x67\x8b\x82" D16),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M32("mov ah, [eax]"), BYTES("\x8a\x20"), LOAD(MOV, 1, 1, AH),
	  .mem = NEG, .after = 0x807060504030c310 },
	{ M32("mov eax, [moffs32]"), BYTES("\xa1" D32), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M32("mov al, [moffs16]"), BYTES("\x67\xa0" D16),
	  LOAD(MOV, 1, 1, 0), .mem = NEG, .after = 0x80706050403020c3 },
	{ M32("movzx eax, word [ecx]"), BYTES("\x0f\xb7\x01"),
	  LOAD(MOVZX, 2, 4, 0), .mem = NEG, .after = 0xd4c3 },
	{ M32("movsx ax, byte [ecx]"), BYTES("\x66\x0f\xbe\x01"),
	  LOAD(MOVSX, 1, 2, 0), .mem = NEG, .after = 0x807060504030ffc3 },

	/* 16-bit code: 16-bit addressing unless 0x67 */
	{ M16("mov ax, [bx]"), BYTES("\x8b\x07"), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov ax, [0x1234]"), BYTES("\x8b\x06" D16), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov al, [bp+4]"), BYTES("\x8a\x46\x04"), LOAD(MOV, 1, 1, 0),
	  .mem = NEG, .after = 0x80706050403020c3 },
	{ M16("mov dx, [bx+si+0x1234]"), BYTES("\x8b\x90" D16),
	  LOAD(MOV, 2, 2, 2), .mem = NEG, .after = 0x827262524232d4c3 },
	{ M16("mov eax, [bx]"), BYTES("\x66\x8b\x07"), LOAD(MOV, 4, 4, 0),
	  .mem = NEG, .after = 0xf6e5d4c3 },
	{ M16("mov ax, [eax]"), BYTES("\x67\x8b\x00"), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov ax, [esp+eax*4+8]"), BYTES("\x67\x8b\x44\x84\x08"),
	  LOAD(MOV, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov ax, [0x12345678]"), BYTES("\x67\x8b\x05" D32),
	  LOAD(MOV, 2, 2, 0), .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov ax, [moffs16]"), BYTES("\xa1" D16), LOAD(MOV, 2, 2, 0),
	  .mem = NEG, .after = 0x807060504030d4c3 },
	{ M16("mov eax, [moffs32]"), BYTES("\x66\x67\xa1" D32),
	  LOAD(MOV, 4, 4, 0), .mem = NEG, .after = 0xf6e5d4c3 },
	{ M16("movsx eax, byte [bx]"), BYTES("\x66\x0f\xbe\x07"),
	  LOAD(MOVSX, 1, 4, 0), .mem = NEG, .after = 0xffffffc3 },
	{ M16("movzx ax, byte [di]"), BYTES("\x0f\xb6\x05"),
	  LOAD(MOVZX, 1, 2, 0), .mem = NEG, .after = 0x80706050403000c3 },
	{ M16("mov bh, [bx]"), BYTES("\x8a\x3f"), LOAD(MOV, 1, 1, BH),
	  .mem = NEG, .after = 0x837363534333c313 },
};

static const struct insn_case stores[] = {
	/* mov r/m8, r8 (88) */
	{ M64("mov [rax], al"), BYTES("\x88\x00"), STORE(1, 0), .stored = 0x10 },
	{ M64("mov [rax], ah"), BYTES("\x88\x20"), STORE(1, AH), .stored = 0x20 },
	{ M64("mov [rax], ch"), BYTES("\x88\x28"), STORE(1, CH), .stored = 0x21 },
	{ M64("mov [rax], dh"), BYTES("\x88\x30"), STORE(1, DH), .stored = 0x22 },
	{ M64("mov [rax], bh"), BYTES("\x88\x38"), STORE(1, BH), .stored = 0x23 },
	{ M64("mov [rax], spl"), BYTES("\x40\x88\x20"), STORE(1, 4),
	  .stored = 0x14 },
	{ M64("mov [rax], r12b"), BYTES("\x44\x88\x20"), STORE(1, 12),
	  .stored = 0x1c },

	/* mov r/m, r (89) */
	{ M64("mov [rax], ax"), BYTES("\x66\x89\x00"), STORE(2, 0),
	  .stored = 0x2010 },
	{ M64("mov [rax], ecx"), BYTES("\x89\x08"), STORE(4, 1),
	  .stored = 0x41312111 },
	{ M64("mov [rax], rdx"), BYTES("\x48\x89\x10"), STORE(8, 2),
	  .stored = 0x8272625242322212 },
	{ M64("mov [rax], r15"), BYTES("\x4c\x89\x38"), STORE(8, 15),
	  .stored = 0x8f7f6f5f4f3f2f1f },
	{ M64("mov [r8+r9*8+0x10], r10d"), BYTES("\x47\x89\x54\xc8\x10"),
	  STORE(4, 10), .stored = 0x4a3a2a1a },
	{ M64("mov [rip+0x12345678], rsi"), BYTES("\x48\x89\x35" D32),
	  STORE(8, 6), .stored = 0x8676665646362616 },
	{ M64("mov gs:[rax], ebx"), BYTES("\x65\x89\x18"), STORE(4, 3),
	  .stored = 0x43332313 },

	/* mov r/m, imm (c6 /0, c7 /0) */
	{ M64("mov byte [rax], 0xff"), BYTES("\xc6\x00\xff"),
	  STORE_IMM(1, 0xff) },
	{ M64("mov byte [rax+8], 0x80"), BYTES("\xc6\x40\x08\x80"),
	  STORE_IMM(1, 0x80) },
	{ M64("mov word [rax], 0x1234"), BYTES("\x66\xc7\x00" D16),
	  STORE_IMM(2, 0x1234) },
	{ M64("mov word [rax], 0x8000"), BYTES("\x66\xc7\x00\x00\x80"),
	  STORE_IMM(2, 0x8000) },
	{ M64("mov dword [rax], 0x12345678"), BYTES("\xc7\x00" D32),
	  STORE_IMM(4, 0x12345678) },
	{ M64("mov dword [rax], 0x80000000"),
	  BYTES("\xc7\x00\x00\x00\x00\x80"), STORE_IMM(4, 0x80000000) },
	{ M64("mov qword [rax], -1"), BYTES("\x48\xc7\x00\xff\xff\xff\xff"),
	  STORE_IMM(8, 0xffffffffffffffff) },
	{ M64("mov qword [rax], 0x7fffffff"),
	  BYTES("\x48\xc7\x00\xff\xff\xff\x7f"),
	  STORE_IMM(8, 0x7fffffff) },
	{ M64("mov qword [rax], -0x80000000"),
	  BYTES("\x48\xc7\x00\x00\x00\x00\x80"),
	  STORE_IMM(8, 0xffffffff80000000) },
	{ M64("mov dword [rip+0x12345678], 0x12345678"),
	  BYTES("\xc7\x05" D32 D32), STORE_IMM(4, 0x12345678) },
	{ M64("mov qword [rsp+8], 1"),
	  BYTES("\x48\xc7\x44\x24\x08\x01\x00\x00\x00"),
	  STORE_IMM(8, 1) },
	{ M64("mov dword [r13+r12*2+0x12345678], 0x12345678"),
	  BYTES("\x43\xc7\x84\x65" D32 D32), STORE_IMM(4, 0x12345678) },
	{ M64("mov qword cs:[eax+ecx*4+0x12345678], -0x76543211 (15 bytes)"),
	  BYTES("\x2e\x66\x67\x48\xc7\x84\x88" D32 "\xef\xcd\xab\x89"),
	  STORE_IMM(8, 0xffffffff89abcdef) },

	/* a2, a3 */
	{ M64("mov [moffs64], al"), BYTES("\xa2" D64), STORE(1, 0),
	  .stored = 0x10 },
	{ M64("mov [moffs64], rax"), BYTES("\x48\xa3" D64), STORE(8, 0),
	  .stored = 0x8070605040302010 },
	{ M64("mov [moffs32], ax"), BYTES("\x66\x67\xa3" D32), STORE(2, 0),
	  .stored = 0x2010 },

	/* 32-bit code */
	{ M32("mov [eax], ah"), BYTES("\x88\x20"), STORE(1, AH), .stored = 0x20 },
	{ M32("mov [ebx+esi], edi"), BYTES("\x89\x3c\x33"), STORE(4, 7),
	  .stored = 0x47372717 },
	{ M32("mov word [ebx], 0x1234"), BYTES("\x66\xc7\x03" D16),
	  STORE_IMM(2, 0x1234) },
	{ M32("mov [moffs32], eax"), BYTES("\xa3" D32), STORE(4, 0),
	  .stored = 0x40302010 },

	/* 16-bit code */
	{ M16("mov [bx+di], cx"), BYTES("\x89\x09"), STORE(2, 1),
	  .stored = 0x2111 },
	{ M16("mov word [0x1234], 0x5678"), BYTES("\xc7\x06" D16 "\x78\x56"),
	  STORE_IMM(2, 0x5678) },
	{ M16("mov dword [bx], 0x12345678"), BYTES("\x66\xc7\x07" D32),
	  STORE_IMM(4, 0x12345678) },
	{ M16("mov byte [bp+di+0x12], 0x34"), BYTES("\xc6\x43\x12\x34"),
	  STORE_IMM(1, 0x34) },
	{ M16("mov [si+0x1234], dh"), BYTES("\x88\xb4" D16), STORE(1, DH),
	  .stored = 0x22 },
	{ M16("mov [moffs16], al"), BYTES("\xa2" D16), STORE(1, 0),
	  .stored = 0x10 },
};

/* Instructions that must not be emulated as a plain move: -EINVAL. */
static const struct insn_case rejects[] = {
	{ M64("push rax"), BYTES("\x50") },
	{ M64("push qword [rax]"), BYTES("\xff\x30") },
	{ M64("pop qword [rax]"), BYTES("\x8f\x00") },
	{ M64("add [rax], eax"), BYTES("\x01\x00") },
	{ M64("add eax, [rax]"), BYTES("\x03\x00") },
	{ M64("test byte [rax], 1"), BYTES("\xf6\x00\x01") },
	{ M64("xchg [rax], eax"), BYTES("\x87\x00") },
	{ M64("lea eax, [rax]"), BYTES("\x8d\x00") },
	{ M64("mov [rax], es"), BYTES("\x8c\x00") },
	{ M64("mov es, [rax]"), BYTES("\x8e\x00") },
	{ M64("movsxd rax, [rax]"), BYTES("\x48\x63\x00") },
	{ M64("lock mov [rax], eax"), BYTES("\xf0\x89\x00") },
	{ M64("lock add [rax], eax"), BYTES("\xf0\x01\x00") },
	{ M64("repne mov eax, [rax]"), BYTES("\xf2\x8b\x00") },
	{ M64("rep mov eax, [rax]"), BYTES("\xf3\x8b\x00") },
	{ M64("movsb"), BYTES("\xa4") },
	{ M64("rep movsb"), BYTES("\xf3\xa4") },
	{ M64("stosd"), BYTES("\xab") },
	{ M64("rep stosq"), BYTES("\xf3\x48\xab") },
	{ M64("lodsb"), BYTES("\xac") },
	{ M64("movsd (a5)"), BYTES("\xa5") },
	{ M64("mov eax, ecx (no memory)"), BYTES("\x89\xc8") },
	{ M64("mov ecx, eax (no memory)"), BYTES("\x8b\xc8") },
	{ M64("mov al, 1 (c6, no memory)"), BYTES("\xc6\xc0\x01") },
	{ M64("movzx eax, al (no memory)"), BYTES("\x0f\xb6\xc0") },
	{ M64("c7 /1"), BYTES("\xc7\x08" D32) },
	{ M64("c6 /7"), BYTES("\xc6\x38\x01") },
	{ M64("xabort 1"), BYTES("\xc6\xf8\x01") },
	{ M64("movups xmm0, [rax]"), BYTES("\x0f\x10\x00") },
	{ M64("movnti [rax], eax"), BYTES("\x0f\xc3\x00") },
	{ M64("cmpxchg [rax], ecx"), BYTES("\x0f\xb1\x08") },
	{ M64("vmovdqu xmm0, [rax]"), BYTES("\xc5\xfa\x6f\x00") },
	{ M64("xlat"), BYTES("\xd7") },
	{ M64("push r8 (41 50)"), BYTES("\x41\x50") },
	{ M64("int3"), BYTES("\xcc") },
	{ M64("16 bytes: 14 x 66, mov [rax], eax"),
	  BYTES("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x89") },
	{ M64("16 bytes: 5 x 2e, mov dword [0x12345678], 0x12345678"),
	  BYTES("\x2e\x2e\x2e\x2e\x2e\xc7\x04\x25" D32 "\x78\x56\x34") },
	{ M64("15 x 66"),
	  BYTES("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66") },
	{ M32("inc eax; mov eax, [eax] (no REX in 32-bit code)"),
	  BYTES("\x40\x8b\x00") },
	{ M32("mov eax, ecx (no memory)"), BYTES("\x8b\xc1") },
	{ M16("lock mov [bx], ax"), BYTES("\xf0\x89\x07") },
	{ M16("mov ax, bx (no memory)"), BYTES("\x8b\xc3") },
	{ .text = "mov eax, [rax] in mode 0", .mode = 0, BYTES("\x8b\x00") },
	{ .text = "mov eax, [rax] in mode 8", .mode = 8, BYTES("\x8b\x00") },
	{ .text = "mov eax, [rax] in mode 48", .mode = 48, BYTES("\x8b\x00") },
};

/* Beginnings of supported instructions: -ENODATA, more bytes needed. */
static const struct insn_case shorts[] = {
	{ M64("nothing"), .n = 0 },
	{ M64("66"), BYTES("\x66") },
	{ M64("REX.W"), BYTES("\x48") },
	{ M64("2e 66 67 48"), BYTES("\x2e\x66\x67\x48") },
	{ M64("0f"), BYTES("\x0f") },
	{ M64("0f b6"), BYTES("\x0f\xb6") },
	{ M64("8b"), BYTES("\x8b") },
	{ M64("8b 04 (SIB missing)"), BYTES("\x8b\x04") },
	{ M64("8b 44 24 (disp8 missing)"), BYTES("\x8b\x44\x24") },
	{ M64("8b 05 + 2 of disp32"), BYTES("\x8b\x05\x78\x56") },
	{ M64("c6 (ModRM decides /0)"), BYTES("\xc6") },
	{ M64("c7 00 + 3 of imm32"), BYTES("\xc7\x00\x01\x02\x03") },
	{ M64("48 c7 00 + 3 of imm32"), BYTES("\x48\xc7\x00\x01\x02\x03") },
	{ M64("a1 + 7 of moffs64"), BYTES("\xa1\x88\x77\x66\x55" D16 "\x34") },
	{ M32("a1 + 3 of moffs32"), BYTES("\xa1\x78\x56\x34") },
	{ M16("8b 06 + 1 of disp16"), BYTES("\x8b\x06\x34") },
	{ M16("66 c7 07 + 2 of imm32"), BYTES("\x66\xc7\x07\x78\x56") },
};

static const char *op_name(enum vmmu_insn_op op)
{
	switch (op) {
	case VMMU_INSN_MOV: return "mov";
	case VMMU_INSN_MOVZX: return "movzx";
	case VMMU_INSN_MOVSX: return "movsx";
	}
	return "?";
}

/* 1 if a field of @c's decoded form is not what it should be. */
static int field_differs(struct __test_metadata *_metadata,
			 const struct insn_case *c, const char *field,
			 long long got, long long want)
{
	if (got == want)
		return 0;
	TH_LOG("%s (%d-bit): %s %lld, want %lld", c->text, c->mode, field, got,
	       want);
	return 1;
}

/* Decode @c from @n bytes of @buf; 0 if it decodes as @c wants. */
static int decode_matches(struct __test_metadata *_metadata,
			  const struct insn_case *c, const u8 *buf,
			  unsigned int n)
{
	struct vmmu_insn want = c->want, got;
	int ret, bad = 0;

	want.len = c->n;
	if (!want.write && want.op == VMMU_INSN_MOV)
		want.dst_size = want.size;
	ret = vmmu_insn_decode(buf, n, c->mode, &got);
	if (ret) {
		TH_LOG("%s (%d-bit), %u bytes: error %d", c->text, c->mode, n,
		       ret);
		return 1;
	}
	if (got.op != want.op) {
		TH_LOG("%s (%d-bit): op %s, want %s", c->text, c->mode,
		       op_name(got.op), op_name(want.op));
		bad++;
	}
	bad += field_differs(_metadata, c, "len", got.len, want.len);
	bad += field_differs(_metadata, c, "size", got.size, want.size);
	bad += field_differs(_metadata, c, "dst_size", got.dst_size,
			     want.dst_size);
	bad += field_differs(_metadata, c, "write", got.write, want.write);
	bad += field_differs(_metadata, c, "has_imm", got.has_imm,
			     want.has_imm);
	bad += field_differs(_metadata, c, "imm", got.imm, want.imm);
	bad += field_differs(_metadata, c, "reg", got.reg, want.reg);
	return bad;
}

/* The register a load of @insn writes. */
static int dest_gpr(const struct vmmu_insn *insn)
{
	return insn->reg >= VMMU_INSN_REG_AH ? insn->reg - VMMU_INSN_REG_AH
					      : insn->reg;
}

TEST(loads_decode)
{
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(loads); i++)
		EXPECT_EQ(0, decode_matches(_metadata, &loads[i],
					    loads[i].bytes, loads[i].n));
	ksft_print_msg("%zu loads\n", ARRAY_LEN(loads));
}

/* complete_load: the destination as expected, every other GPR untouched. */
TEST(loads_complete)
{
	struct vmmu_gprs before, gprs;
	struct vmmu_insn insn;
	unsigned int i, r;

	fill_gprs(&before);
	for (i = 0; i < ARRAY_LEN(loads); i++) {
		const struct insn_case *c = &loads[i];

		ASSERT_EQ(0, vmmu_insn_decode(c->bytes, c->n, c->mode, &insn))
			TH_LOG("%s", c->text);
		gprs = before;
		vmmu_insn_complete_load(&insn, &gprs, c->mem);
		for (r = 0; r < 16; r++) {
			u64 want = r == dest_gpr(&insn) ? c->after : before.r[r];

			EXPECT_EQ(want, gprs.r[r])
				TH_LOG("%s (%d-bit): r%u %#llx, want %#llx",
				       c->text, c->mode, r,
				       (unsigned long long)gprs.r[r],
				       (unsigned long long)want);
		}
	}
}

TEST(stores_decode)
{
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(stores); i++)
		EXPECT_EQ(0, decode_matches(_metadata, &stores[i], stores[i].bytes,
					    stores[i].n));
	ksft_print_msg("%zu stores\n", ARRAY_LEN(stores));
}

/* store_value: the bytes written; complete_load ignores a store. */
TEST(stores_value)
{
	struct vmmu_gprs before, gprs;
	struct vmmu_insn insn;
	unsigned int i;
	u64 want;

	fill_gprs(&before);
	for (i = 0; i < ARRAY_LEN(stores); i++) {
		const struct insn_case *c = &stores[i];

		ASSERT_EQ(0, vmmu_insn_decode(c->bytes, c->n, c->mode, &insn))
			TH_LOG("%s", c->text);
		gprs = before;
		want = c->want.has_imm ? c->want.imm : c->stored;
		EXPECT_EQ(want, vmmu_insn_store_value(&insn, &gprs))
			TH_LOG("%s (%d-bit)", c->text, c->mode);
		vmmu_insn_complete_load(&insn, &gprs, NEG);
		EXPECT_EQ(0, memcmp(&before, &gprs, sizeof(gprs)))
			TH_LOG("%s (%d-bit): complete_load changed a GPR",
			       c->text, c->mode);
	}
}

/*
 * Every supported instruction: -ENODATA with any fewer bytes, and the same
 * result when followed by more bytes (up to 15) than it has.
 */
TEST(truncated_and_trailing)
{
	const struct insn_case *all[ARRAY_LEN(loads) + ARRAY_LEN(stores)];
	unsigned int i, n, checks = 0;
	struct vmmu_insn insn, poison;
	u8 buf[VMMU_INSN_MAX_LEN];

	for (i = 0; i < ARRAY_LEN(loads); i++)
		all[i] = &loads[i];
	for (i = 0; i < ARRAY_LEN(stores); i++)
		all[ARRAY_LEN(loads) + i] = &stores[i];
	memset(&poison, 0xa5, sizeof(poison));

	for (i = 0; i < ARRAY_LEN(all); i++) {
		const struct insn_case *c = all[i];

		for (n = 0; n < c->n; n++, checks++) {
			insn = poison;
			EXPECT_EQ(-ENODATA, vmmu_insn_decode(c->bytes, n,
							     c->mode, &insn))
				TH_LOG("%s (%d-bit), %u of %u bytes", c->text,
				       c->mode, n, c->n);
			EXPECT_EQ(0, memcmp(&insn, &poison, sizeof(insn)));
		}
		/* 0x66 and 0x0f would change the meaning if consumed. */
		memset(buf, 0x66, sizeof(buf));
		memcpy(buf, c->bytes, c->n);
		EXPECT_EQ(0, decode_matches(_metadata, c, buf, sizeof(buf)));
		memset(buf, 0x0f, sizeof(buf));
		memcpy(buf, c->bytes, c->n);
		EXPECT_EQ(0, decode_matches(_metadata, c, buf, sizeof(buf)));
		checks += 2;
	}
	ksft_print_msg("%u truncated or padded encodings\n", checks);
}

TEST(rejected)
{
	struct vmmu_insn insn, poison;
	unsigned int i;

	memset(&poison, 0xa5, sizeof(poison));
	for (i = 0; i < ARRAY_LEN(rejects); i++) {
		const struct insn_case *c = &rejects[i];

		insn = poison;
		EXPECT_EQ(-EINVAL, vmmu_insn_decode(c->bytes, c->n, c->mode,
						    &insn))
			TH_LOG("%s (%d-bit)", c->text, c->mode);
		EXPECT_EQ(0, memcmp(&insn, &poison, sizeof(insn)))
			TH_LOG("%s (%d-bit): wrote the result", c->text, c->mode);
	}
	ksft_print_msg("%zu rejected\n", ARRAY_LEN(rejects));
}

TEST(short_buffers)
{
	struct vmmu_insn insn;
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(shorts); i++) {
		const struct insn_case *c = &shorts[i];

		EXPECT_EQ(-ENODATA, vmmu_insn_decode(c->bytes, c->n, c->mode,
						     &insn))
			TH_LOG("%s (%d-bit)", c->text, c->mode);
	}
	ksft_print_msg("%zu short buffers\n", ARRAY_LEN(shorts));
}

TEST_HARNESS_MAIN
