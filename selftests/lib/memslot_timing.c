// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_guest.h"
#include "memslot_timing.h"
#include "vmmu_util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted @v. */
static double percentile(const double *v, unsigned int n, unsigned int pct)
{
	unsigned int rank = (pct * n + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

void timing_summarize(const double *ms, unsigned int n,
		      struct timing_summary *out)
{
	double *v;

	memset(out, 0, sizeof(*out));
	if (!n || !(v = malloc(n * sizeof(*v))))
		return;
	memcpy(v, ms, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_double);
	out->n = n;
	out->p50 = percentile(v, n, 50);
	out->p90 = percentile(v, n, 90);
	out->max = v[n - 1];
	free(v);
}

#define FAIL(t, r, ...) do {						\
	snprintf((t)->error, sizeof((t)->error), __VA_ARGS__);		\
	return (r);							\
} while (0)

/* One timed create/delete pair on vmmu, checked by lookups. */
static int vmmu_pair(struct memslot_timing *t, int vm, unsigned int i,
		     __u32 slot, __u64 gpa, __u64 size, void *hva)
{
	struct vmmu_memslot_lookup l;
	double t0;
	int r;

	t0 = now_ms();
	r = vmmu_set_memslot(vm, slot, 0, gpa, size, hva);
	t->ms[MST_VMMU_CREATE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: vmmu create: %s", i, strerror(-r));
	r = vmmu_lookup(vm, gpa + size / 2, &l);
	if (r)
		FAIL(t, r, "round %u: vmmu lookup after create: %s", i, strerror(-r));
	if (l.slot != slot || l.slot_base != gpa || l.slot_size != size ||
	    l.userspace_addr != (unsigned long)hva + size / 2)
		FAIL(t, -EBADMSG, "round %u: vmmu lookup found slot %u at %#llx+%#llx, hva %#llx",
		     i, l.slot, (unsigned long long)l.slot_base,
		     (unsigned long long)l.slot_size,
		     (unsigned long long)l.userspace_addr);

	t0 = now_ms();
	r = vmmu_set_memslot(vm, slot, 0, gpa, 0, hva);
	t->ms[MST_VMMU_DELETE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: vmmu delete: %s", i, strerror(-r));
	r = vmmu_lookup(vm, gpa + size / 2, &l);
	if (r != -ENOENT)
		FAIL(t, r ?: -EBADMSG, "round %u: vmmu lookup after delete: %d", i, r);
	return 0;
}

/* One timed create/delete pair on KVM. */
static int kvm_pair(struct memslot_timing *t, int vm, unsigned int i,
		    __u32 slot, __u64 gpa, __u64 size, void *hva)
{
	double t0;
	int r;

	t0 = now_ms();
	r = kvm_set_memslot(vm, slot, gpa, size, hva);
	t->ms[MST_KVM_CREATE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: kvm create: %s", i, strerror(-r));
	/* The slot is there: another may not overlap it. */
	r = kvm_set_memslot(vm, slot + 1, gpa + size / 2, 4096, hva);
	if (r != -EEXIST)
		FAIL(t, r ?: -EBADMSG, "round %u: kvm overlapping create gave %d", i, r);

	t0 = now_ms();
	r = kvm_set_memslot(vm, slot, gpa, 0, hva);
	t->ms[MST_KVM_DELETE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: kvm delete: %s", i, strerror(-r));
	return 0;
}

static bool series_is_kvm(unsigned int s)
{
	return s == MST_KVM_CREATE || s == MST_KVM_DELETE || s == MST_KVM_MOVE;
}

/* Zeroes @t and allocates the series in @mask whose VM is given. */
static int timing_alloc(struct memslot_timing *t, int kvm_vm, int vmmu_vm,
			unsigned int rounds, __u64 size, unsigned int mask)
{
	unsigned int s;

	memset(t, 0, sizeof(*t));
	t->size = size;
	for (s = 0; s < MST_NR_SERIES; s++) {
		if (!(mask & (1u << s)) || (series_is_kvm(s) ? kvm_vm : vmmu_vm) < 0)
			continue;
		t->ms[s] = calloc(rounds, sizeof(double));
		if (!t->ms[s])
			FAIL(t, -ENOMEM, "out of memory");
	}
	return 0;
}

int memslot_timing_run(struct memslot_timing *t, int kvm_vm, int vmmu_vm,
		       unsigned int rounds, __u32 slot, __u64 gpa, __u64 size,
		       void *hva)
{
	unsigned int i;
	int r;

	r = timing_alloc(t, kvm_vm, vmmu_vm, rounds, size,
			 1u << MST_KVM_CREATE | 1u << MST_KVM_DELETE |
			 1u << MST_VMMU_CREATE | 1u << MST_VMMU_DELETE);
	if (r)
		return r;

	for (i = 0; i < rounds; i++) {
		bool kvm_first = !(i & 1);

		if (kvm_first && kvm_vm >= 0 &&
		    (r = kvm_pair(t, kvm_vm, i, slot, gpa, size, hva)))
			return r;
		if (vmmu_vm >= 0 &&
		    (r = vmmu_pair(t, vmmu_vm, i, slot, gpa, size, hva)))
			return r;
		if (!kvm_first && kvm_vm >= 0 &&
		    (r = kvm_pair(t, kvm_vm, i, slot, gpa, size, hva)))
			return r;
		t->rounds = i + 1;
	}

	/* KVM's last delete really freed the range. */
	if (kvm_vm >= 0 && rounds) {
		r = kvm_set_memslot(kvm_vm, slot + 1, gpa, size, hva);
		if (r)
			FAIL(t, r, "kvm: range still taken after the deletes: %s",
			     strerror(-r));
		r = kvm_set_memslot(kvm_vm, slot + 1, gpa, 0, hva);
		if (r)
			FAIL(t, r, "kvm: final delete: %s", strerror(-r));
	}
	return 0;
}

/* One timed move of a vmmu slot from @from to @to, checked by lookups. */
static int vmmu_move(struct memslot_timing *t, int vm, unsigned int i,
		     __u32 slot, __u64 from, __u64 to, __u64 size, void *hva)
{
	struct vmmu_memslot_lookup l;
	double t0;
	int r;

	t0 = now_ms();
	r = vmmu_set_memslot(vm, slot, 0, to, size, hva);
	t->ms[MST_VMMU_MOVE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: vmmu move: %s", i, strerror(-r));
	r = vmmu_lookup(vm, to + size / 2, &l);
	if (r || l.slot != slot || l.slot_base != to || l.slot_size != size ||
	    l.userspace_addr != (unsigned long)hva + size / 2)
		FAIL(t, r ?: -EBADMSG, "round %u: vmmu lookup after the move: %d, slot %u at %#llx",
		     i, r, l.slot, (unsigned long long)l.slot_base);
	r = vmmu_lookup(vm, from + size / 2, &l);
	if (r != -ENOENT)
		FAIL(t, r ?: -EBADMSG, "round %u: vmmu: the old address still maps (%d)", i, r);
	return 0;
}

/* One timed move of a KVM slot to @to: the new range is taken after it. */
static int kvm_move(struct memslot_timing *t, int vm, unsigned int i,
		    __u32 slot, __u64 to, __u64 size, void *hva)
{
	double t0;
	int r;

	t0 = now_ms();
	r = kvm_set_memslot(vm, slot, to, size, hva);
	t->ms[MST_KVM_MOVE][i] = now_ms() - t0;
	if (r)
		FAIL(t, r, "round %u: kvm move: %s", i, strerror(-r));
	r = kvm_set_memslot(vm, slot + 1, to + size / 2, 4096, hva);
	if (r != -EEXIST)
		FAIL(t, r ?: -EBADMSG, "round %u: kvm overlapping create after the move gave %d",
		     i, r);
	return 0;
}

int memslot_timing_move_run(struct memslot_timing *t, int kvm_vm, int vmmu_vm,
			    unsigned int rounds, __u32 slot, __u64 gpa_a,
			    __u64 gpa_b, __u64 size, void *hva)
{
	unsigned int i;
	int r;

	r = timing_alloc(t, kvm_vm, vmmu_vm, rounds, size,
			 1u << MST_KVM_MOVE | 1u << MST_VMMU_MOVE);
	if (r)
		return r;
	if (kvm_vm >= 0 && (r = kvm_set_memslot(kvm_vm, slot, gpa_a, size, hva)))
		FAIL(t, r, "kvm create: %s", strerror(-r));
	if (vmmu_vm >= 0 && (r = vmmu_set_memslot(vmmu_vm, slot, 0, gpa_a, size, hva)))
		FAIL(t, r, "vmmu create: %s", strerror(-r));

	for (i = 0; i < rounds; i++) {
		/* Even rounds go from a to b, odd ones back. */
		__u64 from = i & 1 ? gpa_b : gpa_a, to = i & 1 ? gpa_a : gpa_b;
		bool kvm_first = !(i & 1);

		if (kvm_first && kvm_vm >= 0 &&
		    (r = kvm_move(t, kvm_vm, i, slot, to, size, hva)))
			return r;
		if (vmmu_vm >= 0 &&
		    (r = vmmu_move(t, vmmu_vm, i, slot, from, to, size, hva)))
			return r;
		if (!kvm_first && kvm_vm >= 0 &&
		    (r = kvm_move(t, kvm_vm, i, slot, to, size, hva)))
			return r;
		t->rounds = i + 1;
	}

	if (vmmu_vm >= 0 && (r = vmmu_set_memslot(vmmu_vm, slot, 0, gpa_a, 0, hva)))
		FAIL(t, r, "vmmu delete: %s", strerror(-r));
	if (kvm_vm >= 0) {
		if ((r = kvm_set_memslot(kvm_vm, slot, gpa_a, 0, hva)))
			FAIL(t, r, "kvm delete: %s", strerror(-r));
		/* Neither range still holds the slot. */
		for (i = 0; i < 2; i++) {
			__u64 gpa = i ? gpa_b : gpa_a;

			r = kvm_set_memslot(kvm_vm, slot + 1, gpa, size, hva);
			if (r)
				FAIL(t, r, "kvm: %#llx still taken after the delete: %s",
				     (unsigned long long)gpa, strerror(-r));
			r = kvm_set_memslot(kvm_vm, slot + 1, gpa, 0, hva);
			if (r)
				FAIL(t, r, "kvm: final delete: %s", strerror(-r));
		}
	}
	return 0;
}

void memslot_timing_free(struct memslot_timing *t)
{
	unsigned int s;

	for (s = 0; s < MST_NR_SERIES; s++) {
		free(t->ms[s]);
		t->ms[s] = NULL;
	}
}

void memslot_timing_print(FILE *f, const char *prefix,
			  const struct memslot_timing *t)
{
	static const char *const names[MST_NR_SERIES] = {
		"kvm  create", "kvm  delete", "vmmu create", "vmmu delete",
		"kvm  move", "vmmu move",
	};
	struct timing_summary sum[MST_NR_SERIES];
	unsigned int s;

	fprintf(f, "%smemslot updates: %u rounds (create/delete pairs or moves) of a %llu KiB slot, interleaved; ms\n",
		prefix, t->rounds, (unsigned long long)t->size >> 10);
	fprintf(f, "%s%-12s %9s %9s %9s\n", prefix, "", "p50", "p90", "max");
	for (s = 0; s < MST_NR_SERIES; s++) {
		timing_summarize(t->ms[s], t->ms[s] ? t->rounds : 0, &sum[s]);
		if (sum[s].n)
			fprintf(f, "%s%-12s %9.3f %9.3f %9.3f\n", prefix, names[s],
				sum[s].p50, sum[s].p90, sum[s].max);
	}
	if (sum[MST_KVM_CREATE].n && sum[MST_VMMU_CREATE].n &&
	    sum[MST_KVM_CREATE].p50 > 0 && sum[MST_KVM_DELETE].p50 > 0)
		fprintf(f, "%svmmu/kvm p50: create %.2fx, delete %.2fx\n", prefix,
			sum[MST_VMMU_CREATE].p50 / sum[MST_KVM_CREATE].p50,
			sum[MST_VMMU_DELETE].p50 / sum[MST_KVM_DELETE].p50);
	fflush(f);
}
