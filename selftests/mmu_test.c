// SPDX-License-Identifier: GPL-2.0-only
/*
 * The two-dimensional page tables, in both formats: data written on one
 * side is read on the other, mappings follow the host (munmap, madvise,
 * mprotect, fork and COW, THP, hugetlbfs), read-only slots and host pages,
 * MMIO, and dirty logging.  Guest accesses go through VMMU_ACCESS, which
 * walks the EPT or NPT tables as the CPU would.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define REGION		(8 * MB)
#define GPA		0x40000000ULL	/* 1 GiB: aligned for any leaf */

FIXTURE(mmu) {
	int vm;
	char *raw, *mem;	/* mem: REGION bytes, 2 MiB aligned */
};

FIXTURE_VARIANT(mmu) {
	unsigned int type;
};

FIXTURE_VARIANT_ADD(mmu, ept) {
	.type = VMMU_VM_TYPE_EPT,
};

FIXTURE_VARIANT_ADD(mmu, npt) {
	.type = VMMU_VM_TYPE_NPT,
};

FIXTURE_SETUP(mmu)
{
	self->vm = vmmu_new_vm(variant->type, 0);
	ASSERT_LE(0, self->vm);
	self->raw = mmap(NULL, REGION + 2 * MB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->raw != MAP_FAILED);
	self->mem = (char *)(((uintptr_t)self->raw + 2 * MB - 1) & ~(2 * MB - 1));
	/* 4 KiB host pages unless a test asks for THP. */
	ASSERT_EQ(0, madvise(self->mem, REGION, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, REGION, self->mem));
}

FIXTURE_TEARDOWN(mmu)
{
	close(self->vm);
	munmap(self->raw, REGION + 2 * MB);
}

static __u64 guest_read64(int vm, __u64 gpa)
{
	__u64 v = 0xdeadbeefdeadbeefULL;

	vmmu_read(vm, gpa, &v, sizeof(v));
	return v;
}

static struct vmmu_translation translate(int vm, __u64 gpa)
{
	struct vmmu_translation t = { .guest_phys_addr = gpa };

	if (vmmu_ioctl(vm, VMMU_TRANSLATE, (unsigned long)&t))
		t.flags = ~0U;
	return t;
}

static __u64 stat_of(int vm, size_t offset)
{
	struct vmmu_vm_stats st;

	if (vmmu_get_stats(vm, &st))
		return ~0ULL;
	return *(__u64 *)((char *)&st + offset);
}

#define STAT(vm, field)	stat_of(vm, offsetof(struct vmmu_vm_stats, field))

TEST_F(mmu, host_writes_guest_reads)
{
	char buf[3 * PAGE];
	unsigned int i;

	for (i = 0; i < sizeof(buf); i++)
		self->mem[5 * PAGE + 100 + i] = (char)(i * 7 + 3);
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 5 * PAGE + 100, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, self->mem + 5 * PAGE + 100, sizeof(buf)));

	/* The host changes it again: the guest sees the change at once. */
	self->mem[6 * PAGE] = 'x';
	EXPECT_EQ('x', (char)guest_read64(self->vm, GPA + 6 * PAGE));
}

TEST_F(mmu, guest_writes_host_reads)
{
	const char msg[] = "written through the two-dimensional page tables";
	struct vmmu_translation t;

	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 3 * PAGE - 10, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(self->mem + 3 * PAGE - 10, msg, sizeof(msg)));

	t = translate(self->vm, GPA + 3 * PAGE);
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_READ |
		  VMMU_TRANSLATE_WRITE | VMMU_TRANSLATE_EXEC |
		  VMMU_TRANSLATE_ACCESSED | VMMU_TRANSLATE_DIRTY, t.flags);
	EXPECT_EQ(1, t.level);
	/* The test runs as root: the host address is reported. */
	EXPECT_NE(0, t.host_phys_addr);
	EXPECT_EQ(0, t.host_phys_addr & (PAGE - 1));
}

TEST_F(mmu, entry_format)
{
	struct vmmu_translation t;
	char c = 1;

	ASSERT_EQ(0, vmmu_write(self->vm, GPA, &c, 1));
	t = translate(self->vm, GPA);
	ASSERT_EQ(1, t.level);
	if (variant->type == VMMU_VM_TYPE_EPT) {
		/* R W X, write-back, ignore PAT, accessed, dirty. */
		EXPECT_EQ(0x7ULL | 6 << 3 | 1 << 6 | 1 << 8 | 1 << 9, t.entry);
	} else {
		/* Present, writable, user, accessed, dirty; executable. */
		EXPECT_EQ(0x1ULL | 1 << 1 | 1 << 2 | 1 << 5 | 1 << 6, t.entry);
	}
}

TEST_F(mmu, prefault_and_translate)
{
	struct vmmu_prefault p = {
		.guest_phys_addr = GPA + 16 * PAGE, .size = 8 * PAGE,
	};
	struct vmmu_translation t;
	__u64 faults = STAT(self->vm, faults);

	t = translate(self->vm, GPA + 16 * PAGE);
	EXPECT_EQ(0, t.flags);
	memset(self->mem + 16 * PAGE, 9, 8 * PAGE);

	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&p));
	EXPECT_EQ(GPA + 24 * PAGE, p.guest_phys_addr);
	EXPECT_EQ(0, p.size);
	EXPECT_EQ(8, STAT(self->vm, faults) - faults);
	t = translate(self->vm, GPA + 20 * PAGE);
	EXPECT_TRUE(t.flags & VMMU_TRANSLATE_MAPPED);
	/* Mapped ahead of time: not accessed yet. */
	EXPECT_FALSE(t.flags & VMMU_TRANSLATE_ACCESSED);
	EXPECT_EQ(0x0909090909090909ULL, guest_read64(self->vm, GPA + 20 * PAGE));
	EXPECT_TRUE(translate(self->vm, GPA + 20 * PAGE).flags &
		    VMMU_TRANSLATE_ACCESSED);

	/* Into the hole after the slot: mapped up to it, then refused. */
	p.guest_phys_addr = GPA + REGION - 2 * PAGE;
	p.size = 4 * PAGE;
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&p));
	EXPECT_EQ(GPA + REGION, p.guest_phys_addr);
	EXPECT_EQ(2 * PAGE, p.size);
	EXPECT_EQ(-ENOENT, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&p));
	p.guest_phys_addr = GPA + 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&p));
}

