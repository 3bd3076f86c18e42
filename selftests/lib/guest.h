/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Real guests through one interface and two backends, chosen when the VM
 * is created: in-tree KVM (/dev/kvm) or vmmu (/dev/vmmu).  The same
 * payloads (payloads.h) run on both, so a test or the benchmark is written
 * once and compares the two.
 *
 * A VM starts with the library's system memslot, GUEST_SYS_SLOT at gpa 0:
 * identity-mapping page tables for [0, GUEST_MAP_SIZE) with 2 MiB pages,
 * a GDT (64-bit code, data, a TSS), an IDT whose stubs report exceptions
 * on GUEST_PORT_EXCEPTION, the payloads and one stack per vCPU.  Tests add
 * their own memslots (any other slot number) and start payloads on vCPUs.
 *
 * Functions return 0 (or a count) on success and -errno on failure, so a
 * test asserts the exact error in one line.  A vCPU is used by one thread
 * at a time; different vCPUs may run on different threads.
 */
#ifndef VMMU_GUEST_H
#define VMMU_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "payloads.h"

enum guest_backend {
	GUEST_KVM,
	GUEST_VMMU,
};

/* Guest-physical layout of the system memslot. */
#define GUEST_SYS_SLOT		0
#define GUEST_SYS_SIZE		(2UL << 20)
#define GUEST_GDT_GPA		0x1000
#define GUEST_IDT_GPA		0x2000
#define GUEST_PML4_GPA		0x3000
#define GUEST_PDPT_GPA		0x4000
#define GUEST_TSS_GPA		0x5000
#define GUEST_CODE_GPA		0x8000	/* the payloads; below 64 KiB for real mode */
#define GUEST_CODE_SIZE		0x8000
#define GUEST_PD_GPA		0x10000	/* one page directory per GiB mapped */
#define GUEST_MAP_SIZE		(4ULL << 30)
/* vCPU i's stack: GUEST_STACK_SIZE bytes below GUEST_STACK_TOP - i * SIZE. */
#define GUEST_STACK_SIZE	0x4000
#define GUEST_STACK_TOP		GUEST_SYS_SIZE
#define GUEST_MAX_VCPUS		64	/* vCPU ids the stacks allow */

/* GDT selectors. */
#define GUEST_SEL_CODE		0x08
#define GUEST_SEL_DATA		0x10
#define GUEST_SEL_TSS		0x18

#define GUEST_MAX_SLOTS		64	/* slot numbers the library tracks */

/* guest_set_memslot() flags. */
#define GUEST_MEM_READONLY	0x1
#define GUEST_MEM_LOG_DIRTY	0x2

struct guest_slot {
	__u64 gpa, size;	/* size 0: unused */
	void *hva;
	__u32 flags;
};

struct guest_vm {
	enum guest_backend backend;
	int dev;		/* /dev/kvm or /dev/vmmu */
	int fd;			/* the VM */
	long run_size;		/* bytes to mmap() on a vCPU fd */
	void *sys;		/* host memory of the system memslot */
	struct guest_slot slots[GUEST_MAX_SLOTS];
	void *cpuid;		/* KVM: struct kvm_cpuid2, given to each vCPU */
};

enum guest_exit_kind {
	GUEST_EXIT_IO,
	GUEST_EXIT_MMIO,
	GUEST_EXIT_HLT,
	GUEST_EXIT_SHUTDOWN,		/* triple fault */
	GUEST_EXIT_FAIL_ENTRY,
	GUEST_EXIT_INTR,		/* run returned EINTR (signal, immediate_exit) */
	GUEST_EXIT_MEMORY_FAULT,	/* vmmu only */
	GUEST_EXIT_UNKNOWN,
};

/* What guest_run() saw, the same for both backends. */
struct guest_exit {
	enum guest_exit_kind kind;
	__u32 raw;			/* the backend's exit_reason */
	union {
		struct {
			__u16 port;
			__u8 size;	/* 1, 2 or 4 */
			bool out;
			__u32 count;	/* 1 unless string I/O */
			__u32 data;	/* OUT: the value; IN: see guest_complete_in() */
		} io;
		struct {
			__u64 gpa;
			__u32 len;
			bool write;
			__u64 data;	/* write: the value; read: see guest_complete_mmio_read() */
		} mmio;
		struct {
			__u64 reason;	/* the hardware's */
			__u32 cpu;
		} fail_entry;
		struct {
			__u64 gpa;
			__u32 reason;	/* VMMU_ACCESS_EXIT_* */
			__u32 flags;	/* VMMU_ACCESS_WRITE, _FETCH */
		} memory_fault;
		struct {
			__u64 code;	/* KVM: hardware exit reason or internal-error suberror */
			__u64 info1, info2;
		} unknown;
	};
};

struct guest_vcpu {
	struct guest_vm *vm;
	int id;
	int fd;
	void *run;		/* struct kvm_run or struct vmmu_run */
	struct guest_exit exit;	/* of the last guest_run() */
};

/* The layouts of struct kvm_regs and struct vmmu_regs. */
struct guest_regs {
	__u64 rax, rbx, rcx, rdx;
	__u64 rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11;
	__u64 r12, r13, r14, r15;
	__u64 rip, rflags;
};

struct guest_segment {
	__u64 base;
	__u32 limit;
	__u16 selector;
	__u8 type, present, dpl, db, s, l, g, avl, unusable;
};

struct guest_dtable {
	__u64 base;
	__u16 limit;
};

/* What both backends' special registers have in common. */
struct guest_sregs {
	struct guest_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct guest_dtable gdt, idt;
	__u64 cr0, cr2, cr3, cr4, efer;
};

