// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest memory backed by other kinds of host memory than private anonymous
 * pages, written and read through VMMU_ACCESS in both formats: a shared
 * file mapping (the file changes), a private one (it does not), shmem (a
 * second mapping and a forked child see the guest's writes), a read-only
 * file mapping (writes exit with READONLY_HOST, the file stays as it was),
 * a full tmpfs (the page cannot be had: HOST_FAULT), a write that the host
 * refuses with SIGBUS in a writable mapping (HOST_FAULT, not
 * READONLY_HOST), and faults that block in userfaultfd while a memslot
 * update runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define FSIZE		(2 * MB)
#define GPA		0x40000000ULL	/* 1 GiB */

FIXTURE(hostmem) {
	int vm;
	char dir[64];		/* a tmpfs of the test's own */
	char tiny[96];		/* a tiny tmpfs inside it, if a test made one */
};

FIXTURE_VARIANT(hostmem) {
	unsigned int type;
};

FIXTURE_VARIANT_ADD(hostmem, ept) {
	.type = VMMU_VM_TYPE_EPT,
};

FIXTURE_VARIANT_ADD(hostmem, npt) {
	.type = VMMU_VM_TYPE_NPT,
};

FIXTURE_SETUP(hostmem)
{
	self->tiny[0] = '\0';
	snprintf(self->dir, sizeof(self->dir), "/tmp/vmmu-hostmem-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, mount("tmpfs", self->dir, "tmpfs", 0, "size=64M"));
	self->vm = vmmu_new_vm(variant->type, 0);
	ASSERT_LE(0, self->vm);
}

FIXTURE_TEARDOWN(hostmem)
{
	close(self->vm);
	if (self->tiny[0]) {
		umount2(self->tiny, MNT_DETACH);
		rmdir(self->tiny);
	}
	umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
}

/* A file of @size bytes of @fill in @dir, open read-write: the fd. */
static int make_file(const char *dir, const char *name, size_t size, char fill)
{
	char path[160], *buf = malloc(size);
	int fd;

	if (!buf)
		return -ENOMEM;
	memset(buf, fill, size);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && pwrite(fd, buf, size, 0) != (ssize_t)size) {
		close(fd);
		fd = -EIO;
	}
	free(buf);
	return fd < 0 && fd != -EIO ? -errno : fd;
}

/* The @len bytes of file @fd at @off, compared with @want. */
static int file_cmp(int fd, off_t off, const void *want, size_t len)
{
	char buf[PAGE];

	if (len > sizeof(buf) || pread(fd, buf, len, off) != (ssize_t)len)
		return -1;
	return memcmp(buf, want, len);
}

/* (a) MAP_SHARED of a tmpfs file: the guest writes the file itself. */
TEST_F(hostmem, shared_file_mapping)
{
	const char msg[] = "written by the guest into a shared file mapping";
	char buf[64], *map, *map2;
	int fd;

	fd = make_file(self->dir, "shared", FSIZE, 'F');
	ASSERT_LE(0, fd);
	map = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, FSIZE, map));

	ASSERT_EQ(0, vmmu_read(self->vm, GPA + PAGE, buf, sizeof(buf)));
	EXPECT_EQ('F', buf[0]);
	EXPECT_EQ('F', buf[sizeof(buf) - 1]);

	/* Across a page boundary, into the file. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 3 * PAGE - 5, msg, sizeof(msg)));
	EXPECT_EQ(0, file_cmp(fd, 3 * PAGE - 5, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(map + 3 * PAGE - 5, msg, sizeof(msg)));
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE | VMMU_TRANSLATE_DIRTY,
		  vmmu_translated(self->vm, GPA + 3 * PAGE) &
		  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE | VMMU_TRANSLATE_DIRTY));
	/* Another mapping of the file sees it too. */
	map2 = mmap(NULL, FSIZE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(map2 != MAP_FAILED);
	EXPECT_EQ(0, memcmp(map2 + 3 * PAGE - 5, msg, sizeof(msg)));

	/* The file written with write(): the guest reads the new bytes. */
	ASSERT_EQ(4, pwrite(fd, "host", 4, 6 * PAGE + 8));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 6 * PAGE + 8, buf, 4));
	EXPECT_EQ(0, memcmp(buf, "host", 4));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 3 * PAGE - 5, buf, sizeof(msg)));
	EXPECT_EQ(0, memcmp(buf, msg, sizeof(msg)));

	munmap(map2, FSIZE);
	munmap(map, FSIZE);
	close(fd);
}

