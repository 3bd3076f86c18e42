// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VM's two-dimensional page tables: a four-level radix tree of 4 KiB
 * table pages, in EPT or NPT entry format (pt_format.c), mapping 4 KiB,
 * 2 MiB and 1 GiB leaves.
 *
 * Locking (docs/locking.md, docs/mmu.md):
 * - Entries change only with vm->mmu_lock held for write: faults install,
 *   invalidations and memslot updates zap, dirty logging write-protects.
 * - The software walker (VMMU_ACCESS) and the aging callbacks hold it for
 *   read and only ever set or clear accessed/dirty bits, atomically.
 * - VMMU_TRANSLATE reads without the lock, under RCU: table pages are
 *   freed through RCU, so a lockless walker never reads a freed table.
 * - A fault holds no page reference once its entry is installed: the MMU
 *   notifier zaps the entry before the host unmaps the page.
 */
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/uaccess.h>

#include "vmmu.h"
#include "trace.h"

#define PT_ENTRIES		512
#define PT_PFN_MASK		GENMASK_ULL(51, 12)

static u64 level_pages(int level)
{
	return 1ULL << (9 * (level - 1));
}

static int pt_index(u64 gfn, int level)
{
	return (gfn >> (9 * (level - 1))) & (PT_ENTRIES - 1);
}

static bool tdp_present(const struct vmmu_pte_format *fmt, u64 e)
{
	return e & fmt->present;
}

static bool tdp_leaf(const struct vmmu_pte_format *fmt, u64 e, int level)
{
	return level == 1 || (e & fmt->large);
}

static bool tdp_exec(const struct vmmu_pte_format *fmt, u64 e)
{
	return fmt->exec ? e & fmt->exec : !(e & fmt->nx);
}

static u64 tdp_pfn(u64 e)
{
	return (e & PT_PFN_MASK) >> PAGE_SHIFT;
}

static struct vmmu_pt *tdp_table(u64 e)
{
	return (struct vmmu_pt *)page_private(pfn_to_page(tdp_pfn(e)));
}

static struct vmmu_pt *vmmu_pt_alloc(void)
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

static void vmmu_pt_free(struct vmmu_pt *pt)
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
static int vmmu_pt_cache_topup(struct vmmu_pt_cache *cache)
{
	while (cache->n < ARRAY_SIZE(cache->pts)) {
		struct vmmu_pt *pt = vmmu_pt_alloc();

		if (!pt)
			return -ENOMEM;
		cache->pts[cache->n++] = pt;
	}
	return 0;
}

static void vmmu_pt_cache_free(struct vmmu_pt_cache *cache)
{
	while (cache->n)
		vmmu_pt_free(cache->pts[--cache->n]);
}

/* Give the host what the guest did to a page it no longer maps. */
static void vmmu_zap_leaf(struct vmmu_vm *vm, u64 *ep, u64 e)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct page *page = pfn_to_page(tdp_pfn(e));

	WRITE_ONCE(*ep, 0);
	if (!PageReserved(page)) {
		if (e & fmt->dirty)
			SetPageDirty(page);
		if (e & fmt->accessed)
			mark_page_accessed(page);
	}
	this_cpu_inc(vm->pcpu_stats->zapped);
}

static void vmmu_free_table(struct vmmu_vm *vm, struct vmmu_pt *pt)
{
	atomic64_dec(&vm->pt_pages);
	call_rcu(&pt->rcu, vmmu_pt_free_rcu);
}

/* A zap in progress: whether to flush, and where to resume after a yield. */
struct vmmu_zap {
	bool may_yield;
	bool flush;
	int budget;		/* entries to visit before yielding */
	u64 resume;		/* ~0: finished */
};

#define VMMU_ZAP_BATCH	512

/*
 * Zap what @pt, which maps gfns from @base, maps in [start, end); tables
 * entirely inside the range go too.  With @z->may_yield, stop after a
 * batch of entries and leave in @z->resume where to go on.
 */
