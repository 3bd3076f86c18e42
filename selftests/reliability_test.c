// SPDX-License-Identifier: GPL-2.0-only
/*
 * For the debug kernel's checkers (lockdep, KASAN, kmemleak), and run on
 * every kernel:
 *
 * lock_order: every path that takes vmmu's locks, at once, for a while:
 *   invalidations of slot memory (munmap, MADV_DONTNEED, mprotect, THP
 *   collapse and splits, MADV_PAGEOUT to zram, fork and COW breaks) on
 *   several threads, while memslots are updated in batches (moves, splits
 *   and merges, dirty logging switched on and off, dirty logs read) and
 *   faults run (prefault, the software walker).  On a kernel with lockdep
 *   it prints /proc/lockdep_stats and vmmu's lock classes with their
 *   dependencies from /proc/lockdep; lockdep itself reports any inversion
 *   in the kernel log, which fails the run.  LOCK_SECONDS sets how long
 *   (default 6, the debug lane 60).
 *
 * memcg_limit: a VMM in a memory cgroup of 24 MiB makes VMs, memslots
 *   with dirty bitmaps, vCPUs and page tables until it cannot: every call
 *   succeeds or fails with ENOMEM (or EMFILE), or the VMM is OOM-killed
 *   within its cgroup; never a host OOM, and no warning in the kernel log.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define THP		(2 * MB)
#define AREA		(16 * MB)
#define NR_SMALL	32		/* one-page slots, split off and merged back */
#define BASE_GPA	(1ULL << 32)

struct lk {
	int vm;
	char *mem;		/* AREA, 2 MiB aligned: slot 0 */
	char *other;		/* AREA: slot 1, moved around */
	atomic_bool stop;
	atomic_long updates, faults, inval, forks, logs;
	atomic_long errors;
	atomic_int parts;
	char err[200];
};

static void lk_error(struct lk *s, const char *what, long r)
{
	if (atomic_fetch_add(&s->errors, 1) == 0)
		snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(-r));
}

/*
 * Batches: slot 1 moves back and forth; slot 2's range is split into
 * NR_SMALL one-page slots and merged back, atomically; dirty logging on
 * slot 0 goes on and off.
 */
static void *lk_slots(void *arg)
{
	struct lk *s = arg;
	struct vmmu_memslot e[NR_SMALL + 2];
	unsigned long i = 1;	/* odd: split first, then merge back */
	__u32 idx;
	long r;

	while (!atomic_load(&s->stop)) {
		int n = 0, k;
		bool split = i & 1;

		e[n++] = vmmu_slot(1, 0, BASE_GPA + (4 + (i & 3)) * AREA, AREA, s->other);
		if (split) {
			e[n++] = vmmu_slot(2, 0, 0, 0, s->other);	/* delete */
			for (k = 0; k < NR_SMALL; k++)
				e[n++] = vmmu_slot(10 + k, 0, BASE_GPA + 16 * AREA + k * PAGE,
						   PAGE, s->other + k * PAGE);
		} else {
			for (k = 0; k < NR_SMALL; k++)
				e[n++] = vmmu_slot(10 + k, 0, 0, 0, s->other);
			e[n++] = vmmu_slot(2, 0, BASE_GPA + 16 * AREA, NR_SMALL * PAGE, s->other);
		}
		r = vmmu_set_memslots(s->vm, e, n, &idx);
		if (r)
			lk_error(s, "VMMU_SET_MEMSLOTS", r);
		r = vmmu_set_memslot(s->vm, 0, (i % 3 == 0) ? VMMU_MEM_LOG_DIRTY_PAGES : 0,
				     BASE_GPA, AREA, s->mem);
		if (r)
			lk_error(s, "VMMU_SET_MEMSLOT (dirty logging)", r);
		atomic_fetch_add(&s->updates, 2);
		i++;
	}
	return NULL;
}

