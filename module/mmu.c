// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VM's two-dimensional page tables: a four-level radix tree of 4 KiB
 * table pages, in EPT or NPT entry format (pt_format.c), mapping 4 KiB,
 * 2 MiB and 1 GiB leaves.  This file owns the tables, the MMU lock's
 * helpers, zapping and aging; faults are in fault.c, the software-access
 * ioctls in sw_access.c, dirty logging in dirty_log.c.
 *
 * Locking (docs/locking.md, docs/mmu.md):
 * - Entries change only with vm->mmu_lock held for write: faults install,
 *   invalidations and memslot updates zap, dirty logging write-protects.
 *   Except for the accessed and dirty bits, which a vCPU's walker (and the
 *   software walker) set at any time: a leaf that goes, or loses W, is
 *   changed atomically, so that a dirty bit set meanwhile is not lost.
 * - The software walker (VMMU_ACCESS) and the aging callbacks hold it for
 *   read and only ever set or clear accessed/dirty bits, atomically.
 * - VMMU_TRANSLATE reads without the lock, under RCU: table pages are
 *   freed through RCU, so a lockless walker never reads a freed table.
 * - A fault holds no page reference once its entry is installed: the MMU
 *   notifier zaps the entry before the host unmaps the page.
 */
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/swap.h>

#include "mmu_internal.h"
#include "trace.h"
#include "vcpu.h"

/* Entries a walk that may block visits under one hold of mmu_lock. */
#define VMMU_MMU_BATCH	512

void vmmu_mmu_write_lock(struct vmmu_vm *vm)
	__acquires(&vm->mmu_lock)
{
	write_lock(&vm->mmu_lock);
	vm->mmu_hold_start_ns = ktime_get_ns();
	vm->mmu_hold_entries = 0;
}

void vmmu_mmu_write_unlock(struct vmmu_vm *vm)
	__releases(&vm->mmu_lock)
{
	struct vmmu_mmu_lock_stats *st = &vm->mmu_lock_stats;
	u64 held = ktime_get_ns() - vm->mmu_hold_start_ns;

	lockdep_assert_held_write(&vm->mmu_lock);
	if (held > st->max_hold_ns)
		WRITE_ONCE(st->max_hold_ns, held);
	if (vm->mmu_hold_entries > st->max_hold_entries)
		WRITE_ONCE(st->max_hold_entries, vm->mmu_hold_entries);
	write_unlock(&vm->mmu_lock);
}

/* Let others have mmu_lock and the CPU.  Nothing may be left to flush. */
void vmmu_mmu_yield(struct vmmu_vm *vm)
	__must_hold(&vm->mmu_lock)
{
	vmmu_mmu_write_unlock(vm);
	cond_resched();
	vmmu_mmu_write_lock(vm);
	WRITE_ONCE(vm->mmu_lock_stats.yields, vm->mmu_lock_stats.yields + 1);
}

/*
 * Count an entry that a walk visits with mmu_lock held for write.  Once a
 * batch is used up, a walk that may block flushes what it has zapped (no
 * one may find an entry gone and its translation still cached), lets
 * others have the lock and the CPU, and resumes from the root.  Returns
 * true if it yielded: the walk must then move on without touching the
 * current entry.
 */
bool vmmu_mmu_cond_yield(struct vmmu_vm *vm, struct vmmu_pt_iter *it,
			 bool *flush, bool may_block)
{
	lockdep_assert_held_write(&vm->mmu_lock);

	if (++vm->mmu_hold_entries < VMMU_MMU_BATCH || !may_block)
		return false;
	if (*flush) {
		vmmu_mmu_flush_tlbs(vm);
		*flush = false;
	}
	vmmu_mmu_yield(vm);
	pt_iter_yielded(it);
	return true;
}

struct vmmu_pt *vmmu_pt_alloc(void)
{
	struct vmmu_pt *pt = kmalloc(sizeof(*pt), GFP_KERNEL_ACCOUNT);

