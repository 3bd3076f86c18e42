// SPDX-License-Identifier: GPL-2.0-only
/*
 * Borrowing VMX operation from the CPU, around each guest entry, so that
 * vmmu and kvm_intel can both run guests in one boot (docs/coexistence.md).
 *
 * VMX operation is per CPU and exclusive: one VMXON region, and one
 * current-VMCS pointer.  With interrupts off, an entry finds VMX either
 * off (CR4.VMXE clear: 6.1's kvm_intel without a VM, or kvm_intel not
 * loaded) or on (kvm_intel or, on newer kernels, the core kernel did
 * VMXON; vmmu cannot see their VMXON region and must not VMXON again):
 *
 *  - off: set CR4.VMXE, VMXON with vmmu's own per-CPU region; afterwards
 *    VMXOFF and write CR4 back exactly as found.  The kernel's CR4 shadow
 *    is never changed, and it is right again before interrupts are on.
 *  - on: note the current-VMCS pointer (VMPTRST); afterwards load it
 *    again (VMPTRLD), so that kvm_intel never runs on vmmu's VMCS.
 *
 * Either way vmmu's VMCS is cleared (VMCLEAR) before the window closes: it
 * is never active on a CPU outside the window, so the vCPU may enter on any
 * CPU next time, and nothing of it is cached where kvm_intel could evict
 * it.  Nothing else on this CPU can look at VMX state meanwhile: kvm_intel
 * and the core kernel change it only from code on this CPU (an IPI, a
 * CPU-hotplug callback, a reboot or crash NMI), and the only thing that can
 * run before interrupts are on again is an NMI, which does not touch VMX
 * state and, on a crash, finds either VMX as it was or vmmu's VMXON, which
 * the crash path's own VMXOFF ends (CR4.VMXE is set then).
 */
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>

#include "compat.h"
#include "vmmu.h"
#include "vmx.h"

struct vmmu_vmx_caps vmmu_vmx_caps;
static DEFINE_PER_CPU(void *, vmmu_vmxon_region);

/*
 * CR4 as found, or with VMXE added.  The raw instruction: __write_cr4()
 * reaches the unexported native_write_cr4() on kernels without
 * PARAVIRT_XXL, and the bits its pinning guards are left as they are.
 */
static void vmmu_write_cr4(unsigned long cr4)
{
	asm volatile("mov %0, %%cr4" : : "r" (cr4) : "memory");
}

/* The VMX instructions; each returns 0, or -EIO on VMfail. */
static int vmmu_vmxon(u64 pa)
{
	bool fail;

	asm volatile("vmxon %1; setna %0"
		     : "=qm" (fail) : "m" (pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

static void vmmu_vmxoff(void)
{
	asm volatile("vmxoff" : : : "cc", "memory");
}

static u64 vmmu_vmptrst(void)
{
	u64 pa;

	asm volatile("vmptrst %0" : "=m" (pa) : : "memory");
	return pa;
}

int vmmu_vmclear(u64 pa)
{
	bool fail;

	asm volatile("vmclear %1; setna %0"
		     : "=qm" (fail) : "m" (pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

int vmmu_vmptrld(u64 pa)
{
	bool fail;

	asm volatile("vmptrld %1; setna %0"
		     : "=qm" (fail) : "m" (pa) : "cc", "memory");
	return fail ? -EIO : 0;
}

/*
 * INVEPT or INVVPID of one context (type 1) or all (type 2): the
 * descriptor is the context's EPTP or VPID, then a zero quadword.  @fail
 * is set if the CPU refused (VMfail).
 */
#define VMMU_INVALIDATE(insn, type, ctx, fail)				\
do {									\
	struct { u64 id, zero; } desc = { (ctx), 0 };			\
									\
	asm volatile(insn " %1, %2; setna %0"				\
		     : "=qm" (fail)					\
		     : "m" (desc), "r" ((unsigned long)(type))		\
		     : "cc", "memory");					\
} while (0)

/* Drop the CPU's cached translations of @eptp (of every EPTP if need be). */
int vmmu_invept(u64 eptp)
{
	bool fail;

	VMMU_INVALIDATE("invept", vmmu_vmx_caps.invept_single ? 1 : 2, eptp,
			fail);
	return fail ? -EIO : 0;
}

/* Drop the CPU's linear and combined mappings of @vpid (of all if need be). */
int vmmu_invvpid(u16 vpid)
{
	bool fail;

	VMMU_INVALIDATE("invvpid", vmmu_vmx_caps.invvpid_single ? 1 : 2, vpid,
			fail);
	return fail ? -EIO : 0;
}

void vmmu_vmx_cpus_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		void **region = per_cpu_ptr(&vmmu_vmxon_region, cpu);

		if (*region)
			free_page((unsigned long)*region);
		*region = NULL;
	}
}

int vmmu_vmx_cpus_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		u32 *region = (u32 *)get_zeroed_page(GFP_KERNEL);

		if (!region) {
			vmmu_vmx_cpus_free();
			return -ENOMEM;
		}
		/* A VMXON region starts with the VMCS revision identifier. */
		region[0] = vmmu_vmx_caps.revision;
		*per_cpu_ptr(&vmmu_vmxon_region, cpu) = region;
	}
	return 0;
}

/*
 * Interrupts off: make VMX usable here, noting what to put back.  0, or
 * -EIO if VMXON failed (then nothing was changed).
 */
int vmmu_vmx_borrow(struct vmmu_vmx_borrow *b)
{
	lockdep_assert_irqs_disabled();

	b->cr4 = __read_cr4();
	b->vmxon = !(b->cr4 & X86_CR4_VMXE);
	b->current_vmcs = -1ULL;
	if (!b->vmxon) {
		b->current_vmcs = vmmu_vmptrst();
		return 0;
	}
	vmmu_write_cr4(b->cr4 | X86_CR4_VMXE);
	if (vmmu_vmxon(__pa(this_cpu_read(vmmu_vmxon_region)))) {
		vmmu_write_cr4(b->cr4);
		return -EIO;
	}
	return 0;
}

/* Still with interrupts off, vmmu's VMCS cleared: put everything back. */
void vmmu_vmx_give_back(const struct vmmu_vmx_borrow *b)
{
	lockdep_assert_irqs_disabled();

	if (b->vmxon) {
		vmmu_vmxoff();
		vmmu_write_cr4(b->cr4);
	} else if (b->current_vmcs != -1ULL) {
		/* A failure would leave kvm_intel without its VMCS. */
		WARN_ON_ONCE(vmmu_vmptrld(b->current_vmcs));
	}
}
