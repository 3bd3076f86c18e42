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

#endif /* VMMU_COMPAT_H */
