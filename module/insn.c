// SPDX-License-Identifier: GPL-2.0-only
/*
 * The instruction behind an MMIO exit, decoded by hand: without decode
 * assists and NRIP save, a nested page fault tells only the address and
 * the direction, not the bytes, the register or the instruction's length.
 *
 * Only the plain moves that drivers use on device registers are decoded:
 * mov (88, 89, 8a, 8b, c6 /0, c7 /0, a0-a3), movzx (0f b6, 0f b7) and
 * movsx (0f be, 0f bf), with the prefixes 66, 67, REX and segment
 * overrides.  Anything else, LOCK and REP included, is -EINVAL: the caller
 * cannot emulate it and must not guess.  Addresses are never computed, the
 * fault gave the guest-physical one; ModRM, SIB and displacements are
 * decoded for their length only.
 */
#include <linux/errno.h>
#include <linux/types.h>

#include "insn.h"

#define REX_W	0x8
#define REX_R	0x4

/* The bytes of one instruction, consumed from the front. */
struct insn_bytes {
	const u8 *bytes;
	unsigned int avail;	/* valid bytes, at most VMMU_INSN_MAX_LEN */
	unsigned int len;	/* bytes consumed */
};

/* What the prefixes before the opcode select. */
struct insn_prefixes {
	bool opsize;		/* 0x66 */
	bool addrsize;		/* 0x67 */
	u8 rex;			/* the REX byte, 0 without one */
};

/*
 * Consume @count bytes into @val, little-endian.  Past the architectural
 * limit it is -EINVAL, not -ENODATA: no further bytes could make the
 * instruction valid.
 */
static int take(struct insn_bytes *ib, unsigned int count, u64 *val)
{
	unsigned int i;

	if (ib->len + count > VMMU_INSN_MAX_LEN)
		return -EINVAL;
	if (ib->len + count > ib->avail)
		return -ENODATA;
	*val = 0;
	for (i = 0; i < count; i++)
		*val |= (u64)ib->bytes[ib->len + i] << (8 * i);
	ib->len += count;
	return 0;
}

static int take_byte(struct insn_bytes *ib, u8 *byte)
{
	u64 val;
	int ret = take(ib, 1, &val);

	if (!ret)
		*byte = val;
	return ret;
}

static int skip(struct insn_bytes *ib, unsigned int count)
{
	u64 val;

	return take(ib, count, &val);
}

/* Consume the prefixes and the first opcode byte. */
static int decode_prefixes(struct insn_bytes *ib, int mode,
			   struct insn_prefixes *p, u8 *opcode)
{
	u8 byte;
	int ret;

	for (;;) {
		ret = take_byte(ib, &byte);
		if (ret)
			return ret;
		switch (byte) {
		case 0x66:
			p->opsize = true;
			break;
		case 0x67:
			p->addrsize = true;
			break;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
		case 0x64:
		case 0x65:
			/* Segment overrides: the fault has the address. */
			break;
		case 0xf0:
		case 0xf2:
		case 0xf3:
			/* LOCK and REP: no supported instruction takes them. */
			return -EINVAL;
		default:
			/* Outside 64-bit mode, 40-4f are inc and dec. */
			if (mode == 64 && (byte & 0xf0) == 0x40) {
				p->rex = byte;
				continue;
			}
			*opcode = byte;
			return 0;
		}
		/* REX counts only right before the opcode. */
		p->rex = 0;
	}
}

static unsigned int operand_size(int mode, const struct insn_prefixes *p)
{
	if (p->rex & REX_W)
		return 8;
	if (mode == 16)
		return p->opsize ? 4 : 2;
	return p->opsize ? 2 : 4;
}

static unsigned int address_size(int mode, const struct insn_prefixes *p)
{
	if (mode == 64)
		return p->addrsize ? 4 : 8;
	if (mode == 32)
		return p->addrsize ? 2 : 4;
	return p->addrsize ? 4 : 2;
}

