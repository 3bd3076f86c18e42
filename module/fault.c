// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fault path: resolve a guest-physical address to a host page and map
 * it, or say why a vCPU would exit to user space.  docs/mmu.md describes
 * the steps; the retry protocol with the MMU notifier is in
 * docs/locking.md.
 */
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/signal.h>

#include "mmu_internal.h"
#include "trace.h"

/* An attempt raced with an invalidation or a memslot update: go again. */
#define VMMU_FAULT_RETRY	(-EAGAIN)
/* The slot is being changed: wait for the update, then go again. */
#define VMMU_FAULT_WAIT_UPDATE	(-EINPROGRESS)

/* Find the fault's memslot; under vm->srcu. */
static int vmmu_fault_find_slot(struct vmmu_vm *vm,
				struct vmmu_page_fault *fault)
{
	struct vmmu_memory_slot *slot;
	u32 flags;

	RCU_LOCKDEP_WARN(!srcu_read_lock_held(&vm->srcu),
			 "memslot lookup outside vm->srcu");

	slot = vmmu_gfn_to_memslot(vmmu_memslots(vm), fault->gfn);
	flags = slot ? READ_ONCE(slot->flags) : 0;
	if (flags & VMMU_MEMSLOT_INVALID)
		return VMMU_FAULT_WAIT_UPDATE;
	if (!slot)
		return VMMU_ACCESS_EXIT_MMIO;
	if (fault->write && (flags & VMMU_MEM_READONLY))
		return VMMU_ACCESS_EXIT_READONLY_SLOT;

	fault->slot = slot;
	fault->slot_flags = flags;
	fault->hva = slot->userspace_addr +
		     ((fault->gfn - slot->base_gfn) << PAGE_SHIFT);
	return 0;
}

/*
 * A write to @hva failed: because the host maps it read-only (1), or for
 * another reason (0): SIGBUS from a full filesystem, say, which is no
 * reason to map the page read-only and report a read-only page.
 */
static int vmmu_host_maps_readonly(struct mm_struct *mm, unsigned long hva)
{
	struct vm_area_struct *vma;
	int ro;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = vma_lookup(mm, hva);
	ro = vma && !(vma->vm_flags & VM_WRITE);
	mmap_read_unlock(mm);
	return ro;
}

/*
 * Take a reference on the host page at the fault's hva.  A read fault maps
 * writable when the host page already is, without faulting or breaking
 * COW to find out; a write to a read-only host page maps it read-only.
 */
static int vmmu_fault_host_page(struct vmmu_vm *vm,
				struct vmmu_page_fault *fault)
{
	int r;

	fault->mmu_seq = READ_ONCE(vm->mmu_invalidate_seq);
	/*
	 * Read the sequence before the host page tables: a host change that
	 * the lookup misses is then either still in progress or has moved
	 * the sequence when we check under mmu_lock.
	 */
	smp_rmb();

	if (!fault->write &&
	    get_user_page_fast_only(fault->hva, FOLL_WRITE, &fault->page)) {
		fault->map_writable = true;
		return 0;
	}
	r = get_user_pages_fast(fault->hva, 1, fault->write ? FOLL_WRITE : 0,
				&fault->page);
	if (r == -EFAULT && fault->write) {
		r = vmmu_host_maps_readonly(vm->mm, fault->hva);
		if (r == 1) {
			fault->host_readonly = true;
			r = get_user_pages_fast(fault->hva, 1, 0, &fault->page);
		} else if (!r) {
			r = -EFAULT;
		}
	}
	if (r == 1) {
		fault->map_writable = fault->write && !fault->host_readonly;
		return 0;
	}
	if (r == -EINTR || r == -ENOMEM)
		return r;
	return VMMU_ACCESS_EXIT_HOST_FAULT;
}