/* (b) MAP_PRIVATE of the same kind of file: the file never changes. */
TEST_F(hostmem, private_file_mapping)
{
	char buf[64], *priv, *shared;
	int fd;

	fd = make_file(self->dir, "private", FSIZE, 'P');
	ASSERT_LE(0, fd);
	priv = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared = mmap(NULL, FSIZE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(priv != MAP_FAILED && shared != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, FSIZE, priv));

	/* Read: the page cache's page, mapped read-only. */
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * PAGE, buf, 8));
	EXPECT_EQ('P', buf[0]);
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED, vmmu_translated(self->vm, GPA + 2 * PAGE) &
		  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE));
	/* Not copied yet: a change to the file shows through. */
	ASSERT_EQ(6, pwrite(fd, "before", 6, 2 * PAGE));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * PAGE, buf, 6));
	EXPECT_EQ(0, memcmp(buf, "before", 6));

	/* A guest write copies the page: the process sees it, the file not. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 2 * PAGE + 100, "guest", 5));
	EXPECT_EQ(0, memcmp(priv + 2 * PAGE + 100, "guest", 5));
	EXPECT_EQ(0, file_cmp(fd, 2 * PAGE + 100, "PPPPP", 5));
	EXPECT_EQ(0, memcmp(shared + 2 * PAGE + 100, "PPPPP", 5));
	EXPECT_TRUE(vmmu_translated(self->vm, GPA + 2 * PAGE) & VMMU_TRANSLATE_WRITE);

	/* From now on the file's changes do not reach the copy... */
	ASSERT_EQ(5, pwrite(fd, "after", 5, 2 * PAGE));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * PAGE, buf, 5));
	EXPECT_EQ(0, memcmp(buf, "befor", 5));
	EXPECT_EQ(0, memcmp(priv + 2 * PAGE, "befor", 5));
	/* ...but still reach the pages nobody wrote. */
	ASSERT_EQ(4, pwrite(fd, "late", 4, 5 * PAGE));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 5 * PAGE, buf, 4));
	EXPECT_EQ(0, memcmp(buf, "late", 4));

	munmap(shared, FSIZE);
	munmap(priv, FSIZE);
	close(fd);
}

/* (c) shmem: a memfd mapped twice; the guest writes through one. */
TEST_F(hostmem, shmem_memfd)
{
	const char msg[] = "shmem written by the guest";
	char buf[64], *m1, *m2;
	int fd;

	fd = memfd_create("vmmu-hostmem", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, FSIZE));
	m1 = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m2 = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(m1 != MAP_FAILED && m2 != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, FSIZE, m1));

	/* Never touched: the guest's write allocates the page. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 9 * PAGE + 1, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(m2 + 9 * PAGE + 1, msg, sizeof(msg)));
	EXPECT_EQ(0, file_cmp(fd, 9 * PAGE + 1, msg, sizeof(msg)));
	/* And the other way round, through the second mapping. */
	memcpy(m2 + 11 * PAGE, "second mapping", 14);
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 11 * PAGE, buf, 14));
	EXPECT_EQ(0, memcmp(buf, "second mapping", 14));

	munmap(m2, FSIZE);
	munmap(m1, FSIZE);
	close(fd);
}

/* (c) MAP_SHARED | MAP_ANONYMOUS shared with a forked child. */
TEST_F(hostmem, shared_anonymous_with_child)
{
	int to_child[2], to_parent[2], status;
	char buf[16], c;
	char *m;
	pid_t pid;

	m = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	memset(m, 's', FSIZE);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, FSIZE, m));
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 4 * PAGE, buf, 1));
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child sees the guest's write, and writes back. */
		if (read(to_child[0], &c, 1) != 1)
			_exit(2);
		if (memcmp(m + 4 * PAGE, "from guest", 10))
			_exit(3);
		memcpy(m + 7 * PAGE + 3, "from child", 10);
		_exit(write(to_parent[1], "c", 1) == 1 ? 0 : 4);
	}
	/* If the child fails, it exits without a word: read() sees EOF. */
	close(to_parent[1]);
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 4 * PAGE, "from guest", 10));
	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(1, read(to_parent[0], &c, 1)) {
		if (waitpid(pid, &status, 0) == pid)
			TH_LOG("child status %#x", status);
	}
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 7 * PAGE + 3, buf, 10));
	EXPECT_EQ(0, memcmp(buf, "from child", 10));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	munmap(m, FSIZE);
}

