// SPDX-License-Identifier: GPL-2.0-only
/*
 * The A/B benchmark: the same workloads on in-tree KVM (/dev/kvm) and on
 * vmmu (/dev/vmmu), interleaved (the order of the backends alternates
 * from one repetition to the next), after warm-up repetitions.  Raw
 * samples go to stdout as JSON Lines; scripts/bench_report.py turns them
 * into the table, plots and report.  docs/benchmarking.md says what each
 * workload measures and which of KVM's own perf selftests it matches.
 *
 *   bench_vmmu [--quick] [--reps N] [--warmup N] [--mib N] [--only W,...]
 *              [--io-iters N] [--inval-ms N] [--sample-timeout S]
 *              [--trace-reps N] [--vcpu-cpu same|other]
 *              [--overlap-reps N] [--overlap-pairs N]
 *              [--overlap-cutoff-ms N] [--overlap-mib N] [--overlap-threads N]
 *   bench_vmmu -t smoke      tiny sizes, two repetitions, TAP around the
 *                            JSON (the boot lane of make check)
 *
 * Records, one JSON object a line, told apart by "type": meta (the machine
 * and its settings), config, sample, progress, error, end, and for the
 * traced phase after the timed samples trace_setup and trace (see
 * "ftrace" below).  A sample:
 *   {"type":"sample","workload":"exits","metric":"exits/s",
 *    "higher_is_better":true,"backend":"kvm","rep":3,"warmup":false,
 *    "value":12345.6}
 * Backends: kvm, vmmu, vmmu-nle (vmmu with VMMU_VM_MN_NO_LOCK_ELISION),
 * vmmu-bnd (vmmu with VMMU_VM_MEMSLOT_BOUNDED_WAIT) and, for
 * unrelated_inval*, none (the same loop in a process without any VM).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/vmmu.h>

#include "guest.h"
#include "kvm_guest.h"
#include "memslot_timing.h"
#include "vmmu_util.h"

#define MIB		(1UL << 20)
#define PAGE		4096UL
#define BENCH_SLOT	1
#define BENCH_GPA	(1ULL << 30)	/* inside the library's identity map */
#define MOVE_GPA	(3ULL << 30)	/* where memslot_move moves the slot to */
#define OV_MAX_THREADS	16		/* memslot_overlap_storm's storm */

enum backend { B_NONE, B_KVM, B_VMMU, B_VMMU_NLE, B_VMMU_BND, B_NR };
static const char *const backend_names[B_NR] = {
	"none", "kvm", "vmmu", "vmmu-nle", "vmmu-bnd",
};

/* The VMMU_CREATE_VM flags of a vmmu backend. */
static __u32 vmmu_flags(enum backend b)
{
	return b == B_VMMU_NLE ? VMMU_VM_MN_NO_LOCK_ELISION :
	       b == B_VMMU_BND ? VMMU_VM_MEMSLOT_BOUNDED_WAIT : 0;
}

/* A VM of backend @b with no memslot and no vCPU: its fd, or -errno. */
static int new_vm(enum backend b)
{
	return b == B_KVM ? kvm_new_vm() : vmmu_new_vm(VMMU_VM_TYPE_HOST, vmmu_flags(b));
}

static struct {
	int reps, warmup;
	unsigned long mib;		/* guest memory per VM */
	unsigned long io_iters;		/* port I/O exits per sample */
	double inval_s;			/* seconds per unrelated_inval sample */
	unsigned int slot_rounds;	/* create/delete pairs per sample */
	unsigned int sample_timeout_s;	/* the watchdog of one sample */
	int trace_reps;			/* traced repetitions per backend, 0: none */
	bool vcpu_other_cpu;		/* unrelated_inval_vcpu: the vCPU on CPU 1 */
	/* memslot_overlap_storm */
	int overlap_reps;		/* measured repetitions (0: the default) */
	unsigned int overlap_pairs;	/* create/delete pairs per sample */
	unsigned int overlap_cutoff_ms;	/* an update is starved past this */
	unsigned long overlap_mib;	/* each storm thread's memory */
	int overlap_threads;		/* storm threads */
	const char *only;
	bool smoke;
} opt = {
	.reps = 50, .warmup = 3, .mib = 32, .io_iters = 20000,
	.inval_s = 0.5, .slot_rounds = 10, .sample_timeout_s = 60,
	.trace_reps = 8, .overlap_pairs = 4, .overlap_cutoff_ms = 200,
	.overlap_mib = 64, .overlap_threads = 8,
};

static double t_start;
/* The work done and to do, in unit_cost() seconds, for the time left. */
static double units_done, units_total;
static int failures;

/*
 * The watchdog: a sample that takes longer than opt.sample_timeout_s
 * seconds gets a diag record (the kernel stack of the thread running it,
 * the statistics of this process's vmmu VMs, and backtraces of every CPU
 * and of blocked tasks on the kernel console through sysrq), then SIGALRM:
 * its run ioctl returns EINTR, the workload ends with an error and the
 * next one starts.  A thread stuck in the kernel stays stuck, but the
 * report says where.
 */
static volatile sig_atomic_t timed_out;
static pid_t main_tid;
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static double wd_deadline;		/* ms; 0: no sample running */
static const char *wd_workload, *wd_backend;

static void on_alarm(int sig)
{
	timed_out = 1;
}

static void json_str(const char *s);

/* The whole of a (small) file as a JSON string, or null. */
static void json_whole_file(const char *path)
{
	char buf[16384];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		printf("null");
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	json_str(buf);
}

static void watchdog_dump(void)
{
	char path[512];
	struct dirent *d;
	DIR *dp;
	int fd;

	printf("{\"type\":\"diag\",\"what\":\"sample ran past %u s\",\"workload\":",
	       opt.sample_timeout_s);
	json_str(wd_workload);
	printf(",\"backend\":");
	json_str(wd_backend);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", main_tid);
	printf(",\"kernel_stack\":");
	json_whole_file(path);
	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", main_tid);
	printf(",\"wchan\":");
	json_whole_file(path);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", main_tid);
	printf(",\"stat\":");
	json_whole_file(path);
	printf(",\"vmmu_vms\":{");
	dp = opendir(VMMU_DEBUGFS);
	for (bool first = true; dp && (d = readdir(dp));) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "%d-", getpid());
		if (strncmp(d->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), VMMU_DEBUGFS "/%s/stats", d->d_name);
		printf("%s", first ? "" : ",");
		json_str(d->d_name);
		putchar(':');
		json_whole_file(path);
		first = false;
	}
	if (dp)
		closedir(dp);
	printf("}}\n");
	fflush(stdout);
	/* Every CPU's backtrace and the blocked tasks, on the console. */
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "l", 1) == 1 && write(fd, "w", 1) == 1)
			fsync(fd);
		close(fd);
	}
}

static void *watchdog(void *arg)
{
	for (;;) {
		usleep(200000);
		pthread_mutex_lock(&wd_lock);
		if (wd_deadline && now_ms() > wd_deadline) {
			wd_deadline = 0;
			watchdog_dump();
			timed_out = 1;
			pthread_kill(main_thread, SIGALRM);
		}
		pthread_mutex_unlock(&wd_lock);
	}
	return NULL;
}

static void watchdog_arm(const char *workload, const char *backend)
{
	pthread_mutex_lock(&wd_lock);
	timed_out = 0;
	wd_workload = workload;
	wd_backend = backend;
	wd_deadline = now_ms() + opt.sample_timeout_s * 1000.0;
	pthread_mutex_unlock(&wd_lock);
}

static void watchdog_disarm(void)
{
	pthread_mutex_lock(&wd_lock);
	wd_deadline = 0;
	pthread_mutex_unlock(&wd_lock);
}

/* ---- output ------------------------------------------------------------ */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void error_rec(const char *workload, const char *backend,
		      const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("{\"type\":\"error\",\"workload\":");
	json_str(workload);
	printf(",\"backend\":");
	json_str(backend);
	printf(",\"message\":");
	json_str(msg);
	printf("}\n");
	fflush(stdout);
	failures++;
}

struct workload {
	const char *name, *metric;
	bool higher_is_better;
	unsigned int backends;		/* mask of 1 << enum backend */
	/*
	 * Set when the samples are made by the sample function of the named
	 * workload just before (a create/delete pair makes both figures):
	 * selected with it, its own sample function only hands them out.
	 */
	const char *made_by;
	/* One sample per backend and repetition: 0 or -errno. */
	int (*setup)(struct workload *w);
	int (*sample)(struct workload *w, enum backend b, int rep,
		      double *value);
	void (*teardown)(struct workload *w);
	/*
	 * The traced phase, after all timed samples: in a child process that
	 * has only backend @b's VM, set the workload up and run
	 * opt.trace_reps repetitions between trace_rep_begin() and
	 * trace_rep_end().  NULL: not traced.
	 */
	int (*trace)(struct workload *w, enum backend b);
};

static bool few_reps(const struct workload *w);

/* Repetitions of @w: opt.reps, or fewer for the costly few_reps(). */
static int reps_of(const struct workload *w)
{
	return few_reps(w) ? opt.overlap_reps : opt.reps;
}

static int warmup_of(const struct workload *w)
{
	return few_reps(w) && opt.warmup > 1 ? 1 : opt.warmup;
}

/* Extra JSON members for the next sample record (",\"k\":v..."), or "". */
static char sample_extra[2048];

static void sample_rec(const struct workload *w, enum backend b, int rep,
		       double value)
{
	printf("{\"type\":\"sample\",\"workload\":\"%s\",\"metric\":\"%s\","
	       "\"higher_is_better\":%s,\"backend\":\"%s\",\"rep\":%d,"
	       "\"warmup\":%s,\"value\":%.9g%s}\n", w->name, w->metric,
	       w->higher_is_better ? "true" : "false", backend_names[b],
	       rep - warmup_of(w), rep < warmup_of(w) ? "true" : "false", value,
	       sample_extra);
	sample_extra[0] = 0;
}

/*
 * How long one repetition of a workload (all its backends), or one
 * backend of a traced phase, takes relative to the others: seconds in an
 * emulated default run.  Only for the time-left estimate, which would
 * otherwise count a memslot repetition (milliseconds) like a refault one
 * (seconds).
 */
