// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest FPU state.  Around each entry the vCPU has the FPU to itself
 * (kernel_fpu_begin() saved the VMM's state): the guest's state is loaded
 * with XRSTOR and saved with XSAVE, in the standard format, for the
 * features XCR0 enables.  The guest cannot change XCR0 (XSETBV exits), so
 * it cannot reach state this area does not hold.  PKRU is left out: it
 * governs the host kernel's own user accesses, so it is never loaded from
 * guest-controlled data.
 */
#include <linux/errno.h>
#include <linux/lockdep.h>
#include <linux/string.h>
#include <asm/cpufeature.h>
#include <asm/fpu/xcr.h>
#include <asm/processor.h>
#include <asm/special_insns.h>

#include "compat.h"
#include "fpu.h"

#define XSAVE_HDR		512
#define XSAVE_MXCSR		24
#define XSAVE_MXCSR_MASK	28
#define XFEATURE_PKRU_BIT	BIT_ULL(9)

static u64 vmmu_xfeatures;	/* the features swapped: XCR0 less PKRU */
static u32 vmmu_mxcsr_mask;

int vmmu_fpu_init(void)
{
	static u8 fx[512] __aligned(16);
	u32 eax, ebx, ecx, edx;

	if (!boot_cpu_has(X86_FEATURE_XSAVE) || !boot_cpu_has(X86_FEATURE_FXSR))
		return -EOPNOTSUPP;
	vmmu_xfeatures = xgetbv(XCR_XFEATURE_ENABLED_MASK) & ~XFEATURE_PKRU_BIT;
	cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx);
	/* The ABI's area is 4 KiB (AVX-512 fits; AMX would not). */
	if (ebx > sizeof(struct vmmu_xsave))
		return -EOPNOTSUPP;

	memset(fx, 0, sizeof(fx));
	asm volatile("fxsave %0" : "=m" (fx));
	memcpy(&vmmu_mxcsr_mask, fx + XSAVE_MXCSR_MASK, sizeof(u32));
	if (!vmmu_mxcsr_mask)
		vmmu_mxcsr_mask = 0xffbf;
	return 0;
}

/* The state after reset: x87 control word 0x37f, MXCSR 0x1f80. */
void vmmu_fpu_init_xsave(void *area)
{
	const u16 fcw = 0x37f;
	const u32 mxcsr = 0x1f80;

	memset(area, 0, sizeof(struct vmmu_xsave));
	memcpy(area, &fcw, sizeof(fcw));
	memcpy(area + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr));
}

/* Would XRSTOR of @xs fault?  What user space hands in is checked first. */
int vmmu_fpu_check_xsave(const struct vmmu_xsave *xs)
{
	const u8 *p = (const u8 *)xs->region;
	u64 xstate_bv, xcomp_bv;
	u32 mxcsr;

	memcpy(&mxcsr, p + XSAVE_MXCSR, sizeof(mxcsr));
	memcpy(&xstate_bv, p + XSAVE_HDR, sizeof(xstate_bv));
	memcpy(&xcomp_bv, p + XSAVE_HDR + 8, sizeof(xcomp_bv));
	if ((xstate_bv & ~vmmu_xfeatures) || xcomp_bv ||
	    memchr_inv(p + XSAVE_HDR + 16, 0, 48) ||
	    (mxcsr & ~vmmu_mxcsr_mask))
		return -EINVAL;
	return 0;
}

/*
 * Interrupts off, right before an entry: the guest's state in the CPU.
 * Returns the host's PKRU, which the guest may change (WRPKRU does not
 * exit), for vmmu_fpu_leave_guest().
 */
u32 vmmu_fpu_enter_guest(void *area)
{
	u32 pkru;

	lockdep_assert_irqs_disabled();
	pkru = cpu_feature_enabled(X86_FEATURE_OSPKE) ? rdpkru() : 0;
	asm volatile("xrstor64 %0"
		     : : "m" (*(u8 (*)[sizeof(struct vmmu_xsave)])area),
		       "a" ((u32)vmmu_xfeatures),
		       "d" ((u32)(vmmu_xfeatures >> 32))
		     : "memory");
	return pkru;
}

/* Right after the exit: the guest's state saved, the host's PKRU back. */
void vmmu_fpu_leave_guest(void *area, u32 host_pkru)
{
	lockdep_assert_irqs_disabled();
	asm volatile("xsave64 %0"
		     : "+m" (*(u8 (*)[sizeof(struct vmmu_xsave)])area)
		     : "a" ((u32)vmmu_xfeatures),
		       "d" ((u32)(vmmu_xfeatures >> 32))
		     : "memory");
	if (cpu_feature_enabled(X86_FEATURE_OSPKE) && rdpkru() != host_pkru)
		wrpkru(host_pkru);
}
