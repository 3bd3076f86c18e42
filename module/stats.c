// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-VM statistics: VMMU_GET_STATS, and debugfs vmmu/<pid>-<vm id>/stats.
 *
 * The MMU notifier's counters are per CPU, so that invalidations which
 * elide the MMU lock share no cache line either; memslot counters change
 * only under slots_lock.  A reader gets no consistent snapshot across
 * counters, only values that each were true at some point.
 */
#include <linux/debugfs.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "vmmu.h"

void vmmu_mn_stats_sum(struct vmmu_vm *vm, struct vmmu_mn_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		struct vmmu_mn_stats *s = per_cpu_ptr(vm->mn_stats, cpu);

		sum->invalidations += READ_ONCE(s->invalidations);
		sum->elided += READ_ONCE(s->elided);
		sum->locked += READ_ONCE(s->locked);
		sum->nonblock += READ_ONCE(s->nonblock);
		sum->change_pte += READ_ONCE(s->change_pte);
	}
}

static void vmmu_stats_fill(struct vmmu_vm *vm, struct vmmu_vm_stats *st)
{
	struct vmmu_memslots *slots;
	struct vmmu_mn_stats mn;
	int idx;

	vmmu_mn_stats_sum(vm, &mn);
	st->invalidations = mn.invalidations;
	st->invalidations_elided = mn.elided;
	st->invalidations_locked = mn.locked;
	st->invalidations_nonblock = mn.nonblock;
	st->change_pte = mn.change_pte;

	st->memslot_updates = READ_ONCE(vm->slot_stats.updates);
	st->memslot_updates_waited = READ_ONCE(vm->slot_stats.waited);
	st->memslot_wait_ns_total = READ_ONCE(vm->slot_stats.wait_ns_total);
	st->memslot_wait_ns_max = READ_ONCE(vm->slot_stats.wait_ns_max);

	st->invalidate_in_progress = READ_ONCE(vm->mmu_invalidate_in_progress);
	st->invalidate_in_flight = READ_ONCE(vm->mn_active_invalidate_count);
	st->invalidate_seq = READ_ONCE(vm->mmu_invalidate_seq);

	idx = srcu_read_lock(&vm->srcu);
	slots = vmmu_memslots(vm);
	st->memslots = slots->nr_slots;
	st->memslot_generation = READ_ONCE(slots->generation);
	srcu_read_unlock(&vm->srcu, idx);
}

long vmmu_ioctl_get_stats(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_vm_stats __user *ust = argp;
	struct vmmu_vm_stats st = {};
	u32 size, flags;

	if (get_user(size, &ust->size) || get_user(flags, &ust->flags))
		return -EFAULT;
	if (size < offsetofend(struct vmmu_vm_stats, flags) || flags)
		return -EINVAL;

	vmmu_stats_fill(vm, &st);
	st.size = min_t(u32, size, sizeof(st));
	return copy_to_user(ust, &st, st.size) ? -EFAULT : 0;
}

static int vmmu_stats_show(struct seq_file *m, void *unused)
{
	struct vmmu_vm *vm = m->private;
	struct vmmu_vm_stats st;

	vmmu_stats_fill(vm, &st);
	seq_printf(m, "invalidations: %llu\n", st.invalidations);
	seq_printf(m, "invalidations_elided: %llu\n", st.invalidations_elided);
	seq_printf(m, "invalidations_locked: %llu\n", st.invalidations_locked);
	seq_printf(m, "invalidations_nonblock: %llu\n", st.invalidations_nonblock);
	seq_printf(m, "change_pte: %llu\n", st.change_pte);
	seq_printf(m, "memslot_updates: %llu\n", st.memslot_updates);
	seq_printf(m, "memslot_updates_waited: %llu\n", st.memslot_updates_waited);
	seq_printf(m, "memslot_wait_ns_total: %llu\n", st.memslot_wait_ns_total);
	seq_printf(m, "memslot_wait_ns_max: %llu\n", st.memslot_wait_ns_max);
	seq_printf(m, "invalidate_in_progress: %llu\n", st.invalidate_in_progress);
	seq_printf(m, "invalidate_in_flight: %llu\n", st.invalidate_in_flight);
	seq_printf(m, "invalidate_seq: %llu\n", st.invalidate_seq);
	seq_printf(m, "memslots: %llu\n", st.memslots);
	seq_printf(m, "memslot_generation: %llu\n", st.memslot_generation);
	seq_printf(m, "mm_released: %d\n", READ_ONCE(vm->mm_released));
	seq_printf(m, "lock_elision: %d\n",
		   !(vm->flags & VMMU_VM_MN_NO_LOCK_ELISION));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmmu_stats);

int vmmu_stats_init(struct vmmu_vm *vm)
{
	char name[32];

	vm->mn_stats = alloc_percpu_gfp(struct vmmu_mn_stats, GFP_KERNEL_ACCOUNT);
	if (!vm->mn_stats)
		return -ENOMEM;

	snprintf(name, sizeof(name), "%d-%u", task_tgid_nr(current), vm->id);
	vm->debugfs_dir = debugfs_create_dir(name, vmmu_debugfs_dir);
	debugfs_create_file("stats", 0444, vm->debugfs_dir, vm,
			    &vmmu_stats_fops);
	return 0;
}

/* After the notifier is gone: nothing counts any more. */
void vmmu_stats_destroy(struct vmmu_vm *vm)
{
	debugfs_remove_recursive(vm->debugfs_dir);
	free_percpu(vm->mn_stats);
}