static void vmmu_zap_table(struct vmmu_vm *vm, struct vmmu_pt *pt, u64 base,
			   u64 start, u64 end, struct vmmu_zap *z)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	u64 span = level_pages(pt->level);
	int i = start > base ? (start - base) / span : 0;

	for (; i < PT_ENTRIES && base + i * span < end; i++) {
		u64 gfn = base + i * span, e = pt->entries[i];
		struct vmmu_pt *child;

		if (z->may_yield && z->budget-- <= 0) {
			z->resume = max(gfn, start);
			return;
		}
		if (!tdp_present(fmt, e))
			continue;
		z->flush = true;
		/* A large leaf partly in the range goes whole: it refaults. */
		if (tdp_leaf(fmt, e, pt->level)) {
			vmmu_zap_leaf(vm, &pt->entries[i], e);
			continue;
		}
		child = tdp_table(e);
		if (gfn >= start && gfn + span <= end) {
			/* Unlinked, the subtree goes in one go. */
			struct vmmu_zap whole = { .may_yield = false };

			WRITE_ONCE(pt->entries[i], 0);
			vmmu_zap_table(vm, child, gfn, gfn, gfn + span, &whole);
			vmmu_free_table(vm, child);
		} else {
			vmmu_zap_table(vm, child, gfn, max(start, gfn),
				       min(end, gfn + span), z);
			if (z->resume != ~0ULL)
				return;
		}
	}
}

/*
 * Unmap the gfns [start, end); returns whether TLBs must still be flushed.
 * With @may_block it yields mmu_lock between batches, flushing first: the
 * caller has made sure (an invalidation in progress over the range,
 * invalid memslots, or an address space that is gone) that no fault maps
 * into the range meanwhile.
 */
bool vmmu_mmu_unmap_gfn_range(struct vmmu_vm *vm, u64 start, u64 end,
			      bool may_block)
{
	struct vmmu_zap z = { .may_yield = may_block };
	u64 first = start;
	bool any = false;

	lockdep_assert_held_write(&vm->mmu_lock);
	for (;;) {
		z.budget = VMMU_ZAP_BATCH;
		z.resume = ~0ULL;
		vmmu_zap_table(vm, vm->root, 0, start, end, &z);
		any |= z.flush;
		if (z.resume == ~0ULL)
			break;
		if (z.flush)
			vmmu_mmu_flush_tlbs(vm);
		z.flush = false;
		cond_resched_rwlock_write(&vm->mmu_lock);
		start = z.resume;
	}
	if (any)
		trace_vmmu_zap_gfn_range(vm->id, first, end);
	return z.flush;
}

/*
 * No vCPU caches translations yet, and the software walker holds mmu_lock
 * while it copies each page: there is no TLB to shoot down, only the event
 * to count.  The vCPU backends fill this in.
 */
void vmmu_mmu_flush_tlbs(struct vmmu_vm *vm)
{
	lockdep_assert_held(&vm->mmu_lock);
	this_cpu_inc(vm->pcpu_stats->tlb_flushes);
}

void vmmu_mmu_zap_memslot(struct vmmu_vm *vm, struct vmmu_memory_slot *slot)
{
	write_lock(&vm->mmu_lock);
	if (vmmu_mmu_unmap_gfn_range(vm, slot->base_gfn,
				     slot->base_gfn + slot->npages, true))
		vmmu_mmu_flush_tlbs(vm);
	write_unlock(&vm->mmu_lock);
}

void vmmu_mmu_zap_all(struct vmmu_vm *vm)
{
	write_lock(&vm->mmu_lock);
	if (vmmu_mmu_unmap_gfn_range(vm, 0,
				     BIT_ULL(VMMU_MAX_GPA_BITS - PAGE_SHIFT), true))
		vmmu_mmu_flush_tlbs(vm);
	write_unlock(&vm->mmu_lock);
}