/* Faults: prefault (write and read), the software walker, dirty logs. */
static void *lk_faults(void *arg)
{
	struct lk *s = arg;
	static __thread __u64 bitmap[AREA / PAGE / 64];
	unsigned long i = 0;
	char buf[64];
	long r;

	while (!atomic_load(&s->stop)) {
		__u64 gpa = BASE_GPA + (i * 7919 * PAGE) % AREA;
		struct vmmu_prefault pf = {
			.guest_phys_addr = gpa & ~(THP - 1), .size = THP,
			.flags = (i & 1) ? VMMU_PREFAULT_WRITE : 0,
		};
		struct vmmu_access acc = {
			.guest_phys_addr = gpa, .buf = (unsigned long)buf,
			.len = sizeof(buf), .flags = (i & 2) ? VMMU_ACCESS_WRITE : 0,
		};
		struct vmmu_dirty_log log = { .slot = 0, .bitmap = (unsigned long)bitmap };

		/* Invalidations race with these: EFAULT/ENOENT are fine. */
		r = vmmu_ioctl(s->vm, VMMU_PREFAULT, (unsigned long)&pf);
		if (r < 0 && r != -EFAULT && r != -ENOENT)
			lk_error(s, "VMMU_PREFAULT", r);
		r = vmmu_ioctl(s->vm, VMMU_ACCESS, (unsigned long)&acc);
		if (r < 0)
			lk_error(s, "VMMU_ACCESS", r);
		acc.guest_phys_addr = BASE_GPA + 16 * AREA + (i % NR_SMALL) * PAGE;
		acc.len = 8;
		vmmu_ioctl(s->vm, VMMU_ACCESS, (unsigned long)&acc);
		if (i % 16 == 0) {
			r = vmmu_ioctl(s->vm, VMMU_GET_DIRTY_LOG, (unsigned long)&log);
			if (r < 0 && r != -ENOENT)
				lk_error(s, "VMMU_GET_DIRTY_LOG", r);
			atomic_fetch_add(&s->logs, 1);
		}
		atomic_fetch_add(&s->faults, 1);
		i++;
	}
	return NULL;
}

/* Invalidations of slot 0's memory, of every kind the mm makes. */
#define NR_INVAL	3
#define PART		(AREA / 4)	/* each invalidating thread's own */

static void *lk_inval(void *arg)
{
	struct lk *s = arg;
	/* A part of slot 0 of its own: it unmaps what it writes to. */
	char *part = s->mem + atomic_fetch_add(&s->parts, 1) * PART;
	unsigned long i = 0;

	while (!atomic_load(&s->stop)) {
		char *huge = part + ((i >> 3) % (PART / THP)) * THP;
		char *p = part + (i % (PART / PAGE - 16)) * PAGE;
		pid_t pid;

		switch (i++ % 8) {
		case 0:
			munmap(p, PAGE);
			mmap(p, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 1:
			madvise(p, 4 * PAGE, MADV_DONTNEED);
			break;
		case 2:
			mprotect(p, PAGE, PROT_READ);
			mprotect(p, PAGE, PROT_READ | PROT_WRITE);
			break;
		case 3:		/* a THP, then split by a partial mprotect */
			madvise(huge, THP, MADV_HUGEPAGE);
			for (size_t k = 0; k < THP; k += PAGE)
				huge[k] = 1;
			mprotect(huge + PAGE, PAGE, PROT_READ);
			mprotect(huge + PAGE, PAGE, PROT_READ | PROT_WRITE);
			break;
		case 4:
			madvise(p, 8 * PAGE, MADV_PAGEOUT);
			break;
		case 5:		/* fork write-protects; the writes break COW */
			pid = fork();
			if (pid == 0) {
				p[0]++;
				_exit(0);
			}
			if (pid > 0) {
				p[0]++;
				huge[0]++;
				waitpid(pid, NULL, 0);
				atomic_fetch_add(&s->forks, 1);
			}
			break;
		case 6:
			madvise(huge, THP, MADV_FREE);
			break;
		default:
			for (size_t k = 0; k < 16 * PAGE; k += PAGE)
				p[k] = 2;
			break;
		}
		atomic_fetch_add(&s->inval, 1);
	}
	return NULL;
}

/* vmmu's address range in the kernel, from /proc/modules (root sees it). */
static bool module_range(unsigned long *lo, unsigned long *hi)
{
	char line[512], name[64];
	unsigned long size, addr;
	FILE *f = fopen("/proc/modules", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%63s %lu %*d %*s %*s %lx", name, &size, &addr) == 3 &&
			!strcmp(name, "vmmu") && addr;
	fclose(f);
	if (found) {
		*lo = addr;
		*hi = addr + size;
	}
	return found;
}

/*
 * /proc/lockdep: a class line "<key> FD: n BD: n <usage>: <name>" and its
 * dependencies " -> [<key>] <name>".  Prints the classes whose key is in
 * vmmu (its static lock keys; the keys are hashed unless the kernel runs
 * with no_hash_pointers, as the debug lane's does) and what they were seen
 * to take; returns how many there were.
 */
static int print_vmmu_classes(void)
{
	unsigned long lo, hi, key;
	char line[512];
	bool in = false;
	int n = 0;
	FILE *f;

	if (!module_range(&lo, &hi))
		return -1;
	f = fopen("/proc/lockdep", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != ' ' && sscanf(line, "%lx", &key) == 1) {
			/*
			 * The key is vmmu's (with no_hash_pointers), or the
			 * name is one of vmmu's struct vmmu_vm locks.
			 */
			in = (key >= lo && key < hi) || strstr(line, ": &vm->");
			n += in;
		} else if (line[0] != ' ') {
			in = false;
		}
		if (in)
			printf("# lockdep: %s", line);
	}
	fclose(f);
	return n;
}

static void print_file(const char *path, const char *prefix)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# %s: %s", prefix, line);
	fclose(f);
}

