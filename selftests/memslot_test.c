// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memslots: VMMU_SET_MEMSLOT with KVM_SET_USER_MEMORY_REGION's semantics and
 * an errno for every bad input, VMMU_SET_MEMSLOTS as one atomic update,
 * 32768 slots per VM, readers that never see a hole while a slot is split
 * by a batch, updates killed while they wait (rolled back, for the whole
 * VMM and for a CLONE_VM sibling sharing its mm), and how long updates take
 * next to in-tree KVM's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "kvm_guest.h"
#include "memslot_timing.h"
#include "vmmu_util.h"

#define PAGE		4096ULL
#define MB		(1ULL << 20)
#define GPA_LIMIT	(1ULL << 48)

FIXTURE(slots) {
	int vm;
	char *mem;		/* 16 MiB of host memory for the slots */
	size_t mem_size;
};

FIXTURE_SETUP(slots)
{
	self->vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, 0);
	ASSERT_LE(0, self->vm);
	self->mem_size = 16 * MB;
	self->mem = mmap(NULL, self->mem_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->mem != MAP_FAILED);
}

FIXTURE_TEARDOWN(slots)
{
	close(self->vm);
	munmap(self->mem, self->mem_size);
}

/* The host address @gpa resolves to, or -errno. */
static long long hva_of(int vm, __u64 gpa)
{
	struct vmmu_memslot_lookup l;
	int r = vmmu_lookup(vm, gpa, &l);

	return r ? r : (long long)l.userspace_addr;
}

static __u64 nr_slots(int vm)
{
	struct vmmu_vm_stats st;

	return vmmu_get_stats(vm, &st) ? ~0ULL : st.memslots;
}

static __u64 generation(int vm)
{
	struct vmmu_vm_stats st;

	return vmmu_get_stats(vm, &st) ? ~0ULL : st.memslot_generation;
}

TEST_F(slots, create_lookup_delete)
{
	struct vmmu_memslot_lookup l;
	char *hva = self->mem + 2 * MB;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 3, 0, 1ULL << 32, 2 * MB, hva));
	ASSERT_EQ(0, vmmu_lookup(self->vm, (1ULL << 32) + 0x1234, &l));
	EXPECT_EQ(3, l.slot);
	EXPECT_EQ(0, l.flags);
	EXPECT_EQ(1ULL << 32, l.slot_base);
	EXPECT_EQ(2 * MB, l.slot_size);
	EXPECT_EQ((unsigned long)hva + 0x1234, l.userspace_addr);
	EXPECT_EQ((unsigned long)hva + 2 * MB - 1,
		  hva_of(self->vm, (1ULL << 32) + 2 * MB - 1));
	/* Just outside, on both sides. */
	EXPECT_EQ(-ENOENT, hva_of(self->vm, (1ULL << 32) - 1));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, (1ULL << 32) + 2 * MB));
	EXPECT_EQ(1, nr_slots(self->vm));

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 3, 0, 1ULL << 32, 0, hva));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, (1ULL << 32) + 0x1234));
	EXPECT_EQ(0, nr_slots(self->vm));
	/* Deleting it again: there is nothing to delete. */
	EXPECT_EQ(-ENOENT, vmmu_set_memslot(self->vm, 3, 0, 0, 0, NULL));
	/* The id is free for a new slot anywhere. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 3, 0, 0, PAGE, hva));
	EXPECT_EQ((unsigned long)hva, hva_of(self->vm, 0));
}

TEST_F(slots, move)
{
	char *hva = self->mem;
	__u64 gen;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0x100000, 4 * MB, hva));
	gen = generation(self->vm);
	/* Overlapping its own old range is fine. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0x200000, 4 * MB, hva));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, 0x100000));
	EXPECT_EQ((unsigned long)hva, hva_of(self->vm, 0x200000));
	EXPECT_EQ((unsigned long)hva + 4 * MB - PAGE,
		  hva_of(self->vm, 0x200000 + 4 * MB - PAGE));
	EXPECT_LT(gen, generation(self->vm));
	EXPECT_EQ(1, nr_slots(self->vm));
}

TEST_F(slots, flags)
{
	struct vmmu_memslot_lookup l;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 0, MB, self->mem));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, VMMU_MEM_LOG_DIRTY_PAGES,
				      0, MB, self->mem));
	ASSERT_EQ(0, vmmu_lookup(self->vm, 0, &l));
	EXPECT_EQ(VMMU_MEM_LOG_DIRTY_PAGES, l.flags);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 0, MB, self->mem));
	ASSERT_EQ(0, vmmu_lookup(self->vm, 0, &l));
	EXPECT_EQ(0, l.flags);

	/* Read-only is chosen at creation and never changes. */
	EXPECT_EQ(-EINVAL, vmmu_set_memslot(self->vm, 1, VMMU_MEM_READONLY,
					    0, MB, self->mem));
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 2, VMMU_MEM_READONLY,
				      MB, MB, self->mem + MB));
	ASSERT_EQ(0, vmmu_lookup(self->vm, MB, &l));
	EXPECT_EQ(VMMU_MEM_READONLY, l.flags);
	EXPECT_EQ(-EINVAL, vmmu_set_memslot(self->vm, 2, 0, MB, MB,
					    self->mem + MB));
	/* Dirty logging may still be switched on a read-only slot. */
	EXPECT_EQ(0, vmmu_set_memslot(self->vm, 2, VMMU_MEM_READONLY |
				      VMMU_MEM_LOG_DIRTY_PAGES, MB, MB,
				      self->mem + MB));
}

TEST_F(slots, unchanged_is_a_no_op)
{
	__u64 gen;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 5, 0, 0, MB, self->mem));
	gen = generation(self->vm);
	EXPECT_EQ(0, vmmu_set_memslot(self->vm, 5, 0, 0, MB, self->mem));
	EXPECT_EQ(gen, generation(self->vm));
}