/* What to do to each leaf; @fn returns whether it found or changed it. */
struct vmmu_leaf_walk {
	bool (*fn)(struct vmmu_vm *vm, u64 *ep, u64 e, int level, bool arg);
	bool arg;
};

/* Call @walk->fn on every leaf of @pt that maps a gfn in [start, end). */
static bool vmmu_walk_leaves(struct vmmu_vm *vm, struct vmmu_pt *pt,
			     u64 base, u64 start, u64 end,
			     const struct vmmu_leaf_walk *walk)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	u64 span = level_pages(pt->level);
	int i = start > base ? (start - base) / span : 0;
	bool ret = false;

	for (; i < PT_ENTRIES && base + i * span < end; i++) {
		u64 gfn = base + i * span, e = READ_ONCE(pt->entries[i]);

		if (!tdp_present(fmt, e))
			continue;
		if (tdp_leaf(fmt, e, pt->level))
			ret |= walk->fn(vm, &pt->entries[i], e, pt->level,
					walk->arg);
		else
			ret |= vmmu_walk_leaves(vm, tdp_table(e), gfn,
						max(start, gfn),
						min(end, gfn + span), walk);
	}
	return ret;
}

static bool vmmu_age_leaf(struct vmmu_vm *vm, u64 *ep, u64 e, int level,
			  bool clear)
{
	if (!(e & vm->fmt->accessed))
		return false;
	if (clear)
		clear_bit(__ffs64(vm->fmt->accessed), (unsigned long *)ep);
	return true;
}

