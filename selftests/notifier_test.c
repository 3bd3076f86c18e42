// SPDX-License-Identifier: GPL-2.0-only
/*
 * The MMU-notifier protocol: invalidations that hit no memslot elide the MMU
 * lock (or not, with VMMU_VM_MN_NO_LOCK_ELISION), related ones take it, the
 * counts stay balanced, a memslot update waits for invalidations in flight,
 * and the VM survives its mm going away.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define REGION		(4 * MB)
#define SLOT_GPA	0x100000000ULL

static char *map_region(void)
{
	char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		memset(p, 1, REGION);
	return p;
}

/*
 * Operations on [mem, mem + len) that each make the kernel invalidate part
 * of it: zap, write-protect and unprotect, unmap and map again.  Returns how
 * many were done, or -1.  Nothing else may touch the range meanwhile.
 */
static int storm_range(char *mem, size_t len, int rounds)
{
	int i, ops = 0;

	for (i = 0; i < rounds; i++) {
		char *p = mem + (i % (len / PAGE)) * PAGE;

		p[0] = 2;
		if (madvise(p, PAGE, MADV_DONTNEED))
			return -1;
		p[0] = 3;
		if (mprotect(p, PAGE, PROT_READ) ||
		    mprotect(p, PAGE, PROT_READ | PROT_WRITE))
			return -1;
		if (munmap(p, PAGE) ||
		    mmap(p, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			return -1;
		p[0] = 4;
		ops += 4;
	}
	return ops;
}

static int storm(char *mem, int rounds)
{
	return storm_range(mem, REGION, rounds);
}

FIXTURE(mn) {
	int vm;
	char *slot_mem;		/* backs memslot 0 */
	char *other;		/* in no memslot */
};

FIXTURE_VARIANT(mn) {
	unsigned int vm_flags;
};

FIXTURE_VARIANT_ADD(mn, elision) {
	.vm_flags = 0,
};

FIXTURE_VARIANT_ADD(mn, no_elision) {
	.vm_flags = VMMU_VM_MN_NO_LOCK_ELISION,
};

/* The second memslot-publication policy: the same tests must hold. */
FIXTURE_VARIANT_ADD(mn, bounded) {
	.vm_flags = VMMU_VM_MEMSLOT_BOUNDED_WAIT,
};

FIXTURE_SETUP(mn)
{
	/*
	 * The storms count invalidations exactly: keep khugepaged and THP
	 * splits from invalidating this mm behind their back.
	 */
	ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	self->vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, variant->vm_flags);
	ASSERT_LE(0, self->vm);
	self->slot_mem = map_region();
	self->other = map_region();
	ASSERT_TRUE(self->slot_mem != MAP_FAILED && self->other != MAP_FAILED);
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, SLOT_GPA, REGION,
				      self->slot_mem));
}

FIXTURE_TEARDOWN(mn)
{
	vmmu_set_param("mn_inject_delay_ms", "0");
	close(self->vm);
}

static void expect_balanced(struct __test_metadata *_metadata, int vm)
{
	struct vmmu_vm_stats st;

	ASSERT_EQ(0, vmmu_get_stats(vm, &st));
	EXPECT_EQ(0, st.invalidate_in_progress);
	EXPECT_EQ(0, st.invalidate_in_flight);
	EXPECT_EQ(st.invalidations,
		  st.invalidations_elided + st.invalidations_locked);
	/* Never more in flight at once than the bounded policy has records. */
	EXPECT_EQ(0, st.invalidations_unrecorded);
}

TEST_F(mn, unrelated_storm)
{
	struct vmmu_vm_stats a, b;
	int ops;

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	ops = storm(self->other, 200);
	ASSERT_LT(0, ops);
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));

	EXPECT_LE(ops, b.invalidations - a.invalidations);
	if (variant->vm_flags & VMMU_VM_MN_NO_LOCK_ELISION) {
		EXPECT_EQ(0, b.invalidations_elided - a.invalidations_elided);
		EXPECT_EQ(b.invalidations - a.invalidations,
			  b.invalidations_locked - a.invalidations_locked);
	} else {
		/* Not one of them took the MMU lock. */
		EXPECT_EQ(0, b.invalidations_locked - a.invalidations_locked);
		EXPECT_EQ(b.invalidations - a.invalidations,
			  b.invalidations_elided - a.invalidations_elided);
	}
	/* The sequence moves only for invalidations that took the lock. */
	EXPECT_EQ(b.invalidations_locked - a.invalidations_locked,
		  b.invalidate_seq - a.invalidate_seq);
	expect_balanced(_metadata, self->vm);
}

