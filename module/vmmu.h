/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VMMU_H
#define VMMU_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/interval_tree.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/rcuwait.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <linux/vmmu.h>

#include "compat.h"

#define VMMU_MAX_MEMSLOTS	32768
#define VMMU_MEMSLOT_BATCH_MAX	4096
/* Four-level EPT and NPT tables translate 48-bit guest-physical addresses. */
#define VMMU_MAX_GPA_BITS	48
#define VMMU_VM_FLAGS_VALID	(VMMU_VM_MN_NO_LOCK_ELISION | \
				 VMMU_VM_MEMSLOT_BOUNDED_WAIT)
/* As KVM: keeps a slot's dirty bitmap (npages / 8 bytes) within reason. */
#define VMMU_MEMSLOT_MAX_PAGES	(BIT_ULL(31) - 1)

/*
 * Set on a slot that a memslot update is about to delete, move or change
 * the flags of (memslot_leaves() in memslot.c), from
 * before its mappings are zapped until the new set is published: readers
 * retry instead of mapping it, while it stays in the active set's hva tree
 * so that invalidations of its host range still take the MMU lock.
 */
#define VMMU_MEMSLOT_INVALID	BIT(31)

/*
 * A memslot lives in both memslot sets at once (see memslot.c), with one
 * set of tree nodes per set, indexed by vmmu_memslots.node_idx.
 */
struct vmmu_memory_slot {
	u64 base_gfn;
	u64 npages;
	unsigned long userspace_addr;
	u32 flags;		/* VMMU_MEM_*, VMMU_MEMSLOT_INVALID */
	u32 id;
	/* With VMMU_MEM_LOG_DIRTY_PAGES; changed under mmu_lock (write). */
	unsigned long *dirty_bitmap;
	struct rb_node gfn_node[2];
	struct rb_node id_node[2];
	struct interval_tree_node hva_node[2];
};

static inline unsigned long vmmu_memslot_hva_end(const struct vmmu_memory_slot *slot)
{
	return slot->userspace_addr + (slot->npages << PAGE_SHIFT);
}

/* The gfns [*first, *last) of @slot whose host pages meet [start, end). */
static inline void vmmu_memslot_hva_to_gfns(const struct vmmu_memory_slot *slot,
					    unsigned long start,
					    unsigned long end, u64 *first,
					    u64 *last)
{
	unsigned long hva_start = max(start, slot->userspace_addr);
	unsigned long hva_end = min(end, vmmu_memslot_hva_end(slot));

	*first = slot->base_gfn + ((hva_start - slot->userspace_addr) >> PAGE_SHIFT);
	*last = slot->base_gfn +
		((hva_end - slot->userspace_addr - 1) >> PAGE_SHIFT) + 1;
}

enum vmmu_memslot_op {
	VMMU_MEMSLOT_CREATE,
	VMMU_MEMSLOT_DELETE,
	VMMU_MEMSLOT_MOVE,
	VMMU_MEMSLOT_FLAGS,
};

/* Bit 63 of a generation: an update is in progress, do not cache. */
#define VMMU_MEMSLOT_GEN_UPDATE_IN_PROGRESS	BIT_ULL(63)

struct vmmu_memslots {
	u64 generation;
	struct rb_root gfn_tree;
	struct rb_root id_tree;
	struct rb_root_cached hva_tree;
	u32 nr_slots;
	int node_idx;
};

/*
 * Per-CPU counters: the MMU notifier may elide every shared lock, and
 * faults should not bounce a shared cache line either.
 */
struct vmmu_pcpu_stats {
	u64 invalidations;
	u64 elided;
	u64 locked;
	u64 nonblock;
	u64 conservative;	/* locked because an update was pending */
	u64 unrecorded;		/* found no free vmmu_mn_record */
	u64 change_pte;
	u64 faults;
	u64 faults_level[3];	/* 4 KiB, 2 MiB, 1 GiB */
	u64 fault_retries;
	u64 zapped;
	u64 tlb_flushes;
	/* vCPUs */
	u64 entries;
	u64 exits_io;
	u64 exits_hlt;
	u64 exits_mmio;
	u64 exits_npf;
	u64 exits_intr;
	u64 exits_other;
	u64 kicks;
	u64 vcpu_flushes;	/* entries that flushed the CPU's TLB first */
};

/*
 * An entry format (pt_format.c).  @readable lists the bits every level
 * needs for any access (NPT walks are user accesses: P and US); @exec is
 * EPT's execute bit, @nx NPT's no-execute bit.
 */
struct vmmu_pte_format {
	const char *name;
	u64 present;
	u64 table;		/* a non-leaf entry, less the address */
	u64 leaf;		/* a leaf, less address, W, A, D and large */
	u64 readable;
	u64 writable;
	u64 exec;
	u64 nx;
	u64 accessed;
	u64 dirty;
	u64 large;
};

#define VMMU_PT_LEVELS	4