TEST_F(mmu, munmap_removes_the_mapping)
{
	struct vmmu_access a;
	char c;

	self->mem[PAGE] = 5;
	ASSERT_EQ(5, (char)guest_read64(self->vm, GPA + PAGE));
	ASSERT_TRUE(translate(self->vm, GPA + PAGE).flags & VMMU_TRANSLATE_MAPPED);

	ASSERT_EQ(0, munmap(self->mem, 4 * PAGE));
	EXPECT_EQ(0, translate(self->vm, GPA + PAGE).flags);
	EXPECT_LE(1, STAT(self->vm, zapped));
	/* No host page: the access stops, cleanly, where a vCPU would exit. */
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + PAGE, &c, 1, 0, &a));
	EXPECT_EQ(0, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT, a.exit);
	EXPECT_EQ(GPA + PAGE, a.exit_gpa);

	/* Mapped again, new memory: the guest sees it. */
	ASSERT_EQ(self->mem, mmap(self->mem, 4 * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	self->mem[PAGE] = 6;
	EXPECT_EQ(6, (char)guest_read64(self->vm, GPA + PAGE));
}

TEST_F(mmu, dontneed_shows_the_zero_page)
{
	memset(self->mem + 8 * PAGE, 0x5a, PAGE);
	ASSERT_EQ(0x5a5a5a5a5a5a5a5aULL, guest_read64(self->vm, GPA + 8 * PAGE));
	ASSERT_EQ(0, madvise(self->mem + 8 * PAGE, PAGE, MADV_DONTNEED));
	EXPECT_EQ(0, translate(self->vm, GPA + 8 * PAGE).flags);
	EXPECT_EQ(0, guest_read64(self->vm, GPA + 8 * PAGE));
	/* The zero page is mapped read-only; a guest write gets a new page. */
	EXPECT_FALSE(translate(self->vm, GPA + 8 * PAGE).flags &
		     VMMU_TRANSLATE_WRITE);
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 8 * PAGE, "w", 1));
	EXPECT_EQ('w', self->mem[8 * PAGE]);
}

TEST_F(mmu, mprotect_read_only_host_page)
{
	struct vmmu_access a;
	char c = 'z';

	self->mem[2 * PAGE] = 'a';
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 2 * PAGE + 1, "b", 1));
	ASSERT_EQ(0, mprotect(self->mem + 2 * PAGE, PAGE, PROT_READ));
	EXPECT_FALSE(translate(self->vm, GPA + 2 * PAGE).flags &
		     VMMU_TRANSLATE_WRITE);

	/* Reads work; a write is refused and reported, nothing written. */
	EXPECT_EQ('a', (char)guest_read64(self->vm, GPA + 2 * PAGE));
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + 2 * PAGE, &c, 1,
				  VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(0, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_READONLY_HOST, a.exit);
	EXPECT_EQ('a', self->mem[2 * PAGE]);
	EXPECT_TRUE(translate(self->vm, GPA + 2 * PAGE).flags &
		    VMMU_TRANSLATE_MAPPED);

	ASSERT_EQ(0, mprotect(self->mem + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 2 * PAGE, &c, 1));
	EXPECT_EQ('z', self->mem[2 * PAGE]);
}

TEST_F(mmu, read_only_slot)
{
	struct vmmu_access a;
	char c = 'q';

	self->mem[REGION - PAGE] = 'r';
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, VMMU_MEM_READONLY,
				      2 * GPA, PAGE, self->mem + REGION - PAGE));
	EXPECT_EQ('r', (char)guest_read64(self->vm, 2 * GPA));
	EXPECT_FALSE(translate(self->vm, 2 * GPA).flags & VMMU_TRANSLATE_WRITE);
	ASSERT_EQ(0, vmmu_access(self->vm, 2 * GPA, &c, 1, VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(VMMU_ACCESS_EXIT_READONLY_SLOT, a.exit);
	EXPECT_EQ(0, a.done);
	EXPECT_EQ('r', self->mem[REGION - PAGE]);
	/* The same host page stays writable through the other slot. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + REGION - PAGE, &c, 1));
	EXPECT_EQ('q', (char)guest_read64(self->vm, 2 * GPA));
}

TEST_F(mmu, mmio_where_no_slot)
{
	char buf[64];
	struct vmmu_access a;

	/* Straddling the end of the slot: up to it, then an MMIO exit. */
	memset(self->mem + REGION - 16, 'e', 16);
	ASSERT_EQ(0, vmmu_access(self->vm, GPA + REGION - 16, buf, sizeof(buf),
				  0, &a));
	EXPECT_EQ(16, a.done);
	EXPECT_EQ(VMMU_ACCESS_EXIT_MMIO, a.exit);
	EXPECT_EQ(GPA + REGION, a.exit_gpa);
	EXPECT_EQ('e', buf[15]);
	ASSERT_EQ(0, vmmu_access(self->vm, 0x1000, buf, 1, VMMU_ACCESS_WRITE, &a));
	EXPECT_EQ(VMMU_ACCESS_EXIT_MMIO, a.exit);
	EXPECT_EQ(0, translate(self->vm, 0x1000).flags);
}

TEST_F(mmu, fork_then_parent_writes)
{
	int pipefd[2], status;
	pid_t pid;
	char c;

	memset(self->mem + 4 * PAGE, 'A', PAGE);
	ASSERT_EQ('A', (char)guest_read64(self->vm, GPA + 4 * PAGE));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child keeps the old page and checks it never changes. */
		if (read(pipefd[0], &c, 1) != 1)
			_exit(2);
		_exit(self->mem[4 * PAGE] == 'A' ? 0 : 1);
	}
	/* COW: the parent gets a new page; the guest must follow it. */
	self->mem[4 * PAGE] = 'B';
	EXPECT_EQ('B', (char)guest_read64(self->vm, GPA + 4 * PAGE));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 4 * PAGE + 1, "C", 1));
	EXPECT_EQ('C', self->mem[4 * PAGE + 1]);
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(mmu, thp_maps_2m_leaves)
{
	__u64 faults_2m = STAT(self->vm, faults_2m);
	char *buf = malloc(2 * MB);
	unsigned long i;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, madvise(self->mem + 2 * MB, 2 * MB, MADV_HUGEPAGE));
	for (i = 0; i < 2 * MB; i += 8)
		*(__u64 *)(self->mem + 2 * MB + i) = i * 0x9e3779b97f4a7c15ULL;
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * MB, buf, 2 * MB));
	EXPECT_EQ(0, memcmp(buf, self->mem + 2 * MB, 2 * MB));
	EXPECT_EQ(2, translate(self->vm, GPA + 2 * MB + 12345).level);
	EXPECT_EQ(1, STAT(self->vm, faults_2m) - faults_2m);

	/* Split the THP by protecting one page: every byte stays right. */
	ASSERT_EQ(0, mprotect(self->mem + 3 * MB, PAGE, PROT_READ));
	EXPECT_GT(2, (int)translate(self->vm, GPA + 3 * MB).level);
	memset(buf, 0, 2 * MB);
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * MB, buf, 2 * MB));
	EXPECT_EQ(0, memcmp(buf, self->mem + 2 * MB, 2 * MB));
	EXPECT_EQ(1, translate(self->vm, GPA + 3 * MB).level);
	/* And after unmapping a page in the middle of it. */
	ASSERT_EQ(0, munmap(self->mem + 2 * MB + 64 * PAGE, PAGE));
	EXPECT_EQ(0, translate(self->vm, GPA + 2 * MB + 64 * PAGE).flags);
	ASSERT_EQ(0, vmmu_read(self->vm, GPA + 2 * MB, buf, 64 * PAGE));
	EXPECT_EQ(0, memcmp(buf, self->mem + 2 * MB, 64 * PAGE));
	free(buf);
}

