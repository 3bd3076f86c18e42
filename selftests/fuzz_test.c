// SPDX-License-Identifier: GPL-2.0-only
/*
 * An ABI fuzzer: random and boundary values in every field of every ioctl
 * (VMs, memslots and batches, lookups, stats, prefault, translate, access,
 * dirty logs, vCPUs with garbage registers, special registers and XSAVE
 * state, runs), random flags and reserved bits, bad user pointers (NULL,
 * kernel addresses, unmapped pages, a struct ending at an unmapped page),
 * unknown ioctl numbers, on several threads, while other threads munmap,
 * mremap, madvise and mprotect the slot memory, close and reopen fds, and
 * fork children that use the inherited fds.  Each round runs in a child
 * process that is SIGKILLed at a random moment, mid-call.
 *
 * Checked: every return is success or an errno docs/abi.md documents for
 * that call; no call takes longer than FUZZ_HANG_S; every round's process
 * can be reaped after SIGKILL; afterwards no VM is left (debugfs vmmu/vms)
 * and the module unloads (and is loaded again, for the tests after this).
 *
 * Reproducible: the values come from FUZZ_SEED (printed; set it to replay
 * a run), though the interleaving of the threads is the scheduler's.
 *   FUZZ_SEED=n      the seed (default: from the clock)
 *   FUZZ_SECONDS=s   how long to fuzz (default 4)
 *   FUZZ_IOCTLS=n    stop once this many ioctls were made (default: no limit)
 *   FUZZ_THREADS=n   ioctl threads per round (default 4)
 *   FUZZ_HANG_S=s    the longest a call may take (default 20)
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define NR_AREAS	4
#define AREA_SIZE	(4 * MB)
#define NR_FDS		32
#define MAX_THREADS	16
#define BATCH_MAX	4100		/* past VMMU_CAP_MEMSLOT_BATCH */
#define KERNEL_PTR	0xffff888000000000ULL

/* Shared between the rounds' processes and the parent. */
struct shared {
	atomic_ulong ioctls;
	atomic_ulong runs;		/* VMMU_RUN calls */
	atomic_ulong ok;		/* calls that succeeded */
	atomic_ulong bad;		/* undocumented errnos */
	atomic_ulong forks;
	atomic_ulong mmops;
	char first_bad[256];
	atomic_int bad_lock;
	/* Per thread: the call in progress (cmd, start in ms), 0 if none. */
	struct {
		atomic_ulong cmd;
		_Atomic double start;
	} call[MAX_THREADS + 2];
	atomic_int stop;
};

static struct shared *sh;
static unsigned long long seed;
static int nthreads = 4;
static double hang_ms = 20000;

/* The round's state, in the round's process. */
static char *areas[NR_AREAS];
static char *guard;		/* a page followed by an unmapped page */
/*
 * Data buffers for VMMU_ACCESS and the dirty logs, followed by an unmapped
 * page: a length beyond them makes the kernel stop with EFAULT there, not
 * write over the fuzzer's own memory.
 */
#define DBUF_SIZE	(64 * 1024)
static char *dbufs;		/* DBUF_SIZE per thread */
static atomic_int fds[NR_FDS];	/* -1 or an fd: /dev/vmmu, VMs, vCPUs */
static int dev_fd;