/*
 * (d) A file mapped PROT_READ from an O_RDONLY fd, shared and private:
 * reads work, a write exits with READONLY_HOST where it reaches the
 * mapping, and neither the file nor the mapping changes.
 */
TEST_F(hostmem, read_only_file_mapping)
{
	static const int kinds[] = { MAP_SHARED, MAP_PRIVATE };
	const __u64 ro_gpa = 2 * GPA;
	char buf[64], path[160], *ro, *rw;
	struct vmmu_access a;
	unsigned int k;
	int fd, rofd;

	fd = make_file(self->dir, "readonly", FSIZE, 'R');
	ASSERT_LE(0, fd);
	close(fd);
	snprintf(path, sizeof(path), "%s/readonly", self->dir);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, rofd);
	/* Writable memory just below, to write across into the file. */
	rw = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	ASSERT_TRUE(rw != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, ro_gpa - FSIZE, FSIZE, rw));

	for (k = 0; k < 2; k++) {
		ro = mmap(NULL, FSIZE, PROT_READ, kinds[k], rofd, 0);
		ASSERT_TRUE(ro != MAP_FAILED);
		ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, ro_gpa, FSIZE, ro));

		ASSERT_EQ(0, vmmu_read(self->vm, ro_gpa + 5 * PAGE, buf, 16));
		EXPECT_EQ('R', buf[15]);
		EXPECT_EQ(VMMU_TRANSLATE_MAPPED,
			  vmmu_translated(self->vm, ro_gpa + 5 * PAGE) &
			  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE));

		ASSERT_EQ(0, vmmu_access(self->vm, ro_gpa + 5 * PAGE + 10, "XXXXXXXX",
					  8, VMMU_ACCESS_WRITE, &a));
		EXPECT_EQ(0, a.done);
		EXPECT_EQ(VMMU_ACCESS_EXIT_READONLY_HOST, a.exit)
			TH_LOG("%s mapping", k ? "private" : "shared");
		EXPECT_EQ(ro_gpa + 5 * PAGE + 10, a.exit_gpa);
		/* Still mapped for reading. */
		EXPECT_EQ(VMMU_TRANSLATE_MAPPED,
			  vmmu_translated(self->vm, ro_gpa + 5 * PAGE) &
			  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE));

		/* From the writable slot across into the read-only one. */
		ASSERT_EQ(0, vmmu_access(self->vm, ro_gpa - 16, "0123456789abcdefYYYYYYYYYYYYYYYY",
					  32, VMMU_ACCESS_WRITE, &a));
		EXPECT_EQ(16, a.done);
		EXPECT_EQ(VMMU_ACCESS_EXIT_READONLY_HOST, a.exit);
		EXPECT_EQ(ro_gpa, a.exit_gpa);
		EXPECT_EQ(0, memcmp(rw + FSIZE - 16, "0123456789abcdef", 16));

		EXPECT_EQ(0, file_cmp(rofd, 5 * PAGE + 10, "RRRRRRRR", 8));
		EXPECT_EQ(0, file_cmp(rofd, 0, "RRRRRRRRRRRRRRRR", 16));
		EXPECT_EQ(0, memcmp(ro + 5 * PAGE + 10, "RRRRRRRR", 8));
		EXPECT_EQ('R', ro[0]);

		ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 0, 0, NULL));
		munmap(ro, FSIZE);
	}
	munmap(rw, FSIZE);
	close(rofd);
}

/*
 * SIGBUS: a tmpfs of 1 MiB and a 4 MiB file on it, mapped shared and
 * writable; once the file system is full, the pages not yet allocated
 * cannot be had.  A guest access stops there with HOST_FAULT, after
 * writing what it could.
 */
#define TINY_SIZE	(1 * MB)
#define BIG_FILE	(4 * MB)