TEST_F(mn, related_storm)
{
	struct vmmu_vm_stats a, b;
	int ops;

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	ops = storm(self->slot_mem, 200);
	ASSERT_LT(0, ops);
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));

	EXPECT_LE(ops, b.invalidations_locked - a.invalidations_locked);
	EXPECT_EQ(0, b.invalidations_elided - a.invalidations_elided);
	EXPECT_EQ(b.invalidations_locked - a.invalidations_locked,
		  b.invalidate_seq - a.invalidate_seq);
	EXPECT_EQ(0, b.invalidations_nonblock - a.invalidations_nonblock);
	expect_balanced(_metadata, self->vm);
}

/* Unmapping the whole slot, then touching its guest range again. */
TEST_F(mn, munmap_whole_slot)
{
	struct vmmu_vm_stats a, b;

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	ASSERT_EQ(0, munmap(self->slot_mem, REGION));
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));
	EXPECT_LE(1, b.invalidations_locked - a.invalidations_locked);
	expect_balanced(_metadata, self->vm);
	/* The memslot itself stays, as with KVM: it is the VMM's to delete. */
	EXPECT_EQ(1, b.memslots);
	EXPECT_EQ(0, vmmu_set_memslot(self->vm, 0, 0, SLOT_GPA, 0, NULL));
}

struct delayed_zap {
	char *mem;
	int r;
};

static void *delayed_zap_fn(void *arg)
{
	struct delayed_zap *z = arg;

	/* madvise holds mmap_lock only for read: the test thread may fault. */
	z->r = madvise(z->mem, REGION, MADV_DONTNEED);
	return NULL;
}

#define DELAY_MS	300

TEST_F_TIMEOUT(mn, update_waits_for_invalidation_in_flight, 120)
{
	struct delayed_zap z = { .mem = self->other };
	struct vmmu_vm_stats a, b, st;
	double t0, waited;
	pthread_t t;
	char ms[16];

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	snprintf(ms, sizeof(ms), "%d", DELAY_MS);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", ms));
	ASSERT_EQ(0, pthread_create(&t, NULL, delayed_zap_fn, &z));

	/* Catch the invalidation inside start()'s delay. */
	do {
		ASSERT_EQ(0, vmmu_get_stats(self->vm, &st));
	} while (!st.invalidate_in_flight);

	t0 = now_ms();
	ASSERT_EQ(0, vmmu_set_memslot(self->vm, 1, 0, 0, MB, self->slot_mem));
	waited = now_ms() - t0;

	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", "0"));
	pthread_join(t, NULL);
	EXPECT_EQ(0, z.r);

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));
	TH_LOG("update took %.0f ms, module measured %.0f ms of waiting",
	       waited, (b.memslot_wait_ns_max) / 1e6);
	/* It could not complete before that end() had run its delay. */
	EXPECT_LT(DELAY_MS, waited);
	EXPECT_EQ(1, b.memslot_updates - a.memslot_updates);
	EXPECT_EQ(1, b.memslot_updates_waited - a.memslot_updates_waited);
	EXPECT_LT(DELAY_MS * 1000000ULL, b.memslot_wait_ns_max);
	EXPECT_LE(b.memslot_wait_ns_max,
		  b.memslot_wait_ns_total - a.memslot_wait_ns_total);
	/* And it did complete. */
	EXPECT_EQ(2, b.memslots);
	expect_balanced(_metadata, self->vm);
}

/*
 * An invalidation that begins while an update is pending, of host memory
 * that only the new memslots map.  With d = DELAY_MS (start() sleeps d
 * after its own work, end() d before it uncounts):
 *   X at 0:     an invalidation of another page, in flight until ~2d;
 *   U at d/3:   creates a slot over memory no slot maps yet; it waits for
 *               X, so (bounded policy) it publishes at ~2d;
 *   A at 1.8d:  an invalidation of page P of that memory, begun while U is
 *               pending; the host drops P only at ~2.8d;
 *   R at 2.3d:  once U has returned, a read through the new slot, inside
 *               A's window: the host still maps P there.
 * Under the bounded policy A is "conservative" (docs/locking.md): it took
 * the MMU lock and held faults off P although no slot mapped P when it
 * began, so R waits for A and maps the page the host maps after it.  Had A
 * skipped the lock, R would map the page the host is about to drop, for
 * good.  Under the seed's policy U waits for A as well.  Afterwards the
 * VM must map what the host maps, and see what the host writes next.  No
 * thread exits before the end (a thread's exit invalidates its stack).
 */
