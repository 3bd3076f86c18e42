/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * How long memslot updates take on in-tree KVM and on vmmu, measured side
 * by side in one process: for the selftests (which print the figures and
 * assert nothing about them) and for benchmarks.
 */
#ifndef VMMU_MEMSLOT_TIMING_H
#define VMMU_MEMSLOT_TIMING_H

#include <stdio.h>
#include <linux/types.h>

/* Percentiles of a series of durations, in milliseconds. */
struct timing_summary {
	unsigned int n;
	double p50, p90, max;
};

/* @ms is not changed; n = 0 gives all zeroes. */
void timing_summarize(const double *ms, unsigned int n,
		      struct timing_summary *out);

enum memslot_timing_series {
	MST_KVM_CREATE,
	MST_KVM_DELETE,
	MST_VMMU_CREATE,
	MST_VMMU_DELETE,
	MST_KVM_MOVE,
	MST_VMMU_MOVE,
	MST_NR_SERIES,
};

struct memslot_timing {
	unsigned int rounds;		/* pairs measured on each side */
	__u64 size;			/* bytes per slot */
	double *ms[MST_NR_SERIES];	/* one duration per round, or NULL */
	char error[160];		/* what failed, when the run fails */
};

/*
 * @rounds create/delete pairs of slot @slot, @size bytes at guest address
 * @gpa backed by @hva, on the KVM VM @kvm_vm (KVM_SET_USER_MEMORY_REGION)
 * and the vmmu VM @vmmu_vm (VMMU_SET_MEMSLOT), interleaved: each round
 * does one pair on each, alternating which goes first.  Either fd may be
 * -1 to leave that side out.  Only the update ioctls are timed; between
 * them every result is checked (vmmu: VMMU_LOOKUP_MEMSLOT finds the slot
 * after the create and nothing after the delete; KVM: the created slot's
 * range is taken, and free again at the end).  Returns 0, or the -errno
 * (-EBADMSG for a wrong lookup) of the first call or check that failed,
 * with t->error saying which.  Free with memslot_timing_free().
 */
int memslot_timing_run(struct memslot_timing *t, int kvm_vm, int vmmu_vm,
		       unsigned int rounds, __u32 slot, __u64 gpa, __u64 size,
		       void *hva);

/*
 * @rounds moves of slot @slot (@size bytes backed by @hva) between guest
 * addresses @gpa_a and @gpa_b on either VM (-1 leaves it out), interleaved
 * as above: the slot is created at @gpa_a, untimed, then each round moves
 * it to the other address with the same slot id, host range and flags
 * (KVM's KVM_MR_MOVE, vmmu's VMMU_MEMSLOT_MOVE), and deleted at the end.
 * Only the moves are timed (series MST_*_MOVE); each is checked (vmmu: the
 * lookup finds the slot at its new address and nothing at the old one;
 * KVM: the new range is taken, and both are free after the delete).
 * Returns as memslot_timing_run().
 */
int memslot_timing_move_run(struct memslot_timing *t, int kvm_vm, int vmmu_vm,
			    unsigned int rounds, __u32 slot, __u64 gpa_a,
			    __u64 gpa_b, __u64 size, void *hva);

void memslot_timing_free(struct memslot_timing *t);

/*
 * A table of p50/p90/max per series and the vmmu/KVM ratio of the p50s,
 * each line starting with @prefix (e.g. "# " for TAP).
 */
void memslot_timing_print(FILE *f, const char *prefix,
			  const struct memslot_timing *t);

#endif /* VMMU_MEMSLOT_TIMING_H */