/*
 * Consume the SIB byte and the displacement that follow a ModRM byte
 * naming memory.  REX.B and REX.X change neither: rm 4 always means a
 * SIB byte, and mod 0 with rm 5 or a SIB base of 5 always means disp32,
 * be it r12, r13 or not.
 */
static int skip_memory_operand(struct insn_bytes *ib, u8 modrm,
			       unsigned int address_bytes)
{
	unsigned int mod = modrm >> 6, rm = modrm & 7;
	u8 sib;
	int ret;

	/* A register operand: nothing that could have faulted. */
	if (mod == 3)
		return -EINVAL;

	if (address_bytes == 2) {
		/* mod 0 rm 6 is [disp16], not [bp]. */
		if (mod == 1)
			return skip(ib, 1);
		if (mod == 2 || rm == 6)
			return skip(ib, 2);
		return 0;
	}

	if (rm == 4) {
		ret = take_byte(ib, &sib);
		if (ret)
			return ret;
		if (mod == 0 && (sib & 7) == 5)
			return skip(ib, 4);
	}
	if (mod == 1)
		return skip(ib, 1);
	/* mod 0 rm 5 is [disp32], RIP-relative in 64-bit mode. */
	if (mod == 2 || (mod == 0 && rm == 5))
		return skip(ib, 4);
	return 0;
}

/* ModRM.reg as a register number, see vmmu_insn.reg. */
static int reg_operand(u8 modrm, u8 rex, bool byte)
{
	int reg = ((modrm >> 3) & 7) | (rex & REX_R ? 8 : 0);

	/* Byte registers 4..7 are ah..bh without REX, spl..dil with one. */
	if (byte && !rex && reg >= 4)
		return VMMU_INSN_REG_AH + reg - 4;
	return reg;
}

/* How the operands of a supported opcode are encoded. */
enum insn_form {
	FORM_MODRM,	/* memory in ModRM.rm, the register in ModRM.reg */
	FORM_MODRM_IMM,	/* memory in ModRM.rm (reg must be 0), then imm */
	FORM_MOFFS,	/* an address of the address size; al, ax, eax, rax */
};

/*
 * Decode the instruction at @bytes, of which @n are valid (bytes past the
 * 15th are never read), executed with a code segment of @mode bits (16, 32
 * or 64).  Returns 0 and fills @insn; -EINVAL for anything but a supported
 * memory access, or for more than 15 bytes; -ENODATA when deciding needs
 * more than @n bytes.  @insn is left alone on error.
 */
int vmmu_insn_decode(const u8 *bytes, unsigned int n, int mode,
		     struct vmmu_insn *insn)
{
	struct insn_bytes ib = {
		.bytes = bytes,
		.avail = n < VMMU_INSN_MAX_LEN ? n : VMMU_INSN_MAX_LEN,
	};
	struct insn_prefixes p = {};
	struct vmmu_insn d = {};
	unsigned int opbytes;
	enum insn_form form;
	u8 opcode, modrm;
	u64 imm;
	int ret;

	if (mode != 16 && mode != 32 && mode != 64)
		return -EINVAL;
	ret = decode_prefixes(&ib, mode, &p, &opcode);
	if (ret)
		return ret;
	opbytes = operand_size(mode, &p);

