// SPDX-License-Identifier: GPL-2.0-only
/*
 * The MMU notifier, and the memslot-publication half of its protocol.
 *
 * An invalidation whose host range meets no memslot does not take the MMU
 * lock (unless the VM was created with VMMU_VM_MN_NO_LOCK_ELISION).  The
 * lock, when taken, is where start() raises mmu_invalidate_in_progress and
 * end() lowers it again, so start() and end() of one invalidation must
 * reach the same verdict: they must see the same memslots.  A memslot
 * update therefore publishes its new set only while no invalidation is
 * between start() and end(): mn_active_invalidate_count, raised first
 * thing in start() and lowered last thing in end(), is a readers count that
 * the update waits on.
 *
 * The wait is not fair: new invalidations keep starting while an update
 * waits, so a steady stream of them can hold it off indefinitely.  A fair
 * lock (an rwsem) deadlocks instead: start() would wait behind the waiting
 * updater while holding the mmu_notifier_invalidate_range_start lockdep
 * map, and the updater waits for an end() that needs that map.  An update
 * waits killably; a killed one publishes nothing.
 *
 * VMs created with VMMU_VM_MEMSLOT_BOUNDED_WAIT bound that wait instead.
 * end() does not recompute start()'s verdict: start() leaves it in a
 * record keyed by the range pointer both receive.  Each invalidation is
 * counted in one of two phases; an update flips the phase and waits only
 * for the old one to drain, so invalidations that begin after it asked
 * never delay it.  Those that begin while it waits may still be in flight
 * when it publishes, so they take the MMU lock whatever the memslots, and
 * hold faults off their host range until end().  An invalidation that
 * finds no free record follows the seed's rule, and the update waits for
 * all of those.  docs/locking.md argues why this keeps start() and end()
 * paired and cannot deadlock.
 */
#include <linux/delay.h>
#include <linux/hash.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>

#include "vmmu.h"
#include "trace.h"

unsigned int vmmu_mn_inject_delay_ms;
module_param_named(mn_inject_delay_ms, vmmu_mn_inject_delay_ms, uint, 0644);
MODULE_PARM_DESC(mn_inject_delay_ms,
		 "Testing only: sleep this long in every blockable invalidate_range_start() and _end() of every VM (default 0: off)");

static struct vmmu_vm *mn_to_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct vmmu_vm, mmu_notifier);
}

static void vmmu_mn_inject_delay(const struct mmu_notifier_range *range)
{
	unsigned int ms = READ_ONCE(vmmu_mn_inject_delay_ms);

	if (ms && mmu_notifier_range_blockable(range))
		msleep(ms);
}

/* Faults in [start, end) must retry until the matching invalidate_end(). */
static void vmmu_invalidate_begin(struct vmmu_vm *vm, unsigned long start,
				  unsigned long end)
{
	lockdep_assert_held_write(&vm->mmu_lock);

	if (!vm->mmu_invalidate_in_progress++) {
		vm->mmu_invalidate_range_start = start;
		vm->mmu_invalidate_range_end = end;
	} else {
		/* Several in progress: retry on the union of their ranges. */
		vm->mmu_invalidate_range_start =
			min(vm->mmu_invalidate_range_start, start);
		vm->mmu_invalidate_range_end =
			max(vm->mmu_invalidate_range_end, end);
	}
}

static void vmmu_invalidate_end(struct vmmu_vm *vm)
{
	lockdep_assert_held_write(&vm->mmu_lock);

	/* A fault that sampled the sequence before this one must retry. */
	vm->mmu_invalidate_seq++;
	vm->mmu_invalidate_in_progress--;
	WARN_ON_ONCE(vm->mmu_invalidate_in_progress < 0);
}

/*
 * The work of one invalidation callback: its host range, and what to do
 * with the MMU lock held if the range meets a memslot.
 */
struct vmmu_hva_range {
	unsigned long start;
	unsigned long end;
	bool may_block;
	void (*on_lock)(struct vmmu_vm *vm, struct vmmu_memslots *slots,
			const struct vmmu_hva_range *range);
};

/* start(): faults into the range retry; what the range maps goes. */
static void vmmu_mn_begin_locked(struct vmmu_vm *vm,
				 struct vmmu_memslots *slots,
				 const struct vmmu_hva_range *range)
{
	struct vmmu_memory_slot *slot;
	bool flush = false;

	vmmu_invalidate_begin(vm, range->start, range->end);
	for (slot = vmmu_hva_range_first(slots, range->start, range->end); slot;
	     slot = vmmu_hva_range_next(slots, slot, range->start, range->end)) {
		struct vmmu_gfn_range gfns = { .may_block = range->may_block };

		vmmu_memslot_hva_to_gfns(slot, range->start, range->end,
					 &gfns.start, &gfns.end);
		flush |= vmmu_mmu_unmap_gfn_range(vm, &gfns);
	}
	if (flush)
		vmmu_mmu_flush_tlbs(vm);
}

