// SPDX-License-Identifier: GPL-2.0-only
/*
 * mmu_notifier_ops aging callbacks (clear_flush_young, clear_young,
 * test_young) return bool, as in 7.x; they return int up to 6.x.
 */
#include <linux/mmu_notifier.h>

static bool vmmu_probe_clear_young(struct mmu_notifier *mn,
				   struct mm_struct *mm,
				   unsigned long start, unsigned long end)
{
	return false;
}

static const struct mmu_notifier_ops vmmu_probe_ops __used = {
	.clear_young = vmmu_probe_clear_young,
};
