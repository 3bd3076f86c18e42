// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "vmmu_util.h"

int vmmu_open_dev(void)
{
	int fd = open(VMMU_DEV, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

long vmmu_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

int vmmu_create_vm(int dev, unsigned int type)
{
	struct vmmu_create_vm args = { .type = type };

	return vmmu_ioctl(dev, VMMU_CREATE_VM, (unsigned long)&args);
}

int vmmu_create_vm_flags(int dev, unsigned int type, unsigned int flags)
{
	struct vmmu_create_vm args = { .type = type, .flags = flags };

	return vmmu_ioctl(dev, VMMU_CREATE_VM, (unsigned long)&args);
}

int vmmu_new_vm(unsigned int type, unsigned int flags)
{
	int dev = vmmu_open_dev(), vm;

	if (dev < 0)
		return dev;
	vm = vmmu_create_vm_flags(dev, type, flags);
	close(dev);
	return vm;
}

int vmmu_set_memslot(int vm, __u32 slot, __u32 flags, __u64 gpa, __u64 size,
		     const void *hva)
{
	struct vmmu_memslot m = vmmu_slot(slot, flags, gpa, size, hva);

	return vmmu_ioctl(vm, VMMU_SET_MEMSLOT, (unsigned long)&m);
}

int vmmu_set_memslots(int vm, const struct vmmu_memslot *entries, __u32 nr,
		      __u32 *error_index)
{
	struct vmmu_memslot_batch *batch;
	size_t size = sizeof(*batch) + nr * sizeof(*entries);
	int r;

	batch = calloc(1, size);
	if (!batch)
		return -ENOMEM;
	batch->nr = nr;
	batch->error_index = 0x5a5a5a5a;
	memcpy(batch->entries, entries, nr * sizeof(*entries));
	r = vmmu_ioctl(vm, VMMU_SET_MEMSLOTS, (unsigned long)batch);
	if (error_index)
		*error_index = batch->error_index;
	free(batch);
	return r;
}

int vmmu_access(int vm, __u64 gpa, void *buf, __u32 len, __u32 flags,
		struct vmmu_access *out)
{
	struct vmmu_access a = {
		.guest_phys_addr = gpa, .buf = (uintptr_t)buf, .len = len,
		.flags = flags,
	};
	int r = vmmu_ioctl(vm, VMMU_ACCESS, (unsigned long)&a);

	if (out)
		*out = a;
	return r;
}

int vmmu_read(int vm, __u64 gpa, void *buf, __u32 len)
{
	struct vmmu_access a;

	return vmmu_access(vm, gpa, buf, len, 0, &a) || a.done != len ? -1 : 0;
}

int vmmu_write(int vm, __u64 gpa, const void *buf, __u32 len)
{
	struct vmmu_access a;

	return vmmu_access(vm, gpa, (void *)buf, len, VMMU_ACCESS_WRITE, &a) ||
	       a.done != len ? -1 : 0;
}

__u32 vmmu_translated(int vm, __u64 gpa)
{
	struct vmmu_translation t = { .guest_phys_addr = gpa };

	return vmmu_ioctl(vm, VMMU_TRANSLATE, (unsigned long)&t) ? ~0U : t.flags;
}

int vmmu_lookup(int vm, __u64 gpa, struct vmmu_memslot_lookup *out)
{
	memset(out, 0, sizeof(*out));
	out->guest_phys_addr = gpa;
	return vmmu_ioctl(vm, VMMU_LOOKUP_MEMSLOT, (unsigned long)out);
}

int vmmu_get_stats(int vm, struct vmmu_vm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->size = sizeof(*stats);
	return vmmu_ioctl(vm, VMMU_GET_STATS, (unsigned long)stats);
}

/* Read field @field of debugfs vmmu/<pid>-<id>/stats into *@out. */
static int debugfs_vm_field(int pid, const char *field, __u64 *out)
{
	char prefix[32], path[512], line[128];
	size_t len = strlen(field);
	struct dirent *de;
	int r = -ENOENT;
	DIR *dir;
	FILE *f;

	snprintf(prefix, sizeof(prefix), "%d-", pid);
	dir = opendir(VMMU_DEBUGFS);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), VMMU_DEBUGFS "/%s/stats", de->d_name);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, field, len) && line[len] == ':') {
				*out = strtoull(line + len + 1, NULL, 10);
				r = 0;
			}
		fclose(f);
		break;
	}
	closedir(dir);
	return r;
}

