// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dirty logging by write protection: a slot with VMMU_MEM_LOG_DIRTY_PAGES
 * maps 4 KiB leaves, writable only after a guest write fault, which sets
 * the page's bit (fault.c).  VMMU_GET_DIRTY_LOG and VMMU_CLEAR_DIRTY_LOG
 * reset bits and write-protect their pages again, so that the next write
 * to each faults and is logged.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mmu_internal.h"

enum vmmu_dirty_log_op {
	VMMU_DIRTY_LOG_GET,	/* copy the bitmap out and reset it */
	VMMU_DIRTY_LOG_CLEAR,	/* reset the bits user space names */
};

/* Write-protect the leaves of [start, end); returns whether any changed. */
static bool vmmu_wrprot_range(struct vmmu_vm *vm, u64 start, u64 end)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_pt_iter it;
	bool changed = false;

	lockdep_assert_held_write(&vm->mmu_lock);

	for (pt_iter_start(&it, vm, start, end, 1); it.valid;
	     pt_iter_next(&it)) {
		if (!tdp_present(fmt, it.old) ||
		    !tdp_leaf(fmt, it.old, it.level))
			continue;
		if (it.level > 1) {
			/*
			 * Logging slots map only 4 KiB leaves (switching logging
			 * on zaps the slot); should one be large, it must refault.
			 */
			vmmu_zap_leaf(vm, it.ep);
		} else if (it.old & fmt->writable) {
			/* Atomically: a vCPU may set D meanwhile. */
			while (!try_cmpxchg64(it.ep, &it.old,
					      it.old & ~fmt->writable))
				;
		} else {
			continue;
		}
		pt_iter_refresh(&it);
		changed = true;
	}
	return changed;
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
	if (vmmu_wrprot_range(vm, gfn, min(gfn + BITS_PER_LONG,
					   slot->base_gfn + slot->npages)))
		vmmu_mmu_flush_tlbs(vm);
}

/*
 * Reset the words [first_word, first_word + words) of @slot's bitmap, the
 * bits of @bits in each (GET: all of them, returned in @bits).  Each word
 * is done whole under mmu_lock; others may have the lock between words.
 */
static void vmmu_dirty_reset_words(struct vmmu_vm *vm,
				   struct vmmu_memory_slot *slot,
				   u64 first_word, u64 words,
				   unsigned long *bits,
				   enum vmmu_dirty_log_op op)
{
	u64 i;

	/* slots_lock keeps the slot and its bitmap alive. */
	lockdep_assert_held(&vm->slots_lock);

	vmmu_mmu_write_lock(vm);
	for (i = 0; i < words; i++) {
		u64 word = first_word + i;
		unsigned long mask = slot->dirty_bitmap[word];

		if (op == VMMU_DIRTY_LOG_GET)
			bits[i] = mask;
		else
			mask &= bits[i];
		if (mask)
			vmmu_dirty_reset(vm, slot, word, mask);
		if (need_resched() || rwlock_needbreak(&vm->mmu_lock))
			vmmu_mmu_yield(vm);
	}
	vmmu_mmu_write_unlock(vm);
}

static long vmmu_dirty_log(struct vmmu_vm *vm, void __user *argp,
			   enum vmmu_dirty_log_op op)
{
	bool get = op == VMMU_DIRTY_LOG_GET;
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
	/* Keeps the slot and its bitmap from going away meanwhile. */
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

	vmmu_dirty_reset_words(vm, slot, first / BITS_PER_LONG, words, bits, op);

	if (get && copy_to_user(u64_to_user_ptr(log.bitmap), bits,
				words * sizeof(long))) {
		/* Nothing is lost: the bits go back for the next call. */
		vmmu_mmu_write_lock(vm);
		for (i = 0; i < words; i++)
			slot->dirty_bitmap[i] |= bits[i];
		vmmu_mmu_write_unlock(vm);
		r = -EFAULT;
	}
out_free:
	kvfree(bits);
out_unlock:
	mutex_unlock(&vm->slots_lock);
	return r;
}

long vmmu_ioctl_get_dirty_log(struct vmmu_vm *vm, void __user *argp)
{
	return vmmu_dirty_log(vm, argp, VMMU_DIRTY_LOG_GET);
}

long vmmu_ioctl_clear_dirty_log(struct vmmu_vm *vm, void __user *argp)
{
	return vmmu_dirty_log(vm, argp, VMMU_DIRTY_LOG_CLEAR);
}