	if (!pt)
		return NULL;
	/* Charged to the VMM's memory cgroup, like its other memory. */
	pt->page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!pt->page) {
		kfree(pt);
		return NULL;
	}
	set_page_private(pt->page, (unsigned long)pt);
	pt->entries = page_address(pt->page);
	return pt;
}

void vmmu_pt_free(struct vmmu_pt *pt)
{
	set_page_private(pt->page, 0);
	__free_page(pt->page);
	kfree(pt);
}

static void vmmu_pt_free_rcu(struct rcu_head *head)
{
	vmmu_pt_free(container_of(head, struct vmmu_pt, rcu));
}

/* Tables are allocated before taking mmu_lock, which cannot sleep. */
int vmmu_pt_cache_topup(struct vmmu_pt_cache *cache)
{
	while (cache->n < ARRAY_SIZE(cache->pts)) {
		struct vmmu_pt *pt = vmmu_pt_alloc();

		if (!pt)
			return -ENOMEM;
		cache->pts[cache->n++] = pt;
	}
	return 0;
}

void vmmu_pt_cache_free(struct vmmu_pt_cache *cache)
{
	while (cache->n)
		vmmu_pt_free(cache->pts[--cache->n]);
}

/* Make the empty entry @ep, at @level, point to the zeroed table @child. */
void vmmu_link_table(struct vmmu_vm *vm, u64 *ep, struct vmmu_pt *child,
		     int level)
{
	lockdep_assert_held_write(&vm->mmu_lock);

	child->level = level - 1;
	atomic64_inc(&vm->pt_pages);
	/* The zeroed table before the entry, for lockless readers. */
	smp_store_release(ep, vm->fmt->table | page_to_phys(child->page));
}

/* Unlink a table whose leaves are gone; it is freed after RCU readers. */
static void vmmu_unlink_table(struct vmmu_vm *vm, u64 *ep, u64 e)
{
	struct vmmu_pt *child = tdp_table(e);

	/* Earlier passes emptied it, and nothing maps into the range. */
	VM_WARN_ON_ONCE(memchr_inv(child->entries, 0, PAGE_SIZE));
	WRITE_ONCE(*ep, 0);
	atomic64_dec(&vm->pt_pages);
	call_rcu(&child->rcu, vmmu_pt_free_rcu);
}

/*
 * Remove the leaf @ep and give the host what the guest did to the page:
 * the A and D bits of the entry as it was when it went, not as read
 * before (a vCPU may have set D since).
 */
void vmmu_zap_leaf(struct vmmu_vm *vm, u64 *ep)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	u64 e = xchg(ep, 0);
	struct page *page = pfn_to_page(tdp_pfn(e));

	lockdep_assert_held_write(&vm->mmu_lock);

	if (!PageReserved(page)) {
		if (e & fmt->dirty)
			SetPageDirty(page);
		if (e & fmt->accessed)
			mark_page_accessed(page);
	}
	this_cpu_inc(vm->pcpu_stats->zapped);
}

/*
 * Unmap the gfns of @range; returns whether TLBs must still be flushed.
 * A large leaf partly in the range goes whole (it refaults); a table goes
 * once the range covers its whole span.
 *
 * The zap goes in passes by level: leaves first, then the tables they left
 * empty, from the bottom up, so that no step ever frees more than one empty
 * table, and a walk that may block yields mmu_lock every VMMU_MMU_BATCH
 * entries however large the range (see vmmu_mmu_cond_yield()).  That is
 * only correct if nothing maps into the range while the lock is dropped:
 * the caller makes sure of it (an invalidation in progress over the range,
 * invalid memslots, an address space that is gone, or a caller that keeps
 * the lock throughout).
 */