/* Each refused request leaves the memslots exactly as they were. */
#define EXPECT_REFUSED(_err, _vm, ...) do {				\
	__u64 __gen = generation(_vm), __n = nr_slots(_vm);		\
	EXPECT_EQ(_err, vmmu_set_memslot(_vm, __VA_ARGS__))		\
		TH_LOG("vmmu_set_memslot(%s)", #__VA_ARGS__);		\
	EXPECT_EQ(__gen, generation(_vm));				\
	EXPECT_EQ(__n, nr_slots(_vm));					\
} while (0)

TEST_F(slots, bad_input)
{
	struct vmmu_memslot m;
	char *mem = self->mem;
	unsigned int bit, i;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, MB, mem));

	/* Unknown flags, one bit at a time. */
	for (bit = 2; bit < 32; bit++)
		EXPECT_REFUSED(-EINVAL, self->vm, 1, 1U << bit, 8 * MB, MB, mem);
	/* Reserved fields. */
	for (i = 0; i < 4; i++) {
		m = vmmu_slot(1, 0, 8 * MB, MB, mem);
		m.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOT,
					      (unsigned long)&m));
	}
	/* Slot ids out of range. */
	EXPECT_REFUSED(-EINVAL, self->vm, 32768, 0, 8 * MB, MB, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 0xffffffff, 0, 8 * MB, MB, mem);
	/* Misaligned address, size or host address. */
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB + 1, MB, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB + 2048, MB, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB, MB - 1, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB, MB, mem + 8);
	/* Ranges that wrap around or leave 4-level EPT/NPT's reach. */
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, -MB, 2 * MB, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, GPA_LIMIT, PAGE, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, GPA_LIMIT - PAGE, 2 * PAGE, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 1ULL << 52, PAGE, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 0, -PAGE, mem);
	/* Host ranges that are not user memory. */
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB, MB,
		       (void *)0xffff888000000000ULL);
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB, 2 * MB,
		       (void *)(0x00007fffffffffffULL & ~(PAGE - 1)));
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 8 * MB, 1ULL << 47,
		       (void *)(1ULL << 46));
	/* More than 2^31 - 1 pages, as KVM: 8 TiB of user memory. */
	EXPECT_REFUSED(-EINVAL, self->vm, 1, 0, 1ULL << 44, 1ULL << 43,
		       (void *)(1ULL << 40));
	/* Deleting a slot that does not exist. */
	EXPECT_REFUSED(-ENOENT, self->vm, 1, 0, 0, 0, NULL);
	EXPECT_REFUSED(-ENOENT, self->vm, 32767, 0, 0, 0, NULL);
	/* The guest range of another slot. */
	EXPECT_REFUSED(-EEXIST, self->vm, 1, 0, 0, MB, mem + MB);
	EXPECT_REFUSED(-EEXIST, self->vm, 1, 0, MB - PAGE, MB, mem + MB);
	EXPECT_REFUSED(-EEXIST, self->vm, 1, 0, PAGE, PAGE, mem + MB);
	/* Changing the size or host address of the live slot. */
	EXPECT_REFUSED(-EINVAL, self->vm, 0, 0, 0, 2 * MB, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 0, 0, 0, MB - PAGE, mem);
	EXPECT_REFUSED(-EINVAL, self->vm, 0, 0, 0, MB, mem + MB);
	EXPECT_REFUSED(-EINVAL, self->vm, 0, 0, 4 * MB, MB, mem + MB);

	/* Pointers the module cannot read. */
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOT, 0));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOT, -PAGE));

	/* After all that, slot 0 is what it was. */
	EXPECT_EQ((unsigned long)mem + PAGE, hva_of(self->vm, PAGE));
	EXPECT_EQ(1, nr_slots(self->vm));
}

TEST_F(slots, limits_accepted)
{
	/* The last page below 2^48, and the last slot id. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 32767, 0, GPA_LIMIT - MB, MB,
				      self->mem));
	EXPECT_EQ((unsigned long)self->mem + MB - PAGE,
		  hva_of(self->vm, GPA_LIMIT - PAGE));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, GPA_LIMIT));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, ~0ULL));
	/* The largest slot: 2^31 - 1 pages. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 2, 0, 1ULL << 44,
				      (1ULL << 43) - PAGE, (void *)(1ULL << 40)));
	/* Host ranges need not be mapped yet, as with KVM. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, 1ULL << 30,
				      (void *)(1ULL << 40)));
	/* Two slots may share host memory. */
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 1ULL << 31, MB,
				      self->mem));
}

TEST_F(slots, lookup_bad_input)
{
	struct vmmu_memslot_lookup l = { 0 };

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, MB, self->mem));
	l.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_LOOKUP_MEMSLOT,
				      (unsigned long)&l));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_LOOKUP_MEMSLOT, 0));
}

TEST_F(slots, batch_is_all_or_nothing)
{
	struct vmmu_memslot e[4];
	__u32 idx;
	__u64 gen;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, MB, self->mem));
	gen = generation(self->vm);

	/* Three good changes and a bad one: none happens. */
	e[0] = vmmu_slot(1, 0, 2 * MB, MB, self->mem + MB);
	e[1] = vmmu_slot(0, 0, 4 * MB, MB, self->mem);		/* move */
	e[2] = vmmu_slot(2, 0, 6 * MB, MB, self->mem + 2 * MB);
	e[3] = vmmu_slot(3, 0, 2 * MB + PAGE, PAGE, self->mem);	/* overlaps 1 */
	EXPECT_EQ(-EEXIST, vmmu_set_memslots(self->vm, e, 4, &idx));
	EXPECT_EQ(3, idx);
	EXPECT_EQ(gen, generation(self->vm));
	EXPECT_EQ(1, nr_slots(self->vm));
	EXPECT_EQ((unsigned long)self->mem, hva_of(self->vm, 0));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, 2 * MB));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, 4 * MB));

	/* A bad entry first, and one with a bad field in the middle. */
	e[0] = vmmu_slot(1, 0x80, 2 * MB, MB, self->mem + MB);
	EXPECT_EQ(-EINVAL, vmmu_set_memslots(self->vm, e, 3, &idx));
	EXPECT_EQ(0, idx);
	e[0] = vmmu_slot(1, 0, 2 * MB, MB, self->mem + MB);
	e[1].reserved[3] = 7;
	EXPECT_EQ(-EINVAL, vmmu_set_memslots(self->vm, e, 3, &idx));
	EXPECT_EQ(1, idx);
	e[1].reserved[3] = 0;
	EXPECT_EQ(gen, generation(self->vm));

	/* The same batch without the bad entry: all of it, in one update. */
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 3, &idx));
	EXPECT_EQ(~0U, idx);
	EXPECT_EQ(gen + 1, generation(self->vm));
	EXPECT_EQ(3, nr_slots(self->vm));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, 0));
	EXPECT_EQ((unsigned long)self->mem, hva_of(self->vm, 4 * MB));
	EXPECT_EQ((unsigned long)self->mem + MB, hva_of(self->vm, 2 * MB));
}