/* Were any of the gfns [start, end) accessed since the last clear? */
bool vmmu_mmu_age_gfn_range(struct vmmu_vm *vm, u64 start, u64 end,
			    bool clear)
{
	const struct vmmu_leaf_walk walk = { .fn = vmmu_age_leaf, .arg = clear };

	lockdep_assert_held_read(&vm->mmu_lock);
	return vmmu_walk_leaves(vm, vm->root, 0, start, end, &walk);
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

/* The largest leaf that maps @gfn: host mapping, slot bounds, alignment. */
static int vmmu_max_level(struct vmmu_vm *vm, struct vmmu_memory_slot *slot,
			  u32 flags, u64 gfn, unsigned long hva)
{
	u64 delta = (slot->userspace_addr >> PAGE_SHIFT) - slot->base_gfn;
	int level;

	if (flags & VMMU_MEM_LOG_DIRTY_PAGES)
		return 1;
	for (level = host_mapping_level(vm->mm, hva); level > 1; level--) {
		u64 pages = level_pages(level), base = gfn & ~(pages - 1);

		if (base >= slot->base_gfn &&
		    base + pages <= slot->base_gfn + slot->npages &&
		    !(delta & (pages - 1)))
			break;
	}
	return level;
}

/*
 * The host page at @hva.  A read fault maps writable when the host page
 * already is, without faulting or breaking COW to find out.
 */
static int vmmu_get_host_page(unsigned long hva, bool write,
			      struct page **page, bool *writable)
{
	int r;

	if (!write && get_user_page_fast_only(hva, FOLL_WRITE, page)) {
		*writable = true;
		return 0;
	}
	r = get_user_pages_fast(hva, 1, write ? FOLL_WRITE : 0, page);
	if (r == 1) {
		*writable = write;
		return 0;
	}
	return r < 0 ? r : -EFAULT;
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

static u64 vmmu_make_leaf(const struct vmmu_pte_format *fmt, u64 pfn,
			  int level, bool writable, bool accessed, bool dirty)
{
	return fmt->leaf | (pfn << PAGE_SHIFT) |
	       (writable ? fmt->writable : 0) |
	       (accessed ? fmt->accessed : 0) |
	       (dirty ? fmt->dirty : 0) | (level > 1 ? fmt->large : 0);
}

/* Install a leaf for @gfn (aligned to @level) mapping @pfn. */
static void vmmu_map(struct vmmu_vm *vm, u64 gfn, u64 pfn, int level,
		     u64 leaf, struct vmmu_pt_cache *cache)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_pt *pt = vm->root;
	bool flush = false;
	u64 *ep, e;
	int lvl;

	lockdep_assert_held_write(&vm->mmu_lock);

	for (lvl = VMMU_PT_LEVELS; lvl > level; lvl--) {
		ep = &pt->entries[pt_index(gfn, lvl)];
		e = *ep;
		/* A larger leaf is in the way: the host mapping shrank. */
		if (tdp_present(fmt, e) && tdp_leaf(fmt, e, lvl)) {
			vmmu_zap_leaf(vm, ep, e);
			flush = true;
			e = 0;
		}
		if (!tdp_present(fmt, e)) {
			struct vmmu_pt *child = cache->pts[--cache->n];

			child->level = lvl - 1;
			atomic64_inc(&vm->pt_pages);
			/* The zeroed table before the entry, for lockless readers. */
			smp_store_release(ep, fmt->table | page_to_phys(child->page));
			pt = child;
		} else {
			pt = tdp_table(e);
		}
	}

	ep = &pt->entries[pt_index(gfn, level)];
	e = *ep;
	if (tdp_present(fmt, e) && !tdp_leaf(fmt, e, level)) {
		/* A table where a large leaf goes: the smaller leaves go. */
		struct vmmu_pt *child = tdp_table(e);
		struct vmmu_zap whole = { .may_yield = false };

		WRITE_ONCE(*ep, 0);
		vmmu_zap_table(vm, child, gfn, gfn, gfn + level_pages(level),
			       &whole);
		vmmu_free_table(vm, child);
		flush = true;
	} else if (tdp_present(fmt, e)) {
		if (tdp_pfn(e) == pfn && ((e & fmt->writable) ||
					  !(leaf & fmt->writable)))
			goto out;	/* another fault got here first */
		vmmu_zap_leaf(vm, ep, e);
		flush = true;
	}
	WRITE_ONCE(*ep, leaf);
out:
	if (flush)
		vmmu_mmu_flush_tlbs(vm);
}

/*
 * Resolve a fault at @gpa: memslot, host page, then, under mmu_lock and
 * only if no invalidation raced with us, the entry.  Returns 0, a
 * VMMU_ACCESS_EXIT_* reason (> 0) for what a vCPU would exit on, or -errno.
 * *@level is the level mapped.
 */
int vmmu_page_fault(struct vmmu_vm *vm, u64 gpa, bool write, bool prefault,
		    int *level)
{
	struct vmmu_pt_cache cache = { .n = 0 };
	u64 gfn = gpa >> PAGE_SHIFT;
	int r;

	for (;;) {
		struct vmmu_memory_slot *slot;
		unsigned long hva, seq;
		bool writable, ro_host = false;
		struct page *page;
		u64 pages, leaf;
		u32 flags;
		int idx;

		r = vmmu_pt_cache_topup(&cache);
		if (r)
			break;

		idx = srcu_read_lock(&vm->srcu);
		slot = vmmu_gfn_to_memslot(vmmu_memslots(vm), gfn);
		flags = slot ? READ_ONCE(slot->flags) : 0;
		if (flags & VMMU_MEMSLOT_INVALID) {
			srcu_read_unlock(&vm->srcu, idx);
			r = vmmu_wait_memslot_update(vm);
			if (r)
				break;
			continue;
		}
		if (!slot) {
			r = VMMU_ACCESS_EXIT_MMIO;
			goto out_srcu;
		}
		if (write && (flags & VMMU_MEM_READONLY)) {
			r = VMMU_ACCESS_EXIT_READONLY_SLOT;
			goto out_srcu;
		}
		hva = slot->userspace_addr + ((gfn - slot->base_gfn) << PAGE_SHIFT);

		seq = READ_ONCE(vm->mmu_invalidate_seq);
		/*
		 * Read the sequence before the host page tables: a host change
		 * that the lookup misses is then either still in progress or
		 * has moved the sequence when we check under mmu_lock.
		 */
		smp_rmb();

		r = vmmu_get_host_page(hva, write, &page, &writable);
		if (r == -EFAULT && write) {
			/* Read-only host page: map it so, report the write. */
			r = vmmu_get_host_page(hva, false, &page, &writable);
			ro_host = !r;
		}
		if (r) {
			if (r != -EINTR && r != -ENOMEM)
				r = VMMU_ACCESS_EXIT_HOST_FAULT;
			goto out_srcu;
		}
		/*
		 * A read-only slot never maps writable, whatever the host
		 * allows; while logging, only a guest write may (a prefault
		 * is not one).
		 */
		if ((flags & VMMU_MEM_READONLY) ||
		    ((flags & VMMU_MEM_LOG_DIRTY_PAGES) && (!write || prefault)))
			writable = false;
		*level = vmmu_max_level(vm, slot, flags, gfn, hva);
		pages = level_pages(*level);

		write_lock(&vm->mmu_lock);
		if (vmmu_invalidate_retry(vm, seq, hva)) {
			write_unlock(&vm->mmu_lock);
			put_page(page);
			srcu_read_unlock(&vm->srcu, idx);
			this_cpu_inc(vm->pcpu_stats->fault_retries);
			if (fatal_signal_pending(current)) {
				r = -EINTR;
				break;
			}
			cond_resched();
			continue;
		}
		leaf = vmmu_make_leaf(vm->fmt, page_to_pfn(page) & ~(pages - 1),
				      *level, writable, !prefault,
				      write && writable && !prefault);
		vmmu_map(vm, gfn & ~(pages - 1), page_to_pfn(page) & ~(pages - 1),
			 *level, leaf, &cache);
		if (write && writable && (flags & VMMU_MEM_LOG_DIRTY_PAGES))
			__set_bit(gfn - slot->base_gfn, slot->dirty_bitmap);
		write_unlock(&vm->mmu_lock);
		/* Coherence comes from the notifier, not from a reference. */
		put_page(page);

		this_cpu_inc(vm->pcpu_stats->faults);
		this_cpu_inc(vm->pcpu_stats->faults_level[*level - 1]);
		r = ro_host ? VMMU_ACCESS_EXIT_READONLY_HOST : 0;
		trace_vmmu_page_fault(vm->id, gpa, write, *level, r);
		srcu_read_unlock(&vm->srcu, idx);
		break;
out_srcu:
		trace_vmmu_page_fault(vm->id, gpa, write, 0, r);
		srcu_read_unlock(&vm->srcu, idx);
		break;
	}
	vmmu_pt_cache_free(&cache);
	return r;
}

/*
 * Walk to @gpa as the CPU would: every level must allow @access; set the
 * accessed bits on the way and the dirty bit of the leaf on a write.
 * Returns the host physical address, -ENOENT (not present) or -EACCES.
 */
static s64 vmmu_walk(struct vmmu_vm *vm, u64 gpa, u32 access)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_pt *pt = vm->root;
	u64 gfn = gpa >> PAGE_SHIFT;
	int level;

	lockdep_assert_held_read(&vm->mmu_lock);

	for (level = VMMU_PT_LEVELS; ; level--) {
		u64 *ep = &pt->entries[pt_index(gfn, level)];
		u64 e = READ_ONCE(*ep), want;
		bool leaf;

		if (!tdp_present(fmt, e))
			return -ENOENT;
		/* EPT fetches need only X; NPT needs P and US for anything. */
		if ((access & VMMU_ACCESS_FETCH) ? !tdp_exec(fmt, e) ||
		    (fmt->nx && (e & fmt->readable) != fmt->readable) :
		    (e & fmt->readable) != fmt->readable)
			return -EACCES;
		if ((access & VMMU_ACCESS_WRITE) && !(e & fmt->writable))
			return -EACCES;
		leaf = tdp_leaf(fmt, e, level);
		want = fmt->accessed |
		       (leaf && (access & VMMU_ACCESS_WRITE) ? fmt->dirty : 0);
		/* Only A/D bits change under the read lock, always atomically. */
		while ((e & want) != want && !try_cmpxchg64(ep, &e, e | want))
			;
		if (leaf) {
			u64 size = level_pages(level) << PAGE_SHIFT;

			return (e & PT_PFN_MASK & ~(size - 1)) | (gpa & (size - 1));
		}
		pt = tdp_table(e);
	}
}

