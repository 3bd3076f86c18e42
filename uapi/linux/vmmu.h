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
/*
 * VMMU_VM_MEMSLOT_BOUNDED_WAIT: a memslot update waits only for the
 *   invalidations already in flight when it asks to publish, never for
 *   later ones (docs/locking.md, "Memslot publication policies").  Without
 *   it, an update waits for a moment with no invalidation in flight, which
 *   a steady stream of overlapping ones can put off indefinitely.
 */
#define VMMU_VM_MEMSLOT_BOUNDED_WAIT	0x2

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
	/* the page tables */
	__u64 faults;			/* resolved faults */
	__u64 faults_4k;		/* mapped at each leaf level */
	__u64 faults_2m;
	__u64 faults_1g;
	__u64 fault_retries;		/* raced with an invalidation */
	__u64 zapped;			/* leaf entries removed */
	__u64 tlb_flushes;
	__u64 pt_pages;			/* now: page-table pages in use */
	/* mmu_lock held for write (since the VM was created) */
	__u64 mmu_lock_yields;		/* long walks letting others in */
	__u64 mmu_lock_max_hold_ns;	/* the longest single hold */
	__u64 mmu_lock_max_hold_entries; /* most entries zaps visited in one */
	/* vCPUs */
	__u64 vcpu_entries;		/* guest entries */
	__u64 exits_io;			/* exits by reason: port I/O */
	__u64 exits_hlt;
	__u64 exits_mmio;
	__u64 exits_npf;		/* nested page faults (MMIO included) */
	__u64 exits_intr;		/* host interrupts and signals */
	__u64 exits_other;
	__u64 vcpu_kicks;		/* IPIs to make a vCPU leave the guest */
	/* memslot publication (VMMU_VM_MEMSLOT_BOUNDED_WAIT) */
	__u64 memslot_policy;		/* VMMU_MEMSLOT_POLICY_* */
	__u64 invalidations_conservative; /* locked: an update was pending */
	__u64 invalidations_unrecorded;	/* no record free: the seed's rule */
	/* entries that first dropped translations the CPU may have cached */
	__u64 vcpu_tlb_flushes;
};

#define VMMU_MEMSLOT_POLICY_SEED	0	/* wait for no invalidation */
#define VMMU_MEMSLOT_POLICY_BOUNDED	1	/* wait for those in flight */

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
/*
 * VMMU_CAP_VCPUS: vCPUs per VM that VMMU_CREATE_VCPU accepts, on a VM fd;
 *   0 where the VM cannot run vCPUs (no hardware virtualization, or a
 *   format the CPU does not walk).  On /dev/vmmu: the limit for VMs of
 *   type VMMU_VM_TYPE_HOST.
 */
#define VMMU_CAP_VCPUS		7

/*
 * VMMU_PREFAULT: map [guest_phys_addr, guest_phys_addr + size) ahead of
 * time.  On return both fields are advanced past what was mapped.
 */
#define VMMU_PREFAULT_WRITE	0x1	/* map writable, breaking COW */

struct vmmu_prefault {
	__u64 guest_phys_addr;
	__u64 size;
	__u32 flags;		/* VMMU_PREFAULT_* */
	__u32 reserved0;	/* must be 0 */
	__u64 reserved[5];	/* must be 0 */
};

/* VMMU_TRANSLATE: what the VM's page tables map at guest_phys_addr. */
#define VMMU_TRANSLATE_MAPPED	0x1
#define VMMU_TRANSLATE_READ	0x2
#define VMMU_TRANSLATE_WRITE	0x4
#define VMMU_TRANSLATE_EXEC	0x8
#define VMMU_TRANSLATE_ACCESSED	0x10
#define VMMU_TRANSLATE_DIRTY	0x20

struct vmmu_translation {
	__u64 guest_phys_addr;	/* in */
	__u64 host_phys_addr;	/* out: 0 unless the VM's creator had
				 * CAP_SYS_ADMIN (see docs/abi.md)
				 */
	__u64 entry;		/* out: the leaf entry, physical address masked */
	__u32 flags;		/* out: VMMU_TRANSLATE_* */
	__u32 level;		/* out: of the leaf: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	__u64 reserved[4];	/* must be 0 */
};

/*
 * VMMU_ACCESS: read or write guest-physical memory by walking the VM's
 * page tables as the CPU would (permissions, accessed and dirty bits),
 * faulting through the VM's fault path on a miss.  Stops short, with
 * @exit saying why, where a vCPU would exit to user space.
 */
