// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memslots: guest-physical ranges backed by the VM owner's memory.
 *
 * A VM has two memslot sets.  One is active (vm->memslots, read under
 * vm->srcu); the other is the updater's working copy.  At rest both hold the
 * same slots: each slot object is linked into both, through one set of tree
 * nodes per set, so that an update costs O(log n) per changed slot however
 * many slots exist.  An update, under slots_lock:
 *
 *  1. applies every requested change to the inactive set, each validated
 *     against the result of those before it; a refusal undoes them all, so
 *     a batch is all or nothing;
 *  2. marks the published slots it deletes, moves or changes the flags of
 *     invalid (readers retry on them), waits for SRCU readers, and zaps
 *     their mappings; they stay in the active hva tree, so invalidations of
 *     their host range still take the MMU lock until the new set is out;
 *  3. publishes the inactive set in one pointer swap, once no MMU-notifier
 *     invalidation is in flight (mmu_notifier.c), and waits for SRCU
 *     readers of the old set;
 *  4. replays the changes into the old set, which no reader sees any more,
 *     and frees the slots that have left both.
 *
 * A reader therefore sees the memslots either before or after an update,
 * never a state in between: a slot split by a batch never shows a hole.
 */
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "vmmu.h"
#include "trace.h"

struct vmmu_memslot_change {
	enum vmmu_memslot_op op;
	struct vmmu_memory_slot *old;	/* NULL when creating */
	struct vmmu_memory_slot *new;	/* NULL when deleting */
};

#define slot_of(node, field, idx) \
	rb_entry(node, struct vmmu_memory_slot, field[idx])

void vmmu_memslots_init(struct vmmu_vm *vm)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vm->memslot_sets); i++) {
		struct vmmu_memslots *slots = &vm->memslot_sets[i];

		slots->gfn_tree = RB_ROOT;
		slots->id_tree = RB_ROOT;
		slots->hva_tree = RB_ROOT_CACHED;
		slots->node_idx = i;
	}
	RCU_INIT_POINTER(vm->memslots, &vm->memslot_sets[0]);
}

static void memslot_free(struct vmmu_memory_slot *slot)
{
	if (slot)
		kvfree(slot->dirty_bitmap);
	kfree(slot);
}

/* Only when the VM is being freed: no reader, no notifier, no update. */
void vmmu_memslots_free(struct vmmu_vm *vm)
{
	struct vmmu_memslots *slots = rcu_dereference_protected(vm->memslots, 1);
	struct vmmu_memory_slot *slot, *next;
	int idx = slots->node_idx;

	/* Both sets hold the same slots once an update has completed. */
	rbtree_postorder_for_each_entry_safe(slot, next, &slots->id_tree,
					     id_node[idx])
		memslot_free(slot);
}

struct vmmu_memory_slot *vmmu_gfn_to_memslot(struct vmmu_memslots *slots, u64 gfn)
{
	struct rb_node *node = slots->gfn_tree.rb_node;
	int idx = slots->node_idx;

	while (node) {
		struct vmmu_memory_slot *slot = slot_of(node, gfn_node, idx);

		if (gfn < slot->base_gfn)
			node = node->rb_left;
		else if (gfn >= slot->base_gfn + slot->npages)
			node = node->rb_right;
		else
			return slot;
	}
	return NULL;
}

struct vmmu_memory_slot *vmmu_id_to_memslot(struct vmmu_memslots *slots, u32 id)
{
	struct rb_node *node = slots->id_tree.rb_node;
	int idx = slots->node_idx;

	while (node) {
		struct vmmu_memory_slot *slot = slot_of(node, id_node, idx);

		if (id < slot->id)
			node = node->rb_left;
		else if (id > slot->id)
			node = node->rb_right;
		else
			return slot;
	}
	return NULL;
}

/* Does any slot of @slots meet the gfns [start, end)?  Slots never overlap. */
static bool memslot_overlaps(struct vmmu_memslots *slots, u64 start, u64 end)
{
	struct rb_node *node = slots->gfn_tree.rb_node;
	int idx = slots->node_idx;

	while (node) {
		struct vmmu_memory_slot *slot = slot_of(node, gfn_node, idx);

		if (end <= slot->base_gfn)
			node = node->rb_left;
		else if (start >= slot->base_gfn + slot->npages)
			node = node->rb_right;
		else
			return true;
	}
	return false;
}

