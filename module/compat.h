/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels vmmu builds for.  Every VMMU_HAVE_* comes
 * from a probe in probes/ compiled against the target kernel at build time
 * (see Kbuild), never from a version check: distributions backport.
 */
#ifndef VMMU_COMPAT_H
#define VMMU_COMPAT_H

#include "compat_gen.h"

/*
 * What the mmu_notifier_ops aging callbacks (clear_flush_young,
 * clear_young, test_young) return: bool from 7.x, int before.
 */
#ifdef VMMU_HAVE_MN_YOUNG_BOOL
#define vmmu_mn_young_t bool
#else
#define vmmu_mn_young_t int
#endif

/* cpuid_count(), cpuid_ebx(): <asm/processor.h> before 7.x. */
#ifdef VMMU_HAVE_CPUID_API_H
#include <asm/cpuid/api.h>
#endif

/* The 64-bit MSR accessors: rdmsrq()/wrmsrq() from 7.x, rdmsrl() before. */
#ifndef VMMU_HAVE_RDMSRQ
#define rdmsrq(msr, val)	rdmsrl(msr, val)
#define wrmsrq(msr, val)	wrmsrl(msr, val)
#endif

/* The VMCB field and bit that enable nested paging. */
#ifdef VMMU_HAVE_VMCB_MISC_CTL
#define vmmu_vmcb_np_ctl		misc_ctl
#define VMMU_VMCB_NP_ENABLE		SVM_MISC_ENABLE_NP
#else
#define vmmu_vmcb_np_ctl		nested_ctl
#define VMMU_VMCB_NP_ENABLE		SVM_NESTED_CTL_NP_ENABLE
#endif

#endif /* VMMU_COMPAT_H */
