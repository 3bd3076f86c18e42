// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/vmmu and the VM fd: API version, extensions, VM creation and its
 * errors, VM lifetime and the rule that a VM serves only its creator's mm.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

/* Reap @pid and return its exit status, or -1 if it did not exit normally. */
static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(dev_node_is_root_only)
{
	struct stat st;

	ASSERT_EQ(0, stat(VMMU_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
}

TEST(dev_open_refused_for_other_users)
{
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root to switch to an unprivileged user");

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(vmmu_open_dev() == -EACCES ? 0 : 1);
	}
	EXPECT_EQ(0, wait_child(pid));
}

TEST(api_version)
{
	int dev = vmmu_open_dev();

	ASSERT_LE(0, dev);
	EXPECT_EQ(VMMU_API_VERSION, vmmu_ioctl(dev, VMMU_GET_API_VERSION, 0));
	/* The argument is reserved and must be zero, as with KVM. */
	EXPECT_EQ(-EINVAL, vmmu_ioctl(dev, VMMU_GET_API_VERSION, 1));
	close(dev);
}

TEST(check_extension_known)
{
	long types, format, expect = 0;
	int dev = vmmu_open_dev();

	ASSERT_LE(0, dev);
	if (cpu_has_flags("svm npt"))
		expect = VMMU_VM_TYPE_NPT;
	else if (cpu_has_flags("vmx ept"))
		expect = VMMU_VM_TYPE_EPT;

	format = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT);
	EXPECT_EQ(expect, format);

	types = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_VM_TYPES);
	EXPECT_EQ((1L << VMMU_VM_TYPE_EPT) | (1L << VMMU_VM_TYPE_NPT) |
		  (format ? 1L << VMMU_VM_TYPE_HOST : 0), types);

	EXPECT_LE(32000, vmmu_ioctl(dev, VMMU_CHECK_EXTENSION,
				    VMMU_CAP_NR_MEMSLOTS));
	EXPECT_LT(0, vmmu_ioctl(dev, VMMU_CHECK_EXTENSION,
				VMMU_CAP_MEMSLOT_BATCH));
	EXPECT_EQ(48, vmmu_ioctl(dev, VMMU_CHECK_EXTENSION,
				 VMMU_CAP_MAX_GPA_BITS));
	EXPECT_EQ(VMMU_VM_MN_NO_LOCK_ELISION | VMMU_VM_MEMSLOT_BOUNDED_WAIT,
		  vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_VM_FLAGS));
	close(dev);
}

TEST(check_extension_unknown)
{
	static const unsigned long unknown[] = {
		0, 1000, 0x7fffffff, 0xffffffff, ~0UL,
	};
	int dev = vmmu_open_dev();
	unsigned int i;

	ASSERT_LE(0, dev);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		EXPECT_EQ(0, vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, unknown[i]))
			TH_LOG("extension %#lx", unknown[i]);
	close(dev);
}

TEST(create_vm_each_type)
{
	int dev = vmmu_open_dev(), vm;
	long host;

	ASSERT_LE(0, dev);
	host = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT);

	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_EPT);
	ASSERT_LE(0, vm);
	EXPECT_EQ(VMMU_VM_TYPE_EPT,
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	/* Generic extensions answer the same on the VM fd. */
	EXPECT_EQ(vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_VM_TYPES),
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_VM_TYPES));
	EXPECT_EQ(FD_CLOEXEC, fcntl(vm, F_GETFD) & FD_CLOEXEC);
	close(vm);

	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
	ASSERT_LE(0, vm);
	EXPECT_EQ(VMMU_VM_TYPE_NPT,
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	close(vm);

	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_HOST);
	if (host) {
		ASSERT_LE(0, vm);
		EXPECT_EQ(host, vmmu_ioctl(vm, VMMU_CHECK_EXTENSION,
					   VMMU_CAP_PT_FORMAT));
		close(vm);
	} else {
		EXPECT_EQ(-EOPNOTSUPP, vm);
	}
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
	close(dev);
}

