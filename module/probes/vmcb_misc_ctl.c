// SPDX-License-Identifier: GPL-2.0-only
/* The VMCB's nested-paging enable: in misc_ctl from 7.x, nested_ctl before. */
#include <linux/bitops.h>
#include <linux/mm.h>
#include <asm/svm.h>

static void __used vmmu_probe_vmcb_misc_ctl(struct vmcb_control_area *c)
{
	c->misc_ctl = SVM_MISC_ENABLE_NP;
}