static double unit_cost(const char *name)
{
	static const struct {
		const char *name;
		double s;
	} costs[] = {
		{ "demand_4k", 2.1 }, { "demand_thp", 0.45 }, { "refault", 2.6 },
		{ "unrelated_inval", 3.0 }, { "unrelated_inval_vcpu", 3.0 },
		{ "memslot_overlap_storm", 4 },
		{ "memslot_storm_create", 0.9 }, { "memslot_storm_move", 0.3 },
		{ "dirty_log", 0.7 }, { "exits", 1.0 }, { "trace:refault", 10 },
		{ "trace:memslot_storm_create", 3 }, { "trace:memslot_storm_move", 3 },
	};

	for (unsigned int i = 0; i < sizeof(costs) / sizeof(costs[0]); i++)
		if (!strcmp(costs[i].name, name))
			return costs[i].s;
	return 0.03;	/* the idle memslot workloads, those made by another */
}

/*
 * Time left: the rest of this workload (or traced phase) at its own pace
 * so far, the units after it at the pace of those done, by their cost.
 */
static void progress_rec(const char *name, int rep, int reps, double w_start)
{
	double el = (now_ms() - t_start) / 1000;
	double w_el = (now_ms() - w_start) / 1000;
	int w_left = reps - rep - 1;
	double left = w_el / (rep + 1) * w_left;

	if (units_done > 0)
		left += el / units_done *
			(units_total - units_done - w_left * unit_cost(name));

	printf("{\"type\":\"progress\",\"workload\":\"%s\",\"rep\":%d,"
	       "\"reps\":%d,\"done\":%.0f,\"total\":%.0f,\"elapsed_s\":%.1f,"
	       "\"left_s\":%.1f}\n", name, rep + 1, reps, 100 * units_done,
	       100 * units_total, el, left > 0 ? left : 0);
	fflush(stdout);
}

/* A file's first line (or all of it, newlines as spaces), as a JSON string. */
static void json_file(const char *key, const char *path, bool whole)
{
	char buf[8192];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	for (char *p = buf; *p; p++) {
		if (*p == '\n') {
			if (!whole || !p[1]) {
				*p = 0;
				break;
			}
			*p = ' ';
		}
	}
	printf(",\"%s\":", key);
	if (f)
		json_str(buf);
	else
		printf("null");
}

/* "model name" and "flags" of the first CPU in /proc/cpuinfo. */
static void json_cpuinfo(void)
{
	char line[8192], model[256] = "", flags[8192] = "";
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *v;

	while (f && fgets(line, sizeof(line), f)) {
		v = strchr(line, ':');
		if (!v)
			continue;
		v += v[1] == ' ' ? 2 : 1;
		v[strcspn(v, "\n")] = 0;
		if (!model[0] && !strncmp(line, "model name", 10))
			snprintf(model, sizeof(model), "%s", v);
		if (!flags[0] && !strncmp(line, "flags", 5))
			snprintf(flags, sizeof(flags), "%s", v);
	}
	if (f)
		fclose(f);
	printf(",\"cpu_model\":");
	json_str(model);
	printf(",\"cpu_flags\":");
	json_str(flags);
	printf(",\"online_cpus\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
}

/* Every parameter of module @mod, as a JSON object. */
static void json_params(const char *mod)
{
	char dir[128], path[512];
	struct dirent *d;
	DIR *dp;
	bool first = true;

	snprintf(dir, sizeof(dir), "/sys/module/%s/parameters", mod);
	printf(",\"params_%s\":{", mod);
	dp = opendir(dir);
	while (dp && (d = readdir(dp))) {
		char val[256] = "";
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(val, sizeof(val), f))
			val[0] = 0;
		fclose(f);
		val[strcspn(val, "\n")] = 0;
		printf("%s", first ? "" : ",");
		json_str(d->d_name);
		putchar(':');
		json_str(val);
		first = false;
	}
	if (dp)
		closedir(dp);
	putchar('}');
}

static void meta_rec(void)
{
	struct utsname u;

	uname(&u);
	printf("{\"type\":\"meta\",\"kernel_release\":");
	json_str(u.release);
	printf(",\"kernel_version\":");
	json_str(u.version);
	json_file("cmdline", "/proc/cmdline", false);
	json_cpuinfo();
	json_params("vmmu");
	json_params("kvm");
	json_params("kvm_amd");
	json_params("kvm_intel");
	json_file("thp_enabled", "/sys/kernel/mm/transparent_hugepage/enabled", false);
	json_file("thp_defrag", "/sys/kernel/mm/transparent_hugepage/defrag", false);
	json_file("ksm_run", "/sys/kernel/mm/ksm/run", false);
	json_file("numa_balancing", "/proc/sys/kernel/numa_balancing", false);
	json_file("tainted", "/proc/sys/kernel/tainted", false);
	json_file("clocksource", "/sys/devices/system/clocksource/clocksource0/current_clocksource", false);
	printf("}\n");
	printf("{\"type\":\"config\",\"reps\":%d,\"warmup\":%d,\"mib\":%lu,"
	       "\"io_iters\":%lu,\"inval_s\":%g,\"slot_rounds\":%u,"
	       "\"sample_timeout_s\":%u,\"trace_reps\":%d,\"vcpu_cpu\":\"%s\","
	       "\"overlap_reps\":%d,\"overlap_pairs\":%u,\"overlap_cutoff_ms\":%u,"
	       "\"overlap_mib\":%lu,\"overlap_threads\":%d,\"smoke\":%s,\"only\":",
	       opt.reps, opt.warmup, opt.mib, opt.io_iters, opt.inval_s,
	       opt.slot_rounds, opt.sample_timeout_s, opt.trace_reps,
	       opt.vcpu_other_cpu ? "other" : "same", opt.overlap_reps,
	       opt.overlap_pairs, opt.overlap_cutoff_ms, opt.overlap_mib,
	       opt.overlap_threads,
	       opt.smoke ? "true" : "false");
	if (opt.only)
		json_str(opt.only);
	else
		printf("null");
	printf("}\n");
	fflush(stdout);
}

/* ---- guests ------------------------------------------------------------ */

/* A VM with one vCPU and one memslot of opt.mib MiB at BENCH_GPA. */
struct bench_vm {
	struct guest_vm vm;
	struct guest_vcpu vcpu;
	void *mem;
	size_t size;
	bool up;
};

static enum guest_backend guest_backend(enum backend b)
{
	return b == B_KVM ? GUEST_KVM : GUEST_VMMU;
}

static void bvm_destroy(struct bench_vm *v)
{
	if (!v->up)
		return;
	guest_vcpu_destroy(&v->vcpu);
	guest_vm_destroy(&v->vm);
	guest_free(v->mem, v->size);
	v->up = false;
}