/* One page-table page; its struct page's private field points here. */
struct vmmu_pt {
	u64 *entries;
	struct page *page;
	struct rcu_head rcu;
	int level;		/* 4 (root) .. 1 (4 KiB leaves) */
};

/* Tables for one fault, allocated before mmu_lock is taken. */
struct vmmu_pt_cache {
	struct vmmu_pt *pts[VMMU_PT_LEVELS - 1];
	int n;
};

/* A range of gfns to act on, and whether the caller may sleep. */
struct vmmu_gfn_range {
	u64 start;
	u64 end;
	bool may_block;
};

/*
 * A guest access that missed in the page tables, as the fault path
 * resolves it (fault.c).  The inputs are fixed when it is made; the rest
 * is what the fault path finds on the way.
 */
struct vmmu_page_fault {
	const u64 gpa;
	const bool write;
	/* VMMU_PREFAULT: map ahead of any access, setting neither A nor D. */
	const bool prefault;
	/* A vCPU's: any signal, not only a fatal one, ends the retries. */
	const bool interruptible;

	u64 gfn;
	struct vmmu_memory_slot *slot;
	u32 slot_flags;		/* slot->flags, read once */
	unsigned long hva;
	/* mmu_invalidate_seq before the host page was looked up */
	unsigned long mmu_seq;
	struct page *page;	/* referenced until the entry is installed */
	bool map_writable;	/* the leaf allows writes */
	bool host_readonly;	/* a write found the host page read-only */
	int level;		/* the leaf's level once mapped: 1 = 4 KiB */
};

/*
 * How long mmu_lock is held for write: written with it held, read
 * locklessly by the statistics.
 */
struct vmmu_mmu_lock_stats {
	u64 yields;		/* walks that dropped it to let others in */
	u64 max_hold_ns;	/* the longest write hold */
	u64 max_hold_entries;	/* most entries zaps visited in one hold */
};

/* Counters of memslot updates, protected by slots_lock. */
struct vmmu_memslot_stats {
	u64 updates;
	u64 waited;
	u64 wait_ns_total;
	u64 wait_ns_max;
};

/*
 * What one invalidate_range_start() did, for its _end(), which receives
 * the same range pointer (VMMU_VM_MEMSLOT_BOUNDED_WAIT).  Free: !range.
 */
#define VMMU_MN_RECORDS_SHIFT	6
#define VMMU_MN_RECORDS		BIT(VMMU_MN_RECORDS_SHIFT)

struct vmmu_mn_record {
	const struct mmu_notifier_range *range;
	u8 phase;		/* the mn_phase_count[] it is counted in */
	bool locked;		/* start() raised mmu_invalidate_in_progress */
};

/*
 * A VM is bound to the mm of the process that created it: it pins the
 * mm_struct (not the address space) and refuses ioctls from any other mm.
 * docs/locking.md lists what each lock protects and how they nest.
 */
struct vmmu_vm {
	refcount_t users;
	struct mm_struct *mm;
	u32 id;
	u32 pt_format;		/* VMMU_VM_TYPE_EPT or VMMU_VM_TYPE_NPT */
	u32 flags;		/* VMMU_VM_* from creation */
	bool mm_released;	/* the mm is gone: every ioctl fails */
	/* VMMU_TRANSLATE shows host addresses: the creator had CAP_SYS_ADMIN. */
	bool show_host_addrs;

	/* Memslots: updates serialised by slots_lock, read under srcu. */
	struct mutex slots_lock;
	struct vmmu_memslots __rcu *memslots;
	struct vmmu_memslots memslot_sets[2];
	struct srcu_struct srcu;
	struct vmmu_memslot_stats slot_stats;

	/*
	 * Invalidations in flight, between invalidate_range_start() and
	 * _end(), whether or not they touched a memslot.  A memslot update
	 * publishes a new set only when this is zero, so that start() and
	 * end() of one invalidation always see the same memslots.
	 */
	spinlock_t mn_invalidate_lock;
	unsigned long mn_active_invalidate_count;
	struct rcuwait mn_memslots_update_rcuwait;
	/*
	 * VMMU_VM_MEMSLOT_BOUNDED_WAIT (mmu_notifier.c), under
	 * mn_invalidate_lock: invalidations in flight by the phase they
	 * started in, those that found no free record, whether an update
	 * waits to publish, and what each start() did, for its end().
	 */
	unsigned long mn_phase_count[2];
	unsigned long mn_unrecorded;
	u8 mn_phase;
	bool mn_update_pending;
	struct vmmu_mn_record mn_records[VMMU_MN_RECORDS];
	struct mmu_notifier mmu_notifier;
	struct vmmu_pcpu_stats __percpu *pcpu_stats;

	/*
	 * The MMU lock, and the state a fault checks under it to learn that
	 * an invalidation raced with it (the retry protocol, see mmu.c).
	 */
	rwlock_t mmu_lock;
	u64 mmu_hold_start_ns;		/* the current write hold's */
	u64 mmu_hold_entries;
	struct vmmu_mmu_lock_stats mmu_lock_stats;
	unsigned long mmu_invalidate_seq;
	long mmu_invalidate_in_progress;
	unsigned long mmu_invalidate_range_start;
	unsigned long mmu_invalidate_range_end;

