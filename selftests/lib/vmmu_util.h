/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the vmmu selftests.  They return -errno instead of
 * setting errno so that a test can assert the exact error in one line.
 */
#ifndef VMMU_UTIL_H
#define VMMU_UTIL_H

#include <stdbool.h>
#include <linux/vmmu.h>

#define VMMU_DEV		"/dev/vmmu"
#define VMMU_DEBUGFS		"/sys/kernel/debug/vmmu"

/* open(/dev/vmmu): the fd, or -errno. */
int vmmu_open_dev(void);

/* ioctl(): its non-negative result, or -errno. */
long vmmu_ioctl(int fd, unsigned long cmd, unsigned long arg);

/* VMMU_CREATE_VM with @type and everything else zero: the VM fd or -errno. */
int vmmu_create_vm(int dev, unsigned int type);

/* The module's count of live VM objects (debugfs vmmu/vms), or -errno. */
long vmmu_live_vms(void);

/*
 * Wait up to @ms milliseconds for the live-VM count to reach @want; returns
 * the last value read.  Teardown is synchronous today, but the tests must
 * not depend on that.
 */
long vmmu_wait_live_vms(long want, int ms);

/* True when /proc/cpuinfo lists every flag in @flags (space separated). */
bool cpu_has_flags(const char *flags);

/* Unix-socket fd passing, for handing a VM fd to another process. */
int send_fd(int sock, int fd);
int recv_fd(int sock);

/* Module (un)loading; 0 or -errno.  @path is a .ko file. */
int load_module(const char *path);
int unload_module(const char *name);
bool module_loaded(const char *name);

#endif /* VMMU_UTIL_H */
