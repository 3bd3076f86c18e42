/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the vmmu selftests.  They return -errno instead of
 * setting errno so that a test can assert the exact error in one line.
 */
#ifndef VMMU_UTIL_H
#define VMMU_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/vmmu.h>

#define VMMU_DEV		"/dev/vmmu"
#define VMMU_DEBUGFS		"/sys/kernel/debug/vmmu"

/* open(/dev/vmmu): the fd, or -errno. */
int vmmu_open_dev(void);

/* ioctl(): its non-negative result, or -errno. */
long vmmu_ioctl(int fd, unsigned long cmd, unsigned long arg);

/* VMMU_CREATE_VM with @type and everything else zero: the VM fd or -errno. */
int vmmu_create_vm(int dev, unsigned int type);

/* VMMU_CREATE_VM with @type and @flags: the VM fd or -errno. */
int vmmu_create_vm_flags(int dev, unsigned int type, unsigned int flags);

/* Open /dev/vmmu and create a VM: the VM fd or -errno.  Closes the dev fd. */
int vmmu_new_vm(unsigned int type, unsigned int flags);

/* VMMU_SET_MEMSLOT: 0 or -errno. */
int vmmu_set_memslot(int vm, __u32 slot, __u32 flags, __u64 gpa, __u64 size,
		     const void *hva);

/*
 * VMMU_SET_MEMSLOTS with @nr entries: 0 or -errno; *@error_index (if not
 * NULL) receives the batch's error_index.
 */
int vmmu_set_memslots(int vm, const struct vmmu_memslot *entries, __u32 nr,
		      __u32 *error_index);

static inline struct vmmu_memslot vmmu_slot(__u32 slot, __u32 flags,
					    __u64 gpa, __u64 size,
					    const void *hva)
{
	struct vmmu_memslot m = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (unsigned long)hva,
	};
	return m;
}

/*
 * VMMU_ACCESS of [gpa, gpa + len) with @flags: 0 or -errno; *@out (if not
 * NULL) receives the struct as the module left it (done, exit, exit_gpa).
 */
int vmmu_access(int vm, __u64 gpa, void *buf, __u32 len, __u32 flags,
		struct vmmu_access *out);

/* Read or write all of [gpa, gpa + len) through VMMU_ACCESS: 0, or -1. */
int vmmu_read(int vm, __u64 gpa, void *buf, __u32 len);
int vmmu_write(int vm, __u64 gpa, const void *buf, __u32 len);

/* VMMU_TRANSLATE's flags for @gpa, or ~0 when the ioctl fails. */
__u32 vmmu_translated(int vm, __u64 gpa);

/* VMMU_LOOKUP_MEMSLOT for @gpa: 0 or -errno. */
int vmmu_lookup(int vm, __u64 gpa, struct vmmu_memslot_lookup *out);

/* VMMU_GET_STATS with the full struct: 0 or -errno. */
int vmmu_get_stats(int vm, struct vmmu_vm_stats *stats);

/*
 * A field of debugfs vmmu/<pid>-<id>/stats for the VM created by @pid (the
 * only one it created), or -errno.
 */
long vmmu_debugfs_vm_stat(int pid, const char *field);

/* The same field as an unsigned 64-bit value: 0 or -errno. */
int vmmu_debugfs_vm_stat_u64(int pid, const char *field, __u64 *out);

/* Write @value to /sys/module/vmmu/parameters/@name: 0 or -errno. */
int vmmu_set_param(const char *name, const char *value);

/* Write @value to a file (tracefs, cgroupfs, ...): 0 or -errno. */
int write_file(const char *path, const char *value);

/*
 * Make the cgroup-v2 group @name (under /sys/fs/cgroup, mounted if need be)
 * with the memory controller: 0 or -errno.  An existing group is reused.
 */
int memory_cgroup(const char *name);

/* Milliseconds on CLOCK_MONOTONIC. */
double now_ms(void);

/* The running kernel is at least @major.@minor. */
bool kernel_at_least(int major, int minor);

/* The module's count of live VM objects (debugfs vmmu/vms), or -errno. */
ssize_t read_small_file(const char *path, char *buf, size_t len);
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

/*
 * The kernel log from now on: kmsg_open() returns an fd of /dev/kmsg
 * positioned at its end (or -errno); kmsg_problems() reads what was logged
 * since and returns how many records match what the test harness counts as
 * a dirty kernel log (WARNING:, BUG:, Oops, lockdep, stalls, hung tasks...),
 * copying the first into @first.  Closes nothing.
 */
int kmsg_open(void);
int kmsg_problems(int fd, char *first, size_t len);

/*
 * A task (thread or process, by its tid) as /proc shows it: its state
 * letter ('R', 'S', 'D'...), or 0 if it is gone; and the number of the
 * system call it is blocked in, -1 if it is in none (running in user
 * space), or -errno.
 */
char proc_task_state(int tid);
long proc_task_syscall(int tid);

/*
 * Wait up to @ms milliseconds until task @tid sleeps uninterruptibly (or
 * killably: 'D') inside system call @nr, and has stayed so for @settle_ms:
 * 0, or -ETIMEDOUT (or -ESRCH if it is gone).
 */
int wait_task_blocked_in(int tid, long nr, int settle_ms, int ms);

/* Module (un)loading; 0 or -errno.  @path is a .ko file. */
int load_module(const char *path);
int load_module_params(const char *path, const char *params);
int unload_module(const char *name);
bool module_loaded(const char *name);

#endif /* VMMU_UTIL_H */