TEST_F(mmu, hugetlbfs_maps_2m_leaves)
{
	char *huge;

	/* The test machine reserves huge pages at boot (boot.sh). */
	huge = mmap(NULL, 4 * MB, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_TRUE(huge != MAP_FAILED) TH_LOG("no huge pages reserved?");
	memset(huge, 'h', 4 * MB);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 2, 0, 4 * GPA, 4 * MB, huge));
	EXPECT_EQ('h', (char)guest_read64(self->vm, 4 * GPA + 3 * MB));
	EXPECT_EQ(2, translate(self->vm, 4 * GPA + 3 * MB).level);
	ASSERT_EQ(0, vmmu_write(self->vm, 4 * GPA + 3 * MB + 5, "H", 1));
	EXPECT_EQ('H', huge[3 * MB + 5]);
	/* A slot not aligned to the huge page maps 4 KiB leaves. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 3, 0, 5 * GPA + PAGE, 2 * MB,
				      huge));
	EXPECT_EQ('h', (char)guest_read64(self->vm, 5 * GPA + PAGE + MB));
	EXPECT_EQ(1, translate(self->vm, 5 * GPA + PAGE + MB).level);
	ASSERT_EQ(0, munmap(huge, 4 * MB));
	EXPECT_EQ(0, translate(self->vm, 4 * GPA + 3 * MB).flags);
}

#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB	(30 << 26)
#endif

TEST_F(mmu, hugetlbfs_maps_1g_leaves)
{
	const size_t size = 1UL << 30;
	char *huge, last = 0;

	/* The test machine reserves one 1 GiB page at boot (boot.sh). */
	huge = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB,
		    -1, 0);
	ASSERT_TRUE(huge != MAP_FAILED) TH_LOG("no 1 GiB page reserved?");
	huge[0] = 'g';
	huge[size - 1] = 'G';
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 2, 0, 8 * GPA, size, huge));
	EXPECT_EQ('g', (char)guest_read64(self->vm, 8 * GPA));
	EXPECT_EQ(3, translate(self->vm, 8 * GPA + 12345).level);
	ASSERT_EQ(0, vmmu_write(self->vm, 8 * GPA + size - 2, "!", 1));
	EXPECT_EQ('!', huge[size - 2]);
	ASSERT_EQ(0, vmmu_read(self->vm, 8 * GPA + size - 1, &last, 1));
	EXPECT_EQ('G', last);
	EXPECT_EQ(1, STAT(self->vm, faults_1g));
	ASSERT_EQ(0, munmap(huge, size));
	EXPECT_EQ(0, translate(self->vm, 8 * GPA).flags);
}

static int dirty_log(int vm, __u32 slot, __u64 *bitmap)
{
	struct vmmu_dirty_log log = { .slot = slot, .bitmap = (uintptr_t)bitmap };

	return vmmu_ioctl(vm, VMMU_GET_DIRTY_LOG, (unsigned long)&log);
}

