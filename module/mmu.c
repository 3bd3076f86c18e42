// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VM's two-dimensional page tables.
 *
 * The EPT and NPT tables come with the page-table work; until then a VM
 * maps nothing.  The memslot and MMU-notifier code already call these
 * hooks, with the locks the real ones need, and for an empty MMU there is
 * nothing to unmap and no TLB to flush.
 */
#include "vmmu.h"

/* Unmap the gfns [start, end); returns whether TLBs must be flushed. */
bool vmmu_mmu_unmap_gfn_range(struct vmmu_vm *vm, u64 start, u64 end,
			      bool may_block)
{
	lockdep_assert_held_write(&vm->mmu_lock);
	return false;
}

void vmmu_mmu_flush_tlbs(struct vmmu_vm *vm)
{
	lockdep_assert_held(&vm->mmu_lock);
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

/*
 * A slot's flags changed (dirty logging switched): mappings made under the
 * old flags may need write protection or splitting.
 */
void vmmu_mmu_memslot_flags_changed(struct vmmu_vm *vm,
				    struct vmmu_memory_slot *old,
				    struct vmmu_memory_slot *new)
{
	lockdep_assert_held(&vm->slots_lock);
}