FIXTURE(rel) {};
FIXTURE_SETUP(rel) {}
FIXTURE_TEARDOWN(rel) {}

/* Both memslot-publication policies: each must be lockdep-clean. */
FIXTURE(lk) {};
FIXTURE_VARIANT(lk) {
	__u32 vm_flags;
};
FIXTURE_VARIANT_ADD(lk, seed) {
	.vm_flags = 0,
};
FIXTURE_VARIANT_ADD(lk, bounded) {
	.vm_flags = VMMU_VM_MEMSLOT_BOUNDED_WAIT,
};
FIXTURE_SETUP(lk) {}
FIXTURE_TEARDOWN(lk) {}

/* The debug lane runs it for a minute, several times slower than here. */
TEST_F_TIMEOUT(lk, lock_order, 1800)
{
	const char *env = getenv("LOCK_SECONDS");
	int seconds = env ? atoi(env) : 6, i, n = 0, classes;
	struct lk s = { 0 };
	struct vmmu_vm_stats st;
	pthread_t t[8];
	char first[256];
	int kmsg = kmsg_open();

	s.vm = vmmu_new_vm(VMMU_VM_TYPE_NPT, variant->vm_flags);
	ASSERT_LE(0, s.vm);
	s.mem = mmap(NULL, AREA + THP, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s.other = mmap(NULL, AREA, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(s.mem != MAP_FAILED && s.other != MAP_FAILED);
	s.mem = (char *)(((unsigned long)s.mem + THP - 1) & ~(THP - 1));
	memset(s.mem, 1, AREA);
	memset(s.other, 1, AREA);
	ASSERT_EQ(0, vmmu_set_memslot(s.vm, 0, 0, BASE_GPA, AREA, s.mem));
	ASSERT_EQ(0, vmmu_set_memslot(s.vm, 1, 0, BASE_GPA + 4 * AREA, AREA, s.other));
	ASSERT_EQ(0, vmmu_set_memslot(s.vm, 2, 0, BASE_GPA + 16 * AREA, NR_SMALL * PAGE, s.other));

	ASSERT_EQ(0, pthread_create(&t[n++], NULL, lk_slots, &s));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, lk_faults, &s));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, lk_faults, &s));
	for (i = 0; i < NR_INVAL; i++)
		ASSERT_EQ(0, pthread_create(&t[n++], NULL, lk_inval, &s));
	sleep(seconds);
	atomic_store(&s.stop, true);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	ASSERT_EQ(0, vmmu_get_stats(s.vm, &st));
	TH_LOG("%d s: %ld memslot updates, %ld fault rounds, %ld dirty logs, %ld invalidating ops (%ld forks); %llu invalidations (%llu locked), %llu updates waited for invalidations, %llu fault retries",
	       seconds, atomic_load(&s.updates), atomic_load(&s.faults),
	       atomic_load(&s.logs), atomic_load(&s.inval), atomic_load(&s.forks),
	       st.invalidations, st.invalidations_locked, st.memslot_updates_waited,
	       st.fault_retries);
	TH_LOG("%s policy: longest memslot wait %llu us, %llu invalidations locked while an update was pending, %llu unrecorded",
	       st.memslot_policy ? "bounded" : "seed", st.memslot_wait_ns_max / 1000,
	       st.invalidations_conservative, st.invalidations_unrecorded);
	EXPECT_EQ(0, atomic_load(&s.errors)) TH_LOG("first error: %s", s.err);
	EXPECT_LT(0, st.invalidations_locked);
	EXPECT_EQ(0, st.invalidate_in_flight);
	close(s.vm);

	if (access("/proc/lockdep_stats", R_OK) == 0) {
		print_file("/proc/lockdep_stats", "lockdep_stats");
		classes = print_vmmu_classes();
		TH_LOG("lockdep: %d lock classes of vmmu", classes);
		EXPECT_LE(3, classes);
	} else {
		TH_LOG("no lockdep in this kernel: a stress test only");
	}
	if (kmsg >= 0) {
		EXPECT_EQ(0, kmsg_problems(kmsg, first, sizeof(first)))
			TH_LOG("kernel log: %s", first);
		close(kmsg);
	}
}