static struct vmmu_memory_slot *hva_node_to_slot(struct vmmu_memslots *slots,
						 struct interval_tree_node *node)
{
	return node ? container_of(node, struct vmmu_memory_slot,
				   hva_node[slots->node_idx]) : NULL;
}

struct vmmu_memory_slot *vmmu_hva_range_first(struct vmmu_memslots *slots,
					      unsigned long start,
					      unsigned long end)
{
	return hva_node_to_slot(slots, interval_tree_iter_first(&slots->hva_tree,
								start, end - 1));
}

struct vmmu_memory_slot *vmmu_hva_range_next(struct vmmu_memslots *slots,
					     struct vmmu_memory_slot *slot,
					     unsigned long start,
					     unsigned long end)
{
	return hva_node_to_slot(slots,
				interval_tree_iter_next(&slot->hva_node[slots->node_idx],
							start, end - 1));
}

static void memslot_link(struct vmmu_memslots *slots,
			 struct vmmu_memory_slot *slot)
{
	int idx = slots->node_idx;
	struct rb_node **link, *parent;

	link = &slots->gfn_tree.rb_node;
	parent = NULL;
	while (*link) {
		parent = *link;
		if (slot->base_gfn < slot_of(parent, gfn_node, idx)->base_gfn)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&slot->gfn_node[idx], parent, link);
	rb_insert_color(&slot->gfn_node[idx], &slots->gfn_tree);

	link = &slots->id_tree.rb_node;
	parent = NULL;
	while (*link) {
		parent = *link;
		if (slot->id < slot_of(parent, id_node, idx)->id)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&slot->id_node[idx], parent, link);
	rb_insert_color(&slot->id_node[idx], &slots->id_tree);

	slot->hva_node[idx].start = slot->userspace_addr;
	slot->hva_node[idx].last = vmmu_memslot_hva_end(slot) - 1;
	interval_tree_insert(&slot->hva_node[idx], &slots->hva_tree);
	slots->nr_slots++;
}

static void memslot_unlink(struct vmmu_memslots *slots,
			   struct vmmu_memory_slot *slot)
{
	int idx = slots->node_idx;

	rb_erase(&slot->gfn_node[idx], &slots->gfn_tree);
	rb_erase(&slot->id_node[idx], &slots->id_tree);
	interval_tree_remove(&slot->hva_node[idx], &slots->hva_tree);
	slots->nr_slots--;
}

/*
 * Make @change in @slots, which no reader can see.  With @check, refuse a
 * new slot that overlaps another; replaying into the second set needs no
 * check, the first one passed it.
 */
static int memslot_apply(struct vmmu_memslots *slots,
			 struct vmmu_memslot_change *change, bool check)
{
	struct vmmu_memory_slot *new = change->new;

	if (change->old)
		memslot_unlink(slots, change->old);
	if (!new)
		return 0;
	if (check && memslot_overlaps(slots, new->base_gfn,
				      new->base_gfn + new->npages)) {
		if (change->old)
			memslot_link(slots, change->old);
		return -EEXIST;
	}
	memslot_link(slots, new);
	return 0;
}

static void memslot_revert(struct vmmu_memslots *slots,
			   struct vmmu_memslot_change *change)
{
	if (change->new)
		memslot_unlink(slots, change->new);
	if (change->old)
		memslot_link(slots, change->old);
}

/*
 * Validate @req against @slots, the state the batch has reached, and fill
 * @change.  Returns 1 if there is something to do, 0 if @req changes
 * nothing, or a negative errno.
 */
static int memslot_prepare(struct vmmu_memslots *slots,
			   const struct vmmu_memslot *req,
			   struct vmmu_memslot_change *change)
{
	const u32 valid_flags = VMMU_MEM_LOG_DIRTY_PAGES | VMMU_MEM_READONLY;
	struct vmmu_memory_slot *old, *new;
	enum vmmu_memslot_op op;
	u64 gpa_end;

	if ((req->flags & ~valid_flags) ||
	    memchr_inv(req->reserved, 0, sizeof(req->reserved)) ||
	    req->slot >= VMMU_MAX_MEMSLOTS)
		return -EINVAL;
	if (!PAGE_ALIGNED(req->guest_phys_addr) ||
	    !PAGE_ALIGNED(req->memory_size) ||
	    !PAGE_ALIGNED(req->userspace_addr))
		return -EINVAL;

