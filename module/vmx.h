/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The VMX backend's internals: vmx.c runs vCPUs, vmx_cpu.c borrows VMX
 * operation from the CPU around each entry (docs/coexistence.md).
 */
#ifndef VMMU_VMX_H
#define VMMU_VMX_H

#include <linux/types.h>

/* What the CPU offers, read from the VMX capability MSRs at load. */
struct vmmu_vmx_caps {
	u32 revision;			/* of the VMCS and VMXON regions */
	u32 pin, proc, proc2, exit, entry;	/* the controls vmmu runs with */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 eptp_flags;			/* memory type, walk length, A/D */
	bool invept_single;		/* INVEPT of one context, else all */
	bool vpid;			/* VPIDs, with INVVPID */
	bool invvpid_single;		/* INVVPID of one VPID, else all */
};

/* What an entry found on the CPU, to put back afterwards. */
struct vmmu_vmx_borrow {
	unsigned long cr4;
	u64 current_vmcs;	/* VMPTRST: -1 when no VMCS was current */
	bool vmxon;		/* VMX was off: vmmu did VMXON, does VMXOFF */
};

extern struct vmmu_vmx_caps vmmu_vmx_caps;

int vmmu_vmx_cpus_init(void);
void vmmu_vmx_cpus_free(void);
int vmmu_vmx_borrow(struct vmmu_vmx_borrow *b);
void vmmu_vmx_give_back(const struct vmmu_vmx_borrow *b);

int vmmu_vmclear(u64 pa);
int vmmu_vmptrld(u64 pa);
int vmmu_invept(u64 eptp);
int vmmu_invvpid(u16 vpid);

/* Returns 0 after a VM exit, 1 if VMLAUNCH itself failed (VMfail). */
int __vmmu_vmx_vmlaunch(u64 *gprs);
/* Where a VM exit lands: HOST_RIP. */
void vmmu_vmx_vmexit(void);

#endif /* VMMU_VMX_H */