TEST_F(slots, batch_split_merge_resize)
{
	struct vmmu_memslot e[3];
	__u32 idx;

	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, 0, 4 * MB, self->mem));

	/* Split 0 into 0 and 1; the id of a deleted slot is reused at once. */
	e[0] = vmmu_slot(0, 0, 0, 0, NULL);
	e[1] = vmmu_slot(0, 0, 0, MB, self->mem);
	e[2] = vmmu_slot(1, 0, MB, 3 * MB, self->mem + MB);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 3, &idx));
	EXPECT_EQ(2, nr_slots(self->vm));
	EXPECT_EQ((unsigned long)self->mem + 2 * MB, hva_of(self->vm, 2 * MB));

	/* Merge them back into 7. */
	e[0] = vmmu_slot(0, 0, 0, 0, NULL);
	e[1] = vmmu_slot(1, 0, 0, 0, NULL);
	e[2] = vmmu_slot(7, 0, 0, 4 * MB, self->mem);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 3, &idx));
	EXPECT_EQ(1, nr_slots(self->vm));

	/* Resize 7 to 8 MiB. */
	e[0] = vmmu_slot(7, 0, 0, 0, NULL);
	e[1] = vmmu_slot(7, 0, 0, 8 * MB, self->mem);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, &idx));
	EXPECT_EQ((unsigned long)self->mem + 7 * MB, hva_of(self->vm, 7 * MB));

	/* One slot changed twice in one batch: the last change wins. */
	e[0] = vmmu_slot(7, 0, 8 * MB, 8 * MB, self->mem);
	e[1] = vmmu_slot(7, VMMU_MEM_LOG_DIRTY_PAGES, 16 * MB, 8 * MB, self->mem);
	ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, 2, &idx));
	EXPECT_EQ(-ENOENT, hva_of(self->vm, 8 * MB));
	EXPECT_EQ((unsigned long)self->mem, hva_of(self->vm, 16 * MB));
}

TEST_F(slots, batch_bad_header)
{
	struct vmmu_memslot_batch b = { 0 }, *hdr;
	char *page;
	long max = vmmu_ioctl(self->vm, VMMU_CHECK_EXTENSION,
			      VMMU_CAP_MEMSLOT_BATCH);
	__u32 idx;

	ASSERT_LT(0, max);
	EXPECT_EQ(0, vmmu_set_memslots(self->vm, NULL, 0, &idx));
	EXPECT_EQ(~0U, idx);

	b.nr = max + 1;
	EXPECT_EQ(-E2BIG, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOTS,
				     (unsigned long)&b));
	EXPECT_EQ(~0U, b.error_index);
	b.nr = 1;
	b.flags = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOTS,
				      (unsigned long)&b));
	b.flags = 0;
	b.reserved = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOTS,
				      (unsigned long)&b));
	/* A good header at the end of a page, its entries in a hole. */
	page = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(page != MAP_FAILED);
	ASSERT_EQ(0, munmap(page + PAGE, PAGE));
	hdr = (void *)(page + PAGE - sizeof(*hdr));
	memset(hdr, 0, sizeof(*hdr));
	hdr->nr = 4;
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOTS,
				      (unsigned long)hdr));
	munmap(page, PAGE);
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_SET_MEMSLOTS, 0));
	EXPECT_EQ(0, nr_slots(self->vm));
}

TEST_F_TIMEOUT(slots, many_slots, 300)
{
	long nr = vmmu_ioctl(self->vm, VMMU_CHECK_EXTENSION, VMMU_CAP_NR_MEMSLOTS);
	long batch = vmmu_ioctl(self->vm, VMMU_CHECK_EXTENSION,
				VMMU_CAP_MEMSLOT_BATCH);
	struct vmmu_memslot *e;
	struct vmmu_vm_stats before, after;
	char *host;
	long i, j;
	__u32 idx;

	ASSERT_LE(32000, nr);
	ASSERT_LT(0, batch);
	/* One page of host memory per slot, never touched; gaps in the GPAs. */
	host = mmap(NULL, nr * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(host != MAP_FAILED);
	e = calloc(batch, sizeof(*e));
	ASSERT_NE(NULL, e);

	for (i = 0; i < nr; i += batch) {
		for (j = 0; j < batch && i + j < nr; j++)
			e[j] = vmmu_slot(i + j, 0, (i + j) * 3 * PAGE, PAGE,
					 host + (i + j) * PAGE);
		ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, j, &idx));
	}
	EXPECT_EQ(nr, nr_slots(self->vm));
	/* A slot more is refused: the ids are all taken. */
	EXPECT_EQ(-EINVAL, vmmu_set_memslot(self->vm, nr, 0, nr * 3 * PAGE,
					    PAGE, host));

	for (i = 0; i < nr; i += 7) {
		ASSERT_EQ((unsigned long)host + i * PAGE + 5,
			  hva_of(self->vm, i * 3 * PAGE + 5)) TH_LOG("slot %ld", i);
		ASSERT_EQ(-ENOENT, hva_of(self->vm, i * 3 * PAGE + PAGE));
	}
	EXPECT_EQ((unsigned long)host + (nr - 1) * PAGE,
		  hva_of(self->vm, (nr - 1) * 3 * PAGE));

	/* The notifier finds one slot among them, and no slot outside. */
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &before));
	ASSERT_EQ(0, madvise(host + 12345 * PAGE, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(self->mem, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &after));
	EXPECT_EQ(1, after.invalidations_locked - before.invalidations_locked);
	EXPECT_EQ(1, after.invalidations_elided - before.invalidations_elided);

	for (i = 0; i < nr; i += batch) {
		for (j = 0; j < batch && i + j < nr; j++)
			e[j] = vmmu_slot(i + j, 0, 0, 0, NULL);
		ASSERT_EQ(0, vmmu_set_memslots(self->vm, e, j, &idx));
	}
	EXPECT_EQ(0, nr_slots(self->vm));
	free(e);
	munmap(host, nr * PAGE);
}