/* Copy @len bytes at @gpa, all within one page, to or from @buf. */
static int vmmu_access_page(struct vmmu_vm *vm, u64 gpa, void *buf,
			    unsigned int len, u32 access)
{
	int level, r;
	s64 hpa;

	for (;;) {
		read_lock(&vm->mmu_lock);
		hpa = vmmu_walk(vm, gpa, access);
		if (hpa >= 0) {
			struct page *page = pfn_to_page(hpa >> PAGE_SHIFT);
			void *va = kmap_local_page(page) + offset_in_page(hpa);

			/* mmu_lock keeps the page from being unmapped meanwhile. */
			if (access & VMMU_ACCESS_WRITE)
				memcpy(va, buf, len);
			else
				memcpy(buf, va, len);
			kunmap_local(va);
			read_unlock(&vm->mmu_lock);
			return 0;
		}
		read_unlock(&vm->mmu_lock);

		r = vmmu_page_fault(vm, gpa, access & VMMU_ACCESS_WRITE, false,
				    &level);
		if (r)
			return r;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
}

long vmmu_ioctl_access(struct vmmu_vm *vm, void __user *argp)
{
	const u32 valid = VMMU_ACCESS_WRITE | VMMU_ACCESS_FETCH;
	void __user *ubuf;
	struct vmmu_access a;
	void *bounce;
	u64 gpa = 0;
	long r = 0;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if ((a.flags & ~valid) || a.flags == valid ||
	    memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (a.len && (a.guest_phys_addr + a.len < a.guest_phys_addr ||
		      a.guest_phys_addr + a.len > BIT_ULL(VMMU_MAX_GPA_BITS)))
		return -EINVAL;
	ubuf = u64_to_user_ptr(a.buf);
	bounce = kmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!bounce)
		return -ENOMEM;

	a.done = 0;
	a.exit = VMMU_ACCESS_EXIT_NONE;
	while (a.done < a.len) {
		unsigned int chunk;

		gpa = a.guest_phys_addr + a.done;
		chunk = min_t(u64, a.len - a.done, PAGE_SIZE - offset_in_page(gpa));
		if ((a.flags & VMMU_ACCESS_WRITE) &&
		    copy_from_user(bounce, ubuf + a.done, chunk)) {
			r = -EFAULT;
			break;
		}
		r = vmmu_access_page(vm, gpa, bounce, chunk, a.flags);
		if (r > 0) {
			a.exit = r;
			r = 0;
			break;
		}
		if (r)
			break;
		if (!(a.flags & VMMU_ACCESS_WRITE) &&
		    copy_to_user(ubuf + a.done, bounce, chunk)) {
			r = -EFAULT;
			break;
		}
		a.done += chunk;
		if (fatal_signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree(bounce);
	a.exit_gpa = a.exit ? gpa : 0;
	if (copy_to_user(argp, &a, sizeof(a)))
		return -EFAULT;
	return r;
}

long vmmu_ioctl_prefault(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_prefault p;
	bool mapped = false;
	long r = 0;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if ((p.flags & ~VMMU_PREFAULT_WRITE) || p.reserved0 ||
	    memchr_inv(p.reserved, 0, sizeof(p.reserved)) ||
	    !PAGE_ALIGNED(p.guest_phys_addr) || !PAGE_ALIGNED(p.size) ||
	    p.guest_phys_addr + p.size < p.guest_phys_addr ||
	    p.guest_phys_addr + p.size > BIT_ULL(VMMU_MAX_GPA_BITS))
		return -EINVAL;

	while (p.size) {
		u64 size, len;
		int level;

		r = vmmu_page_fault(vm, p.guest_phys_addr,
				    p.flags & VMMU_PREFAULT_WRITE, true, &level);
		if (r)
			break;
		size = level_pages(level) << PAGE_SHIFT;
		len = min(p.size, size - (p.guest_phys_addr & (size - 1)));
		p.guest_phys_addr += len;
		p.size -= len;
		mapped = true;
		if (fatal_signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}
	if (copy_to_user(argp, &p, sizeof(p)))
		return -EFAULT;
	/* Progress is reported in the struct; an error only if none. */
	if (r > 0)
		r = r == VMMU_ACCESS_EXIT_MMIO ? -ENOENT : -EFAULT;
	return mapped ? 0 : r;
}

long vmmu_ioctl_translate(struct vmmu_vm *vm, void __user *argp,
			  bool privileged)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_translation t;
	struct vmmu_pt *pt;
	int level;

	if (copy_from_user(&t, argp, sizeof(t)))
		return -EFAULT;
	if (memchr_inv(t.reserved, 0, sizeof(t.reserved)))
		return -EINVAL;
	t.host_phys_addr = 0;
	t.entry = 0;
	t.flags = 0;
	t.level = 0;

	/* Lockless, as a CPU walks: tables are freed only after RCU. */
	rcu_read_lock();
	pt = vm->root;
	for (level = VMMU_PT_LEVELS; level; level--) {
		u64 e = READ_ONCE(pt->entries[pt_index(t.guest_phys_addr >> PAGE_SHIFT,
							level)]);
		u64 size = level_pages(level) << PAGE_SHIFT;

		if (!tdp_present(fmt, e) || t.guest_phys_addr >> VMMU_MAX_GPA_BITS)
			break;
		if (!tdp_leaf(fmt, e, level)) {
			pt = tdp_table(e);
			continue;
		}
		t.level = level;
		t.entry = e & ~PT_PFN_MASK;
		t.flags = VMMU_TRANSLATE_MAPPED |
			  ((e & fmt->readable) == fmt->readable ? VMMU_TRANSLATE_READ : 0) |
			  (e & fmt->writable ? VMMU_TRANSLATE_WRITE : 0) |
			  (tdp_exec(fmt, e) ? VMMU_TRANSLATE_EXEC : 0) |
			  (e & fmt->accessed ? VMMU_TRANSLATE_ACCESSED : 0) |
			  (e & fmt->dirty ? VMMU_TRANSLATE_DIRTY : 0);
		if (privileged)
			t.host_phys_addr = (e & PT_PFN_MASK & ~(size - 1)) |
					   (t.guest_phys_addr & (size - 1));
		break;
	}
	rcu_read_unlock();

	return copy_to_user(argp, &t, sizeof(t)) ? -EFAULT : 0;
}

static bool vmmu_wrprot_leaf(struct vmmu_vm *vm, u64 *ep, u64 e, int level,
			     bool unused)
{
	if (level > 1) {
		/*
		 * Logging slots map only 4 KiB leaves (switching logging on
		 * zaps the slot); should one be large, it must refault.
		 */
		vmmu_zap_leaf(vm, ep, e);
		return true;
	}
	if (!(e & vm->fmt->writable))
		return false;
	WRITE_ONCE(*ep, e & ~vm->fmt->writable);
	return true;
}

static void vmmu_wrprot_gfns(struct vmmu_vm *vm, u64 start, u64 end)
{
	const struct vmmu_leaf_walk walk = { .fn = vmmu_wrprot_leaf };

	lockdep_assert_held_write(&vm->mmu_lock);
	if (vmmu_walk_leaves(vm, vm->root, 0, start, end, &walk))
		vmmu_mmu_flush_tlbs(vm);
}

/*
 * Reset the bits of @mask (the slot's bitmap word @word) and write-protect
 * their pages, so that the next write to each faults and is logged again.
 * Faults set bits with mmu_lock held for write, so no bit is lost.  The
 * whole word's 64 pages are write-protected in one walk: a page of it
 * whose bit stays set is writable only if logged, and a logged write
 * faulting once more costs nothing but the fault.
 */
static void vmmu_dirty_reset(struct vmmu_vm *vm, struct vmmu_memory_slot *slot,
			     u64 word, unsigned long mask)
{
	u64 gfn = slot->base_gfn + word * BITS_PER_LONG;

	lockdep_assert_held_write(&vm->mmu_lock);
	slot->dirty_bitmap[word] &= ~mask;
	vmmu_wrprot_gfns(vm, gfn, min(gfn + BITS_PER_LONG,
				      slot->base_gfn + slot->npages));
}

long vmmu_ioctl_dirty_log(struct vmmu_vm *vm, void __user *argp, bool get)
{
	struct vmmu_memory_slot *slot;
	struct vmmu_dirty_log log;
	unsigned long *bits;
	u64 first, nr, words, i;
	long r = 0;

	if (copy_from_user(&log, argp, sizeof(log)))
		return -EFAULT;
	if (log.flags || memchr_inv(log.reserved, 0, sizeof(log.reserved)) ||
	    (get && (log.first_page || log.num_pages)) ||
	    (!get && log.first_page % BITS_PER_LONG))
		return -EINVAL;
	if (mutex_lock_killable(&vm->slots_lock))
		return -EINTR;

	slot = vmmu_id_to_memslot(vmmu_memslots(vm), log.slot);
	if (!slot || !slot->dirty_bitmap) {
		r = -ENOENT;
		goto out_unlock;
	}
	first = get ? 0 : log.first_page;
	nr = get ? slot->npages : log.num_pages;
	if (first > slot->npages || nr > slot->npages - first) {
		r = -EINVAL;
		goto out_unlock;
	}
	words = BITS_TO_LONGS(nr);
	bits = kvcalloc(max_t(u64, words, 1), sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!bits) {
		r = -ENOMEM;
		goto out_unlock;
	}
	if (!get && copy_from_user(bits, u64_to_user_ptr(log.bitmap),
				   words * sizeof(long))) {
		r = -EFAULT;
		goto out_free;
	}
	if (!get && nr % BITS_PER_LONG)
		bits[words - 1] &= BITMAP_LAST_WORD_MASK(nr);

	write_lock(&vm->mmu_lock);
	for (i = 0; i < words; i++) {
		u64 word = first / BITS_PER_LONG + i;
		unsigned long mask = get ? slot->dirty_bitmap[word] :
				     bits[i] & slot->dirty_bitmap[word];

		if (get)
			bits[i] = mask;
		if (mask)
			vmmu_dirty_reset(vm, slot, word, mask);
		/* Each word is done whole: others may have the lock between. */
		cond_resched_rwlock_write(&vm->mmu_lock);
	}
	write_unlock(&vm->mmu_lock);

	if (get && copy_to_user(u64_to_user_ptr(log.bitmap), bits,
				words * sizeof(long))) {
		/* Nothing is lost: the bits go back for the next call. */
		write_lock(&vm->mmu_lock);
		for (i = 0; i < words; i++)
			slot->dirty_bitmap[i] |= bits[i];
		write_unlock(&vm->mmu_lock);
		r = -EFAULT;
	}
out_free:
	kvfree(bits);
out_unlock:
	mutex_unlock(&vm->slots_lock);
	return r;
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