#define PENDING_GPA	0x200000000ULL

struct timed_call {
	double at_ms, called_ms, t0;
	_Atomic double done_ms;
	int (*fn)(struct timed_call *c);
	struct timed_call *after;	/* start no earlier than its end */
	atomic_bool *finish;
	int vm, r;
	char *mem;
	__u64 value;
};

static int call_zap_page(struct timed_call *c)
{
	return madvise(c->mem, PAGE, MADV_DONTNEED);
}

static int call_create_slot(struct timed_call *c)
{
	return vmmu_set_memslot(c->vm, 1, 0, PENDING_GPA, REGION, c->mem);
}

static int call_read_new_slot(struct timed_call *c)
{
	return vmmu_read(c->vm, PENDING_GPA, &c->value, sizeof(c->value));
}

static void *timed_call_fn(void *arg)
{
	struct timed_call *c = arg;

	while (now_ms() < c->t0 + c->at_ms ||
	       (c->after && !atomic_load(&c->after->done_ms)))
		usleep(1000);
	c->called_ms = now_ms();
	c->r = c->fn(c);
	atomic_store(&c->done_ms, now_ms());
	while (!atomic_load(c->finish))
		usleep(1000);
	return NULL;
}

/*
 * Whatever the VM maps at @gpa must be the page the host maps at @hva (a
 * look at the page tables, not at the data: a freed page is soon reused,
 * data and all).  The harness runs as root, which sees pagemap's PFNs and
 * VMMU_TRANSLATE's host addresses.
 */
static void expect_same_page(struct __test_metadata *_metadata, int vm,
			     __u64 gpa, const void *hva)
{
	struct vmmu_translation t = { .guest_phys_addr = gpa };
	__u64 pm = 0;
	int fd;

	ASSERT_EQ(0, vmmu_ioctl(vm, VMMU_TRANSLATE, (unsigned long)&t));
	if (!(t.flags & VMMU_TRANSLATE_MAPPED))
		return;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(8, pread(fd, &pm, 8, (uintptr_t)hva / PAGE * 8));
	close(fd);
	ASSERT_NE(0, t.host_phys_addr);
	EXPECT_TRUE(pm >> 63) TH_LOG("the VM maps a page the host dropped");
	EXPECT_EQ(pm & ((1ULL << 55) - 1), t.host_phys_addr / PAGE)
		TH_LOG("the VM maps another page than the host");
}

TEST_F_TIMEOUT(mn, invalidation_begun_while_update_pending, 120)
{
	bool bounded = variant->vm_flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT;
	atomic_bool finish = false;
	struct timed_call x = {
		.fn = call_zap_page, .mem = self->other + PAGE, .at_ms = 0,
	};
	struct timed_call u = {
		.fn = call_create_slot, .vm = self->vm, .mem = self->other,
		.at_ms = DELAY_MS / 3,
	};
	struct timed_call a = {
		.fn = call_zap_page, .mem = self->other,
		.at_ms = DELAY_MS * 18 / 10,
	};
	struct timed_call r = {
		.fn = call_read_new_slot, .vm = self->vm, .after = &u,
		.at_ms = DELAY_MS * 23 / 10,
	};
	struct timed_call *calls[] = { &x, &u, &a, &r };
	const int n = sizeof(calls) / sizeof(calls[0]);
	struct vmmu_vm_stats before, after;
	__u64 v = 0, want = 0x0202020202020202ULL;
	double t0;
	pthread_t t[4];
	char ms[16];
	int i;

	memset(self->other, 1, 2 * PAGE);
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &before));
	/*
	 * The threads before the delay: creating one invalidates (its stack's
	 * guard page) with mmap_lock held.
	 */
	t0 = now_ms() + 500;
	for (i = 0; i < n; i++) {
		calls[i]->t0 = t0;
		calls[i]->finish = &finish;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, timed_call_fn, calls[i]));
	}
	snprintf(ms, sizeof(ms), "%d", DELAY_MS);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", ms));
	ASSERT_GT(t0, now_ms());
	for (i = 0; i < n; i++)
		while (!atomic_load(&calls[i]->done_ms))
			usleep(1000);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", "0"));
	EXPECT_EQ(0, x.r);
	EXPECT_EQ(0, u.r);
	EXPECT_EQ(0, a.r);
	EXPECT_EQ(0, r.r);

	expect_same_page(_metadata, self->vm, PENDING_GPA, self->other);
	memset(self->other, 2, PAGE);
	ASSERT_EQ(0, vmmu_read(self->vm, PENDING_GPA, &v, sizeof(v)));
	EXPECT_EQ(want, v) TH_LOG("the guest still sees the page the host dropped");
	atomic_store(&finish, true);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &after));
	TH_LOG("%s policy, ms from the start: X %.0f-%.0f, U %.0f-%.0f, A %.0f-%.0f, R %.0f-%.0f",
	       bounded ? "bounded" : "seed", x.called_ms - t0, x.done_ms - t0,
	       u.called_ms - t0, u.done_ms - t0, a.called_ms - t0,
	       a.done_ms - t0, r.called_ms - t0, r.done_ms - t0);
	if (bounded) {
		/* U published with A in flight, and R read in A's window. */
		EXPECT_LT(u.done_ms, a.done_ms);
		EXPECT_LT(r.called_ms, a.called_ms + DELAY_MS)
			TH_LOG("the read came after the host dropped P: inconclusive");
		EXPECT_LE(1, after.invalidations_conservative -
			     before.invalidations_conservative);
	} else {
		/* U waited for A's end(): two delays after A began. */
		EXPECT_LE(a.called_ms + 2 * DELAY_MS, u.done_ms);
	}
	expect_balanced(_metadata, self->vm);
}