/*
 * A reader looks up guest addresses on both sides of the split point of a
 * 4 MiB slot while it is split in two and merged back, over and over.
 */
struct split_reader {
	int vm;
	unsigned long hva;
	atomic_bool stop;
	atomic_long lookups, holes, wrong;
};

static void *split_reader_fn(void *arg)
{
	static const __u64 gpas[] = { 2 * MB - PAGE, 2 * MB, 0, 4 * MB - 1 };
	struct split_reader *r = arg;
	unsigned int i = 0;

	while (!atomic_load(&r->stop)) {
		__u64 gpa = gpas[i++ % 4];
		long long hva = hva_of(r->vm, 0x40000000 + gpa);

		if (hva == -ENOENT)
			atomic_fetch_add(&r->holes, 1);
		else if (hva != (long long)(r->hva + gpa))
			atomic_fetch_add(&r->wrong, 1);
		atomic_fetch_add(&r->lookups, 1);
	}
	return NULL;
}

static void split_and_merge(struct __test_metadata *_metadata,
			    FIXTURE_DATA(slots) *self, bool atomic,
			    struct split_reader *r, int rounds)
{
	const __u64 base = 0x40000000;
	struct vmmu_memslot split[3] = {
		vmmu_slot(0, 0, 0, 0, NULL),
		vmmu_slot(0, 0, base, 2 * MB, self->mem),
		vmmu_slot(1, 0, base + 2 * MB, 2 * MB, self->mem + 2 * MB),
	};
	struct vmmu_memslot merge[3] = {
		vmmu_slot(0, 0, 0, 0, NULL),
		vmmu_slot(1, 0, 0, 0, NULL),
		vmmu_slot(0, 0, base, 4 * MB, self->mem),
	};
	pthread_t t;
	int i, k;

	ASSERT_EQ(0, vmmu_set_memslots(self->vm, &merge[2], 1, NULL));
	r->vm = self->vm;
	r->hva = (unsigned long)self->mem;
	ASSERT_EQ(0, pthread_create(&t, NULL, split_reader_fn, r));
	while (atomic_load(&r->lookups) == 0)
		usleep(1000);

	for (i = 0; i < rounds; i++) {
		if (atomic) {
			ASSERT_EQ(0, vmmu_set_memslots(self->vm, split, 3, NULL));
			ASSERT_EQ(0, vmmu_set_memslots(self->vm, merge, 3, NULL));
			continue;
		}
		for (k = 0; k < 3; k++)
			ASSERT_EQ(0, vmmu_set_memslots(self->vm, &split[k], 1, NULL));
		for (k = 0; k < 3; k++)
			ASSERT_EQ(0, vmmu_set_memslots(self->vm, &merge[k], 1, NULL));
		if (atomic_load(&r->holes))
			break;
	}
	atomic_store(&r->stop, true);
	pthread_join(t, NULL);
	TH_LOG("%d rounds, %ld lookups, %ld holes", i,
	       atomic_load(&r->lookups), atomic_load(&r->holes));
}

TEST_F_TIMEOUT(slots, batch_split_never_shows_a_hole, 300)
{
	struct split_reader r = { 0 };

	split_and_merge(_metadata, self, true, &r, 300);
	EXPECT_EQ(0, atomic_load(&r.holes));
	EXPECT_EQ(0, atomic_load(&r.wrong));
	/* The reader really ran while the slots changed under it. */
	EXPECT_LT(300, atomic_load(&r.lookups));
}

/* The control: the same split as single updates does show holes. */
TEST_F_TIMEOUT(slots, single_updates_show_holes, 300)
{
	struct split_reader r = { 0 };

	split_and_merge(_metadata, self, false, &r, 300);
	EXPECT_LT(0, atomic_load(&r.holes));
	EXPECT_EQ(0, atomic_load(&r.wrong));
}

/*
 * Memslot updates killed while they wait.  An update publishes its new
 * memslots only when no MMU-notifier invalidation is in flight; with
 * mn_inject_delay_ms, a MADV_DONTNEED of memory in no slot stays in flight
 * for two delays (start() and end() each sleep), and an update started
 * meanwhile sits in that wait, killably, until it is killed.  The killed
 * update must change nothing: the old memslots stay, with the generation
 * the ABI documents, and faults and VMMU_ACCESS work on them.
 */
#define KILL_DELAY_MS	2000
#define GEN_UPDATING	(1ULL << 63)
#define K_SLOT		(2 * MB)
#define K_SLOT1_GPA	(1ULL << 30)
#define K_SLOT2_GPA	(2ULL << 30)
#define K_MOVE_GPA	(3ULL << 30)	/* where the update moves slot 2 */
#define K_SLOT3_GPA	(4ULL << 30)	/* where it creates slot 3 */
#define K_PAGES		8		/* pages of slots 1 and 2 mapped */