#define VMMU_ACCESS_WRITE	0x1
#define VMMU_ACCESS_FETCH	0x2	/* a read that needs execute permission */

#define VMMU_ACCESS_EXIT_NONE		0	/* all @len bytes done */
#define VMMU_ACCESS_EXIT_MMIO		1	/* no memslot at @exit_gpa */
#define VMMU_ACCESS_EXIT_READONLY_SLOT	2	/* write to a read-only memslot */
#define VMMU_ACCESS_EXIT_READONLY_HOST	3	/* write, host maps it read-only */
#define VMMU_ACCESS_EXIT_HOST_FAULT	4	/* no host page (unmapped, SIGBUS) */

struct vmmu_access {
	__u64 guest_phys_addr;
	__u64 buf;		/* user buffer */
	__u32 len;		/* bytes */
	__u32 flags;		/* VMMU_ACCESS_WRITE or _FETCH */
	__u32 done;		/* out: bytes transferred */
	__u32 exit;		/* out: VMMU_ACCESS_EXIT_* */
	__u64 exit_gpa;		/* out: where it stopped */
	__u64 reserved[3];	/* must be 0 */
};

/*
 * Dirty logging of a slot with VMMU_MEM_LOG_DIRTY_PAGES: one bit per 4 KiB
 * page of the slot, bit i for the slot's page i.
 * VMMU_GET_DIRTY_LOG copies the slot's bitmap to @bitmap and resets it.
 * VMMU_CLEAR_DIRTY_LOG clears the bits set in @bitmap for pages
 * [first_page, first_page + num_pages), first_page a multiple of 64.
 */
struct vmmu_dirty_log {
	__u32 slot;
	__u32 flags;		/* must be 0 */
	__u64 first_page;	/* CLEAR only; 0 for GET */
	__u64 num_pages;	/* CLEAR only; 0 for GET */
	__u64 bitmap;		/* user pointer */
	__u64 reserved[4];	/* must be 0 */
};

/*
 * vCPUs, the KVM way: VMMU_CREATE_VCPU on a VM fd returns a vCPU fd;
 * mmap() of the vCPU fd (VMMU_GET_VCPU_MMAP_SIZE bytes, offset 0) gives the
 * run structure; VMMU_RUN enters the guest until it exits to user space.
 */
struct vmmu_regs {
	__u64 rax, rbx, rcx, rdx;
	__u64 rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11;
	__u64 r12, r13, r14, r15;
	__u64 rip, rflags;
};

/* A segment register as the CPU caches it (the descriptor's fields). */
struct vmmu_segment {
	__u64 base;
	__u32 limit;		/* in bytes, granularity applied */
	__u16 selector;
	__u8  type;		/* descriptor type, 4 bits */
	__u8  present, dpl, db, s, l, g, avl;
	__u8  unusable;		/* a null selector's segment */
	__u8  padding;		/* must be 0 */
};

struct vmmu_dtable {
	__u64 base;
	__u16 limit;
	__u16 padding[3];	/* must be 0 */
};

struct vmmu_sregs {
	struct vmmu_segment cs, ds, es, fs, gs, ss;
	struct vmmu_segment tr, ldt;
	struct vmmu_dtable gdt, idt;
	__u64 cr0, cr2, cr3, cr4, efer;
	__u64 reserved[3];	/* must be 0 */
};

/*
 * The guest's x87/SSE/AVX state, in the standard (non-compacted) XSAVE
 * format of the host's enabled features (docs/abi.md).
 */
struct vmmu_xsave {
	__u32 region[1024];
};

/* Exit reasons (vmmu_run.exit_reason). */
#define VMMU_EXIT_UNKNOWN	0	/* an intercept vmmu does not handle */
#define VMMU_EXIT_IO		2
#define VMMU_EXIT_HLT		5
#define VMMU_EXIT_MMIO		6
#define VMMU_EXIT_SHUTDOWN	8	/* triple fault */
#define VMMU_EXIT_FAIL_ENTRY	9	/* the CPU refused to enter */
#define VMMU_EXIT_INTR		10	/* a signal: VMMU_RUN returned EINTR */
#define VMMU_EXIT_MEMORY_FAULT	11	/* the fault path stopped, see below */

#define VMMU_EXIT_IO_IN		0
#define VMMU_EXIT_IO_OUT	1

struct vmmu_run {
	/* in */
	__u8 immediate_exit;	/* VMMU_RUN returns EINTR without entering */
	__u8 padding1[7];	/* must be 0 */