/* @thp: 2 MiB-aligned memory with MADV_HUGEPAGE; @slot_flags GUEST_MEM_*. */
static int bvm_create(struct bench_vm *v, enum backend b, bool thp,
		      __u32 slot_flags)
{
	int r;

	memset(v, 0, sizeof(*v));
	v->size = opt.mib * MIB;
	v->mem = guest_alloc(v->size, thp ? 2 * MIB : PAGE);
	if (!v->mem)
		return -ENOMEM;
	if (madvise(v->mem, v->size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		r = -errno;
		guest_free(v->mem, v->size);
		return r;
	}
	r = guest_vm_create_flags(&v->vm, guest_backend(b), vmmu_flags(b));
	if (r) {
		guest_free(v->mem, v->size);
		return r;
	}
	v->up = true;
	r = guest_vcpu_create(&v->vm, &v->vcpu, 0);
	if (r) {
		guest_vm_destroy(&v->vm);
		guest_free(v->mem, v->size);
		v->up = false;
		return r;
	}
	r = guest_set_memslot(&v->vm, BENCH_SLOT, slot_flags, BENCH_GPA,
			      v->size, v->mem);
	if (r)
		bvm_destroy(v);
	return r;
}

/* What a guest that the watchdog stopped was doing, as a diag record. */
static void stuck_rec(struct guest_vcpu *vcpu, unsigned long values)
{
	struct vmmu_vm_stats st = { .size = sizeof(st) };
	struct guest_regs regs = { 0 };

	guest_get_regs(vcpu, &regs);
	printf("{\"type\":\"diag\",\"what\":\"sample timed out\",\"backend\":\"%s\","
	       "\"values_seen\":%lu,\"rip\":%llu,\"rax\":%llu,\"rdi\":%llu",
	       guest_backend_name(vcpu->vm->backend), values,
	       (unsigned long long)regs.rip, (unsigned long long)regs.rax,
	       (unsigned long long)regs.rdi);
	if (vcpu->vm->backend == GUEST_VMMU && !vmmu_get_stats(vcpu->vm->fd, &st))
		printf(",\"vcpu_entries\":%llu,\"exits_io\":%llu,\"exits_hlt\":%llu,"
		       "\"exits_npf\":%llu,\"exits_intr\":%llu,\"exits_other\":%llu,"
		       "\"vcpu_kicks\":%llu",
		       (unsigned long long)st.vcpu_entries, (unsigned long long)st.exits_io,
		       (unsigned long long)st.exits_hlt, (unsigned long long)st.exits_npf,
		       (unsigned long long)st.exits_intr, (unsigned long long)st.exits_other,
		       (unsigned long long)st.vcpu_kicks);
	printf("}\n");
	fflush(stdout);
}

/* Run to the payload's DONE; exits on GUEST_PORT_VALUE are counted. */
static int run_to_done(struct guest_vcpu *vcpu, unsigned long *values)
{
	unsigned long seen = 0;
	int r;

	for (;;) {
		r = guest_run(vcpu);
		if (r == -EINTR)
			vcpu->exit.kind = GUEST_EXIT_INTR;
		else if (r)
			return r;
		if (vcpu->exit.kind == GUEST_EXIT_INTR) {
			if (!timed_out)
				continue;
			stuck_rec(vcpu, values ? *values : seen);
			return -ETIMEDOUT;
		}
		if (vcpu->exit.kind != GUEST_EXIT_IO)
			return -EPROTO;
		if (vcpu->exit.io.port == GUEST_PORT_DONE)
			return vcpu->exit.io.data ? -EBADMSG : 0;
		if (vcpu->exit.io.port != GUEST_PORT_VALUE || !values)
			return -EPROTO;
		(*values)++;
	}
}

/* The guest writes every word of its memslot. */
static int guest_touch(struct bench_vm *v, __u64 seed)
{
	int r = guest_vcpu_call(&v->vcpu, guest_fill, BENCH_GPA, v->size,
				seed, 0);

	return r ?: run_to_done(&v->vcpu, NULL);
}

/* ---- ftrace: the traced phase --------------------------------------------
 *
 * After all timed samples, each traced workload runs opt.trace_reps more
 * repetitions per backend with the function_graph tracer on, in a child
 * process that has only that backend's VM (a process's invalidations reach
 * every VM on its mm, and the graph does not say which VM a callback is
 * for).  Traced, for both backends alike:
 *
 *  - the MMU notifier's invalidate_range_start callback (KVM's
 *    kvm_mmu_notifier_invalidate_range_start, vmmu's
 *    vmmu_mn_invalidate_range_start): how long each call took;
 *  - the function that publishes a new memslot set once no invalidation is
 *    in flight (KVM's kvm_swap_active_memslots, vmmu's
 *    vmmu_wait_and_publish_memslots), with schedule() as a traced child:
 *    the wait for invalidations is the time in schedule() called directly
 *    from it, which is only ever the wait loop.  KVM's function also runs
 *    synchronize_srcu_expedited(), traced too so that a schedule() inside
 *    it is its child and not counted as a wait.  KVM publishes twice for a
 *    delete or a move (the invalid slot, then the new set), once for a
 *    create; vmmu once for each.
 *  - synchronize_srcu_expedited(), the SRCU grace period every update
 *    waits for after publishing (inside kvm_swap_active_memslots for KVM,
 *    after vmmu_wait_and_publish_memslots for vmmu).
 *
 * Only these functions are in set_ftrace_filter, so their children cost
 * nothing extra and the callbacks' durations are not inflated by tracing
 * what they call.  For vmmu, the vmmu_memslot_update event's wait_ns (the
 * module's own measure of the same wait) is recorded beside.  Durations
 * are the tracer's (sleep-time on: a sleep counts in its caller).
 */
static const char *tracefs;

static const char *const notifier_fn[B_NR] = {
	[B_KVM] = "kvm_mmu_notifier_invalidate_range_start",
	[B_VMMU] = "vmmu_mn_invalidate_range_start",
	[B_VMMU_NLE] = "vmmu_mn_invalidate_range_start",
	[B_VMMU_BND] = "vmmu_mn_invalidate_range_start",
};
static const char *const publish_fn[B_NR] = {
	[B_KVM] = "kvm_swap_active_memslots",
	[B_VMMU] = "vmmu_wait_and_publish_memslots",
	[B_VMMU_NLE] = "vmmu_wait_and_publish_memslots",
	[B_VMMU_BND] = "vmmu_wait_and_publish_memslots",
};

/* Where tracefs is mounted, or NULL. */
static const char *tr_find(void)
{
	if (!access("/sys/kernel/tracing/trace", W_OK))
		tracefs = "/sys/kernel/tracing";
	else if (!access("/sys/kernel/debug/tracing/trace", W_OK))
		tracefs = "/sys/kernel/debug/tracing";
	return tracefs;
}

static int tr_write(const char *file, const char *val, bool append)
{
	char path[256];
	size_t n = strlen(val);
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	if (n && write(fd, val, n) != (ssize_t)n)
		r = -errno ?: -EIO;
	close(fd);
	return r;
}

/* A tracer option, through options/ or else trace_options. */
static int tr_option(const char *name, bool on)
{
	char file[128], val[128];

	snprintf(file, sizeof(file), "options/%s", name);
	if (!tr_write(file, on ? "1" : "0", false))
		return 0;
	snprintf(val, sizeof(val), "%s%s", on ? "" : "no", name);
	return tr_write("trace_options", val, false);
}

static void tr_reset(void)
{
	tr_write("tracing_on", "0", false);
	tr_write("current_tracer", "nop", false);
	tr_write("set_graph_function", "", false);
	tr_write("set_ftrace_filter", "", false);
	tr_write("events/vmmu/vmmu_memslot_update/enable", "0", false);
	tr_write("trace", "", false);
}

/*
 * The tracer, set up once for the whole traced phase with the functions
 * of both backends (each child process runs only one backend's VM, and
 * the parser keeps only that backend's functions): starting and stopping
 * function_graph costs seconds under TCG (RCU-tasks grace periods).
 */
static struct {
	int err;			/* 0: function_graph is on */
	bool fn_ok[B_NR][4];		/* per backend: trace_fns() traceable */
	bool event;			/* vmmu_memslot_update enabled */
} tr_state = { .err = -ENOENT };

static void trace_fns(enum backend b, const char *fns[4])
{
	fns[0] = notifier_fn[b];
	fns[1] = publish_fn[b];
	fns[2] = "schedule";
	fns[3] = "synchronize_srcu_expedited";
}

/* 0, or -errno when nothing can be traced here (no tracefs, no tracer). */
static int trace_setup_all(void)
{
	const char *fns[4];
	bool any = false;
	int b, i;

	if (!tr_find())
		return tr_state.err = -ENOENT;
	tr_reset();
	/* Filter first: the tracer then patches only these functions. */
	for (b = B_KVM; b <= B_VMMU; b++) {
		trace_fns(b, fns);
		for (i = 0; i < 4; i++) {
			bool *ok = &tr_state.fn_ok[b][i];

			*ok = !tr_write("set_ftrace_filter", fns[i], true);
			/* schedule() only below the others */
			if (*ok && i != 2 && tr_write("set_graph_function", fns[i], true))
				*ok = false;
			any |= *ok && i < 2;
		}
	}
	memcpy(tr_state.fn_ok[B_VMMU_NLE], tr_state.fn_ok[B_VMMU],
	       sizeof(tr_state.fn_ok[0]));
	memcpy(tr_state.fn_ok[B_VMMU_BND], tr_state.fn_ok[B_VMMU],
	       sizeof(tr_state.fn_ok[0]));
	if (!any)
		return tr_state.err = -ENOENT;
	tr_write("buffer_size_kb", opt.smoke ? "1024" : "4096", false);
	tr_write("max_graph_depth", "3", false);
	tr_state.err = tr_write("current_tracer", "function_graph", false);
	if (tr_state.err) {
		tr_reset();
		return tr_state.err;
	}
	tr_option("funcgraph-proc", true);
	tr_option("funcgraph-tail", true);
	tr_option("funcgraph-irqs", false);
	tr_option("funcgraph-abstime", false);
	tr_option("sleep-time", true);
	tr_state.event = !tr_write("events/vmmu/vmmu_memslot_update/enable", "1", false);
	return 0;
}

/*
 * The trace_setup record of @w on backend @b: what can be traced.  0, or
 * -ENOENT when nothing (the record says why).
 */
static int trace_begin(struct workload *w, enum backend b)
{
	const char *fns[4];
	int i;

	trace_fns(b, fns);
	printf("{\"type\":\"trace_setup\",\"workload\":\"%s\",\"backend\":\"%s\","
	       "\"tracefs\":", w->name, backend_names[b]);
	if (!tracefs) {
		printf("null,\"error\":\"no tracefs\"}\n");
		fflush(stdout);
		return -ENOENT;
	}
	json_str(tracefs);
	printf(",\"tracer\":\"%s\",\"functions\":{",
	       tr_state.err ? "none" : "function_graph");
	for (i = 0; i < 4; i++)
		printf("%s\"%s\":%s", i ? "," : "", fns[i],
		       tr_state.fn_ok[b][i] ? "true" : "false");
	printf("},\"vmmu_memslot_update_event\":%s",
	       b != B_KVM && tr_state.event ? "true" : "false");
	if (tr_state.err)
		printf(",\"error\":\"%s\"", strerror(-tr_state.err));
	printf("}\n");
	fflush(stdout);
	return tr_state.err ? -ENOENT : 0;
}

static void trace_rep_begin(void)
{
	tr_write("trace", "", false);
	tr_write("tracing_on", "1", false);
}

struct dlist {
	double *v;
	size_t n, cap;
};

static void dl_add(struct dlist *l, double v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		double *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = v;
}

static void dl_json(const char *key, struct dlist *l)
{
	printf(",\"%s\":[", key);
	for (size_t i = 0; i < l->n; i++)
		printf("%s%.3f", i ? "," : "", l->v[i]);
	printf("]");
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Events in the buffers, and events lost (overwritten or dropped). */
static void tr_counts(unsigned long *entries, unsigned long *lost)
{
	char path[256], line[128];
	unsigned long v;
	FILE *f;

	for (int cpu = 0; cpu < 1024; cpu++) {
		snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/stats", tracefs, cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "entries: %lu", &v) == 1)
				*entries += v;
			else if (sscanf(line, "overrun: %lu", &v) == 1 ||
				 sscanf(line, "dropped events: %lu", &v) == 1)
				*lost += v;
		}
		fclose(f);
	}
}

/* The open calls of one task, in the graph's output. */
struct tr_task {
	int pid, depth;
	struct {
		char name[64];
		double wait_us;
	} f[8];
};

/* The function's name: text up to the first ' ', '(' or '*' (no " [mod]"). */
static void fn_name(const char *p, char *out, size_t len)
{
	size_t n = strcspn(p, " (*\n");

	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = 0;
}

/*
 * Stop tracing and turn the graph into a trace record: each call of the
 * notifier callback, each publication (its duration and the time in
 * schedule() called from it), each vmmu_memslot_update event's wait.
 */
static void trace_rep_end(struct workload *w, enum backend b, int rep,
			  double value)
{
	struct dlist cb = { 0 }, pub = { 0 }, wait = { 0 }, tp = { 0 }, srcu = { 0 };
	unsigned long entries = 0, lost = 0, open_at_end = 0;
	struct tr_task tasks[16];
	int ntasks = 0;
	char path[256], line[1024];
	FILE *f;

	tr_write("tracing_on", "0", false);
	snprintf(path, sizeof(path), "%s/trace", tracefs);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p1, *p2, *text, *q, name[64];
		struct tr_task *t = NULL;
		double dur = -1;
		int pid, i;

		if (line[0] == '#')
			continue;
		q = strstr(line, "vmmu_memslot_update:");
		if (q && (q = strstr(q, " wait "))) {
			dl_add(&tp, strtoull(q + 6, NULL, 10) / 1000.0);
			continue;
		}
		p1 = strchr(line, '|');
		p2 = p1 ? strchr(p1 + 1, '|') : NULL;
		if (!p2)
			continue;
		/* "CPU) comm-pid | duration | function" */
		for (q = p1; q > line && q[-1] == ' '; q--)
			;
		while (q > line && q[-1] >= '0' && q[-1] <= '9')
			q--;
		pid = atoi(q);
		for (q = p1 + 1; q < p2 && strchr(" +!#*@$", *q); q++)
			;
		if (q < p2 && *q >= '0' && *q <= '9')
			dur = strtod(q, NULL);
		for (i = 0; i < ntasks; i++)
			if (tasks[i].pid == pid)
				t = &tasks[i];
		if (!t && ntasks < 16) {
			t = &tasks[ntasks++];
			t->pid = pid;
			t->depth = 0;
		}
		if (!t)
			continue;
		for (text = p2 + 1; *text == ' '; text++)
			;
		if (text[0] == '}') {
			/* A closing brace, its function named after it. */
			double wait_us = -1;

			q = strstr(text, "/* ");
			if (!q)
				continue;
			fn_name(q + 3, name, sizeof(name));
			if (t->depth && !strcmp(t->f[t->depth - 1].name, name))
				wait_us = t->f[--t->depth].wait_us;
			if (dur < 0)
				continue;
			if (!strcmp(name, notifier_fn[b]))
				dl_add(&cb, dur);
			if (!strcmp(name, "synchronize_srcu_expedited"))
				dl_add(&srcu, dur);
			if (!strcmp(name, publish_fn[b]) && wait_us >= 0) {
				dl_add(&pub, dur);
				dl_add(&wait, wait_us);
			}
			if (!strcmp(name, "schedule") && t->depth &&
			    !strcmp(t->f[t->depth - 1].name, publish_fn[b]))
				t->f[t->depth - 1].wait_us += dur;
		} else if (strstr(text, ") {")) {
			if (t->depth < 8) {
				fn_name(text, t->f[t->depth].name, sizeof(t->f[0].name));
				t->f[t->depth++].wait_us = 0;
			}
		} else if (strstr(text, ");") && dur >= 0) {
			/* A call with no traced child, on one line. */
			fn_name(text, name, sizeof(name));
			if (!strcmp(name, notifier_fn[b]))
				dl_add(&cb, dur);
			if (!strcmp(name, "synchronize_srcu_expedited"))
				dl_add(&srcu, dur);
			if (!strcmp(name, publish_fn[b])) {
				dl_add(&pub, dur);
				dl_add(&wait, 0);
			}
			if (!strcmp(name, "schedule") && t->depth &&
			    !strcmp(t->f[t->depth - 1].name, publish_fn[b]))
				t->f[t->depth - 1].wait_us += dur;
		}
	}
	if (f)
		fclose(f);
	tr_counts(&entries, &lost);
	for (int i = 0; i < ntasks; i++)
		open_at_end += tasks[i].depth;
	printf("{\"type\":\"trace\",\"workload\":\"%s\",\"backend\":\"%s\",\"rep\":%d,"
	       "\"value\":%.9g,\"notifier_fn\":\"%s\",\"publish_fn\":\"%s\","
	       "\"entries\":%lu,\"lost\":%lu,\"open_at_end\":%lu", w->name,
	       backend_names[b], rep, value, notifier_fn[b], publish_fn[b], entries,
	       lost, open_at_end);
	dl_json("notifier_us", &cb);
	dl_json("publish_us", &pub);
	dl_json("wait_us", &wait);
	dl_json("srcu_us", &srcu);
	if (b != B_KVM)
		dl_json("event_wait_us", &tp);
	else
		free(tp.v);
	printf("}\n");
	fflush(stdout);
}

