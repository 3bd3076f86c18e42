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

/*
 * VMMU_CREATE_VM flags.
 * VMMU_VM_MN_NO_LOCK_ELISION: every MMU-notifier invalidation takes the MMU
 *   lock, whether or not it touches a memslot (the behaviour before the
 *   elision); for measuring what the elision buys.
 */
#define VMMU_VM_MN_NO_LOCK_ELISION	0x1

struct vmmu_create_vm {
	__u32 type;		/* VMMU_VM_TYPE_* */
	__u32 flags;		/* VMMU_VM_* */
	__u64 reserved[7];	/* must be 0 */
};

/*
 * Memslots: guest-physical ranges backed by the VM owner's memory, with the
 * semantics of KVM_SET_USER_MEMORY_REGION (docs/abi.md).
 */
#define VMMU_MEM_LOG_DIRTY_PAGES	0x1
#define VMMU_MEM_READONLY		0x2

struct vmmu_memslot {
	__u32 slot;		/* 0 .. VMMU_CAP_NR_MEMSLOTS - 1 */
	__u32 flags;		/* VMMU_MEM_* */
	__u64 guest_phys_addr;
	__u64 memory_size;	/* bytes; 0 deletes the slot */
	__u64 userspace_addr;	/* start of the host range */
	__u64 reserved[4];	/* must be 0 */
};

/* A batch of memslot changes, applied as one atomic update. */
struct vmmu_memslot_batch {
	__u32 nr;		/* entries */
	__u32 flags;		/* must be 0 */
	__u32 error_index;	/* out: the refused entry, or ~0 */
	__u32 reserved;		/* must be 0 */
	struct vmmu_memslot entries[];
};

/* Which memslot maps a guest-physical address, and where. */
struct vmmu_memslot_lookup {
	__u64 guest_phys_addr;	/* in */
	__u64 userspace_addr;	/* out: the host address of guest_phys_addr */
	__u64 slot_base;	/* out: the slot's guest_phys_addr */
	__u64 slot_size;	/* out: the slot's memory_size */
	__u64 generation;	/* out: memslot generation of the answer */
	__u32 slot;		/* out */
	__u32 flags;		/* out: the slot's VMMU_MEM_* */
	__u64 reserved[2];	/* must be 0 */
};

/*
 * Per-VM statistics.  Versioned by size: set @size to sizeof() of your
 * struct; the module fills at most that many bytes and sets @size to the
 * number it filled.  Fields are only ever added at the end.
 */
struct vmmu_vm_stats {
	__u32 size;
	__u32 flags;			/* must be 0 */
	/* MMU-notifier invalidations (invalidate_range_start calls) */
	__u64 invalidations;
	__u64 invalidations_elided;	/* hit no memslot: MMU lock not taken */
	__u64 invalidations_locked;	/* took the MMU lock */
	__u64 invalidations_nonblock;	/* could not sleep (OOM reaper) */
	__u64 change_pte;		/* change_pte calls, on kernels with it */
	/* memslot updates (each published memslot set) */
	__u64 memslot_updates;
	__u64 memslot_updates_waited;	/* waited for invalidations in flight */
	__u64 memslot_wait_ns_total;
	__u64 memslot_wait_ns_max;
	/* current values */
	__u64 invalidate_in_progress;	/* invalidations that hit a memslot */
	__u64 invalidate_in_flight;	/* all invalidations between start and end */
	__u64 invalidate_seq;
	__u64 memslots;
	__u64 memslot_generation;
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
#define VMMU_CAP_NR_MEMSLOTS	3	/* slots per VM */
#define VMMU_CAP_MEMSLOT_BATCH	4	/* entries per VMMU_SET_MEMSLOTS */
#define VMMU_CAP_MAX_GPA_BITS	5	/* guest-physical address width */
#define VMMU_CAP_VM_FLAGS	6	/* VMMU_CREATE_VM flags accepted */

/* ioctls on /dev/vmmu */
#define VMMU_GET_API_VERSION	_IO(VMMUIO, 0x00)
#define VMMU_CREATE_VM		_IOW(VMMUIO, 0x01, struct vmmu_create_vm)
/* VMMU_CHECK_EXTENSION is also accepted on a VM fd. */
#define VMMU_CHECK_EXTENSION	_IO(VMMUIO, 0x02)

/* ioctls on a VM fd */
#define VMMU_SET_MEMSLOT	_IOW(VMMUIO, 0x10, struct vmmu_memslot)
#define VMMU_SET_MEMSLOTS	_IOWR(VMMUIO, 0x11, struct vmmu_memslot_batch)
#define VMMU_LOOKUP_MEMSLOT	_IOWR(VMMUIO, 0x12, struct vmmu_memslot_lookup)
/* The argument points to a struct vmmu_vm_stats of any size >= 8. */
#define VMMU_GET_STATS		_IO(VMMUIO, 0x20)

#endif /* _UAPI_LINUX_VMMU_H */