	old = vmmu_id_to_memslot(slots, req->slot);
	if (!req->memory_size) {
		if (!old)
			return -ENOENT;
		change->op = VMMU_MEMSLOT_DELETE;
		change->old = old;
		change->new = NULL;
		return 1;
	}

	if (check_add_overflow(req->guest_phys_addr, req->memory_size, &gpa_end) ||
	    gpa_end > BIT_ULL(VMMU_MAX_GPA_BITS) ||
	    req->memory_size >> PAGE_SHIFT > VMMU_MEMSLOT_MAX_PAGES)
		return -EINVAL;
	/*
	 * A tagged address would put the tag into the hva tree, where the
	 * notifier's untagged ranges never meet it: mappings would survive
	 * munmap.  KVM refuses them too.
	 */
	if (req->userspace_addr != (unsigned long)req->userspace_addr ||
	    untagged_addr(req->userspace_addr) != req->userspace_addr ||
	    !access_ok(u64_to_user_ptr(req->userspace_addr), req->memory_size))
		return -EINVAL;

	if (old) {
		/* A live slot keeps its size, host range and read-only flag. */
		if (req->memory_size != old->npages << PAGE_SHIFT ||
		    req->userspace_addr != old->userspace_addr ||
		    (req->flags ^ old->flags) & VMMU_MEM_READONLY)
			return -EINVAL;
		if (req->guest_phys_addr >> PAGE_SHIFT != old->base_gfn)
			op = VMMU_MEMSLOT_MOVE;
		else if (req->flags != old->flags)
			op = VMMU_MEMSLOT_FLAGS;
		else
			return 0;
	} else {
		op = VMMU_MEMSLOT_CREATE;
	}

	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	/* A moved or newly logging slot starts with a clean log. */
	if (req->flags & VMMU_MEM_LOG_DIRTY_PAGES) {
		new->dirty_bitmap = kvcalloc(BITS_TO_LONGS(req->memory_size >> PAGE_SHIFT),
					     sizeof(long), GFP_KERNEL_ACCOUNT);
		if (!new->dirty_bitmap) {
			kfree(new);
			return -ENOMEM;
		}
	}
	new->id = req->slot;
	new->flags = req->flags;
	new->base_gfn = req->guest_phys_addr >> PAGE_SHIFT;
	new->npages = req->memory_size >> PAGE_SHIFT;
	new->userspace_addr = req->userspace_addr;

	change->op = op;
	change->old = old;
	change->new = new;
	return 1;
}

/* Is @slot in the set readers see (and not a step earlier in the batch)? */
static bool memslot_published(struct vmmu_memslots *active,
			      struct vmmu_memory_slot *slot)
{
	return slot && vmmu_id_to_memslot(active, slot->id) == slot;
}

static void memslot_set_invalid(struct vmmu_memory_slot *slot, bool invalid)
{
	u32 flags = slot->flags & ~VMMU_MEMSLOT_INVALID;

	WRITE_ONCE(slot->flags, invalid ? flags | VMMU_MEMSLOT_INVALID : flags);
}

/*
 * Must what the published @old maps go?  Judge by the batch's net result
 * in @inactive, not by each change's own op: a batch may change a slot's
 * flags and then delete it, or delete it and create it again read-only.
 * A slot that moves, or whose read-only or dirty-logging flag changes, or
 * a logging slot replaced by another (with a fresh log), loses its
 * mappings: they refault under the new rules (logging then maps 4 KiB
 * pages, writable only on a logged write).
 */
static bool memslot_leaves(struct vmmu_memslots *inactive,
			   struct vmmu_memory_slot *old)
{
	struct vmmu_memory_slot *final = vmmu_id_to_memslot(inactive, old->id);

	return !final || final->base_gfn != old->base_gfn ||
	       final->npages != old->npages ||
	       final->userspace_addr != old->userspace_addr ||
	       final->flags != old->flags ||
	       /* A new logging slot has a new, empty log: refault, relog. */
	       (final != old && (old->flags & VMMU_MEM_LOG_DIRTY_PAGES));
}

/*
 * Step 2: keep the published slots that the batch deletes, moves or
 * changes the flags of (memslot_leaves()) from being mapped again, and zap
 * what they map.  Returns true if it did anything.
 */