TEST(create_vm_bad_args)
{
	static const unsigned int bad_types[] = { 3, 4, 0x100, 0xffffffff };
	static const unsigned int flag_bits[] = { 0x1, 0x2, 0x100, 0x80000000 };
	struct vmmu_create_vm args;
	int dev = vmmu_open_dev();
	long valid_flags;
	unsigned int i;

	ASSERT_LE(0, dev);
	ASSERT_EQ(0, vmmu_live_vms());
	valid_flags = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_VM_FLAGS);
	ASSERT_LE(0, valid_flags);

	for (i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
		EXPECT_EQ(-EINVAL, vmmu_create_vm(dev, bad_types[i]))
			TH_LOG("type %#x", bad_types[i]);

	for (i = 0; i < sizeof(flag_bits) / sizeof(flag_bits[0]); i++) {
		if (flag_bits[i] & valid_flags)
			continue;
		memset(&args, 0, sizeof(args));
		args.type = VMMU_VM_TYPE_NPT;
		args.flags = flag_bits[i];
		EXPECT_EQ(-EINVAL, vmmu_ioctl(dev, VMMU_CREATE_VM,
					      (unsigned long)&args))
			TH_LOG("flags %#x", flag_bits[i]);
	}

	for (i = 0; i < sizeof(args.reserved) / sizeof(args.reserved[0]); i++) {
		memset(&args, 0, sizeof(args));
		args.type = VMMU_VM_TYPE_NPT;
		args.reserved[i] = 1ULL << (i * 9);
		EXPECT_EQ(-EINVAL, vmmu_ioctl(dev, VMMU_CREATE_VM,
					      (unsigned long)&args))
			TH_LOG("reserved[%u]", i);
	}

	/* Nothing was created by any of the refused calls. */
	EXPECT_EQ(0, vmmu_live_vms());
	close(dev);
}

TEST(create_vm_bad_pointers)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vmmu_create_vm *straddle;
	int dev = vmmu_open_dev();
	char *map;

	ASSERT_LE(0, dev);
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM, 0));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM, 1));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM, -4096UL));
	if (sizeof(long) == 8)
		EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM,
					      (unsigned long)0xffff888000000000ULL));

	/* An unmapped page, and a struct whose tail runs into one. */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_EQ(0, munmap(map + page, page));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM,
				      (unsigned long)(map + page)));
	straddle = (void *)(map + page - 8);
	memset(map + page - 8, 0, 8);
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM,
				      (unsigned long)straddle));
	/* A mapping without read permission. */
	ASSERT_EQ(0, mprotect(map, page, PROT_NONE));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(dev, VMMU_CREATE_VM,
				      (unsigned long)map));
	munmap(map, page);

	EXPECT_EQ(0, vmmu_live_vms());
	close(dev);
}

TEST(unknown_ioctls)
{
	static const unsigned long dev_bad[] = {
		_IO(VMMUIO, 0x7f),
		_IO(VMMUIO, 0x01),			/* CREATE_VM, no size */
		_IOW(VMMUIO, 0x01, __u32),		/* CREATE_VM, wrong size */
		_IOR(VMMUIO, 0x01, struct vmmu_create_vm), /* wrong direction */
		_IO(0xAE, 0x00),			/* KVM_GET_API_VERSION */
		_IO(0xAE, 0x01),			/* KVM_CREATE_VM */
		TCGETS,
	};
	static const unsigned long vm_bad[] = {
		VMMU_GET_API_VERSION,
		VMMU_CREATE_VM,
		_IO(VMMUIO, 0xff),
		_IO(0xAE, 0x03),			/* KVM_CHECK_EXTENSION */
	};
	int dev = vmmu_open_dev(), vm;
	unsigned int i;

	ASSERT_LE(0, dev);
	for (i = 0; i < sizeof(dev_bad) / sizeof(dev_bad[0]); i++)
		EXPECT_EQ(-ENOTTY, vmmu_ioctl(dev, dev_bad[i], 0))
			TH_LOG("/dev/vmmu ioctl %#lx", dev_bad[i]);

	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
	ASSERT_LE(0, vm);
	for (i = 0; i < sizeof(vm_bad) / sizeof(vm_bad[0]); i++)
		EXPECT_EQ(-ENOTTY, vmmu_ioctl(vm, vm_bad[i], 0))
			TH_LOG("VM ioctl %#lx", vm_bad[i]);
	close(vm);
	close(dev);
}

#define MANY_VMS	400

TEST(create_close_many)
{
	static int vms[MANY_VMS];
	int dev = vmmu_open_dev();
	int i, round;

	ASSERT_LE(0, dev);
	ASSERT_EQ(0, vmmu_live_vms());

	for (round = 0; round < 3; round++) {
		for (i = 0; i < MANY_VMS; i++) {
			vms[i] = vmmu_create_vm(dev, i & 1 ? VMMU_VM_TYPE_EPT :
							     VMMU_VM_TYPE_NPT);
			ASSERT_LE(0, vms[i]);
		}
		EXPECT_EQ(MANY_VMS, vmmu_live_vms());
		/* Close in an order unrelated to creation. */
		for (i = 0; i < MANY_VMS; i++)
			close(vms[(i * 7) % MANY_VMS]);
		EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
	}

	/* Create and close one at a time, many times over. */
	for (i = 0; i < 2000; i++) {
		int vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);

		ASSERT_LE(0, vm);
		close(vm);
	}
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
	close(dev);
}