long vmmu_debugfs_vm_stat(int pid, const char *field)
{
	__u64 v;
	int r = debugfs_vm_field(pid, field, &v);

	return r ? r : (long)v;
}

int vmmu_debugfs_vm_stat_u64(int pid, const char *field, __u64 *out)
{
	return debugfs_vm_field(pid, field, out);
}

int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		r = -errno ?: -EIO;
	close(fd);
	return r;
}

int vmmu_set_param(const char *name, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/vmmu/parameters/%s", name);
	return write_file(path, value);
}

int memory_cgroup(const char *name)
{
	char path[256];
	int r;

	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) &&
	    mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL))
		return -errno;
	r = write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (r)
		return r;
	snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", name);
	return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * Read the small file @path into @buf as a string: its length, or -errno
 * (-EIO for an empty file).
 */
ssize_t read_small_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else if (n == 0)
		n = -EIO;
	close(fd);
	if (n > 0)
		buf[n] = '\0';
	return n;
}

long vmmu_live_vms(void)
{
	char buf[32];
	ssize_t n;

	n = read_small_file(VMMU_DEBUGFS "/vms", buf, sizeof(buf));
	if (n < 0)
		return n;
	return strtol(buf, NULL, 10);
}

long vmmu_wait_live_vms(long want, int ms)
{
	struct timespec ts = { .tv_nsec = 1000 * 1000 };
	long n;

	while ((n = vmmu_live_vms()) != want && ms-- > 0)
		nanosleep(&ts, NULL);
	return n;
}

static bool cpuinfo_has_flag(const char *line, const char *flag)
{
	size_t len = strlen(flag);
	const char *p = line;

	while ((p = strstr(p, flag))) {
		if (p[-1] == ' ' && (p[len] == ' ' || p[len] == '\n'))
			return true;
		p += len;
	}
	return false;
}

bool cpu_has_flags(const char *flags)
{
	char line[8192], want[256], *tok, *save;
	bool found = false;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = true;
		snprintf(want, sizeof(want), "%s", flags);
		for (tok = strtok_r(want, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save))
			found &= cpuinfo_has_flag(line, tok);
		break;
	}
	fclose(f);
	return found;
}

int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -errno ?: -EPIPE;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* What scripts/check.sh calls a dirty kernel log (BAD_KLOG). */
static const char *const bad_klog[] = {
	"WARNING:", "BUG:", "Oops", "general protection",
	"possible circular locking", "KASAN", "UBSAN", "RCU stall",
	"detected stall", "hung task", "blocked for more than", "refcount_t",
};

int kmsg_problems(int fd, char *first, size_t len)
{
	char rec[8192];
	int n = 0;
	unsigned int i;
	ssize_t r;

	if (len)
		first[0] = '\0';
	for (;;) {
		r = read(fd, rec, sizeof(rec) - 1);
		if (r < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (r <= 0)
			break;
		rec[r] = '\0';
		for (i = 0; i < sizeof(bad_klog) / sizeof(bad_klog[0]); i++) {
			if (!strstr(rec, bad_klog[i]))
				continue;
			if (!n++ && len)
				snprintf(first, len, "%s", rec);
			break;
		}
	}
	return n;
}

char proc_task_state(int tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return 0;
	/* "pid (comm) S ...": comm may hold anything, even ") ". */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

long proc_task_syscall(int tid)
{
	char path[64], buf[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/syscall", tid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (!strncmp(buf, "running", 7))
		return -1;
	return strtol(buf, NULL, 10);
}

int wait_task_blocked_in(int tid, long nr, int settle_ms, int ms)
{
	double start = now_ms(), since = 0;
	struct timespec ts = { .tv_nsec = 2 * 1000 * 1000 };

	while (now_ms() - start < ms) {
		char state = proc_task_state(tid);

		if (!state)
			return -ESRCH;
		if (state == 'D' && proc_task_syscall(tid) == nr) {
			if (!since)
				since = now_ms();
			if (now_ms() - since >= settle_ms)
				return 0;
		} else {
			since = 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int load_module(const char *path)
{
	return load_module_params(path, "");
}

int load_module_params(const char *path, const char *params)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, params, 0);
	r = r ? -errno : 0;
	close(fd);
	return r;
}

int unload_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

bool module_loaded(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return stat(path, &st) == 0;
}
