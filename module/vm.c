// SPDX-License-Identifier: GPL-2.0-only
/*
 * VM objects: creation, the VM fd and lifetime.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "vmmu.h"

atomic_t vmmu_nr_vms = ATOMIC_INIT(0);

static void vmmu_vm_destroy(struct vmmu_vm *vm)
{
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
	return vmmu_check_extension(ext);
}

static long vmmu_vm_ioctl(struct file *filp, unsigned int ioctl,
			  unsigned long arg)
{
	struct vmmu_vm *vm = filp->private_data;

	/*
	 * As with KVM, a VM serves only the address space it was created in:
	 * its memslots are addresses in that mm, and the fd may have been
	 * inherited or passed to a process where they mean something else.
	 */
	if (vm->mm != current->mm)
		return -EIO;

	switch (ioctl) {
	case VMMU_CHECK_EXTENSION:
		return vmmu_vm_check_extension(vm, arg);
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

int vmmu_create_vm(const struct vmmu_create_vm __user *uargs)
{
	struct vmmu_create_vm args;
	struct vmmu_vm *vm;
	struct file *file;
	int format, fd;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.flags || memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	format = vmmu_resolve_vm_type(args.type);
	if (format < 0)
		return format;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return -ENOMEM;
	refcount_set(&vm->users, 1);
	vm->pt_format = format;
	vm->mm = current->mm;
	mmgrab(vm->mm);
	atomic_inc(&vmmu_nr_vms);

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		goto err_put;
	file = anon_inode_getfile("vmmu-vm", &vmmu_vm_fops, vm, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		goto err_put;
	}
	/* The file owns the reference taken by refcount_set() above. */
	fd_install(fd, file);
	return fd;

err_put:
	vmmu_vm_put(vm);
	return fd;
}