TEST_F(hostmem, full_tmpfs_is_host_fault)
{
	char page[PAGE], buf[32], path[160];
	struct vmmu_access a;
	unsigned int k;
	ssize_t n;
	char *map;
	int fd;

	snprintf(self->tiny, sizeof(self->tiny), "%s/tiny", self->dir);
	ASSERT_EQ(0, mkdir(self->tiny, 0700));
	ASSERT_EQ(0, mount("tmpfs", self->tiny, "tmpfs", 0, "size=1M"));
	snprintf(path, sizeof(path), "%s/big", self->tiny);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, BIG_FILE));
	map = mmap(NULL, BIG_FILE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, BIG_FILE, map));

	/* Fill the file system from the front. */
	memset(page, 'T', sizeof(page));
	for (k = 0; k < BIG_FILE / PAGE; k++) {
		n = pwrite(fd, page, PAGE, k * PAGE);
		if (n != PAGE)
			break;
	}
	ASSERT_EQ(-1, n);
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_LT(0, k);
	ASSERT_GE(TINY_SIZE / PAGE, k);
	TH_LOG("the file system took %u pages", k);

	/* Up to the last page there is, then a host fault. */
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + k * PAGE - 16,
				  "written-by-guestLOST-IN-THE-HOLE", 32,
				  VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(16, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT, a.exit);
	EXPECT_EQ(GPA + k * PAGE, a.exit_gpa);
	EXPECT_EQ(0, file_cmp(fd, k * PAGE - 16, "written-by-guest", 16));

	/* Further in, nothing at all. */
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + (k + 3) * PAGE + 8, "x", 1,
				  VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(0, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT, a.exit);
	EXPECT_EQ(GPA + (k + 3) * PAGE + 8, a.exit_gpa);
	/* A read needs the page as much (tmpfs has no zero page to map). */
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + k * PAGE, buf, 8, 0, &a));
	EXPECT_EQ(0, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT, a.exit);
	EXPECT_EQ(GPA + k * PAGE, a.exit_gpa);
	EXPECT_EQ(0, vmmu_translated(self->vm, GPA + k * PAGE));

	/* Room for one page again: the same write goes through. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			       PAGE));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + k * PAGE, "now", 3));
	EXPECT_EQ(0, file_cmp(fd, k * PAGE, "now", 3));

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, 0, NULL));
	munmap(map, BIG_FILE);
	close(fd);
}

static int uffd_open(__u64 features, __u64 *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -errno;
	}
	*got = api.features;
	return fd;
}

static int uffd_register(int uffd, void *addr, size_t len, __u64 mode)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len }, .mode = mode,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static int uffd_wp(int uffd, void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

/*
 * A write the host refuses with SIGBUS although the mapping is writable:
 * here a page write-protected with userfaultfd whose context asked for
 * SIGBUS instead of a message.  The page reads fine; the write must be
 * reported as a host fault, not as a read-only host page.
 */
TEST_F(hostmem, sigbus_in_writable_mapping_is_host_fault)
{
	struct vmmu_access a;
	__u64 features;
	char buf[8], *m;
	int uffd;

	m = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	ASSERT_EQ(0, madvise(m, FSIZE, MADV_NOHUGEPAGE));
	memset(m, 'w', FSIZE);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, FSIZE, m));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + PAGE, "w", 1));

	uffd = uffd_open(UFFD_FEATURE_SIGBUS, &features);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(-uffd));
	ASSERT_TRUE(features & UFFD_FEATURE_SIGBUS);
	ASSERT_EQ(0, uffd_register(uffd, m, FSIZE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, uffd_wp(uffd, m + PAGE, PAGE, true));

	/* The protection zapped the writable entry; reads still work. */
	EXPECT_FALSE(vmmu_translated(self->vm, GPA + PAGE) & VMMU_TRANSLATE_WRITE);
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + PAGE, buf, 8));
	EXPECT_EQ('w', buf[7]);

	ASSERT_EQ(0, vmmu_access(self->vm, GPA + PAGE + 8, "Z", 1,
				  VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(0, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT, a.exit)
		TH_LOG("exit %u (READONLY_HOST is %u)", a.exit,
		       VMMU_ACCESS_EXIT_READONLY_HOST);
	EXPECT_EQ(GPA + PAGE + 8, a.exit_gpa);
	EXPECT_EQ('w', m[PAGE + 8]);

	/* Unprotected, the write goes through. */
	ASSERT_EQ(0, uffd_wp(uffd, m + PAGE, PAGE, false));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + PAGE + 8, "Z", 1));
	EXPECT_EQ('Z', m[PAGE + 8]);
	close(uffd);
	munmap(m, FSIZE);
}

/*
 * userfaultfd: a guest access to a missing page of a registered slot
 * blocks in the kernel's GUP until the handler (this thread) resolves it;
 * meanwhile a memslot update runs.  Nothing may deadlock: once the page is
 * copied in, the access and the update both finish, with the data copied
 * or, if the update took the slot away, an MMIO exit.
 */