/*
 * An update under a storm of overlapping invalidations.  STORM_THREADS
 * threads each invalidate a page of memory in no memslot, over and over;
 * the delay knob keeps each invalidation in flight for 2 * STORM_DELAY_MS
 * and the threads start staggered, so that some invalidation is always in
 * flight.  The seed's policy waits for a moment with none: the update can
 * end only once the storm has.  The bounded policy waits only for those
 * in flight when it asked: at most one invalidation's time, which this
 * test bounds by STORM_BOUND_MS (two invalidations' worth plus scheduling
 * slack for the emulator), while the storm lasts STORM_MS.
 */
#define STORM_THREADS	4
#define STORM_DELAY_MS	100
#define STORM_MS	3000
#define STORM_BOUND_MS	(4 * 2 * STORM_DELAY_MS)

struct overlap_storm {
	char *mem;
	atomic_bool stop;
	atomic_int next, errors;
	atomic_long ops;
};

static void *overlap_storm_fn(void *arg)
{
	struct overlap_storm *o = arg;
	int me = atomic_fetch_add(&o->next, 1);
	char *p = o->mem + me * PAGE;

	usleep(me * 2 * STORM_DELAY_MS * 1000 / STORM_THREADS);
	while (!atomic_load(&o->stop)) {
		p[0] = 1;
		if (madvise(p, PAGE, MADV_DONTNEED))
			atomic_fetch_add(&o->errors, 1);
		atomic_fetch_add(&o->ops, 1);
	}
	return NULL;
}

/*
 * The update runs on a thread created before the storm: creating one
 * during it would wait for mmap_lock (its stack), which every invalidation
 * of the storm holds for read, and would invalidate itself (the stack's
 * guard page), slowed by the delay.
 */
struct timed_update {
	int vm;
	char *mem;
	atomic_bool go;
	double asked_ms, done_ms;
	int r;
};

static void *timed_update_fn(void *arg)
{
	struct timed_update *u = arg;

	while (!atomic_load(&u->go))
		usleep(1000);
	u->asked_ms = now_ms();
	u->r = vmmu_set_memslot(u->vm, 1, 0, 0, MB, u->mem);
	u->done_ms = now_ms();
	return NULL;
}