/* The highest level the host mapping of @hva allows (1 = 4 KiB). */
static int host_mapping_level(struct mm_struct *mm, unsigned long hva)
{
	unsigned long flags;
	int level = 1;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	/* Interrupts off keep the host's page tables from being freed. */
	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, hva));
	if (pgd_none(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, hva));
	if (p4d_none(p4d) || !p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (pud_none(pud) || !pud_present(pud))
		goto out;
	if (pud_leaf(pud)) {
		level = 3;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	if (pmd_present(pmd) && pmd_leaf(pmd))
		level = 2;
out:
	local_irq_restore(flags);
	return level;
}

/*
 * The largest leaf that may map the fault: the host mapping's level,
 * limited by the slot's bounds and the alignment of guest to host
 * addresses; 4 KiB while the slot logs dirty pages.  Which permissions it
 * gets: a read-only slot never maps writable, whatever the host allows;
 * while logging, only a guest write may (a prefault is not one).
 */
static void vmmu_fault_choose_mapping(struct vmmu_vm *vm,
				      struct vmmu_page_fault *fault)
{
	const struct vmmu_memory_slot *slot = fault->slot;
	u64 delta = (slot->userspace_addr >> PAGE_SHIFT) - slot->base_gfn;
	u32 flags = fault->slot_flags;
	int level;

	if ((flags & VMMU_MEM_READONLY) ||
	    ((flags & VMMU_MEM_LOG_DIRTY_PAGES) &&
	     (!fault->write || fault->prefault)))
		fault->map_writable = false;

	if (flags & VMMU_MEM_LOG_DIRTY_PAGES) {
		fault->level = 1;
		return;
	}
	for (level = host_mapping_level(vm->mm, fault->hva); level > 1; level--) {
		u64 pages = level_pages(level);
		u64 base = fault->gfn & ~(pages - 1);

		if (base >= slot->base_gfn &&
		    base + pages <= slot->base_gfn + slot->npages &&
		    !(delta & (pages - 1)))
			break;
	}
	fault->level = level;
}

/* Did an invalidation run, or is one running over @hva, since @seq? */
static bool vmmu_invalidate_retry(struct vmmu_vm *vm, unsigned long seq,
				  unsigned long hva)
{
	lockdep_assert_held(&vm->mmu_lock);

	if (vm->mmu_invalidate_in_progress &&
	    hva >= vm->mmu_invalidate_range_start &&
	    hva < vm->mmu_invalidate_range_end)
		return true;
	return vm->mmu_invalidate_seq != seq;
}

static u64 vmmu_make_leaf(const struct vmmu_pte_format *fmt,
			  const struct vmmu_page_fault *fault, u64 pfn)
{
	/* A prefault maps ahead of any access: neither accessed nor dirty. */
	bool accessed = !fault->prefault;
	bool dirty = accessed && fault->write && fault->map_writable;

	return fmt->leaf | (pfn << PAGE_SHIFT) |
	       (fault->map_writable ? fmt->writable : 0) |
	       (accessed ? fmt->accessed : 0) | (dirty ? fmt->dirty : 0) |
	       (fault->level > 1 ? fmt->large : 0);
}

/* Install the fault's leaf, with the tables on the way from @cache. */
static void vmmu_map(struct vmmu_vm *vm, struct vmmu_page_fault *fault,
		     struct vmmu_pt_cache *cache)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	u64 pages = level_pages(fault->level);
	u64 gfn = fault->gfn & ~(pages - 1);
	u64 leaf = vmmu_make_leaf(fmt, fault,
				  page_to_pfn(fault->page) & ~(pages - 1));
	struct vmmu_pt_iter it;
	bool flush = false;

	lockdep_assert_held_write(&vm->mmu_lock);

	for (pt_iter_start(&it, vm, gfn, gfn + 1, fault->level); it.valid;
	     pt_iter_next(&it)) {
		if (it.level > fault->level) {
			/* A larger leaf in the way: the host mapping shrank. */
			if (tdp_present(fmt, it.old) &&
			    tdp_leaf(fmt, it.old, it.level)) {
				vmmu_zap_leaf(vm, it.ep);
				pt_iter_refresh(&it);
				flush = true;
			}
			if (!tdp_present(fmt, it.old)) {
				vmmu_link_table(vm, it.ep, cache->pts[--cache->n],
						it.level);
				pt_iter_refresh(&it);
			}
			continue;
		}

		if (tdp_present(fmt, it.old) && !tdp_leaf(fmt, it.old, it.level)) {
			/*
			 * A table where a large leaf goes.  What it maps went
			 * with the host's smaller mapping, so it is empty or
			 * nearly: zapped without yielding.
			 */
			const struct vmmu_gfn_range range = {
				.start = gfn, .end = gfn + pages,
			};

			flush |= vmmu_mmu_unmap_gfn_range(vm, &range);
		} else if (tdp_present(fmt, it.old)) {
			/* Another fault got here first. */
			if (tdp_pfn(it.old) == tdp_pfn(leaf) &&
			    ((it.old & fmt->writable) || !(leaf & fmt->writable)))
				break;
			vmmu_zap_leaf(vm, it.ep);
			flush = true;
		}
		WRITE_ONCE(*it.ep, leaf);
		break;
	}
	if (flush)
		vmmu_mmu_flush_tlbs(vm);
}