/* A VMM: its VM, memory, the update under test and the held invalidation. */
struct vmm {
	int vm;
	char *mem;	/* slot 1, slot 2, slot 3, then memory in no slot */
	/*
	 * Built before the delay is armed: while invalidations of this mm
	 * sleep, nothing may allocate (malloc may unmap, which invalidates).
	 */
	__u64 batch[(sizeof(struct vmmu_memslot_batch) +
		     3 * sizeof(struct vmmu_memslot)) / 8];
	struct vmmu_memslot create3;
	pthread_t zapper;
	int zap_go[2];
	int zap_r;
};

#define K_OTHER(v)	((v)->mem + 3 * K_SLOT)

static int gaccess(int vm, __u64 gpa, void *buf, __u32 len, __u32 flags)
{
	struct vmmu_access a;
	int r = vmmu_access(vm, gpa, buf, len, flags, &a);

	return r ? r : a.done == len ? 0 : (int)a.exit;
}

static void *zapper_fn(void *arg)
{
	struct vmm *v = arg;
	char c;

	if (read(v->zap_go[0], &c, 1) == 1)
		v->zap_r = madvise(K_OTHER(v), K_SLOT, MADV_DONTNEED) ? -errno : 0;
	return NULL;
}

/*
 * Slots 1 and 2, their first K_PAGES pages mapped by guest writes, the
 * update (delete 1, move 2, create 3) and the zapper thread, parked.
 * 0, or the step that failed.
 */
static int vmm_init(struct vmm *v, unsigned int type)
{
	struct vmmu_memslot_batch *b = (void *)v->batch;
	unsigned int i;

	memset(v, 0, sizeof(*v));
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return 1;
	v->vm = vmmu_new_vm(type, 0);
	v->mem = mmap(NULL, 4 * K_SLOT, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->vm < 0 || v->mem == MAP_FAILED)
		return 2;
	memset(v->mem, 0x11, 4 * K_SLOT);
	if (vmmu_set_memslot(v->vm, 1, 0, K_SLOT1_GPA, K_SLOT, v->mem) ||
	    vmmu_set_memslot(v->vm, 2, 0, K_SLOT2_GPA, K_SLOT, v->mem + K_SLOT))
		return 3;
	for (i = 0; i < K_PAGES; i++) {
		char c = 'a' + i;

		if (gaccess(v->vm, K_SLOT1_GPA + i * PAGE, &c, 1, VMMU_ACCESS_WRITE) ||
		    gaccess(v->vm, K_SLOT2_GPA + i * PAGE, &c, 1, VMMU_ACCESS_WRITE))
			return 4;
	}
	b->nr = 3;
	b->entries[0] = vmmu_slot(1, 0, 0, 0, NULL);
	b->entries[1] = vmmu_slot(2, 0, K_MOVE_GPA, K_SLOT, v->mem + K_SLOT);
	b->entries[2] = vmmu_slot(3, 0, K_SLOT3_GPA, K_SLOT, v->mem + 2 * K_SLOT);
	v->create3 = b->entries[2];
	if (pipe(v->zap_go) || pthread_create(&v->zapper, NULL, zapper_fn, v))
		return 5;
	return 0;
}

/* Arm the delay and start the zap: 0 once it is in flight, or -errno. */
static int vmm_hold_invalidation(struct vmm *v)
{
	struct vmmu_vm_stats st;
	char ms[16];
	double t0;
	int r;

	snprintf(ms, sizeof(ms), "%d", KILL_DELAY_MS);
	r = vmmu_set_param("mn_inject_delay_ms", ms);
	if (r)
		return r;
	if (write(v->zap_go[1], "z", 1) != 1)
		return -EIO;
	for (t0 = now_ms(); now_ms() - t0 < 5000;) {
		r = vmmu_get_stats(v->vm, &st);
		if (r)
			return r;
		if (st.invalidate_in_flight)
			return 0;
	}
	return -ETIMEDOUT;
}

/* Disarm the delay and wait (bounded) for the zap to end: 0 or -errno. */
static int vmm_release_invalidation(struct vmm *v)
{
	struct timespec ts;

	vmmu_set_param("mn_inject_delay_ms", "0");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 4 * KILL_DELAY_MS / 1000 + 5;
	return -pthread_timedjoin_np(v->zapper, NULL, &ts);
}

/* waitpid() for at most @ms milliseconds: the pid, or -errno. */
static int wait_exit(pid_t pid, int *status, int ms)
{
	double t0 = now_ms();
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0 && now_ms() - t0 < ms)
		usleep(2000);
	return r > 0 ? r : r < 0 ? -errno : -ETIMEDOUT;
}

/* The first vmmu function on the kernel stack of @tid, for the log. */
static const char *vmmu_frame(int tid, char *buf, size_t len)
{
	char path[64], *p, *nl;

	snprintf(path, sizeof(path), "/proc/%d/stack", tid);
	if (read_small_file(path, buf, len) < 0) {
		snprintf(buf, len, "(no /proc stack)");
		return buf;
	}
	p = strstr(buf, "] vmmu_");
	if (!p)
		return buf;
	memmove(buf, p + 2, strlen(p + 2) + 1);
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return buf;
}

FIXTURE(killed) {
	int kmsg;
	pid_t victim;		/* a process to kill if the test stops early */
};

FIXTURE_VARIANT(killed) {
	unsigned int type;
};

FIXTURE_VARIANT_ADD(killed, ept) {
	.type = VMMU_VM_TYPE_EPT,
};

FIXTURE_VARIANT_ADD(killed, npt) {
	.type = VMMU_VM_TYPE_NPT,
};

FIXTURE_SETUP(killed)
{
	self->victim = 0;
	self->kmsg = kmsg_open();
	ASSERT_LE(0, self->kmsg);
}

