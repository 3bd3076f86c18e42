// SPDX-License-Identifier: GPL-2.0-only
/*
 * The table iterator.  Every walk over a VM's page tables goes through it:
 * zaps, aging and write protection (mmu.c), installing a leaf (fault.c),
 * the software walker and VMMU_TRANSLATE (sw_access.c).  Only the iterator
 * knows how to resume after the MMU lock was dropped, so no walk can resume
 * inside a table that was freed meanwhile.
 */
#include "mmu_internal.h"

static void pt_iter_read(struct vmmu_pt_iter *it)
{
	it->ep = &it->pts[it->level]->entries[pt_index(it->gfn, it->level)];
	it->old = READ_ONCE(*it->ep);
}

/* Stand on the root entry on the way to next_gfn. */
static void pt_iter_restart(struct vmmu_pt_iter *it)
{
	it->yielded = false;
	it->level = VMMU_PT_LEVELS;
	it->pts[it->level] = it->root;
	it->gfn = round_down(it->next_gfn, level_pages(it->level));
	it->valid = it->next_gfn < it->end;
	if (it->valid)
		pt_iter_read(it);
}

void pt_iter_start(struct vmmu_pt_iter *it, struct vmmu_vm *vm, u64 start,
		   u64 end, int min_level)
{
	it->fmt = vm->fmt;
	it->root = vm->root;
	it->start = start;
	it->end = min(end, PT_GFN_LIMIT);
	it->next_gfn = start;
	it->min_level = min_level;
	pt_iter_restart(it);
}

/* Into the table the current entry points to, if the walk goes that deep. */
static bool pt_iter_step_down(struct vmmu_pt_iter *it)
{
	if (it->level == it->min_level || !tdp_present(it->fmt, it->old) ||
	    tdp_leaf(it->fmt, it->old, it->level))
		return false;
	it->pts[it->level - 1] = tdp_table(it->old);
	it->level--;
	/* next_gfn lies inside the entry stepped into. */
	it->gfn = round_down(it->next_gfn, level_pages(it->level));
	pt_iter_read(it);
	return true;
}

void pt_iter_next(struct vmmu_pt_iter *it)
{
	if (it->yielded) {
		pt_iter_restart(it);
		return;
	}
	if (pt_iter_step_down(it))
		return;

	/* To the next entry; past a table's last one, up to its parent's next. */
	it->gfn += level_pages(it->level);
	while (it->level < VMMU_PT_LEVELS && !pt_index(it->gfn, it->level))
		it->level++;
	it->next_gfn = it->gfn;
	it->valid = it->gfn < it->end;
	if (it->valid)
		pt_iter_read(it);
}