static bool memslots_invalidate_old(struct vmmu_vm *vm,
				    struct vmmu_memslots *active,
				    struct vmmu_memslots *inactive,
				    struct vmmu_memslot_change *changes, u32 n)
{
	bool any = false;
	u32 i;

	lockdep_assert_held(&vm->slots_lock);

	for (i = 0; i < n; i++) {
		struct vmmu_memory_slot *old = changes[i].old;

		if (memslot_published(active, old) &&
		    memslot_leaves(inactive, old)) {
			memslot_set_invalid(old, true);
			any = true;
		}
	}
	if (!any)
		return false;

	WRITE_ONCE(active->generation,
		   active->generation | VMMU_MEMSLOT_GEN_UPDATE_IN_PROGRESS);
	/* No reader may still be using a slot it found valid. */
	synchronize_srcu_expedited(&vm->srcu);
	for (i = 0; i < n; i++)
		if (changes[i].old && (changes[i].old->flags & VMMU_MEMSLOT_INVALID))
			vmmu_mmu_zap_memslot(vm, changes[i].old);
	return true;
}

/* The set no reader sees: the updater's working copy. */
static struct vmmu_memslots *vmmu_inactive_memslots(struct vmmu_vm *vm)
{
	lockdep_assert_held(&vm->slots_lock);
	return &vm->memslot_sets[vmmu_memslots(vm)->node_idx ^ 1];
}

static int vmmu_update_memslots(struct vmmu_vm *vm,
				const struct vmmu_memslot *reqs, u32 nr,
				u32 *error_index)
{
	struct vmmu_memslot_change *changes;
	struct vmmu_memslots *active, *inactive;
	bool invalidated;
	u64 wait_ns;
	u32 i, n = 0;
	int r = 0;

	changes = kvcalloc(nr, sizeof(*changes), GFP_KERNEL_ACCOUNT);
	if (!changes)
		return -ENOMEM;

	/* The holder may wait long for invalidations: stay killable. */
	if (mutex_lock_killable(&vm->slots_lock)) {
		kvfree(changes);
		return -EINTR;
	}
	active = vmmu_memslots(vm);
	inactive = vmmu_inactive_memslots(vm);

	/* 1: the whole batch, on the working copy. */
	for (i = 0; i < nr; i++) {
		r = memslot_prepare(inactive, &reqs[i], &changes[n]);
		if (r > 0) {
			r = memslot_apply(inactive, &changes[n], true);
			if (r)
				memslot_free(changes[n].new);
			else
				n++;
		}
		if (r < 0) {
			*error_index = i;
			goto undo;
		}
	}
	if (!n)
		goto out_unlock;

	/* 2 and 3 */
	invalidated = memslots_invalidate_old(vm, active, inactive, changes, n);
	inactive->generation =
		(active->generation & ~VMMU_MEMSLOT_GEN_UPDATE_IN_PROGRESS) + 1;
	r = vmmu_wait_and_publish_memslots(vm, inactive, &wait_ns);
	if (r) {
		/* Killed while invalidations kept us waiting: nothing changed. */
		for (i = 0; i < n; i++)
			if (changes[i].old)
				memslot_set_invalid(changes[i].old, false);
		if (invalidated)
			WRITE_ONCE(active->generation, inactive->generation);
		goto undo;
	}
	/* Expedited, as KVM's: a VMM may do thousands of updates in a row. */
	synchronize_srcu_expedited(&vm->srcu);

	/* 4: the old set is the working copy now. */
	for (i = 0; i < n; i++) {
		struct vmmu_memslot_change *c = &changes[i];
		struct vmmu_memory_slot *slot = c->new ?: c->old;

		memslot_apply(active, c, false);
		trace_vmmu_memslot_update(vm->id, slot->id, c->op, slot->base_gfn,
					  slot->npages, wait_ns,
					  vm->flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT);
	}
	for (i = 0; i < n; i++)
		memslot_free(changes[i].old);

	WRITE_ONCE(vm->slot_stats.updates, vm->slot_stats.updates + 1);
	if (wait_ns) {
		WRITE_ONCE(vm->slot_stats.waited, vm->slot_stats.waited + 1);
		WRITE_ONCE(vm->slot_stats.wait_ns_total,
			   vm->slot_stats.wait_ns_total + wait_ns);
		if (wait_ns > vm->slot_stats.wait_ns_max)
			WRITE_ONCE(vm->slot_stats.wait_ns_max, wait_ns);
	}
	goto out_unlock;

undo:
	while (n--) {
		memslot_revert(inactive, &changes[n]);
		memslot_free(changes[n].new);
	}
out_unlock:
	mutex_unlock(&vm->slots_lock);
	kvfree(changes);
	return r;
}