/* ---- workloads --------------------------------------------------------- */

/* demand_4k, demand_thp: first touch of fresh memory; pages/s. */
static int demand(enum backend b, bool thp, double *value)
{
	struct bench_vm v;
	double t0;
	int r;

	r = bvm_create(&v, b, thp, 0);
	if (r)
		return r;
	t0 = now_ms();
	r = guest_touch(&v, 1);
	*value = (v.size / PAGE) / ((now_ms() - t0) / 1000);
	bvm_destroy(&v);
	return r;
}

static int demand_4k(struct workload *w, enum backend b, int rep,
		     double *value)
{
	return demand(b, false, value);
}

static int demand_thp(struct workload *w, enum backend b, int rep,
		     double *value)
{
	return demand(b, true, value);
}

/* refault: MADV_DONTNEED of the whole slot, then the guest touches it; us. */
static struct bench_vm refault_vms[B_NR];

static int refault_setup(struct workload *w)
{
	int b, r;

	for (b = B_KVM; b < B_NR; b++) {
		if (!(w->backends & (1u << b)))
			continue;
		r = bvm_create(&refault_vms[b], b, false, 0);
		if (!r)
			r = guest_touch(&refault_vms[b], 1);
		if (r) {
			error_rec(w->name, backend_names[b], "setup: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static int refault(struct workload *w, enum backend b, int rep,
		     double *value)
{
	struct bench_vm *v = &refault_vms[b];
	double t0 = now_ms();
	int r;

	if (madvise(v->mem, v->size, MADV_DONTNEED))
		return -errno;
	r = guest_touch(v, 2);
	*value = (now_ms() - t0) * 1000;
	return r;
}

static void refault_teardown(struct workload *w)
{
	for (int b = 0; b < B_NR; b++)
		bvm_destroy(&refault_vms[b]);
}

static int refault_trace(struct workload *w, enum backend b)
{
	struct bench_vm *v = &refault_vms[b];
	double val = 0;
	int r, rep;

	r = bvm_create(v, b, false, 0);
	if (!r)
		r = guest_touch(v, 1);
	for (rep = 0; !r && rep < opt.trace_reps; rep++) {
		trace_rep_begin();
		r = refault(w, b, rep, &val);
		trace_rep_end(w, b, rep, val);
	}
	bvm_destroy(v);
	return r;
}

/*
 * unrelated_inval: mmap, touch, munmap of 64 KiB that is no guest memory,
 * in a loop for opt.inval_s, in a fresh child process (never a VM's
 * notifier left over) that has opt.mib MiB of memory faulted in and a VM
 * with a memslot over it (no vCPU running) or, for "none", no VM at all;
 * ops/s.
 */
static double inval_loop(void)
{
	double t0 = now_ms(), end = t0 + opt.inval_s * 1000, t;
	unsigned long ops = 0;
	char *p;

	do {
		for (int i = 0; i < 64; i++, ops++) {
			p = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				return -errno;
			p[0] = 1;
			munmap(p, 64 << 10);
		}
	} while ((t = now_ms()) < end);
	return ops / ((t - t0) / 1000);
}

static int inval_child(enum backend b, int fd)
{
	size_t size = opt.mib * MIB;
	void *mem;
	double v;
	int vm = -1, r = 0;

	/* The same memory in every case, so that only the VM differs. */
	mem = guest_alloc(size, PAGE);
	if (!mem)
		return ENOMEM;
	memset(mem, 1, size);
	if (b != B_NONE) {
		vm = new_vm(b);
		r = vm < 0 ? vm : b == B_KVM ?
		    kvm_set_memslot(vm, BENCH_SLOT, BENCH_GPA, size, mem) :
		    vmmu_set_memslot(vm, BENCH_SLOT, 0, BENCH_GPA, size, mem);
	}
	if (r)
		return -r;
	v = inval_loop();
	if (v < 0)
		return (int)-v;
	if (write(fd, &v, sizeof(v)) != sizeof(v))
		return EIO;
	return 0;
}

/* Wait for child @pid; when the watchdog ends the sample, kill it first. */
static int wait_child(pid_t pid, int *status)
{
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
		if (timed_out)
			kill(pid, SIGKILL);
	}
	return 0;
}

/*
 * Run @child(b, pipe) in a fresh process; it writes the sample's value,
 * and may write a second one, returned in *@second (else it is -1).
 */
static int inval_run(int (*child)(enum backend b, int fd), enum backend b,
		     double *value, double *second)
{
	double vals[2] = { 0, -1 };
	int p[2], status, r;
	pid_t pid;
	ssize_t n;

	if (pipe(p))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(p[0]);
		_exit(child(b, p[1]));
	}
	close(p[1]);
	n = read(p[0], vals, sizeof(vals));
	close(p[0]);
	r = wait_child(pid, &status);
	if (r)
		return r;
	if (!WIFEXITED(status))
		return timed_out ? -ETIMEDOUT : -ECHILD;
	if (WEXITSTATUS(status))
		return -WEXITSTATUS(status);
	*value = vals[0];
	if (second)
		*second = vals[1];
	return n >= (ssize_t)sizeof(vals[0]) ? 0 : -EIO;
}

static int unrelated_inval(struct workload *w, enum backend b, int rep,
		     double *value)
{
	return inval_run(inval_child, b, value, NULL);
}

/*
 * unrelated_inval_vcpu: the same loop while a second thread is busy: for
 * a VM backend, the VM's vCPU running guest_spin (it stays in the guest,
 * storing a counter to its memory, until told to stop); for "none", a
 * thread of the same process spinning in user space on the same counter,
 * with no VM.  Both cases have the same two busy threads placed alike, so
 * that the ratio to "none" is what the running VM costs the loop, not the
 * loss of CPU time.  Placement (--vcpu-cpu): "same" (default) pins both
 * to CPU 0, where they take turns at each scheduler switch (the VM pays
 * its notifier calls and the vCPU leaving and re-entering the guest);
 * "other" puts the busy thread on CPU 1 (the loop's munmaps then
 * interrupt it with TLB-shootdown IPIs: out of the guest, for a VM).
 * Under single-threaded TCG "other" measures the emulator instead: a busy
 * second vCPU answers an IPI only when the round robin reaches it.  The
 * busy thread must have started; how far it got during the loop goes into
 * the sample record (busy_iters: 0 when it never ran meanwhile).
 */
struct spinner {
	volatile __u64 *ctl;		/* guest_spin's control block */
	struct guest_vcpu *vcpu;	/* NULL: spin in user space */
	int err;
};

static void *spinner_thread(void *arg)
{
	struct spinner *sp = arg;

	if (sp->vcpu) {
		sp->err = run_to_done(sp->vcpu, NULL);
		return NULL;
	}
	while (!sp->ctl[GUEST_SPIN_STOP / 8])
		sp->ctl[GUEST_SPIN_COUNT / 8]++;
	return NULL;
}

static void pin_attr(pthread_attr_t *attr, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_attr_setaffinity_np(attr, sizeof(set), &set);
}

static int inval_vcpu_child(enum backend b, int fd)
{
	size_t size = opt.mib * MIB;
	struct spinner sp = { 0 };
	struct bench_vm v = { 0 };
	volatile __u64 *ctl;
	pthread_attr_t attr;
	pthread_t th;
	cpu_set_t cpu0;
	__u64 c0, c1;
	double ops, t0, vals[2];
	void *mem;
	int r;

	/* The same memory in every case, faulted in, as unrelated_inval's. */
	if (b == B_NONE) {
		mem = guest_alloc(size, PAGE);
		if (!mem || madvise(mem, size, MADV_NOHUGEPAGE))
			return ENOMEM;
	} else {
		r = bvm_create(&v, b, false, 0);
		if (r)
			return -r;
		mem = v.mem;
		sp.vcpu = &v.vcpu;
	}
	memset(mem, 1, size);
	ctl = mem;
	ctl[GUEST_SPIN_STOP / 8] = ctl[GUEST_SPIN_COUNT / 8] = 0;
	sp.ctl = ctl;
	if (sp.vcpu && (r = guest_vcpu_call(sp.vcpu, guest_spin, BENCH_GPA, 0, 0, 0)))
		return -r;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	sched_setaffinity(0, sizeof(cpu0), &cpu0);
	pthread_attr_init(&attr);
	pin_attr(&attr, opt.vcpu_other_cpu ? 1 : 0);
	r = pthread_create(&th, &attr, spinner_thread, &sp);
	pthread_attr_destroy(&attr);
	if (r)
		return r;
	for (t0 = now_ms(); !ctl[GUEST_SPIN_COUNT / 8] && now_ms() - t0 < 30000;)
		usleep(1000);
	c0 = ctl[GUEST_SPIN_COUNT / 8];
	ops = inval_loop();
	c1 = ctl[GUEST_SPIN_COUNT / 8];
	ctl[GUEST_SPIN_STOP / 8] = 1;
	pthread_join(th, NULL);
	if (ops < 0)
		return (int)-ops;
	if (sp.err)
		return -sp.err;
	if (!c0)
		return ESRCH;		/* the busy thread never started */
	vals[0] = ops;
	vals[1] = c1 - c0;
	if (write(fd, vals, sizeof(vals)) != sizeof(vals))
		return EIO;
	return 0;
}

static int unrelated_inval_vcpu(struct workload *w, enum backend b, int rep,
				double *value)
{
	double busy;
	int r = inval_run(inval_vcpu_child, b, value, &busy);

	/* How far the busy thread got meanwhile: 0 means it was starved. */
	if (!r)
		snprintf(sample_extra, sizeof(sample_extra),
			 ",\"busy_iters\":%.0f", busy);
	return r;
}

/*
 * memslot_create, memslot_delete: create/delete pairs of an opt.mib MiB
 * slot (memslot_timing.c); the sample is the median of opt.slot_rounds
 * updates, in us.  The create sample computes the pairs, the delete sample
 * of the same repetition reports the deletes of those pairs.
 */
static struct {
	int vm[B_NR];		/* per backend of the workload, else -1 */
	void *mem;
	double *del[B_NR];	/* per repetition, -1 until measured */
} ms = { .vm = { -1, -1, -1, -1, -1 } };

static int memslot_setup(struct workload *w)
{
	for (int b = 0; b < B_NR; b++) {
		ms.del[b] = malloc((warmup_of(w) + reps_of(w)) * sizeof(double));
		if (!ms.del[b])
			return -ENOMEM;
		for (int i = 0; i < warmup_of(w) + reps_of(w); i++)
			ms.del[b][i] = -1;
	}
	ms.mem = guest_alloc(opt.mib * MIB, PAGE);
	if (!ms.mem)
		return -ENOMEM;
	for (int b = B_KVM; b < B_NR; b++) {
		if (!(w->backends & (1u << b)))
			continue;
		ms.vm[b] = new_vm(b);
		if (ms.vm[b] < 0) {
			error_rec(w->name, backend_names[b], "creating the VM: %s",
				  strerror(-ms.vm[b]));
			return ms.vm[b];
		}
	}
	return 0;
}

static void memslot_teardown(struct workload *w)
{
	guest_free(ms.mem, opt.mib * MIB);
	for (int b = 0; b < B_NR; b++) {
		if (ms.vm[b] >= 0)
			close(ms.vm[b]);
		ms.vm[b] = -1;
		free(ms.del[b]);
		ms.del[b] = NULL;
	}
	ms.mem = NULL;
}

static double median_us(double *ms_v, unsigned int n)
{
	struct timing_summary s;

	timing_summarize(ms_v, n, &s);
	return s.p50 * 1000;
}

static int memslot_create(struct workload *w, enum backend b, int rep,
		     double *value)
{
	struct memslot_timing t;
	int kvm = b == B_KVM ? ms.vm[b] : -1;
	int vm = b == B_KVM ? -1 : ms.vm[b];
	int r;

	r = memslot_timing_run(&t, kvm, vm, opt.slot_rounds, BENCH_SLOT,
			       BENCH_GPA, opt.mib * MIB, ms.mem);
	if (r) {
		error_rec(w->name, backend_names[b], "%s", t.error);
	} else {
		*value = median_us(t.ms[kvm >= 0 ? MST_KVM_CREATE : MST_VMMU_CREATE], t.rounds);
		ms.del[b][rep] = median_us(t.ms[kvm >= 0 ? MST_KVM_DELETE : MST_VMMU_DELETE], t.rounds);
	}
	memslot_timing_free(&t);
	return r;
}

static int memslot_delete(struct workload *w, enum backend b, int rep,
		     double *value)
{
	if (!ms.del[b])
		return -ENODATA;
	*value = ms.del[b][rep];
	return *value < 0 ? -ENODATA : 0;
}

/*
 * memslot_move: the slot (opt.mib MiB, no flags) created at BENCH_GPA and
 * moved opt.slot_rounds times between BENCH_GPA and MOVE_GPA, same slot
 * id, host range and flags (memslot_timing.c, each move checked); the
 * sample is the median move, in us.
 */
static int memslot_move(struct workload *w, enum backend b, int rep,
			double *value)
{
	struct memslot_timing t;
	int kvm = b == B_KVM ? ms.vm[b] : -1;
	int vm = b == B_KVM ? -1 : ms.vm[b];
	int r;

	r = memslot_timing_move_run(&t, kvm, vm, opt.slot_rounds, BENCH_SLOT,
				    BENCH_GPA, MOVE_GPA, opt.mib * MIB, ms.mem);
	if (r)
		error_rec(w->name, backend_names[b], "%s", t.error);
	else
		*value = median_us(t.ms[kvm >= 0 ? MST_KVM_MOVE : MST_VMMU_MOVE], t.rounds);
	memslot_timing_free(&t);
	return r;
}

/*
 * memslot_storm_create, memslot_storm_delete: the same pairs on slot 1
 * while a second thread invalidates another memslot of the same VM
 * (slot 5, opt.mib MiB) in a loop: MADV_DONTNEED of all of it, then a
 * write to each page.  Each update may wait for invalidations in flight.
 * memslot_storm_move: memslot_move's moves under the same storm.
 * memslot_storm_wait, memslot_storm_move_wait (vmmu only: KVM has no such
 * counter): how long those updates waited for invalidations in flight,
 * from VMMU_GET_STATS before and after the sample: the mean wait per
 * update, in us.
 */
#define STORM_SLOT	5	/* memslot_timing uses BENCH_SLOT + 1 too */
#define STORM_GPA	(2ULL << 30)

struct storm_result {
	bool valid;
	double first_us;		/* median create, or median move */
	double second_us;		/* median delete (pairs only) */
	double wait_us;			/* vmmu: mean wait per update */
	unsigned long long updates, waited;
};

static struct {
	int vm[B_NR];
	void *mem, *storm_mem;
	struct storm_result *res[B_NR];	/* per repetition */
	volatile bool stop;
	volatile unsigned long rounds;
} storm = { .vm = { -1, -1, -1, -1, -1 } };

static void *storm_thread(void *arg)
{
	size_t size = opt.mib * MIB, i;
	char *p = storm.storm_mem;

	while (!storm.stop) {
		madvise(p, size, MADV_DONTNEED);
		for (i = 0; i < size; i += PAGE)
			p[i] = 1;
		storm.rounds++;
	}
	return NULL;
}

static int storm_alloc(void)
{
	size_t size = opt.mib * MIB;

	storm.mem = guest_alloc(size, PAGE);
	storm.storm_mem = guest_alloc(size, PAGE);
	if (!storm.mem || !storm.storm_mem)
		return -ENOMEM;
	memset(storm.storm_mem, 1, size);
	return 0;
}

/* Backend @b's VM, with the storm's memslot. */
static int storm_vm_create(enum backend b)
{
	size_t size = opt.mib * MIB;

	storm.vm[b] = new_vm(b);
	if (storm.vm[b] < 0)
		return storm.vm[b];
	return b == B_KVM ?
	       kvm_set_memslot(storm.vm[b], STORM_SLOT, STORM_GPA, size,
			       storm.storm_mem) :
	       vmmu_set_memslot(storm.vm[b], STORM_SLOT, 0, STORM_GPA, size,
				storm.storm_mem);
}

static int storm_setup(struct workload *w)
{
	int b, r;

	r = storm_alloc();
	if (r)
		return r;
	for (b = B_KVM; b < B_NR; b++) {
		if (!(w->backends & (1u << b)))
			continue;
		storm.res[b] = calloc(warmup_of(w) + reps_of(w), sizeof(*storm.res[b]));
		if (!storm.res[b])
			return -ENOMEM;
		r = storm_vm_create(b);
		if (r) {
			error_rec(w->name, backend_names[b], "setup: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static void storm_teardown(struct workload *w)
{
	for (int b = 0; b < B_NR; b++) {
		if (storm.vm[b] >= 0)
			close(storm.vm[b]);
		storm.vm[b] = -1;
		free(storm.res[b]);
		storm.res[b] = NULL;
	}
	guest_free(storm.mem, opt.mib * MIB);
	guest_free(storm.storm_mem, opt.mib * MIB);
	storm.mem = storm.storm_mem = NULL;
}

/*
 * One storm sample on backend @b's VM: create/delete pairs, or with @move
 * moves, of slot 1 while storm_thread runs.
 */
static int storm_run(const char *name, enum backend b, bool move,
		     struct storm_result *res)
{
	struct vmmu_vm_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
	struct memslot_timing t;
	bool kvm = b == B_KVM;
	int kfd = kvm ? storm.vm[b] : -1, vfd = kvm ? -1 : storm.vm[b];
	pthread_t th;
	int r;

	memset(res, 0, sizeof(*res));
	if (!kvm && (r = vmmu_get_stats(vfd, &s0)))
		return r;
	storm.stop = false;
	storm.rounds = 0;
	if (pthread_create(&th, NULL, storm_thread, NULL))
		return -EAGAIN;
	/* Let the storm start. */
	while (!storm.rounds && !timed_out)
		usleep(1000);
	if (move)
		r = memslot_timing_move_run(&t, kfd, vfd, opt.slot_rounds, BENCH_SLOT,
					    BENCH_GPA, MOVE_GPA, opt.mib * MIB,
					    storm.mem);
	else
		r = memslot_timing_run(&t, kfd, vfd, opt.slot_rounds, BENCH_SLOT,
				       BENCH_GPA, opt.mib * MIB, storm.mem);
	storm.stop = true;
	pthread_join(th, NULL);
	if (r) {
		error_rec(name, backend_names[b], "%s", t.error);
		memslot_timing_free(&t);
		return r;
	}
	if (move) {
		res->first_us = median_us(t.ms[kvm ? MST_KVM_MOVE : MST_VMMU_MOVE], t.rounds);
	} else {
		res->first_us = median_us(t.ms[kvm ? MST_KVM_CREATE : MST_VMMU_CREATE], t.rounds);
		res->second_us = median_us(t.ms[kvm ? MST_KVM_DELETE : MST_VMMU_DELETE], t.rounds);
	}
	memslot_timing_free(&t);
	res->wait_us = -1;
	if (!kvm) {
		r = vmmu_get_stats(vfd, &s1);
		if (r)
			return r;
		/* Every update of the sample, the untimed ones included. */
		res->updates = s1.memslot_updates - s0.memslot_updates;
		res->waited = s1.memslot_updates_waited - s0.memslot_updates_waited;
		res->wait_us = res->updates ? (s1.memslot_wait_ns_total -
			       s0.memslot_wait_ns_total) / 1000.0 / res->updates : 0;
	}
	res->valid = true;
	return 0;
}

static int memslot_storm_create(struct workload *w, enum backend b, int rep,
				double *value)
{
	struct storm_result *res = &storm.res[b][rep];
	int r = storm_run(w->name, b, false, res);

	*value = res->first_us;
	return r;
}

static int memslot_storm_move(struct workload *w, enum backend b, int rep,
			      double *value)
{
	struct storm_result *res = &storm.res[b][rep];
	int r = storm_run(w->name, b, true, res);

	*value = res->first_us;
	return r;
}

/* memslot_storm_delete: the deletes of memslot_storm_create's pairs. */
static int memslot_storm_delete(struct workload *w, enum backend b, int rep,
				double *value)
{
	if (!storm.res[b] || !storm.res[b][rep].valid)
		return -ENODATA;
	*value = storm.res[b][rep].second_us;
	return 0;
}

/* The waits of the sample before, with its update counts beside. */
static int memslot_storm_wait(struct workload *w, enum backend b, int rep,
			      double *value)
{
	struct storm_result *res;

	if (!storm.res[b] || !storm.res[b][rep].valid)
		return -ENODATA;
	res = &storm.res[b][rep];
	*value = res->wait_us;
	snprintf(sample_extra, sizeof(sample_extra),
		 ",\"updates\":%llu,\"waited\":%llu", res->updates, res->waited);
	return 0;
}

/* The traced phase: the storm, and backend @b's VM, in this process only. */
static int storm_trace(struct workload *w, enum backend b, bool move)
{
	struct storm_result res;
	int r, rep;

	r = storm_alloc();
	if (!r)
		r = storm_vm_create(b);
	for (rep = 0; !r && rep < opt.trace_reps; rep++) {
		trace_rep_begin();
		r = storm_run(w->name, b, move, &res);
		trace_rep_end(w, b, rep, res.first_us);
	}
	return r;
}

static int storm_pairs_trace(struct workload *w, enum backend b)
{
	return storm_trace(w, b, false);
}

static int storm_move_trace(struct workload *w, enum backend b)
{
	return storm_trace(w, b, true);
}

/*
 * memslot_overlap_storm: memslot update latency while opt.overlap_threads
 * threads (8: more than the guest's CPUs) keep overlapping MMU-notifier
 * invalidations in flight on memory that is no guest memory, so that every
 * backend's update meets them: KVM counts every invalidation of the mm,
 * vmmu's seed policy waits for a moment with none in flight at all.  Each
 * thread loops over its own opt.overlap_mib MiB chunk of 4 KiB pages:
 * MADV_FREE of all of it, one invalidation that visits every entry, then
 * a write to each page, which does not fault (MADV_FREE leaves the pages
 * mapped): the invalidation is a large part of each round, and a thread
 * preempted inside it stays in flight while the others run, so with more
 * threads than CPUs they overlap.  No fault-injection knob: KVM has none.
 *
 * A sample: a fresh idle VM (no vCPU), opt.overlap_pairs create/delete
 * pairs of a 2 MiB slot, each update timed and checked, each after a
 * random pause of up to 10 ms: back to back, the updates after one that
 * waited for a moment with nothing in flight would all fall into that
 * quiet moment and measure it, not the storm.  An update still
 * running after opt.overlap_cutoff_ms is starved: a controller thread
 * pauses the storm (a wait for no invalidation in flight ends only when
 * they stop; KVM's cannot be interrupted), and the update is recorded
 * censored at the cutoff.  The sample's value is its median update (us);
 * its record carries every update, how many were censored and, for vmmu,
 * VMMU_GET_STATS's figures of the VM.
 */
#define OV_SLOT		2
#define OV_SLOT_SIZE	(2 * MIB)
#define OV_MAX_PAIRS	32

static struct {
	void *slot_mem;
	char *chunk[OV_MAX_THREADS];
	size_t chunk_size;
	volatile bool stop, pause;
	volatile unsigned long rounds[OV_MAX_THREADS];
	pthread_mutex_t lock;		/* update_t0 against pause */
	double update_t0;		/* ms; 0: no update running */
} ov = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *ov_storm_thread(void *arg)
{
	long i = (long)arg;
	char *p = ov.chunk[i];

	while (!ov.stop) {
		if (ov.pause) {
			usleep(1000);
			continue;
		}
		madvise(p, ov.chunk_size, MADV_FREE);
		for (size_t off = 0; off < ov.chunk_size; off += PAGE)
			p[off]++;
		ov.rounds[i]++;
	}
	return NULL;
}

/* Pauses the storm when an update runs past the cutoff, or the sample's. */
static void *ov_controller(void *arg)
{
	while (!ov.stop) {
		pthread_mutex_lock(&ov.lock);
		if (timed_out || (ov.update_t0 &&
				  now_ms() - ov.update_t0 >= opt.overlap_cutoff_ms))
			ov.pause = true;
		pthread_mutex_unlock(&ov.lock);
		usleep(500);
	}
	return NULL;
}

static int overlap_setup(struct workload *w)
{
	ov.chunk_size = opt.overlap_mib * MIB;
	ov.slot_mem = guest_alloc(OV_SLOT_SIZE, PAGE);
	if (!ov.slot_mem)
		return -ENOMEM;
	for (int i = 0; i < opt.overlap_threads; i++) {
		ov.chunk[i] = guest_alloc(ov.chunk_size, PAGE);
		if (!ov.chunk[i] || madvise(ov.chunk[i], ov.chunk_size, MADV_NOHUGEPAGE))
			return -ENOMEM;
		memset(ov.chunk[i], 1, ov.chunk_size);
	}
	return 0;
}

static void overlap_teardown(struct workload *w)
{
	for (int i = 0; i < opt.overlap_threads; i++) {
		guest_free(ov.chunk[i], ov.chunk_size);
		ov.chunk[i] = NULL;
	}
	guest_free(ov.slot_mem, OV_SLOT_SIZE);
	ov.slot_mem = NULL;
}

/* Update @i of a sample (even: create, odd: delete), then its check. */
static int ov_update(const char *name, enum backend b, int vm, unsigned int i,
		     double *ms)
{
	__u64 size = i & 1 ? 0 : OV_SLOT_SIZE;
	struct vmmu_memslot_lookup l;
	double t0 = now_ms();
	int r;

	pthread_mutex_lock(&ov.lock);
	ov.update_t0 = t0;
	pthread_mutex_unlock(&ov.lock);
	r = b == B_KVM ? kvm_set_memslot(vm, OV_SLOT, BENCH_GPA, size, ov.slot_mem) :
	    vmmu_set_memslot(vm, OV_SLOT, 0, BENCH_GPA, size, ov.slot_mem);
	*ms = now_ms() - t0;
	pthread_mutex_lock(&ov.lock);
	ov.update_t0 = 0;
	ov.pause = timed_out;
	pthread_mutex_unlock(&ov.lock);
	if (r) {
		error_rec(name, backend_names[b], "update %u (%s): %s", i,
			  size ? "create" : "delete", strerror(-r));
		return r;
	}
	/* KVM: the slot's range is taken after a create; vmmu: the lookup. */
	if (b == B_KVM) {
		if (!size)
			return 0;
		r = kvm_set_memslot(vm, OV_SLOT + 1, BENCH_GPA + OV_SLOT_SIZE / 2,
				    PAGE, ov.slot_mem);
		r = r == -EEXIST ? 0 : r ?: -EBADMSG;
	} else {
		r = vmmu_lookup(vm, BENCH_GPA + OV_SLOT_SIZE / 2, &l);
		if (size)
			r = r ?: l.slot == OV_SLOT && l.slot_size == size ? 0 : -EBADMSG;
		else
			r = r == -ENOENT ? 0 : r ?: -EBADMSG;
	}
	if (r)
		error_rec(name, backend_names[b], "update %u (%s) not seen: %s", i,
			  size ? "create" : "delete", strerror(-r));
	return r;
}

static int overlap_storm(struct workload *w, enum backend b, int rep,
			 double *value)
{
	struct vmmu_vm_stats s0 = { .size = sizeof(s0) }, s1 = { .size = sizeof(s1) };
	unsigned int n = 2 * opt.overlap_pairs, i, done = 0, censored = 0;
	double ms[2 * OV_MAX_PAIRS];
	unsigned int seed = rep * B_NR + b;
	unsigned long rounds = 0;
	double storm_t0 = 0;
	pthread_t th[OV_MAX_THREADS], ctl;
	int vm, r = 0, nth, len;
	bool kvm = b == B_KVM;

	vm = new_vm(b);
	if (vm < 0)
		return vm;
	if (!kvm && (r = vmmu_get_stats(vm, &s0))) {
		close(vm);
		return r;
	}
	/* The flag took: the VM reports the policy asked for. */
	if (!kvm && s0.memslot_policy != (b == B_VMMU_BND ? VMMU_MEMSLOT_POLICY_BOUNDED :
					  VMMU_MEMSLOT_POLICY_SEED)) {
		error_rec(w->name, backend_names[b], "memslot_policy is %llu",
			  (unsigned long long)s0.memslot_policy);
		close(vm);
		return -EPROTO;
	}
	ov.stop = ov.pause = false;
	for (nth = 0; nth < opt.overlap_threads; nth++) {
		ov.rounds[nth] = 0;
		if (pthread_create(&th[nth], NULL, ov_storm_thread, (void *)(long)nth))
			break;
	}
	if (nth < opt.overlap_threads || pthread_create(&ctl, NULL, ov_controller, NULL)) {
		r = -EAGAIN;
		goto stop_storm;
	}
	/* Every thread past its first round: the storm is on. */
	for (i = 0; i < opt.overlap_threads && !timed_out; )
		if (ov.rounds[i])
			i++;
		else
			usleep(1000);
	storm_t0 = now_ms();
	for (i = 0; i < n && !timed_out; i++) {
		usleep(rand_r(&seed) % 10000);
		r = ov_update(w->name, b, vm, i, &ms[i]);
		if (r)
			break;
		/* Starved: what it would have taken is unknown, at least this. */
		if (ms[i] >= opt.overlap_cutoff_ms) {
			ms[i] = opt.overlap_cutoff_ms;
			censored++;
		}
		done++;
	}
	storm_t0 = now_ms() - storm_t0;
	ov.stop = true;
	pthread_join(ctl, NULL);
stop_storm:
	ov.stop = true;
	while (nth--) {
		pthread_join(th[nth], NULL);
		rounds += ov.rounds[nth];
	}
	if (!r && done < n)
		r = -ETIMEDOUT;
	if (!r && !kvm)
		r = vmmu_get_stats(vm, &s1);
	close(vm);
	if (r)
		return r;
	*value = median_us(ms, n);
	len = snprintf(sample_extra, sizeof(sample_extra),
		       ",\"updates_us\":[");
	for (i = 0; i < n; i++)
		len += snprintf(sample_extra + len, sizeof(sample_extra) - len,
				"%s%.1f", i ? "," : "", ms[i] * 1000);
	len += snprintf(sample_extra + len, sizeof(sample_extra) - len,
			"],\"censored\":%u,\"cutoff_us\":%.0f,\"storm_rounds\":%lu,"
			"\"storm_ms\":%.1f", censored, opt.overlap_cutoff_ms * 1000.0,
			rounds, storm_t0);
	if (!kvm)
		snprintf(sample_extra + len, sizeof(sample_extra) - len,
			 ",\"published\":%llu,\"waited\":%llu,\"wait_us_total\":%.1f,"
			 "\"wait_us_max\":%.1f,\"invalidations\":%llu,"
			 "\"conservative\":%llu,\"unrecorded\":%llu",
			 (unsigned long long)(s1.memslot_updates - s0.memslot_updates),
			 (unsigned long long)(s1.memslot_updates_waited - s0.memslot_updates_waited),
			 (s1.memslot_wait_ns_total - s0.memslot_wait_ns_total) / 1000.0,
			 s1.memslot_wait_ns_max / 1000.0,
			 (unsigned long long)(s1.invalidations - s0.invalidations),
			 (unsigned long long)(s1.invalidations_conservative -
					      s0.invalidations_conservative),
			 (unsigned long long)(s1.invalidations_unrecorded -
					      s0.invalidations_unrecorded));
	return 0;
}

/*
 * dirty_log: the guest writes every page of a slot with dirty logging on
 * (already faulted in), then KVM_GET_DIRTY_LOG / VMMU_GET_DIRTY_LOG fetch
 * and reset the log; pages/s over both.  Every page must be reported.
 */
static struct bench_vm dirty_vms[B_NR];
static unsigned long *dirty_bitmap;

static int get_dirty_log(struct bench_vm *v)
{
	int r;

	if (v->vm.backend == GUEST_KVM) {
		struct kvm_dirty_log l = {
			.slot = BENCH_SLOT, .dirty_bitmap = dirty_bitmap,
		};

		r = ioctl(v->vm.fd, KVM_GET_DIRTY_LOG, &l);
	} else {
		struct vmmu_dirty_log l = {
			.slot = BENCH_SLOT, .bitmap = (unsigned long)dirty_bitmap,
		};

		r = ioctl(v->vm.fd, VMMU_GET_DIRTY_LOG, &l);
	}
	return r ? -errno : 0;
}

static int dirty_setup(struct workload *w)
{
	int b, r;

	dirty_bitmap = calloc(opt.mib * MIB / PAGE / 8 + 8, 1);
	if (!dirty_bitmap)
		return -ENOMEM;
	for (b = B_KVM; b <= B_VMMU; b++) {
		r = bvm_create(&dirty_vms[b], b, false, GUEST_MEM_LOG_DIRTY);
		if (!r)
			r = guest_touch(&dirty_vms[b], 1);
		if (!r)
			r = get_dirty_log(&dirty_vms[b]);
		if (r) {
			error_rec(w->name, backend_names[b], "setup: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static int dirty_log(struct workload *w, enum backend b, int rep,
		     double *value)
{
	struct bench_vm *v = &dirty_vms[b];
	unsigned long pages = v->size / PAGE, set = 0, i;
	double t0 = now_ms();
	int r;

	r = guest_touch(v, 3);
	if (!r)
		r = get_dirty_log(v);
	*value = pages / ((now_ms() - t0) / 1000);
	if (r)
		return r;
	for (i = 0; i < pages / 64; i++)
		set += __builtin_popcountl(dirty_bitmap[i]);
	if (set != pages) {
		error_rec(w->name, backend_names[b],
			  "the log has %lu dirty pages of %lu written", set, pages);
		return -EBADMSG;
	}
	return 0;
}

static void dirty_teardown(struct workload *w)
{
	for (int b = 0; b < B_NR; b++)
		bvm_destroy(&dirty_vms[b]);
	free(dirty_bitmap);
	dirty_bitmap = NULL;
}

/* exits: OUT to a port in a loop, each an exit to user space; exits/s. */
static struct bench_vm exit_vms[B_NR];

static int exits_setup(struct workload *w)
{
	for (int b = B_KVM; b <= B_VMMU; b++) {
		int r = bvm_create(&exit_vms[b], b, false, 0);

		if (r) {
			error_rec(w->name, backend_names[b], "setup: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static int exits(struct workload *w, enum backend b, int rep,
		     double *value)
{
	struct bench_vm *v = &exit_vms[b];
	unsigned long n = 0;
	double t0 = now_ms();
	int r;

	r = guest_vcpu_call(&v->vcpu, guest_io_loop, opt.io_iters, 0, 0, 0);
	if (!r)
		r = run_to_done(&v->vcpu, &n);
	*value = (n + 1) / ((now_ms() - t0) / 1000);
	if (!r && n != opt.io_iters)
		r = -EPROTO;
	return r;
}

static void exits_teardown(struct workload *w)
{
	for (int b = 0; b < B_NR; b++)
		bvm_destroy(&exit_vms[b]);
}

#define BM(b) (1u << (b))
#define KVM_VMMU	(BM(B_KVM) | BM(B_VMMU))
#define ALL_VMS		(BM(B_KVM) | BM(B_VMMU) | BM(B_VMMU_NLE))
#define VMMU_ONLY	(BM(B_VMMU) | BM(B_VMMU_NLE))
#define WITH_BND(m)	((m) | BM(B_VMMU_BND))
static struct workload workloads[] = {
	{ "demand_4k", "pages/s", true, WITH_BND(KVM_VMMU), NULL,
	  NULL, demand_4k, NULL, NULL },
	{ "demand_thp", "pages/s", true, WITH_BND(KVM_VMMU), NULL,
	  NULL, demand_thp, NULL, NULL },
	{ "refault", "us/round", false, ALL_VMS, NULL,
	  refault_setup, refault, refault_teardown, refault_trace },
	{ "unrelated_inval", "ops/s", true, WITH_BND(BM(B_NONE) | ALL_VMS), NULL,
	  NULL, unrelated_inval, NULL, NULL },
	{ "unrelated_inval_vcpu", "ops/s", true, WITH_BND(BM(B_NONE) | ALL_VMS), NULL,
	  NULL, unrelated_inval_vcpu, NULL, NULL },
	{ "memslot_create", "us", false, ALL_VMS, NULL,
	  memslot_setup, memslot_create, NULL, NULL },
	{ "memslot_delete", "us", false, ALL_VMS, "memslot_create",
	  NULL, memslot_delete, memslot_teardown, NULL },
	{ "memslot_move", "us", false, ALL_VMS, NULL,
	  memslot_setup, memslot_move, memslot_teardown, NULL },
	{ "memslot_storm_create", "us", false, ALL_VMS, NULL,
	  storm_setup, memslot_storm_create, NULL, storm_pairs_trace },
	{ "memslot_storm_delete", "us", false, ALL_VMS, "memslot_storm_create",
	  NULL, memslot_storm_delete, NULL, NULL },
	{ "memslot_storm_wait", "us waited/update", false, VMMU_ONLY,
	  "memslot_storm_create", NULL, memslot_storm_wait, storm_teardown, NULL },
	{ "memslot_storm_move", "us", false, ALL_VMS, NULL,
	  storm_setup, memslot_storm_move, NULL, storm_move_trace },
	{ "memslot_storm_move_wait", "us waited/update", false, VMMU_ONLY,
	  "memslot_storm_move", NULL, memslot_storm_wait, storm_teardown, NULL },
	{ "memslot_overlap_storm", "us/update", false, WITH_BND(KVM_VMMU), NULL,
	  overlap_setup, overlap_storm, overlap_teardown, NULL },
	{ "dirty_log", "pages/s", true, KVM_VMMU, NULL,
	  dirty_setup, dirty_log, dirty_teardown, NULL },
	{ "exits", "exits/s", true, KVM_VMMU, NULL,
	  exits_setup, exits, exits_teardown, NULL },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Samples that may each take the cutoff per update: fewer of them. */
static bool few_reps(const struct workload *w)
{
	return w->sample == overlap_storm;
}

static bool selected(const struct workload *w)
{
	const char *p = opt.only;
	size_t n = strlen(w->name);

	if (!p)
		return true;
	/* Samples made by another workload come with it. */
	if (w->made_by) {
		for (unsigned int i = 0; i < NR_WORKLOADS; i++)
			if (!strcmp(workloads[i].name, w->made_by))
				return selected(&workloads[i]);
		return false;
	}
	while (p && *p) {
		if (!strncmp(p, w->name, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

/* The backends of @w in the order of repetition @rep: A B C, C B A, ... */
static int order(const struct workload *w, int rep, enum backend *out)
{
	int n = 0, i;
	enum backend tmp;

	for (i = 0; i < B_NR; i++)
		if (w->backends & BM(i))
			out[n++] = i;
	if (rep & 1)
		for (i = 0; i < n / 2; i++) {
			tmp = out[i];
			out[i] = out[n - 1 - i];
			out[n - 1 - i] = tmp;
		}
	return n;
}

static void run_workload(struct workload *w)
{
	enum backend bs[B_NR];
	double v, w_start = now_ms();
	int rep, i, n, r;

	if (w->setup && w->setup(w)) {
		units_done += (warmup_of(w) + reps_of(w)) * unit_cost(w->name);
		goto out;
	}
	for (rep = 0; rep < warmup_of(w) + reps_of(w); rep++) {
		n = order(w, rep, bs);
		for (i = 0; i < n; i++) {
			v = 0;
			watchdog_arm(w->name, backend_names[bs[i]]);
			r = w->sample(w, bs[i], rep, &v);
			watchdog_disarm();
			if (r) {
				error_rec(w->name, backend_names[bs[i]],
					  "repetition %d: %s", rep, strerror(-r));
				units_done += (warmup_of(w) + reps_of(w) - rep) *
					      unit_cost(w->name);
				goto out;
			}
			sample_rec(w, bs[i], rep, v);
		}
		units_done += unit_cost(w->name);
		progress_rec(w->name, rep, warmup_of(w) + reps_of(w), w_start);
	}
out:
	if (w->teardown)
		w->teardown(w);
	fflush(stdout);
}

/*
 * The traced phase of @w: for each backend, a child process sets the
 * tracer up for that backend, runs w->trace and resets the tracer.
 */
static void trace_workload(struct workload *w)
{
	enum backend bs[B_NR];
	double start = now_ms();
	char name[64];
	int n = order(w, 0, bs), i, status, r;

	snprintf(name, sizeof(name), "trace:%s", w->name);
	for (i = 0; i < n; i++) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			error_rec(w->name, backend_names[bs[i]], "traced phase: fork: %s",
				  strerror(errno));
			return;
		}
		if (!pid) {
			r = trace_begin(w, bs[i]);
			if (!r)
				r = w->trace(w, bs[i]);
			else if (r == -ENOENT)
				r = 0;	/* nothing traceable: trace_setup says so */
			fflush(stdout);
			_exit(r ? 1 : 0);
		}
		watchdog_arm(name, backend_names[bs[i]]);
		r = wait_child(pid, &status);
		watchdog_disarm();
		if (r || !WIFEXITED(status) || WEXITSTATUS(status)) {
			error_rec(w->name, backend_names[bs[i]],
				  "traced phase failed (wait %d, status %#x)", r, status);
			/* A killed child may leave tracing on. */
			if (tracefs)
				tr_write("tracing_on", "0", false);
		}
		units_done += unit_cost(name);
		progress_rec(name, i, n, start);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_vmmu [--quick] [--reps N] [--warmup N] [--mib N]\n"
		"                  [--io-iters N] [--inval-ms N] [--only W,...]\n"
		"                  [--sample-timeout S] [--trace-reps N]\n"
		"                  [--vcpu-cpu same|other] [--overlap-reps N]\n"
		"                  [--overlap-pairs N] [--overlap-cutoff-ms N]\n"
		"                  [--overlap-mib N] [--overlap-threads N] | -t smoke\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "mib", required_argument, NULL, 'm' },
		{ "io-iters", required_argument, NULL, 'i' },
		{ "inval-ms", required_argument, NULL, 'v' },
		{ "only", required_argument, NULL, 'o' },
		{ "sample-timeout", required_argument, NULL, 's' },
		{ "trace-reps", required_argument, NULL, 'T' },
		{ "vcpu-cpu", required_argument, NULL, 'C' },
		{ "overlap-reps", required_argument, NULL, 'R' },
		{ "overlap-pairs", required_argument, NULL, 'P' },
		{ "overlap-cutoff-ms", required_argument, NULL, 'X' },
		{ "overlap-mib", required_argument, NULL, 'M' },
		{ "overlap-threads", required_argument, NULL, 'H' },
		{ }
	};
	bool traced = false;
	unsigned int i;
	int c;

	while ((c = getopt_long(argc, argv, "t:", lopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.reps = 15;
			opt.warmup = 1;
			opt.mib = 8;
			opt.io_iters = 10000;
			opt.inval_s = 0.25;
			opt.trace_reps = 4;
			opt.overlap_reps = 6;
			opt.overlap_pairs = 3;
			opt.overlap_cutoff_ms = 200;
			opt.overlap_mib = 32;
			break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'w': opt.warmup = atoi(optarg); break;
		case 'm': opt.mib = strtoul(optarg, NULL, 0); break;
		case 'i': opt.io_iters = strtoul(optarg, NULL, 0); break;
		case 'v': opt.inval_s = atof(optarg) / 1000; break;
		case 'o': opt.only = optarg; break;
		case 's': opt.sample_timeout_s = atoi(optarg); break;
		case 'T': opt.trace_reps = atoi(optarg); break;
		case 'R': opt.overlap_reps = atoi(optarg); break;
		case 'P': opt.overlap_pairs = strtoul(optarg, NULL, 0); break;
		case 'X': opt.overlap_cutoff_ms = strtoul(optarg, NULL, 0); break;
		case 'M': opt.overlap_mib = strtoul(optarg, NULL, 0); break;
		case 'H': opt.overlap_threads = atoi(optarg); break;
		case 'C':
			if (strcmp(optarg, "same") && strcmp(optarg, "other"))
				usage();
			opt.vcpu_other_cpu = !strcmp(optarg, "other");
			break;
		case 't':
			if (strcmp(optarg, "smoke"))
				usage();
			opt.smoke = true;
			opt.reps = 2;
			opt.warmup = 0;
			opt.mib = 2;
			opt.io_iters = 100;
			opt.inval_s = 0.02;
			opt.slot_rounds = 2;
			opt.sample_timeout_s = 30;
			opt.trace_reps = 1;
			opt.overlap_reps = 2;
			opt.overlap_pairs = 1;
			opt.overlap_cutoff_ms = 200;
			opt.overlap_mib = 2;
			opt.overlap_threads = 4;
			break;
		default:
			usage();
		}
	}
	if (opt.reps < 1 || opt.warmup < 0 || opt.mib < 2 || opt.mib % 2 ||
	    opt.io_iters < 1 || opt.inval_s <= 0 || opt.sample_timeout_s < 1 ||
	    opt.trace_reps < 0 || opt.overlap_reps < 0 || !opt.overlap_pairs ||
	    opt.overlap_pairs > OV_MAX_PAIRS || !opt.overlap_cutoff_ms ||
	    !opt.overlap_mib || opt.overlap_threads < 1 ||
	    opt.overlap_threads > OV_MAX_THREADS)
		usage();
	/* Its starved samples take the cutoff per update: fewer of them. */
	if (!opt.overlap_reps || opt.overlap_reps > opt.reps)
		opt.overlap_reps = opt.reps < 20 ? opt.reps : 20;
	/* Every update may run to its cutoff, well inside the watchdog. */
	if (2 * opt.overlap_pairs * (opt.overlap_cutoff_ms + 1000) >
	    opt.sample_timeout_s * 1000U) {
		fprintf(stderr, "bench_vmmu: 2 x --overlap-pairs x (--overlap-cutoff-ms "
			"+ 1 s) must stay within --sample-timeout\n");
		usage();
	}

	signal(SIGPIPE, SIG_IGN);
	/* No SA_RESTART: the watchdog must interrupt a run ioctl. */
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL);
	main_tid = gettid();
	main_thread = pthread_self();
	{
		pthread_t wd;

		if (pthread_create(&wd, NULL, watchdog, NULL)) {
			error_rec("all", "all", "cannot start the watchdog thread");
			return 1;
		}
		pthread_detach(wd);
	}
	if (opt.smoke)
		printf("TAP version 13\n1..1\n#  RUN           bench.smoke ...\n");
	meta_rec();
	t_start = now_ms();
	for (i = 0; i < NR_WORKLOADS; i++) {
		struct workload *w = &workloads[i];
		enum backend bs[B_NR];

		if (!selected(w))
			continue;
		units_total += (warmup_of(w) + reps_of(w)) * unit_cost(w->name);
		if (w->trace && opt.trace_reps) {
			char tname[64];

			snprintf(tname, sizeof(tname), "trace:%s", w->name);
			units_total += order(w, 0, bs) * unit_cost(tname);
			traced = true;
		}
	}
	for (i = 0; i < NR_WORKLOADS; i++)
		if (selected(&workloads[i]))
			run_workload(&workloads[i]);
	/* Tracing after every timed sample, so that it perturbs none. */
	if (traced) {
		trace_setup_all();
		for (i = 0; i < NR_WORKLOADS; i++)
			if (selected(&workloads[i]) && workloads[i].trace)
				trace_workload(&workloads[i]);
		if (tracefs)
			tr_reset();
	}
	printf("{\"type\":\"end\",\"errors\":%d,\"elapsed_s\":%.1f}\n",
	       failures, (now_ms() - t_start) / 1000);
	if (opt.smoke)
		printf("%sok 1 bench.smoke\n", failures ? "not " : "");
	fflush(stdout);
	return failures ? 1 : 0;
}