#define UFFD_GPA	(1ULL << 30)	/* slot 1, registered */
#define OTHER_GPA	(2ULL << 30)	/* slot 2, unrelated */
#define NEW_GPA		(3ULL << 30)	/* slot 3 is created, or 1 moved, here */
#define UFFD_PAGE	5		/* the page that faults */
#define WAIT_S		10

enum uffd_update {
	UPDATE_UNRELATED,	/* delete slot 2, create slot 3 */
	UPDATE_DELETE,		/* delete slot 1 */
	UPDATE_MOVE,		/* move slot 1 to NEW_GPA */
};

struct uffd_accessor {
	pthread_t t;
	int vm;
	char buf[PAGE];
	struct vmmu_access a;
	int r;
	atomic_bool done;
};

static void *uffd_accessor_fn(void *arg)
{
	struct uffd_accessor *acc = arg;

	acc->a = (struct vmmu_access){
		.guest_phys_addr = UFFD_GPA + UFFD_PAGE * PAGE,
		.buf = (uintptr_t)acc->buf, .len = PAGE,
	};
	acc->r = vmmu_ioctl(acc->vm, VMMU_ACCESS, (unsigned long)&acc->a);
	atomic_store(&acc->done, true);
	return NULL;
}

struct uffd_updater {
	pthread_t t;
	int vm;
	struct vmmu_memslot e[2];
	unsigned int nr;
	int r;
	atomic_bool done;
};

static void *uffd_updater_fn(void *arg)
{
	struct uffd_updater *u = arg;

	u->r = vmmu_set_memslots(u->vm, u->e, u->nr, NULL);
	atomic_store(&u->done, true);
	return NULL;
}

static int join_within(pthread_t t, int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	return pthread_timedjoin_np(t, NULL, &ts);
}

static void uffd_fault_vs_update(struct __test_metadata *_metadata,
				 FIXTURE_DATA(hostmem) *self,
				 enum uffd_update what)
{
	static struct uffd_accessor acc;
	static struct uffd_updater upd;
	struct uffdio_copy copy;
	struct vmmu_memslot_lookup l;
	struct uffd_msg msg;
	struct pollfd pfd;
	char *mem, *other, *fresh, src[PAGE], buf[PAGE];
	bool update_waited;
	__u64 features;
	unsigned int i;
	int uffd;