	d.op = VMMU_INSN_MOV;
	switch (opcode) {
	case 0x88:	/* mov r/m8, r8 */
	case 0x89:	/* mov r/m, r */
	case 0x8a:	/* mov r8, r/m8 */
	case 0x8b:	/* mov r, r/m */
		d.write = !(opcode & 2);
		d.size = opcode & 1 ? opbytes : 1;
		form = FORM_MODRM;
		break;
	case 0xc6:	/* mov r/m8, imm8 */
	case 0xc7:	/* mov r/m, imm16/32, sign-extended for 64 bits */
		d.write = true;
		d.size = opcode & 1 ? opbytes : 1;
		form = FORM_MODRM_IMM;
		break;
	case 0xa0:	/* mov al, moffs8 */
	case 0xa1:	/* mov eax, moffs */
	case 0xa2:	/* mov moffs8, al */
	case 0xa3:	/* mov moffs, eax */
		d.write = opcode & 2;
		d.size = opcode & 1 ? opbytes : 1;
		form = FORM_MOFFS;
		break;
	case 0x0f:
		ret = take_byte(&ib, &opcode);
		if (ret)
			return ret;
		/* 0f b6 movzx r, r/m8; b7 r/m16; be movsx r/m8; bf r/m16 */
		if (opcode != 0xb6 && opcode != 0xb7 &&
		    opcode != 0xbe && opcode != 0xbf)
			return -EINVAL;
		d.op = opcode & 8 ? VMMU_INSN_MOVSX : VMMU_INSN_MOVZX;
		d.size = opcode & 1 ? 2 : 1;
		d.dst_size = opbytes;
		form = FORM_MODRM;
		break;
	default:
		return -EINVAL;
	}

	if (form == FORM_MOFFS) {
		d.reg = 0;
		ret = skip(&ib, address_size(mode, &p));
		if (ret)
			return ret;
	} else {
		ret = take_byte(&ib, &modrm);
		if (ret)
			return ret;
		/* c6 and c7 with another ModRM.reg are not mov. */
		if (form == FORM_MODRM_IMM && ((modrm >> 3) & 7))
			return -EINVAL;
		ret = skip_memory_operand(&ib, modrm, address_size(mode, &p));
		if (ret)
			return ret;
		if (form == FORM_MODRM)
			d.reg = reg_operand(modrm, p.rex,
					    d.size == 1 && d.op == VMMU_INSN_MOV);
	}

	if (form == FORM_MODRM_IMM) {
		ret = take(&ib, d.size < 4 ? d.size : 4, &imm);
		if (ret)
			return ret;
		d.has_imm = true;
		d.imm = d.size == 8 ? (u64)(s64)(s32)imm : imm;
		d.reg = VMMU_INSN_REG_NONE;
	}

	if (!d.write && d.op == VMMU_INSN_MOV)
		d.dst_size = d.size;
	d.len = ib.len;
	*insn = d;
	return 0;
}

static u64 size_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/*
 * The value a store writes: @insn->size bytes, little-endian, of the
 * immediate or the register; the bytes above are zero.
 */
u64 vmmu_insn_store_value(const struct vmmu_insn *insn,
			  const struct vmmu_gprs *gprs)
{
	u64 value;

	if (insn->has_imm)
		value = insn->imm;
	else if (insn->reg >= VMMU_INSN_REG_AH)
		value = gprs->r[insn->reg - VMMU_INSN_REG_AH] >> 8;
	else
		value = gprs->r[insn->reg];
	return value & size_mask(insn->size);
}

/*
 * Complete a load of @value (its low @insn->size bytes count) into the
 * destination register as the CPU would: 8 and 16-bit writes keep the
 * rest of the register, 32-bit writes clear bits 32-63, ah..bh are bits
 * 8-15, movzx and movsx extend to @insn->dst_size first.  Does nothing for
 * a store.
 */
void vmmu_insn_complete_load(const struct vmmu_insn *insn,
			     struct vmmu_gprs *gprs, u64 value)
{
	u64 mask = size_mask(insn->dst_size);
	u64 *r;

	if (insn->write)
		return;

	value &= size_mask(insn->size);
	if (insn->op == VMMU_INSN_MOVSX)
		value = insn->size == 1 ? (u64)(s8)value : (u64)(s16)value;

	if (insn->reg >= VMMU_INSN_REG_AH) {
		r = &gprs->r[insn->reg - VMMU_INSN_REG_AH];
		*r = (*r & ~0xff00ULL) | value << 8;
		return;
	}

	r = &gprs->r[insn->reg];
	/* Outside 64-bit mode bits 32-63 are undefined: clear them too. */
	if (insn->dst_size == 4)
		*r = value & mask;
	else
		*r = (*r & ~mask) | (value & mask);
}