TEST_F(mmu, dirty_log_is_exact)
{
	static const unsigned int pages[] = { 0, 3, 63, 64, 100, 511 };
	__u64 bitmap[REGION / PAGE / 64], want[REGION / PAGE / 64] = { 0 };
	struct vmmu_dirty_log clear = { .slot = 0 };
	unsigned int i;

	struct vmmu_prefault pf = {
		.guest_phys_addr = GPA + 700 * PAGE, .size = 4 * PAGE,
		.flags = VMMU_PREFAULT_WRITE,
	};

	/* Mapped writable before logging starts: must be write-protected. */
	for (i = 0; i < 600; i++)
		ASSERT_EQ(0, vmmu_write(self->vm, GPA + i * PAGE, "0", 1));
	EXPECT_EQ(-ENOENT, dirty_log(self->vm, 0, bitmap));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, VMMU_MEM_LOG_DIRTY_PAGES, GPA,
				      REGION, self->mem));
	ASSERT_EQ(0, dirty_log(self->vm, 0, bitmap));
	for (i = 0; i < sizeof(bitmap) / 8; i++)
		ASSERT_EQ(0, bitmap[i]);

	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		ASSERT_EQ(0, vmmu_write(self->vm, GPA + pages[i] * PAGE + 8, "d", 1));
		want[pages[i] / 64] |= 1ULL << (pages[i] % 64);
	}
	/* Reads, host writes and prefaults are not guest writes. */
	EXPECT_EQ('0', (char)guest_read64(self->vm, GPA + 7 * PAGE));
	self->mem[9 * PAGE] = 1;
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&pf));

	ASSERT_EQ(0, dirty_log(self->vm, 0, bitmap));
	EXPECT_EQ(0, memcmp(want, bitmap, sizeof(bitmap)));
	/* Got and reset: empty until the next write. */
	ASSERT_EQ(0, dirty_log(self->vm, 0, bitmap));
	for (i = 0; i < sizeof(bitmap) / 8; i++)
		EXPECT_EQ(0, bitmap[i]);
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 3 * PAGE, "e", 1));
	ASSERT_EQ(0, dirty_log(self->vm, 0, bitmap));
	EXPECT_EQ(1ULL << 3, bitmap[0]);

	/* Manual clear: only the pages asked for. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 64 * PAGE, "f", 1));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 65 * PAGE, "f", 1));
	want[0] = 1ULL << 1;			/* page 65 */
	clear.first_page = 64;
	clear.num_pages = 64;
	clear.bitmap = (uintptr_t)want;
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_CLEAR_DIRTY_LOG, (unsigned long)&clear));
	ASSERT_EQ(0, dirty_log(self->vm, 0, bitmap));
	EXPECT_EQ(1ULL, bitmap[1]);		/* page 64 only */

	clear.first_page = 3;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_CLEAR_DIRTY_LOG, (unsigned long)&clear));
	clear.first_page = REGION / PAGE - 64;
	clear.num_pages = 128;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_CLEAR_DIRTY_LOG, (unsigned long)&clear));
	EXPECT_EQ(-EFAULT, dirty_log(self->vm, 0, NULL));
	EXPECT_EQ(-ENOENT, dirty_log(self->vm, 9, bitmap));
}

TEST_F(mmu, batch_flags_then_delete_unmaps)
{
	struct vmmu_memslot e[2] = {
		vmmu_slot(0, VMMU_MEM_LOG_DIRTY_PAGES, GPA, REGION, NULL),
		vmmu_slot(0, 0, 0, 0, NULL),
	};
	__u64 bitmap[REGION / PAGE / 64] = { 0 };
	struct vmmu_dirty_log log = { .slot = 0, .bitmap = (uintptr_t)bitmap };

	e[0].userspace_addr = (uintptr_t)self->mem;
	ASSERT_EQ(0, vmmu_write(self->vm, GPA, "m", 1));
	ASSERT_TRUE(translate(self->vm, GPA).flags & VMMU_TRANSLATE_MAPPED);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, NULL));
	EXPECT_EQ(0, translate(self->vm, GPA).flags);
	/* Deleted and created again, read-only, in one batch. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, REGION, self->mem));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA, "w", 1));
	e[0] = vmmu_slot(0, 0, 0, 0, NULL);
	e[1] = vmmu_slot(0, VMMU_MEM_READONLY, GPA, REGION, self->mem);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, NULL));
	EXPECT_FALSE(translate(self->vm, GPA).flags & VMMU_TRANSLATE_WRITE);
	EXPECT_NE(0, vmmu_write(self->vm, GPA, "x", 1));
	EXPECT_EQ('w', self->mem[0]);
	/* And again, logging: the next write is logged. */
	e[1] = vmmu_slot(0, VMMU_MEM_LOG_DIRTY_PAGES, GPA, REGION, self->mem);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, NULL));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + PAGE, "y", 1));
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_GET_DIRTY_LOG, (unsigned long)&log));
	EXPECT_EQ(1ULL << 1, bitmap[0]);
	/* Replaced by an identical logging slot: its fresh log misses no write. */
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 2 * PAGE, "z", 1));
	e[0] = vmmu_slot(0, 0, 0, 0, NULL);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, NULL));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + 2 * PAGE, "z", 1));
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_GET_DIRTY_LOG, (unsigned long)&log));
	EXPECT_EQ(1ULL << 2, bitmap[0]);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, 0, NULL));
	/* And moving a slot takes its mappings along. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, GPA, REGION, self->mem));
	ASSERT_EQ(0, vmmu_write(self->vm, GPA + PAGE, "n", 1));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 2 * GPA, REGION, self->mem));
	EXPECT_EQ(0, translate(self->vm, GPA + PAGE).flags);
	EXPECT_EQ('n', (char)guest_read64(self->vm, 2 * GPA + PAGE));
}

TEST_F(mmu, bad_input)
{
	struct vmmu_access a = { .guest_phys_addr = GPA, .len = 1 };
	struct vmmu_translation t = { .guest_phys_addr = GPA };
	char c;

	a.buf = (uintptr_t)&c;
	a.flags = VMMU_ACCESS_WRITE | VMMU_ACCESS_FETCH;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_ACCESS, (unsigned long)&a));
	a.flags = 0x4;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_ACCESS, (unsigned long)&a));
	a.flags = 0;
	a.reserved[2] = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_ACCESS, (unsigned long)&a));
	a.reserved[2] = 0;
	a.guest_phys_addr = (1ULL << 48) - 1;
	a.len = 2;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_ACCESS, (unsigned long)&a));
	a.guest_phys_addr = GPA;
	a.buf = 8;
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_ACCESS, (unsigned long)&a));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_ACCESS, 0));
	t.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_TRANSLATE, (unsigned long)&t));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_TRANSLATE, 0));
	/* A fetch needs execute permission, which RAM has. */
	self->mem[0] = (char)0x90;
	ASSERT_EQ(0, vmmu_access(self->vm, GPA, &c, 1, VMMU_ACCESS_FETCH, &a));
	EXPECT_EQ(1, a.done);
	EXPECT_EQ((char)0x90, c);
}