static void vmmu_mn_end_locked(struct vmmu_vm *vm, struct vmmu_memslots *slots,
			       const struct vmmu_hva_range *range)
{
	vmmu_invalidate_end(vm);
}

/*
 * The part shared by start() and end(): under SRCU, look for a memslot that
 * the host range meets, and only if there is one (or elision is off, or
 * @force) take the MMU lock and do @range->on_lock.  Returns whether the
 * lock was taken.
 */
static bool vmmu_mn_handle_hva_range(struct vmmu_vm *vm,
				     const struct vmmu_hva_range *range,
				     bool force)
{
	struct vmmu_memslots *slots;
	bool lock;
	int idx;

	idx = srcu_read_lock(&vm->srcu);
	slots = vmmu_memslots(vm);
	lock = force || (vm->flags & VMMU_VM_MN_NO_LOCK_ELISION) ||
	       vmmu_hva_range_first(slots, range->start, range->end);
	if (lock) {
		vmmu_mmu_write_lock(vm);
		/*
		 * A forced start() may race with a publication: a fault that
		 * held the lock before us may have used the new set.
		 */
		slots = vmmu_memslots(vm);
		range->on_lock(vm, slots, range);
		vmmu_mmu_write_unlock(vm);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return lock;
}

static bool vmmu_mn_bounded(struct vmmu_vm *vm)
{
	return vm->flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT;
}

/*
 * The record of @key (NULL: a free one), searched from the pointer's
 * hash: with few invalidations in flight, the first slot tried.
 */
static struct vmmu_mn_record *
vmmu_mn_record_probe(struct vmmu_vm *vm, const struct mmu_notifier_range *key)
{
	u32 h = hash_ptr(key, VMMU_MN_RECORDS_SHIFT), i;

	lockdep_assert_held(&vm->mn_invalidate_lock);

	for (i = 0; i < VMMU_MN_RECORDS; i++) {
		struct vmmu_mn_record *rec =
			&vm->mn_records[(h + i) % VMMU_MN_RECORDS];

		if (rec->range == key)
			return rec;
	}
	return NULL;
}

/*
 * start(): count the invalidation in the current phase with a record, or
 * as unrecorded.  Returns the record, and in @conservative whether an
 * update is waiting to publish.
 */
static struct vmmu_mn_record *
vmmu_mn_record_start(struct vmmu_vm *vm, const struct mmu_notifier_range *range,
		     bool *conservative)
{
	struct vmmu_mn_record *rec;

	lockdep_assert_held(&vm->mn_invalidate_lock);

	*conservative = false;
	rec = vmmu_mn_record_probe(vm, NULL);
	if (!rec) {
		vm->mn_unrecorded++;
		return NULL;
	}
	rec->range = range;
	rec->phase = vm->mn_phase;
	rec->locked = false;
	vm->mn_phase_count[rec->phase]++;
	*conservative = vm->mn_update_pending;
	return rec;
}

static int vmmu_mn_invalidate_range_start(struct mmu_notifier *mn,
					  const struct mmu_notifier_range *range)
{
	bool blockable = mmu_notifier_range_blockable(range);
	const struct vmmu_hva_range hva_range = {
		.start = range->start,
		.end = range->end,
		.may_block = blockable,
		.on_lock = vmmu_mn_begin_locked,
	};
	struct vmmu_vm *vm = mn_to_vm(mn);
	struct vmmu_mn_record *rec = NULL;
	bool locked, conservative = false;

	/* Holds memslot publication off until the matching end(). */
	spin_lock(&vm->mn_invalidate_lock);
	vm->mn_active_invalidate_count++;
	if (vmmu_mn_bounded(vm))
		rec = vmmu_mn_record_start(vm, range, &conservative);
	spin_unlock(&vm->mn_invalidate_lock);

	locked = vmmu_mn_handle_hva_range(vm, &hva_range, conservative);
	/* Only this invalidation's end() reads it, on this task. */
	if (rec)
		rec->locked = locked;
	/* After the verdict: the window before the host's own change. */
	vmmu_mn_inject_delay(range);

	this_cpu_inc(vm->pcpu_stats->invalidations);
	if (locked)
		this_cpu_inc(vm->pcpu_stats->locked);
	else
		this_cpu_inc(vm->pcpu_stats->elided);
	if (conservative)
		this_cpu_inc(vm->pcpu_stats->conservative);
	if (vmmu_mn_bounded(vm) && !rec)
		this_cpu_inc(vm->pcpu_stats->unrecorded);
	if (!blockable)
		this_cpu_inc(vm->pcpu_stats->nonblock);
	trace_vmmu_invalidate_range_start(vm->id, range->start, range->end,
					  locked, blockable);
	return 0;
}

static void vmmu_mn_invalidate_range_end(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	bool blockable = mmu_notifier_range_blockable(range);
	const struct vmmu_hva_range hva_range = {
		.start = range->start,
		.end = range->end,
		.may_block = blockable,
		.on_lock = vmmu_mn_end_locked,
	};
	struct vmmu_vm *vm = mn_to_vm(mn);
	struct vmmu_mn_record *rec = NULL;
	bool locked, wake;

	if (vmmu_mn_bounded(vm)) {
		spin_lock(&vm->mn_invalidate_lock);
		rec = vmmu_mn_record_probe(vm, range);
		spin_unlock(&vm->mn_invalidate_lock);
	}
	if (rec) {
		/* What start() did, whatever the memslots are now. */
		locked = rec->locked;
		if (locked) {
			vmmu_mmu_write_lock(vm);
			vmmu_invalidate_end(vm);
			vmmu_mmu_write_unlock(vm);
		}
	} else {
		/* No update published since start(): the same verdict. */
		locked = vmmu_mn_handle_hva_range(vm, &hva_range, false);
	}
	vmmu_mn_inject_delay(range);

	spin_lock(&vm->mn_invalidate_lock);
	if (!WARN_ON_ONCE(!vm->mn_active_invalidate_count))
		vm->mn_active_invalidate_count--;
	wake = !vm->mn_active_invalidate_count;
	if (rec) {
		wake |= !--vm->mn_phase_count[rec->phase];
		rec->range = NULL;
	} else if (vmmu_mn_bounded(vm)) {
		wake |= !--vm->mn_unrecorded;
	}
	spin_unlock(&vm->mn_invalidate_lock);

	/* A memslot update may be waiting for the last one to end. */
	if (wake)
		rcuwait_wake_up(&vm->mn_memslots_update_rcuwait);
	trace_vmmu_invalidate_range_end(vm->id, range->start, range->end,
					locked, blockable);
}

#ifdef VMMU_HAVE_MN_CHANGE_PTE
/*
 * Kernels before 6.10 call change_pte() to move a host pte to a new page
 * (COW break, KSM), always between invalidate_range_start() and _end().
 * start() has already unmapped the address, and a fault there retries until
 * end(), which makes the next fault pick up the new page: nothing to do
 * but check that the bracket holds.
 */
static void vmmu_mn_change_pte(struct mmu_notifier *mn, struct mm_struct *mm,
			       unsigned long address, pte_t pte)
{
	struct vmmu_vm *vm = mn_to_vm(mn);

	WARN_ON_ONCE(!READ_ONCE(vm->mn_active_invalidate_count));
	this_cpu_inc(vm->pcpu_stats->change_pte);
}
#endif

/*
 * Page aging: were the host pages of [start, end) accessed through the
 * VM's page tables since the last clear?  Like invalidations, ranges that
 * meet no memslot take no lock.
 */
static bool vmmu_mn_age(struct vmmu_vm *vm, unsigned long start,
			unsigned long end,
			bool (*age)(struct vmmu_vm *vm,
				    const struct vmmu_gfn_range *range))
{
	struct vmmu_memory_slot *slot;
	struct vmmu_memslots *slots;
	bool young = false;
	int idx;

	idx = srcu_read_lock(&vm->srcu);
	slots = vmmu_memslots(vm);
	for (slot = vmmu_hva_range_first(slots, start, end); slot;
	     slot = vmmu_hva_range_next(slots, slot, start, end)) {
		struct vmmu_gfn_range gfns = { .may_block = false };

		vmmu_memslot_hva_to_gfns(slot, start, end, &gfns.start,
					 &gfns.end);
		read_lock(&vm->mmu_lock);
		young |= age(vm, &gfns);
		read_unlock(&vm->mmu_lock);
	}
	srcu_read_unlock(&vm->srcu, idx);
	return young;
}

/*
 * Clearing A without flushing the vCPUs' TLBs, as KVM does on x86: a CPU
 * that still caches the translation does not set A again, so the page
 * may look idle too early; if reclaim then takes it, the invalidation
 * zaps and flushes, so only aging precision is at stake.
 */
static vmmu_mn_young_t vmmu_mn_clear_flush_young(struct mmu_notifier *mn,
						 struct mm_struct *mm,
						 unsigned long start,
						 unsigned long end)
{
	return vmmu_mn_age(mn_to_vm(mn), start, end, vmmu_mmu_age_gfn_range);
}

static vmmu_mn_young_t vmmu_mn_clear_young(struct mmu_notifier *mn,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end)
{
	return vmmu_mn_age(mn_to_vm(mn), start, end, vmmu_mmu_age_gfn_range);
}

static vmmu_mn_young_t vmmu_mn_test_young(struct mmu_notifier *mn,
					  struct mm_struct *mm,
					  unsigned long address)
{
	return vmmu_mn_age(mn_to_vm(mn), address, address + 1,
			   vmmu_mmu_test_age_gfn_range);
}

/* The mm is being torn down: nothing it maps may stay mapped. */
static void vmmu_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct vmmu_vm *vm = mn_to_vm(mn);
	int idx;

	WRITE_ONCE(vm->mm_released, true);
	idx = srcu_read_lock(&vm->srcu);
	vmmu_mmu_zap_all(vm);
	srcu_read_unlock(&vm->srcu, idx);
}