	mem = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	other = mmap(NULL, 2 * FSIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(mem != MAP_FAILED && other != MAP_FAILED);
	fresh = other + FSIZE;
	ASSERT_EQ(0, madvise(mem, FSIZE, MADV_NOHUGEPAGE));
	memset(other, 'o', 2 * FSIZE);

	uffd = uffd_open(0, &features);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(-uffd));
	if (what == UPDATE_UNRELATED)
		TH_LOG("userfaultfd API %#llx, features %#llx", (__u64)UFFD_API,
		       features);
	ASSERT_EQ(0, uffd_register(uffd, mem, FSIZE, UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, UFFD_GPA, FSIZE, mem));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 2, 0, OTHER_GPA, FSIZE, other));
	ASSERT_EQ(0, vmmu_read(self->vm, OTHER_GPA, buf, 1));

	/* The access faults, and GUP blocks in userfaultfd. */
	acc = (struct uffd_accessor){ .vm = self->vm };
	ASSERT_EQ(0, pthread_create(&acc.t, NULL, uffd_accessor_fn, &acc));
	pfd = (struct pollfd){ .fd = uffd, .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, WAIT_S * 1000)) TH_LOG("no userfault");
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);
	EXPECT_EQ((uintptr_t)mem + UFFD_PAGE * PAGE,
		  msg.arg.pagefault.address & ~(PAGE - 1));
	EXPECT_FALSE(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
	EXPECT_FALSE(atomic_load(&acc.done));

	/* The update runs while the fault is blocked. */
	upd = (struct uffd_updater){ .vm = self->vm };
	switch (what) {
	case UPDATE_UNRELATED:
		upd.e[0] = vmmu_slot(2, 0, 0, 0, NULL);
		upd.e[1] = vmmu_slot(3, 0, NEW_GPA, FSIZE, fresh);
		upd.nr = 2;
		break;
	case UPDATE_DELETE:
		upd.e[0] = vmmu_slot(1, 0, 0, 0, NULL);
		upd.nr = 1;
		break;
	case UPDATE_MOVE:
		upd.e[0] = vmmu_slot(1, 0, NEW_GPA, FSIZE, mem);
		upd.nr = 1;
		break;
	}
	ASSERT_EQ(0, pthread_create(&upd.t, NULL, uffd_updater_fn, &upd));
	usleep(300 * 1000);
	update_waited = !atomic_load(&upd.done);
	EXPECT_FALSE(atomic_load(&acc.done)) TH_LOG("the fault did not wait");

	/* Resolve the fault. */
	for (i = 0; i < PAGE; i++)
		src[i] = (char)(i * 7 + 5);
	copy = (struct uffdio_copy){
		.dst = (uintptr_t)mem + UFFD_PAGE * PAGE, .src = (uintptr_t)src,
		.len = PAGE,
	};
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &copy)) TH_LOG("UFFDIO_COPY: %s",
							       strerror(errno));
	EXPECT_EQ(PAGE, copy.copy);

	/* Both finish: a hang here is the failure this test looks for. */
	ASSERT_EQ(0, join_within(acc.t, WAIT_S)) TH_LOG("the access hangs");
	ASSERT_EQ(0, join_within(upd.t, WAIT_S)) TH_LOG("the update hangs");
	TH_LOG("the update %s while the fault was blocked",
	       update_waited ? "waited for the fault" : "completed");
	EXPECT_EQ(0, upd.r);
	ASSERT_EQ(0, acc.r);
	EXPECT_EQ(0, memcmp(mem + UFFD_PAGE * PAGE, src, PAGE));

	if (what == UPDATE_UNRELATED) {
		/* Its slot stayed: it saw the copied data. */
		EXPECT_EQ(PAGE, acc.a.done);
		EXPECT_EQ(VMMU_ACCESS_EXIT_NONE, acc.a.exit);
		EXPECT_EQ(0, memcmp(acc.buf, src, PAGE));
		EXPECT_EQ(-ENOENT, vmmu_lookup(self->vm, OTHER_GPA, &l));
		ASSERT_EQ(0, vmmu_lookup(self->vm, NEW_GPA, &l));
		EXPECT_EQ(3, l.slot);
		ASSERT_EQ(0, vmmu_read(self->vm, NEW_GPA, buf, 1));
		EXPECT_EQ('o', buf[0]);
		ASSERT_EQ(0, vmmu_read(self->vm, UFFD_GPA + UFFD_PAGE * PAGE, buf, PAGE));
		EXPECT_EQ(0, memcmp(buf, src, PAGE));
		goto out;
	}

	/* Its slot went: the data if the fault got there first, else MMIO. */
	if (acc.a.done == PAGE) {
		TH_LOG("the access completed before its slot went");
		EXPECT_EQ(VMMU_ACCESS_EXIT_NONE, acc.a.exit);
		EXPECT_EQ(0, memcmp(acc.buf, src, PAGE));
	} else {
		TH_LOG("the access found its slot gone");
		EXPECT_EQ(0, acc.a.done);
		EXPECT_EQ(VMMU_ACCESS_EXIT_MMIO, acc.a.exit);
		EXPECT_EQ(UFFD_GPA + UFFD_PAGE * PAGE, acc.a.exit_gpa);
	}
	EXPECT_EQ(-ENOENT, vmmu_lookup(self->vm, UFFD_GPA + UFFD_PAGE * PAGE, &l));
	EXPECT_EQ(0, vmmu_translated(self->vm, UFFD_GPA + UFFD_PAGE * PAGE));
	if (what == UPDATE_MOVE) {
		ASSERT_EQ(0, vmmu_read(self->vm, NEW_GPA + UFFD_PAGE * PAGE, buf, PAGE));
		EXPECT_EQ(0, memcmp(buf, src, PAGE));
	}
	/* The unrelated slot is untouched. */
	ASSERT_EQ(0, vmmu_lookup(self->vm, OTHER_GPA, &l));
	EXPECT_EQ(2, l.slot);
out:
	close(uffd);
	munmap(other, 2 * FSIZE);
	munmap(mem, FSIZE);
}

TEST_F(hostmem, uffd_fault_vs_unrelated_update)
{
	uffd_fault_vs_update(_metadata, self, UPDATE_UNRELATED);
}

TEST_F(hostmem, uffd_fault_vs_deleting_its_slot)
{
	uffd_fault_vs_update(_metadata, self, UPDATE_DELETE);
}

TEST_F(hostmem, uffd_fault_vs_moving_its_slot)
{
	uffd_fault_vs_update(_metadata, self, UPDATE_MOVE);
}

TEST_HARNESS_MAIN