TEST(create_vm_fd_limit)
{
	struct rlimit old, lim;
	int dev = vmmu_open_dev(), vm, n = 0;

	ASSERT_LE(0, dev);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	lim = old;
	lim.rlim_cur = 16;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
	while ((vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT)) >= 0)
		n++;
	EXPECT_EQ(-EMFILE, vm);
	EXPECT_LT(0, n);
	/* Reading the count needs an fd of its own. */
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	/* The VM that found no fd was freed, not leaked. */
	EXPECT_EQ(n, vmmu_live_vms());
}

TEST(vm_fd_refused_in_forked_child)
{
	int dev = vmmu_open_dev(), vm;
	pid_t pid;

	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
	ASSERT_LE(0, vm);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int own;

		/* The inherited VM fd: refused, whatever the ioctl. */
		if (vmmu_ioctl(vm, VMMU_CHECK_EXTENSION,
			       VMMU_CAP_PT_FORMAT) != -EIO)
			_exit(1);
		if (vmmu_ioctl(vm, _IO(VMMUIO, 0x7f), 0) != -EIO)
			_exit(2);
		/* The inherited /dev/vmmu fd creates VMs of the child's own. */
		own = vmmu_create_vm(dev, VMMU_VM_TYPE_EPT);
		if (own < 0)
			_exit(3);
		if (vmmu_ioctl(own, VMMU_CHECK_EXTENSION,
			       VMMU_CAP_PT_FORMAT) != VMMU_VM_TYPE_EPT)
			_exit(4);
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid));

	/* The parent is unaffected, and the child's VM is gone. */
	EXPECT_EQ(VMMU_VM_TYPE_NPT,
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	EXPECT_EQ(1, vmmu_wait_live_vms(1, 1000));
	close(vm);
	close(dev);
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
}

TEST(vm_fd_refused_when_passed)
{
	int sv[2], dev, vm;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	/* The receiver exists before the VM does: no inheritance at all. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = recv_fd(sv[1]);

		if (fd < 0)
			_exit(1);
		_exit(vmmu_ioctl(fd, VMMU_CHECK_EXTENSION,
				 VMMU_CAP_PT_FORMAT) == -EIO ? 0 : 2);
	}

	dev = vmmu_open_dev();
	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
	ASSERT_LE(0, vm);
	ASSERT_EQ(0, send_fd(sv[0], vm));
	EXPECT_EQ(0, wait_child(pid));
	close(vm);
	close(dev);
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
}

static void *thread_check_format(void *arg)
{
	int vm = *(int *)arg;

	return (void *)(intptr_t)vmmu_ioctl(vm, VMMU_CHECK_EXTENSION,
					    VMMU_CAP_PT_FORMAT);
}

TEST(vm_fd_usable_from_threads)
{
	int dev = vmmu_open_dev(), vm;
	pthread_t t;
	void *ret;

	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_EPT);
	ASSERT_LE(0, vm);
	ASSERT_EQ(0, pthread_create(&t, NULL, thread_check_format, &vm));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(VMMU_VM_TYPE_EPT, (intptr_t)ret);
	close(vm);
	close(dev);
}

TEST(vm_outlives_dev_fd)
{
	int dev = vmmu_open_dev(), vm;

	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
	ASSERT_LE(0, vm);
	close(dev);
	EXPECT_EQ(VMMU_VM_TYPE_NPT,
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	EXPECT_EQ(1, vmmu_live_vms());
	close(vm);
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
}

TEST(vm_outlives_creator)
{
	int sv[2], vm;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int dev = vmmu_open_dev();
		int fd = dev < 0 ? dev : vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);

		_exit(fd < 0 || send_fd(sv[1], fd) ? 1 : 0);
	}
	vm = recv_fd(sv[0]);
	ASSERT_LE(0, vm);
	/* The creator and its mm are gone; the VM is still pinned by us. */
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(1, vmmu_live_vms());
	EXPECT_EQ(-EIO, vmmu_ioctl(vm, VMMU_CHECK_EXTENSION,
				   VMMU_CAP_PT_FORMAT));
	close(vm);
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
}

TEST_HARNESS_MAIN
