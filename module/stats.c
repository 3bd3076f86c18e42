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

void vmmu_pcpu_stats_sum(struct vmmu_vm *vm, struct vmmu_pcpu_stats *sum)
{
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct vmmu_pcpu_stats *c = per_cpu_ptr(vm->pcpu_stats, cpu);

		sum->invalidations += READ_ONCE(c->invalidations);
		sum->elided += READ_ONCE(c->elided);
		sum->locked += READ_ONCE(c->locked);
		sum->nonblock += READ_ONCE(c->nonblock);
		sum->conservative += READ_ONCE(c->conservative);
		sum->unrecorded += READ_ONCE(c->unrecorded);
		sum->change_pte += READ_ONCE(c->change_pte);
		sum->faults += READ_ONCE(c->faults);
		for (i = 0; i < ARRAY_SIZE(c->faults_level); i++)
			sum->faults_level[i] += READ_ONCE(c->faults_level[i]);
		sum->fault_retries += READ_ONCE(c->fault_retries);
		sum->zapped += READ_ONCE(c->zapped);
		sum->tlb_flushes += READ_ONCE(c->tlb_flushes);
		sum->entries += READ_ONCE(c->entries);
		sum->exits_io += READ_ONCE(c->exits_io);
		sum->exits_hlt += READ_ONCE(c->exits_hlt);
		sum->exits_mmio += READ_ONCE(c->exits_mmio);
		sum->exits_npf += READ_ONCE(c->exits_npf);
		sum->exits_intr += READ_ONCE(c->exits_intr);
		sum->exits_other += READ_ONCE(c->exits_other);
		sum->kicks += READ_ONCE(c->kicks);
		sum->vcpu_flushes += READ_ONCE(c->vcpu_flushes);
	}
}

static void vmmu_stats_fill(struct vmmu_vm *vm, struct vmmu_vm_stats *st)
{
	struct vmmu_memslots *slots;
	struct vmmu_pcpu_stats mn;
	int idx;

	vmmu_pcpu_stats_sum(vm, &mn);
	st->invalidations = mn.invalidations;
	st->invalidations_elided = mn.elided;
	st->invalidations_locked = mn.locked;
	st->invalidations_nonblock = mn.nonblock;
	st->change_pte = mn.change_pte;
	st->faults = mn.faults;
	st->faults_4k = mn.faults_level[0];
	st->faults_2m = mn.faults_level[1];
	st->faults_1g = mn.faults_level[2];
	st->fault_retries = mn.fault_retries;
	st->zapped = mn.zapped;
	st->tlb_flushes = mn.tlb_flushes;
	st->pt_pages = atomic64_read(&vm->pt_pages);
	st->mmu_lock_yields = READ_ONCE(vm->mmu_lock_stats.yields);
	st->mmu_lock_max_hold_ns = READ_ONCE(vm->mmu_lock_stats.max_hold_ns);
	st->mmu_lock_max_hold_entries =
		READ_ONCE(vm->mmu_lock_stats.max_hold_entries);
	st->vcpu_entries = mn.entries;
	st->exits_io = mn.exits_io;
	st->exits_hlt = mn.exits_hlt;
	st->exits_mmio = mn.exits_mmio;
	st->exits_npf = mn.exits_npf;
	st->exits_intr = mn.exits_intr;
	st->exits_other = mn.exits_other;
	st->vcpu_kicks = mn.kicks;
	st->memslot_policy = vm->flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT ?
			     VMMU_MEMSLOT_POLICY_BOUNDED : VMMU_MEMSLOT_POLICY_SEED;
	st->invalidations_conservative = mn.conservative;
	st->invalidations_unrecorded = mn.unrecorded;
	st->vcpu_tlb_flushes = mn.vcpu_flushes;

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
	seq_printf(m, "faults: %llu\n", st.faults);
	seq_printf(m, "faults_4k: %llu\n", st.faults_4k);
	seq_printf(m, "faults_2m: %llu\n", st.faults_2m);
	seq_printf(m, "faults_1g: %llu\n", st.faults_1g);
	seq_printf(m, "fault_retries: %llu\n", st.fault_retries);
	seq_printf(m, "zapped: %llu\n", st.zapped);
	seq_printf(m, "tlb_flushes: %llu\n", st.tlb_flushes);
	seq_printf(m, "pt_pages: %llu\n", st.pt_pages);
	seq_printf(m, "mmu_lock_yields: %llu\n", st.mmu_lock_yields);
	seq_printf(m, "mmu_lock_max_hold_ns: %llu\n", st.mmu_lock_max_hold_ns);
	seq_printf(m, "mmu_lock_max_hold_entries: %llu\n",
		   st.mmu_lock_max_hold_entries);
	seq_printf(m, "vcpu_entries: %llu\n", st.vcpu_entries);
	seq_printf(m, "exits_io: %llu\n", st.exits_io);
	seq_printf(m, "exits_hlt: %llu\n", st.exits_hlt);
	seq_printf(m, "exits_mmio: %llu\n", st.exits_mmio);
	seq_printf(m, "exits_npf: %llu\n", st.exits_npf);
	seq_printf(m, "exits_intr: %llu\n", st.exits_intr);
	seq_printf(m, "exits_other: %llu\n", st.exits_other);
	seq_printf(m, "vcpu_kicks: %llu\n", st.vcpu_kicks);
	seq_printf(m, "invalidations_conservative: %llu\n",
		   st.invalidations_conservative);
	seq_printf(m, "invalidations_unrecorded: %llu\n",
		   st.invalidations_unrecorded);
	seq_printf(m, "vcpu_tlb_flushes: %llu\n", st.vcpu_tlb_flushes);
	seq_printf(m, "mm_released: %d\n", READ_ONCE(vm->mm_released));
	seq_printf(m, "lock_elision: %d\n",
		   !(vm->flags & VMMU_VM_MN_NO_LOCK_ELISION));
	seq_printf(m, "memslot_policy: %s\n",
		   st.memslot_policy == VMMU_MEMSLOT_POLICY_BOUNDED ?
		   "bounded" : "seed");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmmu_stats);

int vmmu_stats_init(struct vmmu_vm *vm)
{
	char name[32];

	vm->pcpu_stats = alloc_percpu_gfp(struct vmmu_pcpu_stats,
					  GFP_KERNEL_ACCOUNT);
	if (!vm->pcpu_stats)
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
	free_percpu(vm->pcpu_stats);
}
