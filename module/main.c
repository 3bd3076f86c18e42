// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmmu: a second KVM-style MMU backend.  This file owns the module's
 * lifetime and /dev/vmmu; VM objects live in vm.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <asm/cpufeature.h>

#include "vmmu.h"
#include "vcpu.h"

struct dentry *vmmu_debugfs_dir;

/*
 * The format the CPU itself walks, which VMMU_VM_TYPE_HOST resolves to; 0
 * when the host has no hardware two-dimensional paging.
 */
u32 vmmu_host_pt_format(void)
{
	if (boot_cpu_has(X86_FEATURE_VMX) && boot_cpu_has(X86_FEATURE_EPT))
		return VMMU_VM_TYPE_EPT;
	if (boot_cpu_has(X86_FEATURE_SVM) && boot_cpu_has(X86_FEATURE_NPT))
		return VMMU_VM_TYPE_NPT;
	return 0;
}

long vmmu_check_extension(unsigned long ext)
{
	long types;

	switch (ext) {
	case VMMU_CAP_VM_TYPES:
		/* Both formats are always available to the software paths. */
		types = BIT(VMMU_VM_TYPE_EPT) | BIT(VMMU_VM_TYPE_NPT);
		if (vmmu_host_pt_format())
			types |= BIT(VMMU_VM_TYPE_HOST);
		return types;
	case VMMU_CAP_PT_FORMAT:
		return vmmu_host_pt_format();
	case VMMU_CAP_NR_MEMSLOTS:
		return VMMU_MAX_MEMSLOTS;
	case VMMU_CAP_MEMSLOT_BATCH:
		return VMMU_MEMSLOT_BATCH_MAX;
	case VMMU_CAP_MAX_GPA_BITS:
		return VMMU_MAX_GPA_BITS;
	case VMMU_CAP_VM_FLAGS:
		return VMMU_VM_FLAGS_VALID;
	case VMMU_CAP_VCPUS:
		return vmmu_vcpu_ops ? VMMU_MAX_VCPUS : 0;
	default:
		return 0;
	}
}

static long vmmu_dev_ioctl(struct file *filp, unsigned int ioctl,
			   unsigned long arg)
{
	switch (ioctl) {
	case VMMU_GET_API_VERSION:
		if (arg)
			return -EINVAL;
		return VMMU_API_VERSION;
	case VMMU_CHECK_EXTENSION:
		return vmmu_check_extension(arg);
	case VMMU_CREATE_VM:
		return vmmu_create_vm((const void __user *)arg);
	case VMMU_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : PAGE_SIZE;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vmmu_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= vmmu_dev_ioctl,
	/* Every struct has the same layout for 32- and 64-bit callers. */
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/* Root only, like a fresh /dev/kvm; README.md shows a udev rule. */
static struct miscdevice vmmu_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vmmu",
	.fops	= &vmmu_dev_fops,
	.mode	= 0600,
};

static const char *vmmu_format_name(u32 format)
{
	switch (format) {
	case VMMU_VM_TYPE_EPT:
		return "EPT";
	case VMMU_VM_TYPE_NPT:
		return "NPT";
	default:
		return "none";
	}
}

static int __init vmmu_init(void)
{
	int r;

	r = vmmu_svm_init();
	if (r)
		return r;
	r = vmmu_vmx_init();
	if (r) {
		vmmu_svm_exit();
		return r;
	}
	vmmu_debugfs_dir = debugfs_create_dir("vmmu", NULL);
	debugfs_create_atomic_t("vms", 0444, vmmu_debugfs_dir, &vmmu_nr_vms);

	r = misc_register(&vmmu_dev);
	if (r) {
		pr_err("cannot register /dev/vmmu: %d\n", r);
		debugfs_remove_recursive(vmmu_debugfs_dir);
		vmmu_vmx_exit();
		vmmu_svm_exit();
		return r;
	}

	pr_info("version %s, API %d, host page-table format %s, vCPUs %s\n",
		VMMU_VERSION, VMMU_API_VERSION,
		vmmu_format_name(vmmu_host_pt_format()),
		vmmu_vcpu_ops ? vmmu_vcpu_ops->name : "none");
	return 0;
}

static void __exit vmmu_exit(void)
{
	misc_deregister(&vmmu_dev);
	debugfs_remove_recursive(vmmu_debugfs_dir);
	/* Page tables of freed VMs may still wait for an RCU grace period. */
	rcu_barrier();
	/* Every VM file holds a module reference. */
	WARN_ON_ONCE(atomic_read(&vmmu_nr_vms));
	vmmu_vmx_exit();
	vmmu_svm_exit();
}

module_init(vmmu_init);
module_exit(vmmu_exit);

MODULE_DESCRIPTION("vmmu: a second KVM-style MMU backend (/dev/vmmu)");
MODULE_LICENSE("GPL");
MODULE_VERSION(VMMU_VERSION);
