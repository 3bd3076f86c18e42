/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels vmmu builds for.  Every VMMU_HAVE_* comes
 * from a probe in probes/ compiled against the target kernel at build time
 * (see Kbuild), never from a version check: distributions backport.
 */
#ifndef VMMU_COMPAT_H
#define VMMU_COMPAT_H

#include "compat_gen.h"

#endif /* VMMU_COMPAT_H */
