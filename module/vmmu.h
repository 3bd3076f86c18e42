/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VMMU_H
#define VMMU_H

#include <linux/atomic.h>
#include <linux/mm_types.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/vmmu.h>

#include "compat.h"

/*
 * A VM is bound to the mm of the process that created it: it pins the
 * mm_struct (not the address space) and refuses ioctls from any other mm.
 * @users counts the references that keep the object alive; the VM fd holds
 * one, and the module cannot be unloaded while any VM file is open.
 */
struct vmmu_vm {
	refcount_t users;
	struct mm_struct *mm;
	u32 pt_format;		/* VMMU_VM_TYPE_EPT or VMMU_VM_TYPE_NPT */
};

/* Number of VM objects not yet freed; readable in debugfs as vmmu/vms. */
extern atomic_t vmmu_nr_vms;

long vmmu_check_extension(unsigned long ext);
u32 vmmu_host_pt_format(void);
int vmmu_create_vm(const struct vmmu_create_vm __user *uargs);
void vmmu_vm_put(struct vmmu_vm *vm);

#endif /* VMMU_H */
