// SPDX-License-Identifier: GPL-2.0-only
/*
 * Borrowing SVM from the CPU, around each guest entry, so that vmmu and
 * kvm_amd can both run guests in one boot (docs/coexistence.md).
 *
 * With interrupts off, an entry sets EFER.SVME if it is clear and points
 * MSR_VM_HSAVE_PA at a page of its own, and puts both back as it found
 * them before interrupts are on again.  Nothing else on this CPU can look
 * at them meanwhile: kvm_amd changes them only from its own code on this
 * CPU (an IPI or a CPU-hotplug callback), which cannot run until
 * interrupts are on.
 *
 * The TLB is shared with kvm_amd's guests: ASIDs tag entries, and kvm_amd
 * hands out every ASID, ours included, without knowing of us.  Every entry
 * flushes all ASIDs before the guest runs.  When SVM was already on,
 * kvm_amd may run a guest under our ASID later without flushing, so the
 * exit flushes again, with a VMRUN of a guest that exits before its first
 * instruction.  When SVM was off, kvm_amd flushes all ASIDs when it turns
 * SVM on.
 */
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>

#include "vmmu.h"
#include "svm.h"

static DEFINE_PER_CPU(struct vmmu_svm_cpu, vmmu_svm_cpus);
/* A zeroed nested page table: the flush guest maps nothing. */
static struct page *vmmu_svm_empty_root;

struct vmmu_svm_cpu *vmmu_svm_this_cpu(void)
{
	return this_cpu_ptr(&vmmu_svm_cpus);
}

static void vmmu_svm_seg(struct vmcb_seg *seg, u16 attrib, u32 limit)
{
	seg->selector = 0;
	seg->attrib = attrib;
	seg->limit = limit;
	seg->base = 0;
}

/*
 * A real-mode guest with a virtual interrupt pending and the VINTR
 * intercept set: VMRUN flushes every ASID, and the guest exits before it
 * executes anything.  Should anything else come first (an NMI, say), it
 * exits too: it has every intercept a vCPU has, all exceptions, and
 * nested paging on an empty table, so it can reach no memory.
 */
static void vmmu_svm_init_flush_vmcb(struct vmcb *vmcb, u64 empty_root)
{
	struct vmcb_control_area *c = &vmcb->control;
	struct vmcb_save_area *s = &vmcb->save;

	vmmu_svm_set_intercepts(vmcb);
	c->intercepts[INTERCEPT_VINTR / 32] |= BIT(INTERCEPT_VINTR % 32);
	c->intercepts[INTERCEPT_EXCEPTION] = ~0U;
	c->vmmu_vmcb_np_ctl = VMMU_VMCB_NP_ENABLE;
	c->nested_cr3 = empty_root;
	c->tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	c->int_ctl = V_INTR_MASKING_MASK | V_IRQ_MASK |
		     (0xf << V_INTR_PRIO_SHIFT);

	vmmu_svm_seg(&s->cs, SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			     SVM_SELECTOR_CODE_MASK | SVM_SELECTOR_READ_MASK |
			     1, 0xffff);
	vmmu_svm_seg(&s->ds, SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			     SVM_SELECTOR_WRITE_MASK | 1, 0xffff);
	s->es = s->ds;
	s->ss = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	vmmu_svm_seg(&s->gdtr, 0, 0xffff);
	vmmu_svm_seg(&s->idtr, 0, 0xffff);
	vmmu_svm_seg(&s->ldtr, SVM_SELECTOR_P_MASK | 2, 0xffff);
	vmmu_svm_seg(&s->tr, SVM_SELECTOR_P_MASK | 3, 0xffff);
	s->cr0 = X86_CR0_ET;
	s->efer = EFER_SVME;
	s->rflags = X86_EFLAGS_FIXED | X86_EFLAGS_IF;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->g_pat = 0x0007040600070406ULL;
}

void vmmu_svm_cpus_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct vmmu_svm_cpu *sc = per_cpu_ptr(&vmmu_svm_cpus, cpu);

		if (sc->hsave)
			__free_page(sc->hsave);
		if (sc->host_save)
			__free_page(sc->host_save);
		if (sc->flush_vmcb)
			free_page((unsigned long)sc->flush_vmcb);
		memset(sc, 0, sizeof(*sc));
	}
	if (vmmu_svm_empty_root)
		__free_page(vmmu_svm_empty_root);
	vmmu_svm_empty_root = NULL;
}

int vmmu_svm_cpus_init(void)
{
	int cpu;

	vmmu_svm_empty_root = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vmmu_svm_empty_root)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct vmmu_svm_cpu *sc = per_cpu_ptr(&vmmu_svm_cpus, cpu);

		sc->hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
		sc->host_save = alloc_page(GFP_KERNEL | __GFP_ZERO);
		sc->flush_vmcb = (void *)get_zeroed_page(GFP_KERNEL);
		if (!sc->hsave || !sc->host_save || !sc->flush_vmcb) {
			vmmu_svm_cpus_free();
			return -ENOMEM;
		}
		vmmu_svm_init_flush_vmcb(sc->flush_vmcb,
					 page_to_phys(vmmu_svm_empty_root));
	}
	return 0;
}

/* Interrupts off: make SVM usable here, noting what to put back. */
void vmmu_svm_borrow(struct vmmu_svm_cpu *sc, struct vmmu_svm_borrow *b)
{
	lockdep_assert_irqs_disabled();

	rdmsrq(MSR_EFER, b->efer);
	rdmsrq(MSR_VM_HSAVE_PA, b->hsave_pa);
	b->shared = b->efer & EFER_SVME;
	/*
	 * Our own host-save page even when SVM was on: kvm_amd keeps state
	 * in its page across entries for SEV-ES guests.
	 */
	wrmsrq(MSR_VM_HSAVE_PA, page_to_phys(sc->hsave));
	if (!b->shared)
		wrmsrq(MSR_EFER, b->efer | EFER_SVME);
}

/* Still with interrupts off, GIF set again: put everything back. */
void vmmu_svm_give_back(struct vmmu_svm_cpu *sc,
			const struct vmmu_svm_borrow *b)
{
	lockdep_assert_irqs_disabled();

	if (b->shared) {
		/* Our ASID's entries must not outlive us: see above. */
		u64 pa = __pa(sc->flush_vmcb);

		asm volatile("clgi; vmrun %%rax; stgi"
			     : : "a" (pa) : "memory", "cc");
		/* A flush that did not happen is a broken promise. */
		WARN_ON_ONCE((u32)sc->flush_vmcb->control.exit_code ==
			     (u32)SVM_EXIT_ERR);
	} else {
		wrmsrq(MSR_EFER, b->efer);
	}
	wrmsrq(MSR_VM_HSAVE_PA, b->hsave_pa);
}