#define CG		"/sys/fs/cgroup"
#define CG_SMALL	CG "/vmmu_small"

/* The VMM in the small cgroup: returns 0 once it has met its limit cleanly. */
static int small_vmm(void)
{
	int dev = vmmu_open_dev(), nvm = 0, nslots = 0, nvcpus = 0, nomem = 0;
	unsigned long mapped = 0;
	char *mem;
	long r;

	if (dev < 0 || write_file(CG_SMALL "/cgroup.procs", "0"))
		return 10;
	/* Lots of address space, little memory: 1 GiB reserved, not touched. */
	mem = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return 11;
	for (int round = 0; round < 100000 && nomem < 50; round++) {
		int vm = vmmu_create_vm(dev, VMMU_VM_TYPE_HOST);

		if (vm == -EOPNOTSUPP)
			vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
		if (vm == -ENOMEM || vm == -EMFILE) {
			nomem++;
			continue;
		}
		if (vm < 0)
			return 12;
		nvm++;
		/* Big logging slots: their dirty bitmaps are kernel memory. */
		for (int k = 0; k < 64; k++) {
			r = vmmu_set_memslot(vm, k, VMMU_MEM_LOG_DIRTY_PAGES,
					     (__u64)k << 30, 1UL << 30, mem);
			if (r == -ENOMEM) {
				nomem++;
				break;
			}
			if (r)
				return 13;
			nslots++;
		}
		for (int k = 0; k < 4; k++) {
			r = vmmu_ioctl(vm, VMMU_CREATE_VCPU, k);
			if (r == -ENOMEM || r == -EMFILE) {
				nomem++;
				break;
			}
			if (r == -EOPNOTSUPP || r == -ENODEV)
				break;
			if (r < 0)
				return 14;
			nvcpus++;
		}
		/* Page tables: one page of guest memory every 2 MiB. */
		for (int k = 0; k < 64; k++) {
			struct vmmu_prefault pf = {
				.guest_phys_addr = ((__u64)(round % 64) << 30) + k * THP,
				.size = PAGE,
			};

			r = vmmu_ioctl(vm, VMMU_PREFAULT, (unsigned long)&pf);
			if (r == -ENOMEM) {
				nomem++;
				break;
			}
			if (r < 0 && r != -ENOENT)
				return 15;
			mapped += r == 0;
		}
	}
	printf("# VMM: %d VMs, %d memslots, %d vCPUs, %lu prefaults, %d ENOMEM/EMFILE\n",
	       nvm, nslots, nvcpus, mapped, nomem);
	return nomem ? 0 : 16;
}

TEST_F_TIMEOUT(rel, memcg_limit, 900)
{
	char first[256], line[128];
	int kmsg = kmsg_open(), status;
	long oom_kill = 0, oom = 0;
	pid_t pid;
	FILE *f;

	ASSERT_EQ(0, memory_cgroup("vmmu_small"));
	ASSERT_EQ(0, write_file(CG_SMALL "/memory.max", "24M"));
	write_file(CG_SMALL "/memory.swap.max", "0");
	ASSERT_EQ(0, vmmu_live_vms());

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 4096, 4096 };

		setrlimit(RLIMIT_NOFILE, &rl);
		_exit(small_vmm());
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	f = fopen(CG_SMALL "/memory.events", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "oom_kill %ld", &oom_kill) != 1)
			sscanf(line, "oom %ld", &oom);
	if (f)
		fclose(f);
	if (WIFSIGNALED(status)) {
		TH_LOG("the VMM was killed by signal %d; the cgroup's oom_kill count is %ld",
		       WTERMSIG(status), oom_kill);
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
		EXPECT_LE(1, oom_kill);
		/* The cgroup's own OOM, not the host's. */
		EXPECT_LE(1, oom);
	} else {
		TH_LOG("the VMM met its limit with clean errors (oom_kill %ld)", oom_kill);
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 10000));
	rmdir(CG_SMALL);
	if (kmsg >= 0) {
		EXPECT_EQ(0, kmsg_problems(kmsg, first, sizeof(first)))
			TH_LOG("kernel log: %s", first);
		close(kmsg);
	}
}

TEST_HARNESS_MAIN
