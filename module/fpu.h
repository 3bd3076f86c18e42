/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The guest's x87/SSE/AVX state (fpu.c): kept in an XSAVE area of the
 * host's user features, swapped with the CPU's around each guest entry.
 */
#ifndef VMMU_FPU_H
#define VMMU_FPU_H

#include <linux/vmmu.h>

int vmmu_fpu_init(void);
void vmmu_fpu_init_xsave(void *area);
int vmmu_fpu_check_xsave(const struct vmmu_xsave *xs);
u32 vmmu_fpu_enter_guest(void *area);
void vmmu_fpu_leave_guest(void *area, u32 host_pkru);

#endif /* VMMU_FPU_H */