TEST_F_TIMEOUT(mn, update_under_overlapping_storm, 120)
{
	struct overlap_storm o = { .mem = self->other };
	struct timed_update u = { .vm = self->vm, .mem = self->slot_mem };
	bool bounded = variant->vm_flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT;
	const int scale = vmmu_timeout_scale();
	struct vmmu_vm_stats a, b, st;
	pthread_t t[STORM_THREADS], ut;
	double stopped;
	char ms[16];
	int i;

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	EXPECT_EQ(bounded ? VMMU_MEMSLOT_POLICY_BOUNDED : VMMU_MEMSLOT_POLICY_SEED,
		  a.memslot_policy);
	/* Threads first: creating one invalidates with mmap_lock held. */
	ASSERT_EQ(0, pthread_create(&ut, NULL, timed_update_fn, &u));
	for (i = 0; i < STORM_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, overlap_storm_fn, &o));
	snprintf(ms, sizeof(ms), "%d", STORM_DELAY_MS);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", ms));
	/* Every thread under way, their invalidations overlapping. */
	usleep(4 * STORM_DELAY_MS * 1000);
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &st));
	ASSERT_LT(0, st.invalidate_in_flight);

	atomic_store(&u.go, true);
	usleep(STORM_MS * 1000);
	stopped = now_ms();
	atomic_store(&o.stop, true);
	for (i = 0; i < STORM_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_join(ut, NULL);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", "0"));

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));
	TH_LOG("%s policy: %ld invalidations in %d ms of storm; the update took %.0f ms (module: %.0f ms waiting), %llu invalidations locked while it was pending",
	       bounded ? "bounded" : "seed", atomic_load(&o.ops), STORM_MS,
	       u.done_ms - u.asked_ms, b.memslot_wait_ns_max / 1e6,
	       b.invalidations_conservative - a.invalidations_conservative);
	EXPECT_EQ(0, u.r);
	EXPECT_EQ(0, atomic_load(&o.errors));
	EXPECT_EQ(2, b.memslots);
	EXPECT_EQ(1, b.memslot_updates - a.memslot_updates);
	if (bounded) {
		/* Done within the bound, while the storm still ran. */
		EXPECT_GT(STORM_BOUND_MS * scale, u.done_ms - u.asked_ms);
		EXPECT_GT(stopped, u.done_ms);
		EXPECT_LT(0, b.invalidations_conservative -
			     a.invalidations_conservative);
	} else {
		/* Starved: it ended only after the storm did. */
		EXPECT_LT(stopped, u.done_ms);
		EXPECT_EQ(0, b.invalidations_conservative -
			     a.invalidations_conservative);
	}
	expect_balanced(_metadata, self->vm);
}

/* Many threads at once, for a bounded time; nothing may hang or leak. */
struct stress {
	int vm;
	char *slot_mem, *other;
	atomic_bool stop;
	atomic_long errors, updates, ops;
};

static void *stress_slots(void *arg)
{
	struct stress *s = arg;
	/* Two threads run this; each owns half of slot_mem and its ids. */
	static atomic_int next;
	int me = atomic_fetch_add(&next, 1) % 2;
	unsigned long half = REGION / 2, n = 0;
	char *mem = s->slot_mem + me * half;
	__u32 id = 100 + me;

	while (!atomic_load(&s->stop)) {
		__u64 gpa = (2 + me) * 0x10000000ULL + (n % 16) * half;
		struct vmmu_memslot e[2] = {
			vmmu_slot(id, 0, 0, 0, NULL),
			vmmu_slot(id, 0, gpa, half, mem),
		};
		int r;

		switch (n++ % 4) {
		case 0:
			r = vmmu_set_memslot(s->vm, id, 0, gpa, half, mem);
			break;
		case 1:
			r = vmmu_set_memslot(s->vm, id, VMMU_MEM_LOG_DIRTY_PAGES,
					     gpa, half, mem);
			break;
		case 2:
			r = vmmu_set_memslots(s->vm, e, 2, NULL);
			break;
		default:
			r = vmmu_set_memslot(s->vm, id, 0, 0, 0, NULL);
			break;
		}
		if (r)
			atomic_fetch_add(&s->errors, 1);
		atomic_fetch_add(&s->updates, 1);
	}
	return NULL;
}

/* Two threads each storm their own half of @mem. */
static void *stress_storm(struct stress *s, char *mem, atomic_int *next)
{
	char *half = mem + (atomic_fetch_add(next, 1) % 2) * (REGION / 2);

	while (!atomic_load(&s->stop)) {
		int ops = storm_range(half, REGION / 2, 4);

		if (ops < 0)
			atomic_fetch_add(&s->errors, 1);
		else
			atomic_fetch_add(&s->ops, ops);
	}
	return NULL;
}

static void *stress_related(void *arg)
{
	static atomic_int next;
	struct stress *s = arg;

	return stress_storm(s, s->slot_mem, &next);
}

static void *stress_unrelated(void *arg)
{
	static atomic_int next;
	struct stress *s = arg;

	return stress_storm(s, s->other, &next);
}

static void *stress_lookup(void *arg)
{
	struct stress *s = arg;
	struct vmmu_memslot_lookup l;

	while (!atomic_load(&s->stop))
		if (vmmu_lookup(s->vm, SLOT_GPA + 8192, &l) ||
		    l.userspace_addr != (unsigned long)s->slot_mem + 8192)
			atomic_fetch_add(&s->errors, 1);
	return NULL;
}