TEST_F(mmu, page_tables_are_freed)
{
	__u64 base = STAT(self->vm, pt_pages);
	unsigned int i;

	EXPECT_EQ(1, base);
	for (i = 0; i < REGION / PAGE; i += 64)
		ASSERT_EQ(0, vmmu_write(self->vm, GPA + i * PAGE, "p", 1));
	/* Root, one table per level above the leaves, four leaf tables. */
	EXPECT_EQ(1 + 2 + REGION / (2 * MB), STAT(self->vm, pt_pages));
	/*
	 * Deleting the slot zaps its range and frees the tables it covers
	 * whole; the two above, which map more than the slot, stay.
	 */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, 0, NULL));
	EXPECT_EQ(3, STAT(self->vm, pt_pages));
	EXPECT_EQ(0, translate(self->vm, GPA).flags);
}

/*
 * Zaps of a large range keep mmu_lock held for a bounded number of entries
 * at a time.  A 2 GiB slot mapped with 4 KiB leaves (dirty logging forces
 * them; the host maps the zero page) has 524288 leaves in 1024 leaf
 * tables.  Every zap that may block visits at most VMMU_MMU_BATCH = 512
 * entries per hold of the lock, so zapping half of it must yield at least
 * 262144 / 512 = 512 times, and no hold may have visited more than 512
 * entries.  Both the notifier (munmap of half the slot) and a memslot
 * delete (the rest) are checked; the tables the zaps cover whole are
 * freed.  Hold times are printed, not asserted: this is an emulator.
 * On a slow kernel (VMMU_TIMEOUT_SCALE, the debug kernel: the 2 GiB
 * prefault alone takes 7 minutes there) the slot is 256 MiB: 64 yields a
 * half, the same bound per hold.
 */
#define ZAP_GPA		(4ULL << 30)
#define ZAP_BATCH	512
#define GB		(1ULL << 30)

TEST_F_TIMEOUT(mmu, zap_bound, 300)
{
	const __u64 size = vmmu_timeout_scale() > 1 ? 256 * MB : 2 * GB;
	const __u64 npages = size / PAGE;
	/* Tables under the 512 GiB one: one per GiB begun, one per 2 MiB. */
	const __u64 tables = (size + GB - 1) / GB + size / (2 * MB);
	struct vmmu_prefault p = {
		.guest_phys_addr = ZAP_GPA, .size = size,
	};
	__u64 yields, faults;
	double t0;
	char *mem;

	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(mem != MAP_FAILED);
	ASSERT_EQ(0, madvise(mem, size, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, VMMU_MEM_LOG_DIRTY_PAGES,
				      ZAP_GPA, size, mem));

	faults = STAT(self->vm, faults_4k);
	t0 = now_ms();
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_PREFAULT, (unsigned long)&p));
	ASSERT_EQ(0, p.size);
	ASSERT_EQ(npages, STAT(self->vm, faults_4k) - faults);
	/* Root and the 0-512 GiB table above them. */
	ASSERT_EQ(1 + 1 + tables, STAT(self->vm, pt_pages));
	TH_LOG("prefault of %llu pages: %.0f ms", npages, now_ms() - t0);

	/* The notifier: munmap of the first half. */
	yields = STAT(self->vm, mmu_lock_yields);
	t0 = now_ms();
	ASSERT_EQ(0, munmap(mem, size / 2));
	TH_LOG("munmap of %llu mapped pages: %.0f ms, %llu yields",
	       npages / 2, now_ms() - t0,
	       STAT(self->vm, mmu_lock_yields) - yields);
	EXPECT_LE(npages / 2 / ZAP_BATCH, STAT(self->vm, mmu_lock_yields) - yields);
	EXPECT_EQ(0, translate(self->vm, ZAP_GPA).flags);
	/* Gone: its leaf tables, and the GiB tables it covered whole. */
	EXPECT_EQ(1 + 1 + tables - size / 2 / GB - size / 2 / (2 * MB),
		  STAT(self->vm, pt_pages));

	/* A memslot delete: the other half. */
	yields = STAT(self->vm, mmu_lock_yields);
	t0 = now_ms();
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 0, 0, NULL));
	TH_LOG("delete of %llu mapped pages: %.0f ms, %llu yields",
	       npages / 2, now_ms() - t0,
	       STAT(self->vm, mmu_lock_yields) - yields);
	EXPECT_LE(npages / 2 / ZAP_BATCH, STAT(self->vm, mmu_lock_yields) - yields);
	EXPECT_EQ(0, translate(self->vm, ZAP_GPA + size / 2).flags);
	/* A GiB table the slot covered only in part maps more than it. */
	EXPECT_EQ(1 + 1 + (size % GB ? 1 : 0), STAT(self->vm, pt_pages));

	TH_LOG("longest write hold of mmu_lock: %llu entries, %llu us",
	       STAT(self->vm, mmu_lock_max_hold_entries),
	       STAT(self->vm, mmu_lock_max_hold_ns) / 1000);
	EXPECT_GE(ZAP_BATCH, STAT(self->vm, mmu_lock_max_hold_entries));
	EXPECT_LT(0, STAT(self->vm, mmu_lock_max_hold_entries));
	munmap(mem + size / 2, size / 2);
}

#ifndef MADV_COLD
#define MADV_COLD	20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

/* The pagemap entry of @addr: bit 63 present, bit 62 swapped. */
static __u64 pagemap(const void *addr)
{
	__u64 e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, &e, 8, (uintptr_t)addr / PAGE * 8) != 8)
			e = 0;
		close(fd);
	}
	return e;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)

/*
 * MADV_PAGEOUT @p until it is swapped out (a page still in a per-CPU LRU
 * batch cannot be isolated yet): whether it was.
 */
static bool page_out(char *p)
{
	int tries;

	madvise(p, PAGE, MADV_PAGEOUT);
	for (tries = 0; tries < 50 && !(pagemap(p) & PM_SWAPPED); tries++) {
		usleep(20 * 1000);
		madvise(p, PAGE, MADV_PAGEOUT);
	}
	return pagemap(p) & PM_SWAPPED;
}