long vmmu_ioctl_set_memslot(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_memslot req;
	u32 error_index;

	if (copy_from_user(&req, argp, sizeof(req)))
		return -EFAULT;
	return vmmu_update_memslots(vm, &req, 1, &error_index);
}

long vmmu_ioctl_set_memslots(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_memslot_batch __user *ubatch = argp;
	struct vmmu_memslot_batch batch;
	struct vmmu_memslot *reqs;
	u32 error_index = ~0U;
	long r;

	if (copy_from_user(&batch, ubatch, sizeof(batch)))
		return -EFAULT;
	/* Written first, so that a success is never reported as -EFAULT. */
	if (put_user(error_index, &ubatch->error_index))
		return -EFAULT;
	if (batch.flags || batch.reserved)
		return -EINVAL;
	if (batch.nr > VMMU_MEMSLOT_BATCH_MAX)
		return -E2BIG;
	if (!batch.nr)
		return 0;

	/* Charged to the caller, as every allocation user space can grow. */
	reqs = kvmalloc_array(batch.nr, sizeof(*reqs), GFP_KERNEL_ACCOUNT);
	if (!reqs)
		return -ENOMEM;
	if (copy_from_user(reqs, ubatch->entries, batch.nr * sizeof(*reqs))) {
		kvfree(reqs);
		return -EFAULT;
	}
	r = vmmu_update_memslots(vm, reqs, batch.nr, &error_index);
	kvfree(reqs);
	/* Only a refused entry sets it: nothing was applied then. */
	if (error_index != ~0U && put_user(error_index, &ubatch->error_index))
		return -EFAULT;
	return r;
}

/*
 * Sleep until the memslot update that holds slots_lock is done: for readers
 * that met a slot it is deleting, moving or changing.  Not under vm->srcu.
 */
int vmmu_wait_memslot_update(struct vmmu_vm *vm)
{
	/* The update waits for SRCU readers while it holds slots_lock. */
	RCU_LOCKDEP_WARN(srcu_read_lock_held(&vm->srcu),
			 "waiting for a memslot update inside vm->srcu");
	if (mutex_lock_killable(&vm->slots_lock))
		return -EINTR;
	mutex_unlock(&vm->slots_lock);
	return 0;
}

long vmmu_ioctl_lookup_memslot(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_memslot_lookup lookup;
	struct vmmu_memory_slot *slot;
	struct vmmu_memslots *slots;
	u64 gfn;
	u32 flags;
	int idx;

	if (copy_from_user(&lookup, argp, sizeof(lookup)))
		return -EFAULT;
	if (memchr_inv(lookup.reserved, 0, sizeof(lookup.reserved)))
		return -EINVAL;
	gfn = lookup.guest_phys_addr >> PAGE_SHIFT;

	for (;;) {
		idx = srcu_read_lock(&vm->srcu);
		slots = vmmu_memslots(vm);
		slot = vmmu_gfn_to_memslot(slots, gfn);
		flags = slot ? READ_ONCE(slot->flags) : 0;
		if (!(flags & VMMU_MEMSLOT_INVALID))
			break;
		srcu_read_unlock(&vm->srcu, idx);
		if (vmmu_wait_memslot_update(vm))
			return -EINTR;
	}
	if (slot) {
		lookup.userspace_addr = slot->userspace_addr +
					((gfn - slot->base_gfn) << PAGE_SHIFT) +
					offset_in_page(lookup.guest_phys_addr);
		lookup.slot_base = slot->base_gfn << PAGE_SHIFT;
		lookup.slot_size = slot->npages << PAGE_SHIFT;
		lookup.slot = slot->id;
		lookup.flags = flags;
	}
	lookup.generation = READ_ONCE(slots->generation);
	srcu_read_unlock(&vm->srcu, idx);

	if (!slot)
		return -ENOENT;
	return copy_to_user(argp, &lookup, sizeof(lookup)) ? -EFAULT : 0;
}
