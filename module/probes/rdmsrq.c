// SPDX-License-Identifier: GPL-2.0-only
/* rdmsrq()/wrmsrq(): the 64-bit MSR accessors' names from 7.x (rdmsrl before). */
#include <asm/msr.h>

static void __used vmmu_probe_rdmsrq(void)
{
	u64 v;

	rdmsrq(MSR_EFER, v);
	wrmsrq(MSR_EFER, v);
}
