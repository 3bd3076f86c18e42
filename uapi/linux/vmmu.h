/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vmmu: a second KVM-style MMU backend, exported as /dev/vmmu.
 *
 * The ABI follows KVM's conventions: ioctls with their own magic, structs of
 * fixed size with explicit padding (the same layout for 32- and 64-bit user
 * space), reserved fields that must be zero, and VMMU_CHECK_EXTENSION to
 * discover what the running module supports.  docs/abi.md is the reference.
 */
#ifndef _UAPI_LINUX_VMMU_H
#define _UAPI_LINUX_VMMU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped only on incompatible changes; new features are extensions. */
#define VMMU_API_VERSION	1

#define VMMUIO			0xBD

/*
 * VM types: the format of the VM's two-dimensional page tables.  HOST asks
 * for the format the CPU walks (EPT on VMX hosts, NPT on SVM hosts); EPT and
 * NPT ask for that format explicitly, whatever the host.
 */
#define VMMU_VM_TYPE_HOST	0
#define VMMU_VM_TYPE_EPT	1
#define VMMU_VM_TYPE_NPT	2

struct vmmu_create_vm {
	__u32 type;		/* VMMU_VM_TYPE_* */
	__u32 flags;		/* none defined yet: must be 0 */
	__u64 reserved[7];	/* must be 0 */
};

/*
 * Extensions, for VMMU_CHECK_EXTENSION.  The answer is 0 for an extension the
 * module does not know, as with KVM_CHECK_EXTENSION.
 *
 * VMMU_CAP_VM_TYPES: on /dev/vmmu, a mask with bit (1 << type) set for each
 *   VM type VMMU_CREATE_VM accepts on this host.
 * VMMU_CAP_PT_FORMAT: on /dev/vmmu, the format VMMU_VM_TYPE_HOST resolves to
 *   (VMMU_VM_TYPE_EPT or VMMU_VM_TYPE_NPT), or 0 when the host has neither
 *   VMX with EPT nor SVM with NPT.  On a VM fd, that VM's format.
 */
#define VMMU_CAP_VM_TYPES	1
#define VMMU_CAP_PT_FORMAT	2

/* ioctls on /dev/vmmu */
#define VMMU_GET_API_VERSION	_IO(VMMUIO, 0x00)
#define VMMU_CREATE_VM		_IOW(VMMUIO, 0x01, struct vmmu_create_vm)
/* VMMU_CHECK_EXTENSION is also accepted on a VM fd. */
#define VMMU_CHECK_EXTENSION	_IO(VMMUIO, 0x02)

#endif /* _UAPI_LINUX_VMMU_H */