/* xorshift64*, one state per thread. */
static __u64 rnd(__u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static __u64 pick(__u64 *s, __u64 n) { return n ? rnd(s) % n : 0; }

/* A value that tends to be on a boundary. */
static __u64 val64(__u64 *s)
{
	int k = pick(s, 64);

	switch (pick(s, 12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return ~0ULL;
	case 3: return (1ULL << k) + 1;
	case 4: return (1ULL << k) - 1;
	case 5: return 1ULL << k;
	case 6: return (1ULL << 48) - PAGE * pick(s, 4);	/* the GPA width */
	case 7: return pick(s, 64) * PAGE;
	case 8: return pick(s, 64) * 2 * MB;
	case 9: return pick(s, 8) * (1ULL << 30);
	case 10: return pick(s, 4096) | 1;			/* misaligned */
	default: return rnd(s);
	}
}

static __u32 val32(__u64 *s)
{
	switch (pick(s, 6)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return ~0U;
	case 3: return 1U << pick(s, 32);
	case 4: return pick(s, 8);
	default: return rnd(s);
	}
}

/* Host memory for a slot: one of the areas, or a boundary value. */
static __u64 hva(__u64 *s)
{
	switch (pick(s, 6)) {
	case 0: return val64(s);
	case 1: return KERNEL_PTR;
	default: return (unsigned long)areas[pick(s, NR_AREAS)] + pick(s, AREA_SIZE / PAGE) * PAGE;
	}
}

static __u64 size(__u64 *s)
{
	switch (pick(s, 4)) {
	case 0: return val64(s);
	case 1: return 0;
	default: return (1 + pick(s, AREA_SIZE / PAGE)) * PAGE;
	}
}

static __u64 gpa(__u64 *s)
{
	return pick(s, 3) ? pick(s, 16) * AREA_SIZE + pick(s, 4) * PAGE : val64(s);
}

/* Mostly a documented flag, sometimes anything. */
static __u32 flags(__u64 *s, __u32 valid)
{
	return pick(s, 8) ? (__u32)(rnd(s) & valid) : val32(s);
}

/* Reserved fields: zero mostly. */
static void reserved(__u64 *s, void *p, size_t n)
{
	if (!pick(s, 10))
		((unsigned char *)p)[pick(s, n)] = 1 + pick(s, 255);
}

/*
 * A slot that would be valid must cover only the fuzzer's own areas:
 * guests and VMMU_ACCESS write through it, and past an area's end lies
 * other memory of this process (the harness's, shared with its parent).
 * Invalid slots (misaligned, beyond user space) stay as they are.
 */
static void clamp_to_area(struct vmmu_memslot *m)
{
	for (int i = 0; i < NR_AREAS; i++) {
		__u64 start = (unsigned long)areas[i], end = start + AREA_SIZE;

		if (m->userspace_addr >= start && m->userspace_addr < end) {
			if (m->memory_size > end - m->userspace_addr)
				m->memory_size = end - m->userspace_addr;
			return;
		}
	}
	/* Anywhere else: make sure it cannot be a valid slot. */
	if (!(m->userspace_addr & 0xfff) && m->userspace_addr < KERNEL_PTR)
		m->userspace_addr |= 1;
}

static void fill_slot(__u64 *s, struct vmmu_memslot *m)
{
	memset(m, 0, sizeof(*m));
	m->slot = pick(s, 3) ? pick(s, 8) : val32(s);
	m->flags = flags(s, VMMU_MEM_LOG_DIRTY_PAGES | VMMU_MEM_READONLY);
	m->guest_phys_addr = gpa(s);
	m->memory_size = size(s);
	m->userspace_addr = hva(s);
	clamp_to_area(m);
	reserved(s, m->reserved, sizeof(m->reserved));
}

/* The argument buffer: put @n bytes at a good or a bad place. */
static void *place(__u64 *s, void *buf, size_t n, void **bad)
{
	*bad = NULL;
	switch (pick(s, 16)) {
	case 0: return NULL;
	case 1: return (void *)(uintptr_t)KERNEL_PTR;
	case 2: return (void *)(uintptr_t)(guard + PAGE);	/* unmapped */
	case 3:						/* ends at it */
		if (n > 8) {
			size_t half = n / 2 < PAGE ? n / 2 : PAGE;

			*bad = guard + PAGE - half;
			memcpy(*bad, buf, half);
			return *bad;
		}
		return buf;
	case 4: return (void *)1;
	default: return buf;
	}
}

/* The errnos docs/abi.md documents, per ioctl. */
struct call {
	unsigned long cmd;
	const char *name;
	int errs[12];
};

static const struct call calls[] = {
	{ VMMU_GET_API_VERSION, "GET_API_VERSION", { EINVAL } },
	{ VMMU_CHECK_EXTENSION, "CHECK_EXTENSION", { 0 } },
	{ VMMU_GET_VCPU_MMAP_SIZE, "GET_VCPU_MMAP_SIZE", { EINVAL } },
	{ VMMU_CREATE_VM, "CREATE_VM", { EFAULT, EINVAL, EOPNOTSUPP, ENOMEM, EINTR, EMFILE, ENFILE } },
	{ VMMU_SET_MEMSLOT, "SET_MEMSLOT", { EFAULT, EINVAL, EEXIST, ENOENT, ENOMEM, EINTR } },
	{ VMMU_SET_MEMSLOTS, "SET_MEMSLOTS", { EFAULT, EINVAL, E2BIG, EEXIST, ENOENT, ENOMEM, EINTR } },
	{ VMMU_LOOKUP_MEMSLOT, "LOOKUP_MEMSLOT", { EFAULT, EINVAL, ENOENT, EINTR } },
	{ VMMU_GET_STATS, "GET_STATS", { EFAULT, EINVAL } },
	{ VMMU_PREFAULT, "PREFAULT", { EINVAL, ENOENT, EFAULT, EINTR, ENOMEM } },
	{ VMMU_TRANSLATE, "TRANSLATE", { EFAULT, EINVAL } },
	{ VMMU_ACCESS, "ACCESS", { EFAULT, EINVAL, EINTR, ENOMEM } },
	{ VMMU_GET_DIRTY_LOG, "GET_DIRTY_LOG", { ENOENT, EINVAL, EFAULT, EINTR, ENOMEM } },
	{ VMMU_CLEAR_DIRTY_LOG, "CLEAR_DIRTY_LOG", { ENOENT, EINVAL, EFAULT, EINTR, ENOMEM } },
	{ VMMU_CREATE_VCPU, "CREATE_VCPU", { ENODEV, EOPNOTSUPP, EINVAL, EEXIST, ENOMEM, EMFILE, ENFILE } },
	{ VMMU_RUN, "RUN", { EFAULT, EINVAL, EINTR } },
	{ VMMU_GET_REGS, "GET_REGS", { EFAULT, EINTR } },
	{ VMMU_SET_REGS, "SET_REGS", { EFAULT, EINTR } },
	{ VMMU_GET_SREGS, "GET_SREGS", { EFAULT, EINTR } },
	{ VMMU_SET_SREGS, "SET_SREGS", { EFAULT, EINVAL, EINTR } },
	{ VMMU_GET_XSAVE, "GET_XSAVE", { EFAULT, EINTR } },
	{ VMMU_SET_XSAVE, "SET_XSAVE", { EFAULT, EINVAL, EINTR } },
	{ 0, "unknown", { 0 } },
};
#define NR_CALLS (sizeof(calls) / sizeof(calls[0]))

/*
 * Any call may also fail with EBADF (its fd closed by another thread),
 * ENOTTY (an fd of another kind, or a reused fd number), and EIO on VM and
 * vCPU fds (another address space: the fork children).
 */
static bool documented(const struct call *c, int err)
{
	if (err == EBADF || err == ENOTTY || err == EIO)
		return true;
	for (int i = 0; i < 12 && c->errs[i]; i++)
		if (c->errs[i] == err)
			return true;
	return false;
}

static void note_bad(const struct call *c, long arg, int err)
{
	atomic_fetch_add(&sh->bad, 1);
	if (atomic_exchange(&sh->bad_lock, 1) == 0)
		snprintf(sh->first_bad, sizeof(sh->first_bad),
			 "%s (cmd %#lx, arg %#lx): errno %d (%s) is not documented",
			 c->name, c->cmd, arg, err, strerror(err));
}

static void add_fd(__u64 *s, int fd)
{
	int i = pick(s, NR_FDS), old;

	old = atomic_exchange(&fds[i], -1);
	if (old >= 0)
		close(old);
	atomic_store(&fds[i], fd);
}

static void sig_nop(int sig) { }

/* One ioctl, with random arguments: returns the result. */
static long one_ioctl(__u64 *s, int me, timer_t timer)
{
	union {
		struct vmmu_create_vm vm;
		struct vmmu_memslot slot;
		struct vmmu_memslot_lookup lookup;
		struct vmmu_vm_stats stats;
		struct vmmu_prefault pf;
		struct vmmu_translation tr;
		struct vmmu_access acc;
		struct vmmu_dirty_log log;
		struct vmmu_regs regs;
		struct vmmu_sregs sregs;
		struct vmmu_xsave xsave;
		unsigned char raw[sizeof(struct vmmu_memslot_batch) +
				  BATCH_MAX * sizeof(struct vmmu_memslot)];
	} *u;
	static __thread void *ubuf;
	char *dbuf = dbufs + (size_t)me * (DBUF_SIZE + PAGE);
	const struct call *c = &calls[pick(s, NR_CALLS)];
	int i = pick(s, NR_FDS), fd, err;
	unsigned long cmd = c->cmd, arg = 0;
	size_t n = 0;
	void *bad;
	long r;

	if (!ubuf)
		ubuf = malloc(sizeof(*u));
	u = ubuf;
	bool check = true;

	/* Mostly a live VM or vCPU of the round. */
	fd = atomic_load(&fds[i]);
	for (int k = 0; fd < 0 && k < 8; k++)
		fd = atomic_load(&fds[pick(s, NR_FDS)]);
	if (fd < 0 || !pick(s, 40)) {
		fd = pick(s, 2) ? dev_fd : (int)pick(s, 64);
		/* Any fd number: only that nothing breaks counts. */
		check = fd == dev_fd;
	}

	memset(u, 0, 4096);
	switch (cmd) {
	case VMMU_GET_API_VERSION:
	case VMMU_GET_VCPU_MMAP_SIZE:
		arg = pick(s, 4) ? 0 : val64(s);
		break;
	case VMMU_CHECK_EXTENSION:
		arg = pick(s, 2) ? pick(s, 10) : val64(s);
		break;
	case VMMU_CREATE_VM:
		u->vm.type = pick(s, 2) ? pick(s, 4) : val32(s);
		u->vm.flags = flags(s, VMMU_VM_MN_NO_LOCK_ELISION |
				       VMMU_VM_MEMSLOT_BOUNDED_WAIT);
		reserved(s, u->vm.reserved, sizeof(u->vm.reserved));
		n = sizeof(u->vm);
		break;
	case VMMU_SET_MEMSLOT:
		fill_slot(s, &u->slot);
		n = sizeof(u->slot);
		break;
	case VMMU_SET_MEMSLOTS: {
		struct vmmu_memslot_batch *b = (void *)u->raw;
		__u32 nr = pick(s, 4) ? pick(s, 8) : (pick(s, 2) ? BATCH_MAX - pick(s, 8) : val32(s));
		__u32 fill = nr < BATCH_MAX ? nr : BATCH_MAX;

		memset(u->raw, 0, sizeof(*b) + fill * sizeof(b->entries[0]));
		b->nr = nr;
		if (!pick(s, 10))
			b->flags = val32(s);
		if (!pick(s, 10))
			b->reserved = val32(s);
		for (__u32 k = 0; k < fill && k < 64; k++)
			fill_slot(s, &b->entries[k]);
		/* Big batches: many distinct small slots. */
		for (__u32 k = 64; k < fill; k++)
			b->entries[k] = (struct vmmu_memslot){
				.slot = k, .guest_phys_addr = (1ULL << 40) + k * PAGE,
				.memory_size = PAGE,
				.userspace_addr = (unsigned long)areas[k % NR_AREAS] + (k % 64) * PAGE,
			};
		n = sizeof(*b) + fill * sizeof(b->entries[0]);
		break;
	}
	case VMMU_LOOKUP_MEMSLOT:
		u->lookup.guest_phys_addr = gpa(s);
		reserved(s, u->lookup.reserved, sizeof(u->lookup.reserved));
		n = sizeof(u->lookup);
		break;
	case VMMU_GET_STATS:
		u->stats.size = pick(s, 2) ? sizeof(u->stats) : val32(s) % 4096;
		if (!pick(s, 10))
			u->stats.flags = val32(s);
		n = sizeof(u->stats);
		break;
	case VMMU_PREFAULT:
		u->pf.guest_phys_addr = gpa(s);
		u->pf.size = size(s);
		u->pf.flags = flags(s, VMMU_PREFAULT_WRITE);
		reserved(s, &u->pf.reserved0, 4 + sizeof(u->pf.reserved));
		n = sizeof(u->pf);
		break;
	case VMMU_TRANSLATE:
		u->tr.guest_phys_addr = gpa(s);
		reserved(s, u->tr.reserved, sizeof(u->tr.reserved));
		n = sizeof(u->tr);
		break;
	case VMMU_ACCESS:
		u->acc.guest_phys_addr = gpa(s);
		u->acc.len = pick(s, 2) ? pick(s, DBUF_SIZE) : val32(s);
		u->acc.buf = pick(s, 3) ? (unsigned long)dbuf : (pick(s, 2) ?
			(unsigned long)guard + PAGE - pick(s, 64) : val64(s));
		u->acc.flags = flags(s, VMMU_ACCESS_WRITE | VMMU_ACCESS_FETCH);
		reserved(s, u->acc.reserved, sizeof(u->acc.reserved));
		n = sizeof(u->acc);
		break;
	case VMMU_GET_DIRTY_LOG:
	case VMMU_CLEAR_DIRTY_LOG:
		u->log.slot = pick(s, 3) ? pick(s, 8) : val32(s);
		if (!pick(s, 10))
			u->log.flags = val32(s);
		if (cmd == VMMU_CLEAR_DIRTY_LOG || !pick(s, 10)) {
			u->log.first_page = pick(s, 2) ? 64 * pick(s, 32) : val64(s);
			u->log.num_pages = pick(s, 2) ? pick(s, 2048) : val64(s);
		}
		u->log.bitmap = pick(s, 3) ? (unsigned long)dbuf :
			(pick(s, 2) ? (unsigned long)guard + PAGE - 8 : val64(s));
		reserved(s, u->log.reserved, sizeof(u->log.reserved));
		n = sizeof(u->log);
		break;
	case VMMU_CREATE_VCPU:
		arg = pick(s, 2) ? pick(s, 4) : val64(s);
		break;
	case VMMU_RUN:
		arg = pick(s, 10) ? 0 : val64(s);
		break;
	case VMMU_SET_REGS:
		for (size_t k = 0; k < sizeof(u->regs) / 8; k++)
			((__u64 *)&u->regs)[k] = val64(s);
		n = sizeof(u->regs);
		break;
	case VMMU_SET_SREGS:
		for (size_t k = 0; k < sizeof(u->sregs); k++)
			u->raw[k] = pick(s, 3) ? 0 : rnd(s);
		if (pick(s, 2))		/* a plausible long-mode state */
			u->sregs.efer = 0x500, u->sregs.cr0 = 0x80000011,
			u->sregs.cr4 = 0x20, u->sregs.cs.l = 1, u->sregs.cs.present = 1,
			u->sregs.cs.s = 1, u->sregs.cs.type = 11, u->sregs.cs.db = 0;
		n = sizeof(u->sregs);
		break;
	case VMMU_SET_XSAVE:
		for (size_t k = 0; k < 1024; k++)
			u->xsave.region[k] = pick(s, 4) ? 0 : val32(s);
		n = sizeof(u->xsave);
		break;
	case VMMU_GET_REGS:
	case VMMU_GET_SREGS:
	case VMMU_GET_XSAVE:
		n = 8;	/* only for place(): the kernel writes the struct */
		break;
	default: /* unknown: VMMUIO numbers vmmu does not define */
		do {
			cmd = _IOC(pick(s, 4), VMMUIO, pick(s, 256), pick(s, 2) ? 64 : pick(s, 1 << 14));
			for (size_t k = 0; k + 1 < NR_CALLS; k++)
				if (calls[k].cmd == cmd)
					cmd = 0;
		} while (!cmd);
		n = 64;
		break;
	}
	if (n)
		arg = (unsigned long)place(s, u, n, &bad);

	atomic_store(&sh->call[me].start, now_ms());
	atomic_store(&sh->call[me].cmd, cmd);
	if (cmd == VMMU_RUN) {
		/*
		 * A guest that spins is stopped by a signal within 1-40 ms,
		 * then every 20 ms: one that arrived before the call entered
		 * the kernel would leave it spinning for ever.
		 */
		struct itimerspec it = {
			.it_value.tv_nsec = (1 + pick(s, 40)) * 1000000,
			.it_interval.tv_nsec = 20 * 1000000,
		};

		timer_settime(timer, 0, &it, NULL);
		atomic_fetch_add(&sh->runs, 1);
	}
	r = syscall(SYS_ioctl, fd, cmd, arg);
	err = r < 0 ? errno : 0;
	if (cmd == VMMU_RUN) {
		struct itimerspec off = { 0 };

		timer_settime(timer, 0, &off, NULL);
	}
	atomic_store(&sh->call[me].cmd, 0);
	atomic_fetch_add(&sh->ioctls, 1);

	if (r < 0) {
		if (check && !documented(c, err))
			note_bad(c, arg, err);
		return r;
	}
	atomic_fetch_add(&sh->ok, 1);
	if (cmd == VMMU_CREATE_VM)
		add_fd(s, r);
	else if (cmd == VMMU_CREATE_VCPU) {
		if (pick(s, 2)) {
			void *run = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r, 0);

			/* Left mapped: unmapped with the process. */
			if (run != MAP_FAILED && pick(s, 2))
				((struct vmmu_run *)run)->immediate_exit = 1;
		}
		add_fd(s, r);
	}
	return r;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

/* Memory management on the slot memory, and fd churn. */
static void one_mm_op(__u64 *s)
{
	char *a = areas[pick(s, NR_AREAS)];
	size_t off = pick(s, AREA_SIZE / PAGE) * PAGE;
	size_t len = (1 + pick(s, 64)) * PAGE;
	int i;

	if (off + len > AREA_SIZE)
		len = AREA_SIZE - off;
	atomic_fetch_add(&sh->mmops, 1);
	switch (pick(s, 12)) {
	/*
	 * The areas never get holes: another thread's mmap() could land in
	 * one, and a MAP_FIXED here would then clobber it.  So "unmap" maps
	 * PROT_NONE in place (the old pages go, as with munmap), and the
	 * mremap leaves the source mapped (MREMAP_DONTUNMAP, 5.7+).
	 */
	case 0:
		mmap(a + off, len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
		break;
	case 1:
		mmap(a + off, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case 2: {	/* move the pages away, the range stays */
		void *p = mremap(a + off, len, len,
				 MREMAP_MAYMOVE | MREMAP_DONTUNMAP);

		if (p != MAP_FAILED)
			munmap(p, len);
		break;
	}
	case 3: madvise(a + off, len, MADV_DONTNEED); break;
	case 4: madvise(a + off, len, MADV_FREE); break;
	case 5: madvise(a + off, len, MADV_PAGEOUT); break;
	case 6: mprotect(a + off, len, PROT_READ); break;
	case 7: mprotect(a + off, len, PROT_READ | PROT_WRITE); break;
	case 8: madvise(a, AREA_SIZE, pick(s, 2) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE); break;
	case 9:
		/*
		 * Touch: fault pages in for writing, breaking COW and splitting
		 * huge pages.  Not by storing to them: another thread may have
		 * just unmapped or write-protected them.
		 */
		madvise(a + off, len, MADV_POPULATE_WRITE);
		break;
	case 10:	/* close an fd, maybe mid-call in another thread */
		i = pick(s, NR_FDS);
		i = atomic_exchange(&fds[i], -1);
		if (i >= 0)
			close(i);
		break;
	default: {	/* a child with the inherited fds */
		pid_t pid = fork();

		if (pid == 0) {
			alarm(10);
			for (int k = 0; k < 200; k++) {
				int fd = atomic_load(&fds[pick(s, NR_FDS)]);

				if (fd >= 0) {
					struct vmmu_vm_stats st = { .size = sizeof(st) };

					ioctl(fd, pick(s, 2) ? VMMU_GET_STATS : VMMU_RUN, &st);
					if (!pick(s, 20))
						close(fd);
				}
			}
			_exit(0);
		}
		if (pid > 0) {
			atomic_fetch_add(&sh->forks, 1);
			waitpid(pid, NULL, 0);
		}
		break;
	}
	}
}

struct worker {
	pthread_t t;
	int me;
	__u64 state;
	bool mm;
};

static void *worker(void *p)
{
	struct worker *w = p;
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	timer_t timer;

	sev._sigev_un._tid = syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer))
		return NULL;
	while (!atomic_load(&sh->stop)) {
		if (w->mm)
			one_mm_op(&w->state);
		else
			one_ioctl(&w->state, w->me, timer);
	}
	return NULL;
}

/* One round, in its own process: fuzz until killed or told to stop. */
static void round_child(unsigned long long rseed)
{
	struct sigaction sa = { .sa_handler = sig_nop };	/* no SA_RESTART */
	struct worker w[MAX_THREADS + 2];
	__u64 s = rseed;
	int n = nthreads + 2;

	sigaction(SIGUSR1, &sa, NULL);
	dev_fd = vmmu_open_dev();
	if (dev_fd < 0)
		_exit(2);
	for (int i = 0; i < NR_AREAS; i++) {
		areas[i] = mmap(NULL, AREA_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (areas[i] == MAP_FAILED)
			_exit(2);
		for (size_t k = 0; k < AREA_SIZE; k += PAGE)
			areas[i][k] = rnd(&s);	/* a guest runs this */
	}
	guard = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Inaccessible, not unmapped: a later mmap() could take a hole. */
	mprotect(guard + PAGE, PAGE, PROT_NONE);
	dbufs = mmap(NULL, n * (DBUF_SIZE + PAGE), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || dbufs == MAP_FAILED)
		_exit(2);
	for (int i = 0; i < n; i++)
		mprotect(dbufs + i * (DBUF_SIZE + PAGE) + DBUF_SIZE, PAGE, PROT_NONE);
	for (int i = 0; i < NR_FDS; i++)
		fds[i] = -1;
	/* Start with a few VMs with memory and vCPUs, so that calls land. */
	for (int i = 0; i < 3; i++) {
		int vm = vmmu_create_vm(dev_fd, VMMU_VM_TYPE_HOST);

		if (vm < 0)
			vm = vmmu_create_vm(dev_fd, VMMU_VM_TYPE_NPT);
		if (vm < 0)
			continue;
		vmmu_set_memslot(vm, 0, 0, 0, AREA_SIZE, areas[i]);
		vmmu_set_memslot(vm, 1, VMMU_MEM_LOG_DIRTY_PAGES, 0xff000000ULL - AREA_SIZE + (16 << 20),
				 AREA_SIZE, areas[i + 1]);
		fds[i * 2] = vm;
		int vcpu = vmmu_ioctl(vm, VMMU_CREATE_VCPU, 0);

		if (vcpu >= 0)
			fds[i * 2 + 1] = vcpu;
	}
	for (int i = 0; i < n; i++) {
		w[i].me = i;
		w[i].mm = i >= nthreads;
		w[i].state = rseed * 0x9E3779B97F4A7C15ULL + i + 1;
		pthread_create(&w[i].t, NULL, worker, &w[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(w[i].t, NULL);
	_exit(0);
}

static long envl(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

/*
 * A call that did not return: where each thread of the round is in the
 * kernel, and on the console every blocked task and every CPU's backtrace
 * (sysrq w, l).
 */
static void dump_round(struct __test_metadata *_metadata, pid_t pid)
{
	char path[64], stack[2048];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir))) {
		int tid = atoi(d->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, tid);
		if (read_small_file(path, stack, sizeof(stack)) > 0)
			TH_LOG("task %d (state %c):\n%s", tid,
			       proc_task_state(tid), stack);
	}
	if (dir)
		closedir(dir);
	/* Blocked tasks, and what the CPUs run (a running task has no stack here). */
	write_file("/proc/sysrq-trigger", "w");
	write_file("/proc/sysrq-trigger", "l");
}

FIXTURE(fuzz) {};
FIXTURE_SETUP(fuzz) {}
FIXTURE_TEARDOWN(fuzz) {}

/*
 * FUZZ_SECONDS bounds the run; FUZZ_IOCTLS ends it early and must be
 * reached (the debug lane: a million, in at most 70 minutes).
 */
TEST_F_TIMEOUT(fuzz, abi, 3600)
{
	double seconds = envl("FUZZ_SECONDS", 4), t0 = now_ms(), hang_at = 0;
	double shown = t0;
	unsigned long max_ioctls = envl("FUZZ_IOCTLS", 0), rounds = 0, killed = 0;
	const char *ko = getenv("VMMU_KO");
	__u64 s;

	seed = envl("FUZZ_SEED", 0);
	if (!seed)
		seed = (unsigned long long)time(NULL) * 1000003ULL ^ getpid();
	nthreads = envl("FUZZ_THREADS", 4);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 4;
	/* Slow kernels (the debug lane) get proportionally longer. */
	hang_ms = envl("FUZZ_HANG_S", 20) * 1000.0 * vmmu_timeout_scale();
	s = seed;
	TH_LOG("FUZZ_SEED=%llu (set it to replay), %d threads, %.0f s%s", seed,
	       nthreads, seconds, max_ioctls ? " or the ioctl budget" : "");

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	ASSERT_EQ(0, vmmu_live_vms());

	while (now_ms() - t0 < seconds * 1000 &&
	       (!max_ioctls || atomic_load(&sh->ioctls) < max_ioctls)) {
		unsigned long long rseed = rnd(&s);
		double life = 200 + pick(&s, 1500), start = now_ms(), reap;
		bool hung = false;
		int status;
		pid_t pid;

		atomic_store(&sh->stop, 0);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			round_child(rseed);
		/* Watch the round: no call may hang. */
		while (now_ms() - start < life) {
			usleep(10000);
			for (int i = 0; i < nthreads + 2; i++) {
				unsigned long cmd = atomic_load(&sh->call[i].cmd);
				double at = atomic_load(&sh->call[i].start);

				if (cmd && now_ms() - at > hang_ms) {
					TH_LOG("round %lu (seed %llu): ioctl %#lx on thread %d has not returned after %.0f s",
					       rounds, rseed, cmd, i, (now_ms() - at) / 1000);
					hung = true;
				}
			}
			if (hung) {
				dump_round(_metadata, pid);
				break;
			}
		}
		/*
		 * Mostly SIGKILL mid-call; sometimes a clean stop, where every
		 * thread must return from its call within FUZZ_HANG_S.
		 */
		bool clean = !pick(&s, 4);

		if (clean)
			atomic_store(&sh->stop, 1);
		else
			kill(pid, SIGKILL), killed++;
		reap = now_ms();
		while (!hung && waitpid(pid, &status, WNOHANG) == 0) {
			if (now_ms() - reap > hang_ms) {
				for (int i = 0; i < nthreads + 2; i++)
					if (atomic_load(&sh->call[i].cmd))
						TH_LOG("round %lu (seed %llu): ioctl %#lx on thread %d has not returned",
						       rounds, rseed, atomic_load(&sh->call[i].cmd), i);
				TH_LOG("round %lu (seed %llu): the process did not end %.0f s after %s",
				       rounds, rseed, hang_ms / 1000, clean ? "being told to" : "SIGKILL");
				dump_round(_metadata, pid);
				hang_at = now_ms();
				break;
			}
			usleep(5000);
		}
		if (hung || hang_at) {
			kill(pid, SIGKILL);
			/* Reaped, or the test fails with it unkillable. */
			for (int k = 0; k < 100 && waitpid(pid, &status, WNOHANG) == 0; k++)
				usleep(100000);
		}
		for (int i = 0; i < nthreads + 2; i++)
			atomic_store(&sh->call[i].cmd, 0);
		ASSERT_FALSE(hung);
		ASSERT_EQ(0, hang_at);
		rounds++;
		/* Long runs (the debug lane's million) say how they go. */
		if (now_ms() - shown > 60000) {
			shown = now_ms();
			TH_LOG("%lu ioctls in %lu rounds, %.0f s",
			       atomic_load(&sh->ioctls), rounds, (shown - t0) / 1000);
		}
	}

	TH_LOG("%lu ioctls (%lu succeeded, %lu VMMU_RUN), %lu mm operations, %lu forks, %lu rounds (%lu SIGKILLed) in %.1f s",
	       atomic_load(&sh->ioctls), atomic_load(&sh->ok), atomic_load(&sh->runs),
	       atomic_load(&sh->mmops), atomic_load(&sh->forks), rounds, killed,
	       (now_ms() - t0) / 1000);
	printf("# fuzz: ioctls=%lu\n", atomic_load(&sh->ioctls));
	EXPECT_EQ(0, atomic_load(&sh->bad)) TH_LOG("first: %s", sh->first_bad);
	EXPECT_LT(0, atomic_load(&sh->ok));
	/* A budget is a requirement (the debug lane's million), not a cap. */
	EXPECT_LE(max_ioctls, atomic_load(&sh->ioctls))
		TH_LOG("FUZZ_IOCTLS=%lu not reached in FUZZ_SECONDS=%.0f",
		       max_ioctls, seconds);

	/* Nothing left behind, and the module unloads (then back, for the rest). */
	EXPECT_EQ(0, vmmu_wait_live_vms(0, 10000));
	if (!ko) {
		TH_LOG("VMMU_KO not set: not unloading the module");
		return;
	}
	ASSERT_EQ(0, unload_module("vmmu"));
	ASSERT_EQ(0, load_module(ko));
}

TEST_HARNESS_MAIN
