/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the files of the MMU share: the shape of the tables, entry
 * predicates, the table iterator (pt_iter.c) and the MMU lock's helpers
 * (mmu.c).  docs/mmu.md says which file holds what.
 */
#ifndef VMMU_MMU_INTERNAL_H
#define VMMU_MMU_INTERNAL_H

#include <linux/mm.h>

#include "vmmu.h"

#define PT_ENTRIES		512
#define PT_PFN_MASK		GENMASK_ULL(51, 12)
/* Gfns a four-level table maps: 2^(48 - 12). */
#define PT_GFN_LIMIT		BIT_ULL(VMMU_MAX_GPA_BITS - PAGE_SHIFT)

/* Guest pages an entry at @level maps (level 1: one 4 KiB page). */
static inline u64 level_pages(int level)
{
	return 1ULL << (9 * (level - 1));
}

static inline int pt_index(u64 gfn, int level)
{
	return (gfn >> (9 * (level - 1))) & (PT_ENTRIES - 1);
}

static inline bool tdp_present(const struct vmmu_pte_format *fmt, u64 e)
{
	return e & fmt->present;
}

static inline bool tdp_leaf(const struct vmmu_pte_format *fmt, u64 e,
			    int level)
{
	return level == 1 || (e & fmt->large);
}

static inline bool tdp_exec(const struct vmmu_pte_format *fmt, u64 e)
{
	return fmt->exec ? e & fmt->exec : !(e & fmt->nx);
}

static inline bool tdp_readable(const struct vmmu_pte_format *fmt, u64 e)
{
	return (e & fmt->readable) == fmt->readable;
}

static inline u64 tdp_pfn(u64 e)
{
	return (e & PT_PFN_MASK) >> PAGE_SHIFT;
}

/* The host physical address of @gpa through the leaf @e at @level. */
static inline u64 tdp_leaf_hpa(u64 e, int level, u64 gpa)
{
	u64 size = level_pages(level) << PAGE_SHIFT;

	return (e & PT_PFN_MASK & ~(size - 1)) | (gpa & (size - 1));
}

static inline struct vmmu_pt *tdp_table(u64 e)
{
	return (struct vmmu_pt *)page_private(pfn_to_page(tdp_pfn(e)));
}

/*
 * A pre-order walk over the entries that map gfns in [start, end), from
 * the root down to @min_level: every entry on the way is visited, tables
 * before what they hold.  The walker may change the current entry; after
 * changing a table entry it must not step into the old table
 * (pt_iter_refresh() rereads the entry).
 *
 * A walk that drops mmu_lock calls pt_iter_yielded(): the next step then
 * starts again from the root, at the entry where the walk stood, since
 * every table below the root may have been freed meanwhile.
 */
struct vmmu_pt_iter {
	const struct vmmu_pte_format *fmt;
	struct vmmu_pt *root;
	struct vmmu_pt *pts[VMMU_PT_LEVELS + 1];	/* table at each level */
	u64 start, end;
	u64 next_gfn;		/* where the walk goes on after a yield */
	int min_level;

	/* The current entry. */
	u64 *ep;
	u64 old;		/* its value when the walk read it */
	u64 gfn;		/* the first gfn it maps */
	int level;
	bool valid;
	bool yielded;
};

void pt_iter_start(struct vmmu_pt_iter *it, struct vmmu_vm *vm, u64 start,
		   u64 end, int min_level);
void pt_iter_next(struct vmmu_pt_iter *it);

static inline void pt_iter_refresh(struct vmmu_pt_iter *it)
{
	it->old = READ_ONCE(*it->ep);
}

static inline void pt_iter_yielded(struct vmmu_pt_iter *it)
{
	it->yielded = true;
}

/* Does the current entry map only gfns inside the walk's range? */
static inline bool pt_iter_inside(const struct vmmu_pt_iter *it)
{
	return it->gfn >= it->start &&
	       it->gfn + level_pages(it->level) <= it->end;
}

/* mmu.c */
void vmmu_mmu_yield(struct vmmu_vm *vm);
bool vmmu_mmu_cond_yield(struct vmmu_vm *vm, struct vmmu_pt_iter *it,
			 bool *flush, bool may_block);
struct vmmu_pt *vmmu_pt_alloc(void);
void vmmu_pt_free(struct vmmu_pt *pt);
int vmmu_pt_cache_topup(struct vmmu_pt_cache *cache);
void vmmu_pt_cache_free(struct vmmu_pt_cache *cache);
void vmmu_link_table(struct vmmu_vm *vm, u64 *ep, struct vmmu_pt *child,
		     int level);
void vmmu_zap_leaf(struct vmmu_vm *vm, u64 *ep);

#endif /* VMMU_MMU_INTERNAL_H */
