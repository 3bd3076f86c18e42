/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vCPUs: the generic part (vcpu.c) and what a hardware backend (svm.c,
 * vmx.c)
 * provides.  docs/abi.md has the ABI, docs/coexistence.md how a backend
 * shares the CPU with the kernel's own KVM.
 */
#ifndef VMMU_VCPU_H
#define VMMU_VCPU_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <asm/nospec-branch.h>

#include "vmmu.h"
#include "insn.h"

#define VMMU_MAX_VCPUS		1024
/* Where VMMU_EXIT_IO data sits in the run page. */
#define VMMU_RUN_IO_DATA	512

/* Indexes of struct vmmu_gprs (insn.h), in x86 encoding order. */
enum vmmu_gpr {
	VMMU_RAX, VMMU_RCX, VMMU_RDX, VMMU_RBX,
	VMMU_RSP, VMMU_RBP, VMMU_RSI, VMMU_RDI,
	VMMU_R8, VMMU_R9, VMMU_R10, VMMU_R11,
	VMMU_R12, VMMU_R13, VMMU_R14, VMMU_R15,
};

/* vcpu->mode: who may need a kick to see a request. */
enum {
	VMMU_OUTSIDE_GUEST_MODE,
	VMMU_IN_GUEST_MODE,
};

/*
 * With VMMU_ACCESS_*: the access was not the instruction at RIP's own (the
 * guest's page-table walk, or the delivery of an event): never MMIO.
 */
#define VMMU_NPF_NOT_INSN	BIT(16)

/* kvm_exit's isa field: KVM's KVM_ISA_VMX and KVM_ISA_SVM. */
#define VMMU_TRACE_ISA_VMX	1
#define VMMU_TRACE_ISA_SVM	2

/* vcpu->requests: bits set by others, handled before the next entry. */
#define VMMU_REQ_TLB_FLUSH	0

/* What the next VMMU_RUN completes before entering: an IN or MMIO read. */
enum vmmu_pending {
	VMMU_PENDING_NONE,
	VMMU_PENDING_IO_IN,
	VMMU_PENDING_MMIO_READ,
};

struct vmmu_vcpu {
	struct vmmu_vm *vm;
	u32 id;
	/* Serialises the vCPU's ioctls: one thread runs it at a time. */
	struct mutex mutex;
	struct vmmu_run *run;		/* one page, mmap()ed by user space */

	/* Guest state the backend does not keep in hardware structures. */
	struct vmmu_gprs gprs;		/* RAX and RSP live in the backend's */
	void *xsave;			/* XSAVE area, one page */

	int mode;			/* VMMU_*_GUEST_MODE */
	int cpu;			/* where it last entered */
	unsigned long requests;		/* VMMU_REQ_* */

	enum vmmu_pending pending;
	u8 pending_size;		/* IN: bytes */
	struct vmmu_insn pending_insn;	/* MMIO read: the load to complete */
	/* The CPU refused state vmmu built (a vmmu bug): runs fail, EIO. */
	bool bugged;

	void *arch;			/* the backend's state */
};

/*
 * A hardware backend.  @run enters the guest once and handles the exit:
 * 0 to enter again, 1 to return to user space with vcpu->run filled, or
 * -errno.  The register ioctls convert between the ABI's structs and the
 * backend's state.
 */
struct vmmu_vcpu_ops {
	const char *name;
	int (*create)(struct vmmu_vcpu *vcpu);
	void (*destroy)(struct vmmu_vcpu *vcpu);
	int (*run)(struct vmmu_vcpu *vcpu);
	/* RIP and RFLAGS only: vcpu.c keeps the GPRs. */
	void (*get_regs)(struct vmmu_vcpu *vcpu, struct vmmu_regs *regs);
	void (*set_regs)(struct vmmu_vcpu *vcpu, const struct vmmu_regs *regs);
	void (*get_sregs)(struct vmmu_vcpu *vcpu, struct vmmu_sregs *sregs);
	int (*set_sregs)(struct vmmu_vcpu *vcpu, const struct vmmu_sregs *sregs);
	/* Advance RIP past an instruction of @len bytes. */
	void (*skip)(struct vmmu_vcpu *vcpu, unsigned int len);
};

/* The backend for this host, or NULL: VMs cannot run vCPUs here. */
extern const struct vmmu_vcpu_ops *vmmu_vcpu_ops;
extern const u16 vmmu_verw_sel;

/* vcpu.c */
int vmmu_create_vcpu(struct vmmu_vm *vm, unsigned long id);
void vmmu_vcpus_destroy(struct vmmu_vm *vm);
void vmmu_kick_vcpus(struct vmmu_vm *vm);
int vmmu_vcpu_handle_npf(struct vmmu_vcpu *vcpu, u64 gpa, u32 access);
long vmmu_vcpu_max(struct vmmu_vm *vm);
void vmmu_vcpu_get_regs(struct vmmu_vcpu *vcpu, struct vmmu_regs *regs);
bool vmmu_vcpu_enter_begin(struct vmmu_vcpu *vcpu);
void vmmu_vcpu_enter_end(struct vmmu_vcpu *vcpu, bool ran, bool mce);

/* svm.c, vmx.c: each sets vmmu_vcpu_ops if this CPU is its kind. */
int vmmu_svm_init(void);
void vmmu_svm_exit(void);
int vmmu_vmx_init(void);
void vmmu_vmx_exit(void);

/*
 * Interrupts off, after a guest ran on this CPU.  VMSCAPE: the guest may
 * have trained the indirect branch predictors against the VMM in user
 * space; where the kernel mitigates it, this CPU does an IBPB before it
 * next returns to user space.
 */
static inline void vmmu_guest_ran(void)
{
#ifdef X86_FEATURE_IBPB_EXIT_TO_USER
	if (cpu_feature_enabled(X86_FEATURE_IBPB_EXIT_TO_USER))
		this_cpu_write(x86_ibpb_exit_to_user, true);
#endif
}

#endif /* VMMU_VCPU_H */
