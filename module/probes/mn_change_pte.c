// SPDX-License-Identifier: GPL-2.0-only
/* mmu_notifier_ops.change_pte: present up to 6.9, removed in 6.10. */
#include <linux/mmu_notifier.h>

static const struct mmu_notifier_ops vmmu_probe_ops __used = {
	.change_pte = NULL,
};