TEST_F_TIMEOUT(mn, stress, 300)
{
	void *(*fns[])(void *) = {
		stress_slots, stress_slots, stress_related, stress_related,
		stress_unrelated, stress_unrelated, stress_lookup,
	};
	struct stress s = {
		.vm = self->vm, .slot_mem = self->slot_mem,
		.other = self->other,
	};
	const int n = sizeof(fns) / sizeof(fns[0]);
	struct vmmu_vm_stats st;
	pthread_t t[16];
	int i;

	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fns[i], &s));
	sleep(5);
	atomic_store(&s.stop, true);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &st));
	TH_LOG("%ld memslot updates, %ld invalidating ops, %llu invalidations (%llu locked), %llu updates waited",
	       atomic_load(&s.updates), atomic_load(&s.ops), st.invalidations,
	       st.invalidations_locked, st.memslot_updates_waited);
	EXPECT_EQ(0, atomic_load(&s.errors));
	EXPECT_LT(0, atomic_load(&s.updates));
	EXPECT_LT(0, atomic_load(&s.ops));
	expect_balanced(_metadata, self->vm);
}

/*
 * Does the running kernel have the function @name?  /proc/kallsyms lists
 * every function (its addresses are hidden from the unprivileged, not its
 * names).
 */
static bool kernel_has_function(const char *name)
{
	char line[512], sym[256];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %255s", sym) == 1 && !strcmp(sym, name);
	fclose(f);
	return found;
}

TEST_F(mn, cow_break_after_fork)
{
	struct vmmu_vm_stats a, b;
	int pipefd[2];
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Keep the pages shared until the parent has written. */
		read(pipefd[0], &c, 1);
		_exit(self->slot_mem[0] == 1 ? 0 : 1);
	}

	ASSERT_EQ(0, vmmu_get_stats(self->vm, &a));
	self->slot_mem[0] = 9;		/* breaks COW on a slot page */
	ASSERT_EQ(0, vmmu_get_stats(self->vm, &b));
	write(pipefd[1], "x", 1);
	ASSERT_EQ(0, waitpid(pid, NULL, 0) == pid ? 0 : -1);

	EXPECT_LE(1, b.invalidations_locked - a.invalidations_locked);
	/*
	 * A kernel with change_pte() (up to 6.9: Debian's 6.1) calls it for
	 * the COW break, inside the invalidation; 6.10 removed it (6.12,
	 * 7.2), and the invalidation alone must do.  Which kernel this is
	 * comes from its symbols, not its version: distributions backport.
	 */
	ASSERT_TRUE(kernel_has_function("mmu_notifier_register"));
	if (kernel_has_function("__mmu_notifier_change_pte")) {
		EXPECT_LE(1, b.change_pte - a.change_pte);
	} else {
		EXPECT_EQ(0, b.change_pte - a.change_pte);
	}
	expect_balanced(_metadata, self->vm);
}

TEST_F(mn, stats_versioned_by_size)
{
	union {
		struct vmmu_vm_stats st;
		__u64 raw[64];
	} buf;
	const unsigned int known = sizeof(buf.st) / 8;

	memset(&buf, 0xff, sizeof(buf));
	/* Header only. */
	buf.st.size = 8;
	buf.st.flags = 0;
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_GET_STATS, (unsigned long)&buf));
	EXPECT_EQ(8, buf.st.size);
	EXPECT_EQ(~0ULL, buf.raw[1]);		/* untouched */
	/* Header and the first counter. */
	buf.st.size = 16;
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_GET_STATS, (unsigned long)&buf));
	EXPECT_EQ(16, buf.st.size);
	EXPECT_NE(~0ULL, buf.raw[1]);
	EXPECT_EQ(~0ULL, buf.raw[2]);
	/* Larger than the module knows: it says how much it filled. */
	buf.st.size = sizeof(buf);
	ASSERT_EQ(0, vmmu_ioctl(self->vm, VMMU_GET_STATS, (unsigned long)&buf));
	EXPECT_EQ(sizeof(buf.st), buf.st.size);
	EXPECT_EQ(~0ULL, buf.raw[known]);
	EXPECT_EQ(1, buf.st.memslots);

	buf.st.size = 7;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_GET_STATS,
				      (unsigned long)&buf));
	buf.st.size = 16;
	buf.st.flags = 1;
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm, VMMU_GET_STATS,
				      (unsigned long)&buf));
	EXPECT_EQ(-EFAULT, vmmu_ioctl(self->vm, VMMU_GET_STATS, 0));
}

