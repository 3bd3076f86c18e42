// SPDX-License-Identifier: GPL-2.0-only
/*
 * VM objects: creation, the VM fd and lifetime.
 */
#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include "vmmu.h"
#include "vcpu.h"

atomic_t vmmu_nr_vms = ATOMIC_INIT(0);
static atomic_t vmmu_vm_ids = ATOMIC_INIT(0);

static void vmmu_vm_destroy(struct vmmu_vm *vm)
{
	/* Calls release() if the mm is still there; no callback runs after. */
	vmmu_mmu_notifier_unregister(vm);
	/* Before the tables: a zap kicks whatever vCPUs it finds. */
	vmmu_vcpus_destroy(vm);
	vmmu_mmu_destroy(vm);
	vmmu_stats_destroy(vm);
	vmmu_memslots_free(vm);
	cleanup_srcu_struct(&vm->srcu);
	mmdrop(vm->mm);
	kfree(vm);
	atomic_dec(&vmmu_nr_vms);
}

void vmmu_vm_put(struct vmmu_vm *vm)
{
	if (refcount_dec_and_test(&vm->users))
		vmmu_vm_destroy(vm);
}

static long vmmu_vm_check_extension(struct vmmu_vm *vm, unsigned long ext)
{
	if (ext == VMMU_CAP_PT_FORMAT)
		return vm->pt_format;
	if (ext == VMMU_CAP_VCPUS)
		return vmmu_vcpu_max(vm);
	return vmmu_check_extension(ext);
}

static long vmmu_vm_ioctl(struct file *filp, unsigned int ioctl,
			  unsigned long arg)
{
	struct vmmu_vm *vm = filp->private_data;
	void __user *argp = (void __user *)arg;

	/*
	 * As with KVM, a VM serves only the address space it was created in:
	 * its memslots are addresses in that mm, and the fd may have been
	 * inherited or passed to a process where they mean something else.
	 * Once that mm is gone, nothing can use the VM any more.
	 */
	if (vm->mm != current->mm || READ_ONCE(vm->mm_released))
		return -EIO;

	switch (ioctl) {
	case VMMU_CHECK_EXTENSION:
		return vmmu_vm_check_extension(vm, arg);
	case VMMU_SET_MEMSLOT:
		return vmmu_ioctl_set_memslot(vm, argp);
	case VMMU_SET_MEMSLOTS:
		return vmmu_ioctl_set_memslots(vm, argp);
	case VMMU_LOOKUP_MEMSLOT:
		return vmmu_ioctl_lookup_memslot(vm, argp);
	case VMMU_GET_STATS:
		return vmmu_ioctl_get_stats(vm, argp);
	case VMMU_PREFAULT:
		return vmmu_ioctl_prefault(vm, argp);
	case VMMU_TRANSLATE:
		return vmmu_ioctl_translate(vm, argp);
	case VMMU_ACCESS:
		return vmmu_ioctl_access(vm, argp);
	case VMMU_GET_DIRTY_LOG:
		return vmmu_ioctl_get_dirty_log(vm, argp);
	case VMMU_CLEAR_DIRTY_LOG:
		return vmmu_ioctl_clear_dirty_log(vm, argp);
	case VMMU_CREATE_VCPU:
		return vmmu_create_vcpu(vm, arg);
	default:
		return -ENOTTY;
	}
}

static int vmmu_vm_release(struct inode *inode, struct file *filp)
{
	vmmu_vm_put(filp->private_data);
	return 0;
}

static const struct file_operations vmmu_vm_fops = {
	.owner		= THIS_MODULE,
	.release	= vmmu_vm_release,
	.unlocked_ioctl	= vmmu_vm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static int vmmu_resolve_vm_type(u32 type)
{
	switch (type) {
	case VMMU_VM_TYPE_HOST:
		return vmmu_host_pt_format() ?: -EOPNOTSUPP;
	case VMMU_VM_TYPE_EPT:
	case VMMU_VM_TYPE_NPT:
		return type;
	default:
		return -EINVAL;
	}
}

static struct vmmu_vm *vmmu_vm_alloc(u32 format, u32 flags)
{
	struct vmmu_vm *vm;
	int r;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	refcount_set(&vm->users, 1);
	vm->id = atomic_inc_return(&vmmu_vm_ids);
	vm->pt_format = format;
	vm->flags = flags;
	vm->mm = current->mm;
	mmgrab(vm->mm);

	mutex_init(&vm->slots_lock);
	spin_lock_init(&vm->mn_invalidate_lock);
	rcuwait_init(&vm->mn_memslots_update_rcuwait);
	rwlock_init(&vm->mmu_lock);
	xa_init(&vm->vcpus);
	vmmu_memslots_init(vm);

	r = init_srcu_struct(&vm->srcu);
	if (r)
		goto err_srcu;
	r = vmmu_stats_init(vm);
	if (r)
		goto err_stats;
	r = vmmu_mmu_init(vm);
	if (r)
		goto err_mmu;
	r = vmmu_mmu_notifier_register(vm);
	if (r)
		goto err_notifier;

	atomic_inc(&vmmu_nr_vms);
	return vm;

err_notifier:
	vmmu_mmu_destroy(vm);
err_mmu:
	vmmu_stats_destroy(vm);
err_stats:
	cleanup_srcu_struct(&vm->srcu);
err_srcu:
	mmdrop(vm->mm);
	kfree(vm);
	return ERR_PTR(r);
}

int vmmu_create_vm(const struct vmmu_create_vm __user *uargs)
{
	struct vmmu_create_vm args;
	struct vmmu_vm *vm;
	struct file *file;
	int format, fd;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~VMMU_VM_FLAGS_VALID) ||
	    memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	format = vmmu_resolve_vm_type(args.type);
	if (format < 0)
		return format;

	vm = vmmu_vm_alloc(format, args.flags);
	if (IS_ERR(vm))
		return PTR_ERR(vm);

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		goto err_put;
	file = anon_inode_getfile("vmmu-vm", &vmmu_vm_fops, vm, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		goto err_put;
	}
	/*
	 * As pagemap: host addresses only for a privileged creator, judged by
	 * the credentials the VM fd was created with (never re-checked).
	 */
	vm->show_host_addrs = file_ns_capable(file, &init_user_ns,
					      CAP_SYS_ADMIN);
	/* The file owns the reference vmmu_vm_alloc() returned. */
	fd_install(fd, file);
	return fd;

err_put:
	vmmu_vm_put(vm);
	return fd;
}