	/* out */
	__u32 exit_reason;	/* VMMU_EXIT_* */
	__u32 padding2;
	__u64 guest_rip;	/* where the guest stopped */
	union {
		/* VMMU_EXIT_UNKNOWN: the hardware's exit code and info */
		struct {
			__u64 hardware_exit_reason;
			__u64 info1;
			__u64 info2;
		} hw;
		/* VMMU_EXIT_FAIL_ENTRY */
		struct {
			__u64 hardware_entry_failure_reason;
			__u32 cpu;
			__u32 padding;
		} fail_entry;
		/*
		 * VMMU_EXIT_IO: OUT data is at (char *)run + data_offset; for
		 * IN the VMM puts the data there before the next VMMU_RUN.
		 */
		struct {
			__u8 direction;	/* VMMU_EXIT_IO_IN or _OUT */
			__u8 size;	/* 1, 2 or 4 */
			__u16 port;
			__u32 count;	/* always 1: string I/O is not supported */
			__u64 data_offset;
		} io;
		/*
		 * VMMU_EXIT_MMIO: for a read, the VMM puts the value in @data
		 * before the next VMMU_RUN, which completes the instruction.
		 */
		struct {
			__u64 phys_addr;
			__u8  data[8];
			__u32 len;	/* 1, 2, 4 or 8 */
			__u8  is_write;
			__u8  padding[3];
		} mmio;
		/*
		 * VMMU_EXIT_MEMORY_FAULT: the fault path stopped at @gpa for
		 * @reason, a VMMU_ACCESS_EXIT_* (read-only slot, read-only or
		 * missing host page); @flags has VMMU_ACCESS_WRITE or _FETCH.
		 */
		struct {
			__u64 gpa;
			__u32 reason;
			__u32 flags;
		} memory_fault;
		__u8 padding3[256];
	};
	/* I/O data follows */
};

/* ioctls on /dev/vmmu */
#define VMMU_GET_API_VERSION	_IO(VMMUIO, 0x00)
#define VMMU_CREATE_VM		_IOW(VMMUIO, 0x01, struct vmmu_create_vm)
/* VMMU_CHECK_EXTENSION is also accepted on a VM fd. */
#define VMMU_CHECK_EXTENSION	_IO(VMMUIO, 0x02)
/* Bytes to mmap() on a vCPU fd: the run structure and its data pages. */
#define VMMU_GET_VCPU_MMAP_SIZE	_IO(VMMUIO, 0x03)

/* ioctls on a VM fd */
#define VMMU_SET_MEMSLOT	_IOW(VMMUIO, 0x10, struct vmmu_memslot)
#define VMMU_SET_MEMSLOTS	_IOWR(VMMUIO, 0x11, struct vmmu_memslot_batch)
#define VMMU_LOOKUP_MEMSLOT	_IOWR(VMMUIO, 0x12, struct vmmu_memslot_lookup)
/* The argument points to a struct vmmu_vm_stats of any size >= 8. */
#define VMMU_GET_STATS		_IO(VMMUIO, 0x20)
#define VMMU_PREFAULT		_IOWR(VMMUIO, 0x30, struct vmmu_prefault)
#define VMMU_TRANSLATE		_IOWR(VMMUIO, 0x31, struct vmmu_translation)
#define VMMU_ACCESS		_IOWR(VMMUIO, 0x32, struct vmmu_access)
#define VMMU_GET_DIRTY_LOG	_IOW(VMMUIO, 0x33, struct vmmu_dirty_log)
#define VMMU_CLEAR_DIRTY_LOG	_IOW(VMMUIO, 0x34, struct vmmu_dirty_log)
/* The argument is the vCPU id, 0 .. VMMU_CAP_VCPUS - 1; returns a vCPU fd. */
#define VMMU_CREATE_VCPU	_IO(VMMUIO, 0x40)

/* ioctls on a vCPU fd */
#define VMMU_RUN		_IO(VMMUIO, 0x80)
#define VMMU_GET_REGS		_IOR(VMMUIO, 0x81, struct vmmu_regs)
#define VMMU_SET_REGS		_IOW(VMMUIO, 0x82, struct vmmu_regs)
#define VMMU_GET_SREGS		_IOR(VMMUIO, 0x83, struct vmmu_sregs)
#define VMMU_SET_SREGS		_IOW(VMMUIO, 0x84, struct vmmu_sregs)
#define VMMU_GET_XSAVE		_IOR(VMMUIO, 0x85, struct vmmu_xsave)
#define VMMU_SET_XSAVE		_IOW(VMMUIO, 0x86, struct vmmu_xsave)

#endif /* _UAPI_LINUX_VMMU_H */