/* Under mmu_lock, unless an invalidation raced with us: map. */
static int vmmu_fault_install(struct vmmu_vm *vm, struct vmmu_page_fault *fault,
			      struct vmmu_pt_cache *cache)
{
	struct vmmu_memory_slot *slot = fault->slot;

	vmmu_mmu_write_lock(vm);
	if (vmmu_invalidate_retry(vm, fault->mmu_seq, fault->hva)) {
		vmmu_mmu_write_unlock(vm);
		this_cpu_inc(vm->pcpu_stats->fault_retries);
		return VMMU_FAULT_RETRY;
	}
	vmmu_map(vm, fault, cache);
	if (fault->write && fault->map_writable &&
	    (fault->slot_flags & VMMU_MEM_LOG_DIRTY_PAGES))
		__set_bit(fault->gfn - slot->base_gfn, slot->dirty_bitmap);
	vmmu_mmu_write_unlock(vm);

	this_cpu_inc(vm->pcpu_stats->faults);
	this_cpu_inc(vm->pcpu_stats->faults_level[fault->level - 1]);
	return fault->host_readonly ? VMMU_ACCESS_EXIT_READONLY_HOST : 0;
}

/* One attempt: memslot, host page, then the entry. */
static int vmmu_fault_once(struct vmmu_vm *vm, struct vmmu_page_fault *fault,
			   struct vmmu_pt_cache *cache)
{
	int idx, r;

	fault->host_readonly = false;
	fault->level = 0;

	idx = srcu_read_lock(&vm->srcu);
	r = vmmu_fault_find_slot(vm, fault);
	if (!r)
		r = vmmu_fault_host_page(vm, fault);
	if (!r) {
		vmmu_fault_choose_mapping(vm, fault);
		r = vmmu_fault_install(vm, fault, cache);
		/* Coherence comes from the notifier, not from a reference. */
		put_page(fault->page);
	}
	srcu_read_unlock(&vm->srcu, idx);

	if (r == VMMU_FAULT_WAIT_UPDATE)
		r = vmmu_wait_memslot_update(vm) ?: VMMU_FAULT_RETRY;
	return r;
}

/*
 * Resolve @fault.  Returns 0 once mapped (fault->level says at which
 * level), a VMMU_ACCESS_EXIT_* reason (> 0) for what a vCPU would exit on,
 * or -errno (-EINTR when killed, or for an interruptible fault signalled;
 * -ENOMEM).  A fault that keeps racing with invalidations retries until
 * then.
 */
int vmmu_page_fault(struct vmmu_vm *vm, struct vmmu_page_fault *fault)
{
	struct vmmu_pt_cache cache = { .n = 0 };
	int r;

	fault->gfn = fault->gpa >> PAGE_SHIFT;
	for (;;) {
		r = vmmu_pt_cache_topup(&cache);
		if (!r)
			r = vmmu_fault_once(vm, fault, &cache);
		if (r != VMMU_FAULT_RETRY)
			break;
		if (fatal_signal_pending(current) ||
		    (fault->interruptible && signal_pending(current))) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}
	vmmu_pt_cache_free(&cache);

	if (r >= 0)
		trace_vmmu_page_fault(vm->id, fault->gpa, fault->write,
				      fault->level, r);
	return r;
}