/*
 * Host reclaim and the guest.  A page the guest did not use is swapped
 * out, which zaps its mapping, and comes back with its data on the next
 * guest access.  A page the guest just used: up to 6.9 (Debian's 6.1),
 * MADV_PAGEOUT asks the VM whether it was used (clear_flush_young), and
 * keeps it, with its accessed bit cleared.  From 6.10 (6.12, 7.2) it
 * ignores references and never asks: the used page goes like the idle one
 * (what 7.2 guarantees), and aging is tested by mglru_aging_asks_the_vm.
 * Nothing the kernel exports tells which MADV_PAGEOUT it has: this is the
 * one place the tests look at the version.
 */
TEST_F(mmu, reclaim_and_swap)
{
	char *used = self->mem + 300 * PAGE, *idle = self->mem + 301 * PAGE;
	__u64 gused = GPA + 300 * PAGE, gidle = GPA + 301 * PAGE;
	bool refs = !kernel_at_least(6, 10);

	ASSERT_EQ(0, access("/dev/zram0", F_OK)) TH_LOG("no swap device");
	memset(used, 'u', PAGE);
	memset(idle, 'i', PAGE);
	ASSERT_EQ(0x7575757575757575ULL, guest_read64(self->vm, gused));
	ASSERT_EQ(0x6969696969696969ULL, guest_read64(self->vm, gidle));
	ASSERT_TRUE(translate(self->vm, gidle).flags & VMMU_TRANSLATE_MAPPED);
	/* Only the guest, not the host, uses this one from now on. */
	ASSERT_TRUE(page_out(idle));
	/* Swapped out: the guest mapping went with the host's. */
	EXPECT_EQ(0, translate(self->vm, gidle).flags);

	/* The guest uses the page; the host does not touch it. */
	ASSERT_EQ(0x7575757575757575ULL, guest_read64(self->vm, gused));
	ASSERT_TRUE(translate(self->vm, gused).flags & VMMU_TRANSLATE_ACCESSED);
	if (refs) {
		madvise(used, PAGE, MADV_PAGEOUT);
		/* The VM said the page was young: reclaim kept it. */
		EXPECT_TRUE(pagemap(used) & PM_PRESENT);
		EXPECT_FALSE(translate(self->vm, gused).flags &
			     VMMU_TRANSLATE_ACCESSED);
		EXPECT_TRUE(translate(self->vm, gused).flags &
			    VMMU_TRANSLATE_MAPPED);
	} else {
		/* References ignored: swapped out, and unmapped. */
		EXPECT_TRUE(page_out(used));
		EXPECT_EQ(0, translate(self->vm, gused).flags);
	}

	/* Swapped-out data comes back through the guest, intact. */
	EXPECT_EQ(0x6969696969696969ULL, guest_read64(self->vm, gidle + 64));
	EXPECT_TRUE(pagemap(idle) & PM_PRESENT);
	EXPECT_EQ(0x7575757575757575ULL, guest_read64(self->vm, gused + 64));
	ASSERT_EQ(0, vmmu_write(self->vm, gidle, "I", 1));
	EXPECT_EQ('I', idle[0]);
}

#define LRU_GEN_CAPS	"/sys/kernel/mm/lru_gen/enabled"
#define LRU_GEN_DEBUG	"/sys/kernel/debug/lru_gen"

/*
 * Is the multi-gen LRU on, with its page-table walk (capabilities 0x1
 * and 0x2 of LRU_GEN_CAPS)?
 */
static bool mglru_walks(void)
{
	unsigned int caps = 0;
	FILE *f = fopen(LRU_GEN_CAPS, "r");

	if (!f)
		return false;
	if (fscanf(f, "%x", &caps) != 1)
		caps = 0;
	fclose(f);
	return (caps & 3) == 3;
}

/*
 * One forced aging pass of the multi-gen LRU over this process's memory
 * cgroup, on its first node, through debugfs: "+ memcg node max_seq
 * swappiness force_scan".  0 or -errno.
 */
static int mglru_age(void)
{
	char cg[256] = "/", path[256], line[256], cmd[128];
	unsigned long long id = 0, seq, max_seq = 0;
	bool ours = false, found = false;
	int nid = -1, n;
	FILE *f;

	/* The root group unless /proc/self/cgroup names another. */
	f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			sscanf(line + 3, "%255s", cg);
	fclose(f);

	f = fopen(LRU_GEN_DEBUG, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "memcg %llu %255s", &seq, path) == 2) {
			if (found)
				break;
			ours = !strcmp(path, cg);
			if (ours)
				id = seq;
		} else if (ours && sscanf(line, " node %d", &n) == 1) {
			if (found)
				break;
			nid = n;
		} else if (ours && nid >= 0 && sscanf(line, " %llu", &seq) == 1) {
			found = true;
			if (seq > max_seq)
				max_seq = seq;
		}
	}
	fclose(f);
	if (!found)
		return -ENOENT;
	snprintf(cmd, sizeof(cmd), "+ %llu %d %llu 100 1\n", id, nid, max_seq);
	return write_file(LRU_GEN_DEBUG, cmd);
}

/*
 * Aging by the multi-gen LRU.  Where it is on (by default on Debian's 6.12
 * and 7.2, not on 6.1), its page-table walk asks the secondary MMUs of an
 * mm with notifiers about each present page, young in the host or not
 * (clear_young(), which returns bool on 7.2): a forced aging pass must
 * clear the accessed bit of a page the guest used, and leave it mapped.
 * This is what 7.2 guarantees for aging; MADV_PAGEOUT no longer asks.
 * Where the multi-gen LRU is off, reclaim asks through the rmap
 * (clear_flush_young()), which reclaim_and_swap tests.
 */
