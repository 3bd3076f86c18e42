/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's <linux/types.h>, as far as module/insn.c uses it, so that
 * insn_test builds that file unchanged.  Only insn_test has lib/kshim on
 * its include path; <linux/errno.h> is the system's (uapi) one.
 */
#ifndef VMMU_KSHIM_LINUX_TYPES_H
#define VMMU_KSHIM_LINUX_TYPES_H

/* The uapi header: __u8 .. __s64, as the kernel's own builds on it. */
#include_next <linux/types.h>
#include <stdbool.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s8 s8;
typedef __s16 s16;
typedef __s32 s32;
typedef __s64 s64;

#endif /* VMMU_KSHIM_LINUX_TYPES_H */