bool vmmu_mmu_unmap_gfn_range(struct vmmu_vm *vm,
			      const struct vmmu_gfn_range *range)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	bool flush = false, zapped = false;
	struct vmmu_pt_iter it;
	int level;

	lockdep_assert_held_write(&vm->mmu_lock);

	for (level = 1; level <= VMMU_PT_LEVELS; level++) {
		for (pt_iter_start(&it, vm, range->start, range->end, level);
		     it.valid; pt_iter_next(&it)) {
			if (vmmu_mmu_cond_yield(vm, &it, &flush,
						range->may_block))
				continue;
			if (!tdp_present(fmt, it.old))
				continue;
			if (tdp_leaf(fmt, it.old, it.level))
				vmmu_zap_leaf(vm, it.ep);
			else if (it.level == level && pt_iter_inside(&it))
				vmmu_unlink_table(vm, it.ep, it.old);
			else
				continue;
			pt_iter_refresh(&it);
			flush = true;
			zapped = true;
		}
	}
	if (zapped)
		trace_vmmu_zap_gfn_range(vm->id, range->start, range->end);
	return flush;
}

/*
 * Once this returns, no vCPU uses a translation removed before the call:
 * each flushes before it enters again, and those in the guest are kicked
 * out and waited for (vcpu.c).  The software walker needs nothing: it
 * holds mmu_lock while it copies each page.
 */
void vmmu_mmu_flush_tlbs(struct vmmu_vm *vm)
{
	lockdep_assert_held(&vm->mmu_lock);
	this_cpu_inc(vm->pcpu_stats->tlb_flushes);
	vmmu_kick_vcpus(vm);
}

static void vmmu_mmu_zap_gfns(struct vmmu_vm *vm, u64 start, u64 end)
{
	const struct vmmu_gfn_range range = {
		.start = start, .end = end, .may_block = true,
	};

	vmmu_mmu_write_lock(vm);
	if (vmmu_mmu_unmap_gfn_range(vm, &range))
		vmmu_mmu_flush_tlbs(vm);
	vmmu_mmu_write_unlock(vm);
}

/* The slot is invalid (memslot.c): no fault maps into it meanwhile. */
void vmmu_mmu_zap_memslot(struct vmmu_vm *vm, struct vmmu_memory_slot *slot)
{
	vmmu_mmu_zap_gfns(vm, slot->base_gfn, slot->base_gfn + slot->npages);
}

/* The address space is gone, or the VM is: no fault runs any more. */
void vmmu_mmu_zap_all(struct vmmu_vm *vm)
{
	vmmu_mmu_zap_gfns(vm, 0, PT_GFN_LIMIT);
}

/* Were leaves in @range accessed?  Clears the bits of @clear in them. */
static bool vmmu_age_leaves(struct vmmu_vm *vm,
			    const struct vmmu_gfn_range *range, u64 clear)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_pt_iter it;
	bool young = false;

	lockdep_assert_held_read(&vm->mmu_lock);

	for (pt_iter_start(&it, vm, range->start, range->end, 1); it.valid;
	     pt_iter_next(&it)) {
		if (!tdp_present(fmt, it.old) ||
		    !tdp_leaf(fmt, it.old, it.level) ||
		    !(it.old & fmt->accessed))
			continue;
		young = true;
		/* Others set A/D bits under the read lock too: atomically. */
		if (clear)
			clear_bit(__ffs64(clear), (unsigned long *)it.ep);
	}
	return young;
}

/* Were any gfns of @range accessed since the last clear?  Clears A. */
bool vmmu_mmu_age_gfn_range(struct vmmu_vm *vm,
			    const struct vmmu_gfn_range *range)
{
	return vmmu_age_leaves(vm, range, vm->fmt->accessed);
}

/* The same, without clearing. */
bool vmmu_mmu_test_age_gfn_range(struct vmmu_vm *vm,
				 const struct vmmu_gfn_range *range)
{
	return vmmu_age_leaves(vm, range, 0);
}

int vmmu_mmu_init(struct vmmu_vm *vm)
{
	vm->fmt = vmmu_pte_format(vm->pt_format);
	vm->root = vmmu_pt_alloc();
	if (!vm->root)
		return -ENOMEM;
	vm->root->level = VMMU_PT_LEVELS;
	atomic64_set(&vm->pt_pages, 1);
	return 0;
}

/* The VM is being freed: no fault, walker or notifier runs any more. */
void vmmu_mmu_destroy(struct vmmu_vm *vm)
{
	vmmu_mmu_zap_all(vm);
	vmmu_pt_free(vm->root);
}