/* The process exits with the VM still open: release() then the fd's close. */
TEST(exit_with_live_vm)
{
	long base = vmmu_live_vms();
	pid_t pid;
	int status;

	ASSERT_LE(0, base);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, 0);
		char *mem = map_region();

		if (vm < 0 || mem == MAP_FAILED ||
		    vmmu_set_memslot(vm, 0, 0, 0, REGION, mem))
			_exit(1);
		_exit(storm(mem, 10) > 0 ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(base, vmmu_wait_live_vms(base, 2000));
}

/* The owner exits while another process holds the VM fd. */
TEST(vm_outlives_its_mm)
{
	long base = vmmu_live_vms();
	int sv[2], vm, status;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = vmmu_new_vm(VMMU_VM_TYPE_EPT, 0);
		char *mem = map_region();

		if (fd < 0 || mem == MAP_FAILED ||
		    vmmu_set_memslot(fd, 3, 0, 0, REGION, mem) ||
		    send_fd(sv[1], fd))
			_exit(1);
		_exit(0);
	}
	vm = recv_fd(sv[0]);
	ASSERT_LE(0, vm);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));

	/* release() ran when the child's mm went away. */
	EXPECT_EQ(1, vmmu_debugfs_vm_stat(pid, "mm_released"));
	EXPECT_EQ(0, vmmu_debugfs_vm_stat(pid, "invalidate_in_progress"));
	EXPECT_EQ(0, vmmu_debugfs_vm_stat(pid, "invalidate_in_flight"));
	EXPECT_EQ(1, vmmu_debugfs_vm_stat(pid, "memslots"));
	EXPECT_EQ(-EIO, vmmu_set_memslot(vm, 3, 0, 0, 0, NULL));
	EXPECT_EQ(-EIO, vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	EXPECT_EQ(base + 1, vmmu_live_vms());
	close(vm);
	EXPECT_EQ(base, vmmu_wait_live_vms(base, 2000));
	EXPECT_EQ(-ENOENT, vmmu_debugfs_vm_stat(pid, "mm_released"));
}

#define CGROUP		"/sys/fs/cgroup"
#define OOM_CGROUP	CGROUP "/vmmu_oom"
/* Long enough for the kill and the reaper's 2 s grace period to pass. */
#define OOM_DELAY_MS	6000

struct oom_park {
	char *page;		/* a one-page mapping of its own */
	int go[2];		/* pipe: start the zap */
};

static void *oom_victim_zap(void *arg)
{
	struct oom_park *park = arg;
	char c;

	if (read(park->go[0], &c, 1) == 1)
		madvise(park->page, PAGE, MADV_DONTNEED);
	return NULL;
}

/*
 * The OOM victim: a VM with a slot, and a thread parked in a blockable zap
 * of one page.  The delay is armed only once everything else is set up, so
 * that no other invalidation of this mm (COW faults, stack guards) sits in
 * it.
 */
static int oom_victim(int sock)
{
	struct oom_park park;
	struct vmmu_vm_stats st;
	char ms[16], *mem, *hog;
	size_t i;
	pthread_t t;
	int vm;

	/* Reclaim near the limit would split THPs: more invalidations. */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) ||
	    write_file(OOM_CGROUP "/cgroup.procs", "0"))
		return 1;
	vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, 0);
	mem = map_region();
	park.page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/*
	 * Mapped now: mmap() needs mmap_lock for write, and would queue
	 * behind the parked zap; faulting pages in needs it only for read.
	 */
	hog = mmap(NULL, 256 * MB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm < 0 || mem == MAP_FAILED || park.page == MAP_FAILED ||
	    hog == MAP_FAILED ||
	    vmmu_set_memslot(vm, 0, 0, 0, REGION, mem) || send_fd(sock, vm) ||
	    pipe(park.go) || pthread_create(&t, NULL, oom_victim_zap, &park) ||
	    vmmu_get_stats(vm, &st))
		return 2;
	park.page[0] = 1;

	/*
	 * Parked in invalidate_range_start()'s uninterruptible sleep with
	 * mmap_lock held for read only, that thread keeps the killed process
	 * from exiting, and the OOM reaper gets to reap it.
	 */
	snprintf(ms, sizeof(ms), "%d", OOM_DELAY_MS);
	if (vmmu_set_param("mn_inject_delay_ms", ms) ||
	    write(park.go[1], "g", 1) != 1)
		return 3;
	do {
		if (vmmu_get_stats(vm, &st))
			return 4;
	} while (!st.invalidate_in_flight);

	/* Four times the cgroup's limit: the OOM killer comes first. */
	for (i = 0; i < 256 * MB; i += PAGE)
		hog[i] = 7;
	return 5;
}

