// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memslots: VMMU_SET_MEMSLOT with KVM_SET_USER_MEMORY_REGION's semantics and
 * an errno for every bad input, VMMU_SET_MEMSLOTS as one atomic update,
 * 32768 slots per VM, and readers that never see a hole while a slot is
 * split by a batch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
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

TEST_HARNESS_MAIN