TEST_F(mmu, mglru_aging_asks_the_vm)
{
	char *p = self->mem + 310 * PAGE;
	__u64 gpa = GPA + 310 * PAGE;
	cpu_set_t cpus;
	int i;

	if (!mglru_walks()) {
		TH_LOG("multi-gen LRU off: aging is reclaim_and_swap's");
		return;
	}
	/*
	 * The walk skips pages not yet on an LRU list: a new page waits in
	 * a per-CPU batch, which MADV_COLD drains on its CPU (it also makes
	 * the host's own pte old, and does not ask the VM).
	 */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	memset(p, 'a', PAGE);
	ASSERT_EQ(0, madvise(p, PAGE, MADV_COLD));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0x6161616161616161ULL, guest_read64(self->vm, gpa));
		ASSERT_TRUE(translate(self->vm, gpa).flags &
			    VMMU_TRANSLATE_ACCESSED);
		ASSERT_EQ(0, mglru_age());
		EXPECT_TRUE(translate(self->vm, gpa).flags &
			    VMMU_TRANSLATE_MAPPED);
		EXPECT_FALSE(translate(self->vm, gpa).flags &
			     VMMU_TRANSLATE_ACCESSED);
	}
}

#define KSM	"/sys/kernel/mm/ksm/"

/* KSM merges two identical guest pages, and a guest write unmerges them. */
TEST_F_TIMEOUT(mmu, ksm_merge_keeps_the_guest_view, 120)
{
	char *a = self->mem + 200 * PAGE, *b = self->mem + 201 * PAGE;
	__u64 ga = GPA + 200 * PAGE, gb = GPA + 201 * PAGE;
	int tries;

	memset(a, 'k', PAGE);
	memset(b, 'k', PAGE);
	ASSERT_EQ(0x6b6b6b6b6b6b6b6bULL, guest_read64(self->vm, ga));
	ASSERT_EQ(0x6b6b6b6b6b6b6b6bULL, guest_read64(self->vm, gb));
	ASSERT_NE(translate(self->vm, ga).host_phys_addr,
		  translate(self->vm, gb).host_phys_addr);

	ASSERT_EQ(0, write_file(KSM "sleep_millisecs", "10"));
	ASSERT_EQ(0, write_file(KSM "pages_to_scan", "4096"));
	ASSERT_EQ(0, write_file(KSM "run", "1"));
	ASSERT_EQ(0, madvise(a, 2 * PAGE, MADV_MERGEABLE));

	/* Merged, the guest faults back in on the one shared page. */
	for (tries = 0; tries < 400; tries++) {
		guest_read64(self->vm, ga);
		guest_read64(self->vm, gb);
		if (translate(self->vm, ga).host_phys_addr ==
		    translate(self->vm, gb).host_phys_addr)
			break;
		usleep(50 * 1000);
	}
	TH_LOG("merged after %d polls", tries);
	ASSERT_EQ(translate(self->vm, ga).host_phys_addr,
		  translate(self->vm, gb).host_phys_addr);
	/* A KSM page is write-protected, and reads see the same bytes. */
	EXPECT_FALSE(translate(self->vm, ga).flags & VMMU_TRANSLATE_WRITE);
	EXPECT_EQ(0x6b6b6b6b6b6b6b6bULL, guest_read64(self->vm, gb));

	/* A guest write breaks the merge for its page only. */
	ASSERT_EQ(0, vmmu_write(self->vm, ga + 9, "W", 1));
	EXPECT_EQ('W', a[9]);
	EXPECT_EQ('k', b[9]);
	EXPECT_EQ(0x6b6b6b6b6b6b6b6bULL, guest_read64(self->vm, gb + 8));
	EXPECT_NE(translate(self->vm, ga).host_phys_addr,
		  translate(self->vm, gb).host_phys_addr);

	write_file(KSM "run", "2");
}

/*
 * Stress with an oracle.  Every 8-byte word of the first 1 MiB of the slot
 * has one writer (a guest writer through VMMU_ACCESS, or a host writer)
 * storing (word index << 32 | sequence), the sequence only growing.  Guest
 * readers check that a value read belongs to its word and is not older
 * than what its writer had published before the read began.  Meanwhile
 * another thread write-protects pages, forks (COW every page), zaps or
 * unmaps and remaps a scratch area (which may only ever read as its fill
 * or as zeroes, also while unmapped: then the access stops short), and
 * moves a second memslot that aliases the same memory.
 */
#define STRESS_WORDS	(MB / 8)
#define WRITERS		3		/* guest, guest, host */

struct oracle {
	int vm;
	char *mem;
	atomic_uint_least64_t seq[STRESS_WORDS];
	atomic_bool stop;
	atomic_long reads, writes, bad, errors, exits;
};

/* Pages 0-191 belong to the guest writers, 192-255 to the host writer. */
#define HOST_PAGES_FROM	192

static unsigned int owner_of(unsigned int word)
{
	unsigned int page = word / (PAGE / 8);

	return page >= HOST_PAGES_FROM ? WRITERS - 1 : page % 2;
}

static void *oracle_writer(void *arg)
{
	static atomic_int next;
	struct oracle *o = arg;
	int me = atomic_fetch_add(&next, 1) % WRITERS;
	unsigned int i = 0, n = 0;

	while (!atomic_load(&o->stop)) {
		__u64 seq, v;
		struct vmmu_access a;

		i = (i * 1103515245 + 12345 + n++) % STRESS_WORDS;
		if (owner_of(i) != me)
			continue;
		seq = atomic_load(&o->seq[i]) + 1;
		v = (__u64)i << 32 | seq;

		if (me == WRITERS - 1) {
			__atomic_store_n((__u64 *)(o->mem + i * 8), v, __ATOMIC_RELEASE);
		} else if (vmmu_access(o->vm, GPA + i * 8, &v, 8,
					VMMU_ACCESS_WRITE, &a)) {
			atomic_fetch_add(&o->errors, 1);
		} else if (a.done != 8) {
			/* Write-protected right now: try another word. */
			atomic_fetch_add(&o->exits, 1);
			continue;
		}
		atomic_store(&o->seq[i], seq);
		atomic_fetch_add(&o->writes, 1);
	}
	return NULL;
}

#define SCRATCH		(4 * MB)
#define SCRATCH_PAGES	64
#define SCRATCH_FILL	0x0101010101010101ULL