/* Standard-format XSAVE area (the legacy FXSAVE part at the start). */
struct guest_xsave {
	__u32 region[1024];
};

/* "kvm" or "vmmu". */
const char *guest_backend_name(enum guest_backend backend);

/*
 * How many vCPU ids a VM of @backend accepts, 0 when it cannot run vCPUs,
 * -errno when the device cannot be opened.  For vmmu, VMMU_CAP_VCPUS on a
 * VM of type VMMU_VM_TYPE_HOST.
 */
long guest_backend_vcpus(enum guest_backend backend);

/* Create a VM with its system memslot: 0 or -errno. */
int guest_vm_create(struct guest_vm *vm, enum guest_backend backend);

/*
 * The same with VMMU_CREATE_VM flags (VMMU_VM_MN_NO_LOCK_ELISION) for a
 * vmmu VM; -EINVAL for flags on a KVM VM.
 */
int guest_vm_create_flags(struct guest_vm *vm, enum guest_backend backend,
			  __u32 vmmu_flags);

/* Close the VM and free what guest_vm_create() allocated (vCPUs first). */
void guest_vm_destroy(struct guest_vm *vm);

/* vCPU ids this VM accepts (0 .. n - 1), or -errno. */
long guest_vm_vcpu_ids(struct guest_vm *vm);

/*
 * Anonymous private memory of @size bytes aligned to @align (a power of
 * two; at least the page size is used), for memslots; NULL on failure.
 */
void *guest_alloc(size_t size, size_t align);
void guest_free(void *mem, size_t size);

/*
 * Create, change or (size 0) delete memslot @slot (1 .. GUEST_MAX_SLOTS - 1)
 * with GUEST_MEM_* @flags: 0 or -errno.
 */
int guest_set_memslot(struct guest_vm *vm, __u32 slot, __u32 flags,
		      __u64 gpa, __u64 size, void *hva);

/* The host address of @gpa in the VM's memslots, or NULL. */
void *guest_hva(struct guest_vm *vm, __u64 gpa);

/* The guest-physical address of a payload (a symbol of payloads.h). */
__u64 guest_payload_gpa(const char *payload);

/*
 * Create vCPU @id with its run structure mapped, ready for 64-bit payloads
 * (guest_vcpu_long_mode()): 0 or -errno.
 */
int guest_vcpu_create(struct guest_vm *vm, struct guest_vcpu *vcpu, int id);
void guest_vcpu_destroy(struct guest_vcpu *vcpu);

/*
 * Special registers for 64-bit long mode: paging over the library's
 * identity map, CR0 PE|MP|ET|NE|WP|PG, CR4 PAE|OSFXSR|OSXMMEXCPT, EFER
 * LME|LMA, flat 64-bit code and data segments, the TSS and IDT.
 */
int guest_vcpu_long_mode(struct guest_vcpu *vcpu);

/* Special registers for real mode: flat segments with base 0, no paging. */
int guest_vcpu_real_mode(struct guest_vcpu *vcpu);

/*
 * Start @payload at the next guest_run(): rip at the payload, rdi, rsi,
 * rdx, rcx = @a0 .. @a3, the vCPU's own stack, RFLAGS IF (see guest.c), other
 * registers 0.
 */
int guest_vcpu_call(struct guest_vcpu *vcpu, const char *payload,
		    __u64 a0, __u64 a1, __u64 a2, __u64 a3);

int guest_get_regs(struct guest_vcpu *vcpu, struct guest_regs *regs);
int guest_set_regs(struct guest_vcpu *vcpu, const struct guest_regs *regs);
int guest_get_sregs(struct guest_vcpu *vcpu, struct guest_sregs *sregs);
/* Leaves what only one backend has (KVM: apic_base, cr8) as it was. */
int guest_set_sregs(struct guest_vcpu *vcpu, const struct guest_sregs *sregs);
int guest_get_xsave(struct guest_vcpu *vcpu, struct guest_xsave *xsave);
int guest_set_xsave(struct guest_vcpu *vcpu, const struct guest_xsave *xsave);

/*
 * The 16 bytes of xmm@n in @xsave.  Setting one also marks the SSE state
 * present in the XSAVE header (XSTATE_BV): without that bit, restoring the
 * state zeroes every xmm register.  Getting one reads zeros when the bit is
 * clear (the registers are in their initial state).
 */
void guest_xsave_set_xmm(struct guest_xsave *xsave, int n, const void *value);
void guest_xsave_get_xmm(const struct guest_xsave *xsave, int n, void *value);

/* The run structure's immediate_exit flag. */
void guest_set_immediate_exit(struct guest_vcpu *vcpu, bool on);

/*
 * Run until the guest exits to user space.  0 with vcpu->exit filled
 * (kind GUEST_EXIT_INTR when the run ioctl failed with EINTR), or -errno
 * when the run ioctl failed otherwise.
 */
int guest_run(struct guest_vcpu *vcpu);

/*
 * Answer the IN (guest_complete_in) or MMIO read (guest_complete_mmio_read)
 * of the last exit; the next guest_run() completes the instruction with
 * @value's low bytes.  -EINVAL if the last exit was not that.
 */
int guest_complete_in(struct guest_vcpu *vcpu, __u32 value);
int guest_complete_mmio_read(struct guest_vcpu *vcpu, __u64 value);

/* "IO", "MMIO", "HLT", ... */
const char *guest_exit_name(enum guest_exit_kind kind);

/* One line describing @exit, in @buf; returns @buf. */
char *guest_exit_str(const struct guest_exit *exit, char *buf, size_t len);

#endif /* VMMU_GUEST_H */