	/* The page tables (mmu.c); the root never changes. */
	const struct vmmu_pte_format *fmt;
	struct vmmu_pt *root;
	atomic64_t pt_pages;

	/* vCPUs by id (vcpu.c); removed only under mmu_lock (write). */
	struct xarray vcpus;

	struct dentry *debugfs_dir;
};

/* The active memslot set: under vm->srcu, or with slots_lock held. */
static inline struct vmmu_memslots *vmmu_memslots(struct vmmu_vm *vm)
{
	return srcu_dereference_check(vm->memslots, &vm->srcu,
				      lockdep_is_held(&vm->slots_lock));
}

/* Number of VM objects not yet freed; readable in debugfs as vmmu/vms. */
extern atomic_t vmmu_nr_vms;
extern struct dentry *vmmu_debugfs_dir;
extern unsigned int vmmu_mn_inject_delay_ms;

/* main.c */
long vmmu_check_extension(unsigned long ext);
u32 vmmu_host_pt_format(void);

/* vm.c */
int vmmu_create_vm(const struct vmmu_create_vm __user *uargs);
void vmmu_vm_put(struct vmmu_vm *vm);

/* memslot.c */
void vmmu_memslots_init(struct vmmu_vm *vm);
void vmmu_memslots_free(struct vmmu_vm *vm);
struct vmmu_memory_slot *vmmu_gfn_to_memslot(struct vmmu_memslots *slots, u64 gfn);
struct vmmu_memory_slot *vmmu_id_to_memslot(struct vmmu_memslots *slots, u32 id);
struct vmmu_memory_slot *vmmu_hva_range_first(struct vmmu_memslots *slots,
					      unsigned long start,
					      unsigned long end);
struct vmmu_memory_slot *vmmu_hva_range_next(struct vmmu_memslots *slots,
					     struct vmmu_memory_slot *slot,
					     unsigned long start,
					     unsigned long end);
int vmmu_wait_memslot_update(struct vmmu_vm *vm);
long vmmu_ioctl_set_memslot(struct vmmu_vm *vm, void __user *argp);
long vmmu_ioctl_set_memslots(struct vmmu_vm *vm, void __user *argp);
long vmmu_ioctl_lookup_memslot(struct vmmu_vm *vm, void __user *argp);

/* mmu_notifier.c */
int vmmu_mmu_notifier_register(struct vmmu_vm *vm);
void vmmu_mmu_notifier_unregister(struct vmmu_vm *vm);
int vmmu_wait_and_publish_memslots(struct vmmu_vm *vm,
				   struct vmmu_memslots *slots, u64 *wait_ns);

/* pt_format.c */
const struct vmmu_pte_format *vmmu_pte_format(u32 pt_format);

/* mmu.c */
int vmmu_mmu_init(struct vmmu_vm *vm);
void vmmu_mmu_destroy(struct vmmu_vm *vm);
bool vmmu_mmu_unmap_gfn_range(struct vmmu_vm *vm,
			      const struct vmmu_gfn_range *range);
void vmmu_mmu_flush_tlbs(struct vmmu_vm *vm);
void vmmu_mmu_zap_memslot(struct vmmu_vm *vm, struct vmmu_memory_slot *slot);
void vmmu_mmu_zap_all(struct vmmu_vm *vm);
bool vmmu_mmu_age_gfn_range(struct vmmu_vm *vm,
			    const struct vmmu_gfn_range *range);
bool vmmu_mmu_test_age_gfn_range(struct vmmu_vm *vm,
				 const struct vmmu_gfn_range *range);
void vmmu_mmu_write_lock(struct vmmu_vm *vm) __acquires(&vm->mmu_lock);
void vmmu_mmu_write_unlock(struct vmmu_vm *vm) __releases(&vm->mmu_lock);

/* fault.c */
int vmmu_page_fault(struct vmmu_vm *vm, struct vmmu_page_fault *fault);

/* sw_access.c */
long vmmu_ioctl_prefault(struct vmmu_vm *vm, void __user *argp);
long vmmu_ioctl_translate(struct vmmu_vm *vm, void __user *argp);
long vmmu_ioctl_access(struct vmmu_vm *vm, void __user *argp);

/* dirty_log.c */
long vmmu_ioctl_get_dirty_log(struct vmmu_vm *vm, void __user *argp);
long vmmu_ioctl_clear_dirty_log(struct vmmu_vm *vm, void __user *argp);

/* stats.c */
int vmmu_stats_init(struct vmmu_vm *vm);
void vmmu_stats_destroy(struct vmmu_vm *vm);
void vmmu_pcpu_stats_sum(struct vmmu_vm *vm, struct vmmu_pcpu_stats *sum);
long vmmu_ioctl_get_stats(struct vmmu_vm *vm, void __user *argp);

#endif /* VMMU_H */
