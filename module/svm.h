/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SVM backend's internals: svm.c runs vCPUs, svm_cpu.c borrows SVM
 * from the CPU around each entry (docs/coexistence.md).
 */
#ifndef VMMU_SVM_H
#define VMMU_SVM_H

#include <asm/svm.h>

/* Per CPU: the pages SVM needs besides a vCPU's VMCB. */
struct vmmu_svm_cpu {
	struct page *hsave;		/* host state VMRUN saves */
	struct page *host_save;		/* host state VMSAVE/VMLOAD keep */
	struct vmcb *flush_vmcb;	/* a guest that only flushes the TLB */
};

/* What an entry found on the CPU, to put back afterwards. */
struct vmmu_svm_borrow {
	u64 efer;
	u64 hsave_pa;
	bool shared;		/* SVM was on: someone else's ASIDs are live */
};

extern u32 vmmu_svm_asid;
extern u64 vmmu_svm_iopm_pa, vmmu_svm_msrpm_pa;

void vmmu_svm_set_intercepts(struct vmcb *vmcb);
int vmmu_svm_cpus_init(void);
void vmmu_svm_cpus_free(void);
struct vmmu_svm_cpu *vmmu_svm_this_cpu(void);
void vmmu_svm_borrow(struct vmmu_svm_cpu *sc, struct vmmu_svm_borrow *b);
void vmmu_svm_give_back(struct vmmu_svm_cpu *sc,
			const struct vmmu_svm_borrow *b);

void __vmmu_svm_vmrun(u64 vmcb_pa, u64 host_save_pa, u64 *gprs);

#endif /* VMMU_SVM_H */