/*
 * No VM in the test process itself: the injected delay would otherwise
 * stall every invalidation its fork() makes.
 */
FIXTURE(oom) {};
FIXTURE_SETUP(oom) {}
FIXTURE_TEARDOWN(oom)
{
	vmmu_set_param("mn_inject_delay_ms", "0");
	rmdir(OOM_CGROUP);
}

/* The OOM reaper's invalidations cannot sleep, and need not. */
TEST_F_TIMEOUT(oom, reaper_does_not_block, 120)
{
	int sv[2], vm, status;
	pid_t pid;

	ASSERT_EQ(0, memory_cgroup("vmmu_oom"));
	ASSERT_EQ(0, write_file(OOM_CGROUP "/memory.max", "64M"));
	write_file(OOM_CGROUP "/memory.swap.max", "0");

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(oom_victim(sv[1]));

	vm = recv_fd(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_LE(0, vm) TH_LOG("victim exited with %d", WEXITSTATUS(status));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("victim was not OOM-killed (status %#x)", status);

	TH_LOG("victim's VM: %ld invalidations, %ld of them from the OOM reaper",
	       vmmu_debugfs_vm_stat(pid, "invalidations"),
	       vmmu_debugfs_vm_stat(pid, "invalidations_nonblock"));
	EXPECT_LE(1, vmmu_debugfs_vm_stat(pid, "invalidations_nonblock"));
	EXPECT_EQ(1, vmmu_debugfs_vm_stat(pid, "mm_released"));
	EXPECT_EQ(0, vmmu_debugfs_vm_stat(pid, "invalidate_in_progress"));
	EXPECT_EQ(0, vmmu_debugfs_vm_stat(pid, "invalidate_in_flight"));
	close(vm);
}

/* The tracepoints report what the counters count. */
TEST(tracepoints)
{
	const char *tr = "/sys/kernel/tracing";
	char path[256], line[512], want_slot[64], want_locked[64], want_fault[64];
	char *mem = map_region(), *other = map_region();
	bool memslot = false, locked = false, elided = false, fault = false;
	struct vmmu_access acc = {
		.guest_phys_addr = SLOT_GPA + PAGE, .len = 1,
	};
	char byte;
	int vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, 0);
	FILE *f;

	ASSERT_LE(0, vm);
	ASSERT_TRUE(mem != MAP_FAILED && other != MAP_FAILED);
	snprintf(path, sizeof(path), "%s/events/vmmu/enable", tr);
	ASSERT_EQ(0, write_file(path, "1"));
	snprintf(path, sizeof(path), "%s/trace", tr);
	ASSERT_EQ(0, write_file(path, ""));

	ASSERT_EQ(0, vmmu_set_memslot(vm, 7, 0, SLOT_GPA, REGION, mem));
	ASSERT_EQ(0, madvise(mem, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(other, PAGE, MADV_DONTNEED));
	acc.buf = (unsigned long)&byte;
	ASSERT_EQ(0, vmmu_ioctl(vm, VMMU_ACCESS, (unsigned long)&acc));

	snprintf(path, sizeof(path), "%s/events/vmmu/enable", tr);
	ASSERT_EQ(0, write_file(path, "0"));
	snprintf(want_slot, sizeof(want_slot), "slot 7 create gfn 0x%llx npages %lu",
		 SLOT_GPA >> 12, REGION / PAGE);
	snprintf(want_locked, sizeof(want_locked), "hva 0x%lx-0x%lx locked",
		 (unsigned long)mem, (unsigned long)mem + PAGE);
	snprintf(want_fault, sizeof(want_fault), "gpa 0x%llx read level",
		 SLOT_GPA + PAGE);
	snprintf(path, sizeof(path), "%s/trace", tr);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "vmmu_memslot_update:") && strstr(line, want_slot))
			memslot = true;
		if (strstr(line, "vmmu_invalidate_range_start:") &&
		    strstr(line, want_locked))
			locked = true;
		if (strstr(line, "vmmu_invalidate_range_end:") &&
		    strstr(line, "elided"))
			elided = true;
		if (strstr(line, "vmmu_page_fault:") && strstr(line, want_fault) &&
		    strstr(line, "result 0"))
			fault = true;
	}
	fclose(f);
	EXPECT_TRUE(memslot) TH_LOG("no '%s'", want_slot);
	EXPECT_TRUE(locked) TH_LOG("no '%s'", want_locked);
	EXPECT_TRUE(elided);
	EXPECT_TRUE(fault) TH_LOG("no '%s'", want_fault);
	close(vm);
}

TEST_HARNESS_MAIN