static void *oracle_reader(void *arg)
{
	struct oracle *o = arg;
	unsigned int i = 7;

	while (!atomic_load(&o->stop)) {
		__u64 s = 1;
		struct vmmu_access a;

		/* Scratch memory holds the fill or, zapped, the zero page. */
		if (vmmu_access(o->vm, GPA + SCRATCH + (i % SCRATCH_PAGES) * PAGE,
				 &s, 8, 0, &a))
			atomic_fetch_add(&o->errors, 1);
		else if (a.done == 8 && s != 0 && s != SCRATCH_FILL)
			atomic_fetch_add(&o->bad, 1);

		__u64 before = atomic_load(&o->seq[i]), v = ~0ULL;

		if (vmmu_read(o->vm, GPA + i * 8, &v, 8)) {
			atomic_fetch_add(&o->errors, 1);
		} else if (v ? (v >> 32) != i || (v & 0xffffffff) < before :
			       before != 0) {
			atomic_fetch_add(&o->bad, 1);
		}
		atomic_fetch_add(&o->reads, 1);
		i = (i * 1103515245 + 12345) % STRESS_WORDS;
	}
	return NULL;
}

static void *oracle_disturber(void *arg)
{
	struct oracle *o = arg;
	char *scratch = o->mem + SCRATCH;
	unsigned int n = 0;

	while (!atomic_load(&o->stop)) {
		char *p = o->mem + (n * 37 % HOST_PAGES_FROM) * PAGE;
		int status;
		pid_t pid;

		switch (n++ % 5) {
		case 0:	/* write-protect a page for a moment */
			if (mprotect(p, PAGE, PROT_READ) ||
			    mprotect(p, PAGE, PROT_READ | PROT_WRITE))
				atomic_fetch_add(&o->errors, 1);
			break;
		case 1:	/* COW every page; the child leaves at once */
			pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0 || waitpid(pid, &status, 0) != pid)
				atomic_fetch_add(&o->errors, 1);
			break;
		case 2:	/* zap scratch memory */
			memset(scratch, 1, SCRATCH_PAGES * PAGE);
			if (madvise(scratch, SCRATCH_PAGES * PAGE, MADV_DONTNEED))
				atomic_fetch_add(&o->errors, 1);
			break;
		case 3:	/* unmap scratch memory and map it again */
			memset(scratch, 1, SCRATCH_PAGES * PAGE);
			if (munmap(scratch, SCRATCH_PAGES * PAGE) ||
			    mmap(scratch, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
			    scratch)
				atomic_fetch_add(&o->errors, 1);
			break;
		default: /* move the alias slot */
			if (vmmu_set_memslot(o->vm, 1, 0, (8 + n % 5) * GPA, 2 * MB,
					     o->mem))
				atomic_fetch_add(&o->errors, 1);
			break;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(mmu, stress_with_oracle, 120)
{
	void *(*fns[])(void *) = {
		oracle_writer, oracle_writer, oracle_writer,
		oracle_reader, oracle_reader, oracle_disturber,
	};
	const int n = sizeof(fns) / sizeof(fns[0]);
	struct oracle *o = calloc(1, sizeof(*o));
	struct vmmu_vm_stats st;
	pthread_t t[8];
	int i;

	ASSERT_NE(NULL, o);
	o->vm = self->vm;
	o->mem = self->mem;
	memset(self->mem, 0, 2 * MB);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 8 * GPA, 2 * MB, self->mem));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fns[i], o));
	sleep(5 * vmmu_timeout_scale());
	atomic_store(&o->stop, true);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &st));
	TH_LOG("%ld reads, %ld writes (%ld write-protected), %llu faults, %llu retries, %llu zapped",
	       atomic_load(&o->reads), atomic_load(&o->writes),
	       atomic_load(&o->exits), st.faults, st.fault_retries, st.zapped);
	EXPECT_EQ(0, atomic_load(&o->bad));
	EXPECT_EQ(0, atomic_load(&o->errors));
	EXPECT_LT(1000, atomic_load(&o->reads));
	EXPECT_LT(1000, atomic_load(&o->writes));
	EXPECT_EQ(0, st.invalidate_in_progress);
	EXPECT_EQ(0, st.invalidate_in_flight);
	/* Every word holds what its writer wrote last. */
	for (i = 0; i < STRESS_WORDS; i++) {
		__u64 v = *(__u64 *)(self->mem + i * 8), seq = atomic_load(&o->seq[i]);

		if (seq)
			ASSERT_EQ((__u64)i << 32 | seq, v) TH_LOG("word %d", i);
	}
	free(o);
}

#define CG		"/sys/fs/cgroup"
#define CG_PT		CG "/vmmu_pt"

/* A field of memory.stat of @cg, in bytes, or -1. */
static long long memcg_stat(const char *cg, const char *field)
{
	char path[256], line[256];
	long long v = -1;
	size_t len = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ' ')
			v = atoll(line + len + 1);
	fclose(f);
	return v;
}

/*
 * Page-table pages are charged to the memory cgroup of the process that
 * faults.  64 one-page slots, 1 GiB apart and all backed by one host page,
 * need two new table pages each: that memory is the VM's, nobody else's.
 */
TEST_F(mmu, page_tables_charged_to_memcg)
{
	long long before, after;
	__u64 tables;
	int i;

	ASSERT_EQ(0, memory_cgroup("vmmu_pt"));
	ASSERT_EQ(0, write_file(CG_PT "/cgroup.procs", "0"));

	self->mem[0] = 1;
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, vmmu_set_memslot(self->vm, 10 + i, 0,
					      (16ULL + i) << 30, PAGE, self->mem));
	tables = STAT(self->vm, pt_pages);
	before = memcg_stat(CG_PT, "kernel");
	ASSERT_LE(0, before);
	for (i = 0; i < 64; i++)
		ASSERT_EQ(1, (char)guest_read64(self->vm, (16ULL + i) << 30));
	after = memcg_stat(CG_PT, "kernel");
	TH_LOG("%llu new table pages, memcg kernel memory +%lld KiB",
	       STAT(self->vm, pt_pages) - tables, (after - before) / 1024);
	EXPECT_LE(128, STAT(self->vm, pt_pages) - tables);
	EXPECT_LE(128 * (long long)PAGE, after - before);

	/* Back to the root group, and the test group goes. */
	write_file(CG "/cgroup.procs", "0");
	rmdir(CG_PT);
}

TEST_HARNESS_MAIN