static const struct mmu_notifier_ops vmmu_mmu_notifier_ops = {
	.invalidate_range_start	= vmmu_mn_invalidate_range_start,
	.invalidate_range_end	= vmmu_mn_invalidate_range_end,
	.clear_flush_young	= vmmu_mn_clear_flush_young,
	.clear_young		= vmmu_mn_clear_young,
	.test_young		= vmmu_mn_test_young,
#ifdef VMMU_HAVE_MN_CHANGE_PTE
	.change_pte		= vmmu_mn_change_pte,
#endif
	.release		= vmmu_mn_release,
};

int vmmu_mmu_notifier_register(struct vmmu_vm *vm)
{
	vm->mmu_notifier.ops = &vmmu_mmu_notifier_ops;
	return mmu_notifier_register(&vm->mmu_notifier, vm->mm);
}

void vmmu_mmu_notifier_unregister(struct vmmu_vm *vm)
{
	mmu_notifier_unregister(&vm->mmu_notifier, vm->mm);
}

/*
 * Sleep, with mn_invalidate_lock dropped, until @done(vm) holds or the
 * caller gets a fatal signal (-EINTR).
 */
static int vmmu_mn_wait(struct vmmu_vm *vm, bool (*done)(struct vmmu_vm *vm),
			u64 *start)
{
	lockdep_assert_held(&vm->mn_invalidate_lock);

	while (!done(vm)) {
		if (!*start)
			*start = ktime_get_ns();
		if (fatal_signal_pending(current))
			return -EINTR;
		set_current_state(TASK_KILLABLE);
		spin_unlock(&vm->mn_invalidate_lock);
		schedule();
		spin_lock(&vm->mn_invalidate_lock);
	}
	return 0;
}