FIXTURE_TEARDOWN(killed)
{
	int status;

	if (self->victim > 0) {
		kill(self->victim, SIGKILL);
		wait_exit(self->victim, &status, 15000);
	}
	vmmu_set_param("mn_inject_delay_ms", "0");
	close(self->kmsg);
}

static void expect_clean_klog(struct __test_metadata *_metadata, int kmsg)
{
	char line[512];

	EXPECT_EQ(0, kmsg_problems(kmsg, line, sizeof(line)))
		TH_LOG("kernel log: %s", line);
}

/* (i) The VMM, the updater one of its threads, dies mid-update. */
struct vmm_updater {
	struct vmm *v;
	int go[2];
	atomic_int tid;
};

static void *vmm_updater_fn(void *arg)
{
	struct vmm_updater *u = arg;
	char c;

	atomic_store(&u->tid, (int)syscall(SYS_gettid));
	if (read(u->go[0], &c, 1) == 1)
		ioctl(u->v->vm, VMMU_SET_MEMSLOTS, u->v->batch);
	return NULL;
}

/* The VMM process: sends the updater's tid once it is updating. */
static int vmm_process(unsigned int type, int report)
{
	static struct vmm v;
	static struct vmm_updater u = { .v = &v };
	pthread_t t;
	int tid, r;

	r = vmm_init(&v, type);
	if (r)
		return 10 + r;
	if (pipe(u.go) || pthread_create(&t, NULL, vmm_updater_fn, &u))
		return 2;
	while (!atomic_load(&u.tid))
		usleep(1000);
	if (vmm_hold_invalidation(&v))
		return 3;
	if (write(u.go[1], "u", 1) != 1)
		return 4;
	tid = atomic_load(&u.tid);
	if (write(report, &tid, sizeof(tid)) != sizeof(tid))
		return 5;
	for (;;)
		pause();
}

