/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Slower kernels: VMMU_TIMEOUT_SCALE=n (the harness sets it for the debug
 * kernel, where lockdep, KASAN and kmemleak make the tests several times
 * slower) multiplies every test's timeout by n, and the durations of the
 * tests that run for a fixed time and then count what they did.  Include
 * after kselftest_harness.h: the constructor below runs after the tests
 * have registered, and walks the harness's list of this binary.
 */
#ifndef VMMU_TIMEOUT_SCALE_H
#define VMMU_TIMEOUT_SCALE_H

#include <stdlib.h>

static inline int vmmu_timeout_scale(void)
{
	const char *v = getenv("VMMU_TIMEOUT_SCALE");
	int n = v ? atoi(v) : 1;

	return n > 1 && n <= 100 ? n : 1;
}

static void __attribute__((constructor(KSELFTEST_PRIO_TEST + 100)))
vmmu_scale_timeouts(void)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	int n = vmmu_timeout_scale();

	if (n == 1)
		return;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout *= n;
}

#endif /* VMMU_TIMEOUT_SCALE_H */