/* The seed's condition: no invalidation at all between start() and end(). */
static bool vmmu_mn_none_in_flight(struct vmmu_vm *vm)
{
	return !vm->mn_active_invalidate_count;
}

/* The phase about to be reused holds only invalidations older than us. */
static bool vmmu_mn_next_phase_drained(struct vmmu_vm *vm)
{
	return !vm->mn_phase_count[vm->mn_phase ^ 1];
}

/* Those counted before the flip, and any that follow the seed's rule. */
static bool vmmu_mn_old_phase_drained(struct vmmu_vm *vm)
{
	return !vm->mn_phase_count[vm->mn_phase ^ 1] && !vm->mn_unrecorded;
}

/*
 * Make @slots the active memslot set, once no invalidation is in flight
 * (the seed's policy) or once those in flight when we asked have ended
 * (VMMU_VM_MEMSLOT_BOUNDED_WAIT).  Sets @wait_ns to the time spent
 * waiting; returns -EINTR, and publishes nothing, if the caller was
 * killed meanwhile.
 */
int vmmu_wait_and_publish_memslots(struct vmmu_vm *vm,
				   struct vmmu_memslots *slots, u64 *wait_ns)
{
	u64 start = 0;
	int r;

	lockdep_assert_held(&vm->slots_lock);

	spin_lock(&vm->mn_invalidate_lock);
	prepare_to_rcuwait(&vm->mn_memslots_update_rcuwait);
	if (!vmmu_mn_bounded(vm)) {
		r = vmmu_mn_wait(vm, vmmu_mn_none_in_flight, &start);
	} else {
		/* Left over only if an earlier update was killed waiting. */
		r = vmmu_mn_wait(vm, vmmu_mn_next_phase_drained, &start);
		if (!r) {
			vm->mn_phase ^= 1;
			vm->mn_update_pending = true;
			r = vmmu_mn_wait(vm, vmmu_mn_old_phase_drained, &start);
			vm->mn_update_pending = false;
		}
	}
	finish_rcuwait(&vm->mn_memslots_update_rcuwait);
	if (!r)
		rcu_assign_pointer(vm->memslots, slots);
	spin_unlock(&vm->mn_invalidate_lock);

	*wait_ns = start ? ktime_get_ns() - start : 0;
	return r;
}