TEST_F_TIMEOUT(killed, vmm_killed_mid_update, 60)
{
	long base = vmmu_live_vms();
	struct pollfd pfd;
	int rep[2], tid = 0, status;
	char frame[1024];
	__u64 gen = 0;
	pid_t pid;

	ASSERT_LE(0, base);
	ASSERT_EQ(0, pipe(rep));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(vmm_process(variant->type, rep[1]));
	self->victim = pid;
	close(rep[1]);
	pfd = (struct pollfd){ .fd = rep[0], .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_EQ(sizeof(tid), read(rep[0], &tid, sizeof(tid))) {
		if (wait_exit(pid, &status, 1000) == pid)
			TH_LOG("the VMM exited with %d", WEXITSTATUS(status));
	}

	/* The updater sits in VMMU_SET_MEMSLOTS, its old slots invalid. */
	ASSERT_EQ(0, wait_task_blocked_in(tid, SYS_ioctl, 100, 5000));
	TH_LOG("updater %d waits in %s", tid, vmmu_frame(tid, frame, sizeof(frame)));
	ASSERT_EQ(0, vmmu_debugfs_vm_stat_u64(pid, "memslot_generation", &gen));
	EXPECT_TRUE(gen & GEN_UPDATING) TH_LOG("generation %#llx", gen);
	EXPECT_EQ(1, vmmu_debugfs_vm_stat(pid, "invalidate_in_flight"));
	EXPECT_EQ(2, vmmu_debugfs_vm_stat(pid, "memslot_updates"));
	EXPECT_EQ(2, vmmu_debugfs_vm_stat(pid, "memslots"));
	EXPECT_EQ(base + 1, vmmu_live_vms());

	ASSERT_EQ(0, kill(pid, SIGKILL));
	/* The kill ends the wait; the zap in flight ends its sleeps. */
	vmmu_set_param("mn_inject_delay_ms", "0");
	ASSERT_EQ(pid, wait_exit(pid, &status, 15000));
	self->victim = 0;
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("status %#x", status);

	/* The address space went, and with it the VM. */
	EXPECT_EQ(base, vmmu_wait_live_vms(base, 10000)) TH_LOG("base %ld", base);
	EXPECT_EQ(-ENOENT, vmmu_debugfs_vm_stat(pid, "memslots"));
	expect_clean_klog(_metadata, self->kmsg);
}

/* (ii) The updater is a CLONE_VM sibling process: it dies, the VMM lives. */
struct sibling {
	int vm, go;
	unsigned long cmd, arg;
	atomic_long result;	/* SIBLING_RUNNING until the ioctl returns */
};

#define SIBLING_RUNNING	1L
#define SIBLING_STACK	(64 * 1024)

/*
 * The sibling shares our memory but, made by a bare clone(), also our
 * thread pointer: it makes raw system calls, which touch no errno.
 */
static long raw_syscall3(long nr, long a, long b, long c)
{
#ifdef __x86_64__
	long ret;

	asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(nr, a, b, c);
#endif
}

static int sibling_fn(void *arg)
{
	struct sibling *s = arg;
	char c;

	raw_syscall3(SYS_read, s->go, (long)&c, 1);
	atomic_store(&s->result, raw_syscall3(SYS_ioctl, s->vm, s->cmd, s->arg));
	return 0;
}

/*
 * Start a CLONE_VM sibling that makes the ioctl @cmd(@arg) on @v's VM while
 * an invalidation is held in flight, and kill it once it waits in there.
 * @during receives the VM's statistics just before the kill.
 */
static void kill_sibling_mid_update(struct __test_metadata *_metadata,
				    FIXTURE_DATA(killed) *self, struct vmm *v,
				    unsigned long cmd, void *arg,
				    struct vmmu_vm_stats *during)
{
	static struct sibling s;
	char *stack, frame[1024];
	int go[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(go));
	s = (struct sibling){
		.vm = v->vm, .go = go[0], .cmd = cmd, .arg = (unsigned long)arg,
		.result = SIBLING_RUNNING,
	};
	stack = mmap(NULL, SIBLING_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(stack != MAP_FAILED);
	pid = clone(sibling_fn, stack + SIBLING_STACK, CLONE_VM | SIGCHLD, &s);
	ASSERT_LT(0, pid);
	self->victim = pid;

	ASSERT_EQ(0, vmm_hold_invalidation(v));
	ASSERT_EQ(1, write(go[1], "u", 1));
	ASSERT_EQ(0, wait_task_blocked_in(pid, SYS_ioctl, 100, 5000))
		TH_LOG("sibling: state %c, result %ld", proc_task_state(pid),
		       atomic_load(&s.result));
	TH_LOG("sibling %d waits in %s", pid, vmmu_frame(pid, frame, sizeof(frame)));
	ASSERT_EQ(0, vmmu_get_stats(v->vm, during));
	ASSERT_EQ(SIBLING_RUNNING, atomic_load(&s.result));

	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, wait_exit(pid, &status, 15000));
	self->victim = 0;
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("status %#x", status);
	/* Killed inside the ioctl: it never returned to user space. */
	EXPECT_EQ(SIBLING_RUNNING, atomic_load(&s.result));
	ASSERT_EQ(0, vmm_release_invalidation(v));
	EXPECT_EQ(0, v->zap_r);
	munmap(stack, SIBLING_STACK);
	close(go[0]);
	close(go[1]);
}

/* Slot @id maps [gpa, gpa + K_SLOT) to @hva, as of generation @gen. */
static void expect_slot(struct __test_metadata *_metadata, int vm, __u32 id,
			__u64 gpa, const char *hva, __u64 gen)
{
	struct vmmu_memslot_lookup l;

	ASSERT_EQ(0, vmmu_lookup(vm, gpa + 5 * PAGE + 7, &l)) TH_LOG("slot %u", id);
	EXPECT_EQ(id, l.slot);
	EXPECT_EQ(gpa, l.slot_base);
	EXPECT_EQ(K_SLOT, l.slot_size);
	EXPECT_EQ((unsigned long)hva + 5 * PAGE + 7, l.userspace_addr);
	EXPECT_EQ(0, l.flags);
	EXPECT_EQ(gen, l.generation);
}

TEST_F_TIMEOUT(killed, clone_vm_sibling_killed_mid_update, 60)
{
	struct vmmu_vm_stats before, during, after, last;
	char buf[PAGE], want[PAGE];
	struct vmm v;
	unsigned int i;

	ASSERT_EQ(0, vmm_init(&v, variant->type));
	ASSERT_EQ(0, vmmu_get_stats(v.vm, &before));
	ASSERT_FALSE(before.memslot_generation & GEN_UPDATING);
	for (i = 0; i < K_PAGES; i++) {
		ASSERT_TRUE(vmmu_translated(v.vm, K_SLOT1_GPA + i * PAGE) & VMMU_TRANSLATE_MAPPED);
		ASSERT_TRUE(vmmu_translated(v.vm, K_SLOT2_GPA + i * PAGE) & VMMU_TRANSLATE_MAPPED);
	}

	kill_sibling_mid_update(_metadata, self, &v, VMMU_SET_MEMSLOTS, v.batch,
				&during);
	/* It had marked the slots it deletes and moves: an update in progress. */
	EXPECT_TRUE(during.memslot_generation & GEN_UPDATING)
		TH_LOG("generation %#llx", during.memslot_generation);
	EXPECT_EQ(1, during.invalidate_in_flight);

	/*
	 * Nothing changed but the generation, which moved on because the
	 * killed update had zapped what slots 1 and 2 mapped.
	 */
	ASSERT_EQ(0, vmmu_get_stats(v.vm, &after));
	EXPECT_FALSE(after.memslot_generation & GEN_UPDATING);
	EXPECT_LT(before.memslot_generation, after.memslot_generation);
	EXPECT_EQ(before.memslot_updates, after.memslot_updates);
	EXPECT_EQ(2, after.memslots);
	EXPECT_LE(before.zapped + 2 * K_PAGES, after.zapped);
	expect_slot(_metadata, v.vm, 1, K_SLOT1_GPA, v.mem, after.memslot_generation);
	expect_slot(_metadata, v.vm, 2, K_SLOT2_GPA, v.mem + K_SLOT,
		    after.memslot_generation);
	EXPECT_EQ(-ENOENT, vmmu_lookup(v.vm, K_MOVE_GPA, &(struct vmmu_memslot_lookup){}));
	EXPECT_EQ(-ENOENT, vmmu_lookup(v.vm, K_SLOT3_GPA, &(struct vmmu_memslot_lookup){}));

	/* Unmapped, and mapped again on access, with the data of both sides. */
	for (i = 0; i < K_PAGES; i++) {
		EXPECT_EQ(0, vmmu_translated(v.vm, K_SLOT1_GPA + i * PAGE));
		EXPECT_EQ(0, vmmu_translated(v.vm, K_SLOT2_GPA + i * PAGE));
	}
	for (i = 0; i < PAGE; i++)
		want[i] = (char)(i * 13 + 1);
	memcpy(v.mem + 2 * PAGE, want, PAGE);
	ASSERT_EQ(0, gaccess(v.vm, K_SLOT1_GPA + 2 * PAGE, buf, PAGE, 0));
	EXPECT_EQ(0, memcmp(buf, want, PAGE));
	EXPECT_TRUE(vmmu_translated(v.vm, K_SLOT1_GPA + 2 * PAGE) & VMMU_TRANSLATE_MAPPED);
	ASSERT_EQ(0, gaccess(v.vm, K_SLOT2_GPA + 3 * PAGE, want, PAGE,
			     VMMU_ACCESS_WRITE));
	EXPECT_EQ(0, memcmp(v.mem + K_SLOT + 3 * PAGE, want, PAGE));
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE,
		  vmmu_translated(v.vm, K_SLOT2_GPA + 3 * PAGE) &
		  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_WRITE));
	/* The pages written before the update kept their data. */
	EXPECT_EQ(0, gaccess(v.vm, K_SLOT1_GPA + 5 * PAGE, buf, 1, 0));
	EXPECT_EQ('f', buf[0]);

	/* The same update, not killed this time, goes through. */
	ASSERT_EQ(0, vmmu_ioctl(v.vm, VMMU_SET_MEMSLOTS, (unsigned long)v.batch));
	ASSERT_EQ(0, vmmu_get_stats(v.vm, &last));
	EXPECT_EQ(after.memslot_updates + 1, last.memslot_updates);
	EXPECT_LT(after.memslot_generation, last.memslot_generation);
	EXPECT_EQ(-ENOENT, vmmu_lookup(v.vm, K_SLOT1_GPA, &(struct vmmu_memslot_lookup){}));
	expect_slot(_metadata, v.vm, 2, K_MOVE_GPA, v.mem + K_SLOT,
		    last.memslot_generation);
	expect_slot(_metadata, v.vm, 3, K_SLOT3_GPA, v.mem + 2 * K_SLOT,
		    last.memslot_generation);
	ASSERT_EQ(0, gaccess(v.vm, K_MOVE_GPA + 3 * PAGE, buf, PAGE, 0));
	EXPECT_EQ(0, memcmp(buf, want, PAGE));
	expect_clean_klog(_metadata, self->kmsg);
	close(v.vm);
}

