// SPDX-License-Identifier: GPL-2.0-only
/*
 * The two entry formats of the two-dimensional page tables.
 *
 * Intel EPT (SDM Vol. 3C, "The Extended Page Table Mechanism"): bits 0-2
 * read, write, execute; for leaves, bits 3-5 the memory type (6, write-back,
 * for RAM) and bit 6 ignore-PAT; bit 7 a large leaf; bits 8 and 9 accessed
 * and dirty (EPT A/D enabled).  An entry is present if any of R, W, X is set.
 *
 * AMD NPT: ordinary x86-64 page-table entries, walked as user accesses:
 * bit 0 present, 1 writable, 2 user, 5 accessed, 6 dirty, 7 large leaf,
 * 63 no-execute.
 *
 * Both keep the frame in bits 12-51.  Large leaves keep it in the same
 * place, aligned to their size (NPT's PAT bit 12 is never set).
 */
#include "vmmu.h"

#define EPT_R		BIT_ULL(0)
#define EPT_W		BIT_ULL(1)
#define EPT_X		BIT_ULL(2)
#define EPT_MT_WB	(6ULL << 3)
#define EPT_IPAT	BIT_ULL(6)
#define EPT_A		BIT_ULL(8)
#define EPT_D		BIT_ULL(9)

#define NPT_P		BIT_ULL(0)
#define NPT_RW		BIT_ULL(1)
#define NPT_US		BIT_ULL(2)
#define NPT_A		BIT_ULL(5)
#define NPT_D		BIT_ULL(6)
#define NPT_NX		BIT_ULL(63)

#define PT_LARGE	BIT_ULL(7)

static const struct vmmu_pte_format vmmu_ept_format = {
	.name		= "EPT",
	.present	= EPT_R | EPT_W | EPT_X,
	.table		= EPT_R | EPT_W | EPT_X,
	.leaf		= EPT_R | EPT_X | EPT_MT_WB | EPT_IPAT,
	.readable	= EPT_R,
	.writable	= EPT_W,
	.exec		= EPT_X,
	.accessed	= EPT_A,
	.dirty		= EPT_D,
	.large		= PT_LARGE,
};

static const struct vmmu_pte_format vmmu_npt_format = {
	.name		= "NPT",
	.present	= NPT_P,
	.table		= NPT_P | NPT_RW | NPT_US,
	.leaf		= NPT_P | NPT_US,
	.readable	= NPT_P | NPT_US,
	.writable	= NPT_RW,
	.nx		= NPT_NX,
	.accessed	= NPT_A,
	.dirty		= NPT_D,
	.large		= PT_LARGE,
};

const struct vmmu_pte_format *vmmu_pte_format(u32 pt_format)
{
	return pt_format == VMMU_VM_TYPE_EPT ? &vmmu_ept_format :
					       &vmmu_npt_format;
}
