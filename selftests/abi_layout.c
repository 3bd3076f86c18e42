// SPDX-License-Identifier: GPL-2.0-only
/*
 * Compile-time check of the ABI: built with -Wpadded -Werror for both -m32
 * and -m64, so implicit padding anywhere fails the build, and the sizes and
 * offsets below must hold for either.
 */
#include <stddef.h>
#include <linux/vmmu.h>

#define ABI_SIZE(type, size) \
	_Static_assert(sizeof(type) == (size), "sizeof(" #type ")")
#define ABI_OFFSET(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), #type "." #field)

ABI_SIZE(struct vmmu_create_vm, 64);
ABI_OFFSET(struct vmmu_create_vm, type, 0);
ABI_OFFSET(struct vmmu_create_vm, flags, 4);
ABI_OFFSET(struct vmmu_create_vm, reserved, 8);

ABI_SIZE(struct vmmu_memslot, 64);
ABI_OFFSET(struct vmmu_memslot, guest_phys_addr, 8);
ABI_OFFSET(struct vmmu_memslot, userspace_addr, 24);
ABI_SIZE(struct vmmu_memslot_batch, 16);
ABI_OFFSET(struct vmmu_memslot_batch, entries, 16);
ABI_SIZE(struct vmmu_memslot_lookup, 64);
ABI_OFFSET(struct vmmu_memslot_lookup, slot, 40);
ABI_SIZE(struct vmmu_vm_stats, 8 + 37 * 8);
ABI_OFFSET(struct vmmu_vm_stats, invalidations, 8);
ABI_OFFSET(struct vmmu_vm_stats, memslot_generation, 8 + 13 * 8);
ABI_OFFSET(struct vmmu_vm_stats, pt_pages, 8 + 21 * 8);
ABI_OFFSET(struct vmmu_vm_stats, mmu_lock_max_hold_entries, 8 + 24 * 8);
ABI_OFFSET(struct vmmu_vm_stats, memslot_policy, 8 + 33 * 8);
ABI_OFFSET(struct vmmu_vm_stats, vcpu_tlb_flushes, 8 + 36 * 8);
ABI_SIZE(struct vmmu_prefault, 64);
ABI_SIZE(struct vmmu_translation, 64);
ABI_OFFSET(struct vmmu_translation, level, 28);
ABI_SIZE(struct vmmu_access, 64);
ABI_OFFSET(struct vmmu_access, exit_gpa, 32);
ABI_SIZE(struct vmmu_dirty_log, 64);
ABI_OFFSET(struct vmmu_dirty_log, bitmap, 24);
ABI_SIZE(struct vmmu_regs, 18 * 8);
ABI_SIZE(struct vmmu_segment, 24);
ABI_SIZE(struct vmmu_dtable, 16);
ABI_SIZE(struct vmmu_sregs, 8 * 24 + 2 * 16 + 8 * 8);
ABI_OFFSET(struct vmmu_sregs, cr0, 8 * 24 + 2 * 16);
ABI_SIZE(struct vmmu_xsave, 4096);
ABI_SIZE(struct vmmu_run, 24 + 256);
ABI_OFFSET(struct vmmu_run, exit_reason, 8);
ABI_OFFSET(struct vmmu_run, guest_rip, 16);
ABI_OFFSET(struct vmmu_run, io.data_offset, 32);
ABI_OFFSET(struct vmmu_run, mmio.len, 40);

/* The size is encoded in the ioctl number: it must not depend on -m32. */
_Static_assert(VMMU_CREATE_VM == 0x4040bd01, "VMMU_CREATE_VM");
_Static_assert(VMMU_GET_API_VERSION == 0xbd00, "VMMU_GET_API_VERSION");
_Static_assert(VMMU_CHECK_EXTENSION == 0xbd02, "VMMU_CHECK_EXTENSION");

/* ISO C forbids an empty translation unit. */
int vmmu_abi_layout_checked;