/* A killed update that only creates had zapped nothing: same generation. */
TEST_F_TIMEOUT(killed, clone_vm_sibling_killed_mid_create, 60)
{
	struct vmmu_vm_stats before, during, after;
	struct vmm v;
	unsigned int i;
	char c;

	ASSERT_EQ(0, vmm_init(&v, variant->type));
	ASSERT_EQ(0, vmmu_get_stats(v.vm, &before));

	kill_sibling_mid_update(_metadata, self, &v, VMMU_SET_MEMSLOT, &v.create3,
				&during);
	EXPECT_EQ(before.memslot_generation, during.memslot_generation);
	EXPECT_EQ(1, during.invalidate_in_flight);

	ASSERT_EQ(0, vmmu_get_stats(v.vm, &after));
	EXPECT_EQ(before.memslot_generation, after.memslot_generation);
	EXPECT_EQ(before.memslot_updates, after.memslot_updates);
	EXPECT_EQ(before.zapped, after.zapped);
	EXPECT_EQ(2, after.memslots);
	EXPECT_EQ(-ENOENT, vmmu_lookup(v.vm, K_SLOT3_GPA, &(struct vmmu_memslot_lookup){}));
	expect_slot(_metadata, v.vm, 1, K_SLOT1_GPA, v.mem, after.memslot_generation);
	/* The slots it did not touch stayed mapped. */
	for (i = 0; i < K_PAGES; i++)
		EXPECT_TRUE(vmmu_translated(v.vm, K_SLOT2_GPA + i * PAGE) &
			    VMMU_TRANSLATE_MAPPED);

	ASSERT_EQ(0, vmmu_set_memslots(v.vm, &v.create3, 1, NULL));
	ASSERT_EQ(0, vmmu_get_stats(v.vm, &after));
	EXPECT_LT(before.memslot_generation, after.memslot_generation);
	expect_slot(_metadata, v.vm, 3, K_SLOT3_GPA, v.mem + 2 * K_SLOT,
		    after.memslot_generation);
	v.mem[2 * K_SLOT + PAGE] = 'n';
	ASSERT_EQ(0, gaccess(v.vm, K_SLOT3_GPA + PAGE, &c, 1, 0));
	EXPECT_EQ('n', c);
	expect_clean_klog(_metadata, self->kmsg);
	close(v.vm);
}

/*
 * How long memslot updates take, next to in-tree KVM in the same process:
 * printed, never asserted.  Only the results are checked.
 */
#define TIMING_ROUNDS	100
#define TIMING_SLOT	(4 * MB)

FIXTURE(timing) {
	int kvm_vm, vm;
	char *mem;
};

FIXTURE_VARIANT(timing) {
	unsigned int type;
};

FIXTURE_VARIANT_ADD(timing, ept) {
	.type = VMMU_VM_TYPE_EPT,
};

FIXTURE_VARIANT_ADD(timing, npt) {
	.type = VMMU_VM_TYPE_NPT,
};

FIXTURE_SETUP(timing)
{
	self->kvm_vm = kvm_new_vm();
	ASSERT_LE(0, self->kvm_vm) TH_LOG("KVM_CREATE_VM: %s", strerror(-self->kvm_vm));
	self->vm = vmmu_new_vm(variant->type, 0);
	ASSERT_LE(0, self->vm);
	self->mem = mmap(NULL, TIMING_SLOT, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->mem != MAP_FAILED);
}

FIXTURE_TEARDOWN(timing)
{
	close(self->vm);
	close(self->kvm_vm);
	munmap(self->mem, TIMING_SLOT);
}

TEST_F_TIMEOUT(timing, update_timing_vs_kvm, 120)
{
	struct memslot_timing t;
	struct vmmu_vm_stats st;
	struct utsname u;
	int r;

	r = memslot_timing_run(&t, self->kvm_vm, self->vm, TIMING_ROUNDS, 0,
			       1ULL << 32, TIMING_SLOT, self->mem);
	ASSERT_EQ(0, r) TH_LOG("%s", t.error);
	ASSERT_EQ(TIMING_ROUNDS, t.rounds);
	uname(&u);
	fprintf(stderr, "# %s VM, kernel %s:\n",
		variant->type == VMMU_VM_TYPE_EPT ? "EPT" : "NPT", u.release);
	memslot_timing_print(stderr, "# ", &t);
	memslot_timing_free(&t);

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &st));
	EXPECT_EQ(2 * TIMING_ROUNDS, st.memslot_updates);
	EXPECT_EQ(0, st.memslots);
}

TEST_HARNESS_MAIN
