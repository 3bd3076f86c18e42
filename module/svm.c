// SPDX-License-Identifier: GPL-2.0-only
/*
 * The AMD SVM backend: a VMCB per vCPU, with nested paging on the VM's NPT
 * root, and the exits vmmu handles or passes to user space.  What SVM state
 * an entry borrows from the CPU, and why that is safe beside kvm_amd, is in
 * svm_cpu.c and docs/coexistence.md.
 *
 * Not required of the CPU (QEMU's emulated SVM lacks them): NRIP save,
 * decode assists, flush by ASID, VMCB clean bits.  NRIP save is used where
 * the CPU has it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <asm/cpufeature.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/mce.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>
#include <asm/special_insns.h>

#include "vcpu.h"
#include "emulate.h"
#include "fpu.h"
#include "svm.h"
#include "trace.h"

/* NPF error code bits (exit_info_1): as #PF's, and where it happened. */
#define NPF_WRITE		BIT_ULL(1)
#define NPF_FETCH		BIT_ULL(4)
#define NPF_GUEST_WALK		BIT_ULL(33)

/* Permission maps: 12 KiB for ports, 8 KiB for MSRs (APM vol. 2, 15.10). */
#define SVM_IOPM_SIZE		(3 * PAGE_SIZE)
#define SVM_MSRPM_SIZE		(2 * PAGE_SIZE)
#define SVM_PAT_DEFAULT		0x0007040600070406ULL
/* EFER bits a guest may have: SCE, LME, LMA, NXE. */
#define SVM_GUEST_EFER		(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX)

u32 vmmu_svm_asid;
u64 vmmu_svm_iopm_pa, vmmu_svm_msrpm_pa;
static void *vmmu_svm_iopm, *vmmu_svm_msrpm;
static bool vmmu_svm_nrips;

struct vmmu_svm {
	struct vmcb *vmcb;
};

static struct vmcb *to_vmcb(struct vmmu_vcpu *vcpu)
{
	return ((struct vmmu_svm *)vcpu->arch)->vmcb;
}

static void svm_intercept(struct vmcb *vmcb, int bit)
{
	vmcb->control.intercepts[bit / 32] |= BIT(bit % 32);
}

/*
 * What the guest may not do behind the host's back: every port and MSR,
 * the SVM instructions, debug registers (shared with the host), XSETBV
 * (XCR0 is the host's), INVD and WBINVD, RDPMC (the host's counters),
 * MONITOR/MWAIT, shutdown; #DB and #AC, which a guest could otherwise turn
 * into an endless exception loop; #MC, which is the host's to handle.
 */
static const int svm_intercepts[] = {
	INTERCEPT_INTR, INTERCEPT_NMI, INTERCEPT_SMI, INTERCEPT_INVD,
	INTERCEPT_HLT, INTERCEPT_INVLPGA, INTERCEPT_IOIO_PROT,
	INTERCEPT_MSR_PROT, INTERCEPT_TASK_SWITCH, INTERCEPT_FERR_FREEZE,
	INTERCEPT_SHUTDOWN, INTERCEPT_VMRUN, INTERCEPT_VMMCALL,
	INTERCEPT_VMLOAD, INTERCEPT_VMSAVE, INTERCEPT_STGI, INTERCEPT_CLGI,
	INTERCEPT_SKINIT, INTERCEPT_MONITOR, INTERCEPT_MWAIT,
	INTERCEPT_MWAIT_COND, INTERCEPT_XSETBV, INTERCEPT_RDPRU,
	INTERCEPT_RDPMC, INTERCEPT_WBINVD,
};

/* The intercepts every guest vmmu runs has, its own or the flush guest. */
void vmmu_svm_set_intercepts(struct vmcb *vmcb)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(svm_intercepts); i++)
		svm_intercept(vmcb, svm_intercepts[i]);
	for (i = 0; i < 8; i++) {
		svm_intercept(vmcb, INTERCEPT_DR0_READ + i);
		svm_intercept(vmcb, INTERCEPT_DR0_WRITE + i);
	}
	svm_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + DB_VECTOR);
	svm_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + AC_VECTOR);
	svm_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + MC_VECTOR);
	vmcb->control.iopm_base_pa = vmmu_svm_iopm_pa;
	vmcb->control.msrpm_base_pa = vmmu_svm_msrpm_pa;
	vmcb->control.asid = vmmu_svm_asid;
}

static void svm_seg(struct vmcb_seg *seg, u16 selector, u16 attrib,
		    u32 limit, u64 base)
{
	seg->selector = selector;
	seg->attrib = attrib;
	seg->limit = limit;
	seg->base = base;
}

/* Reset state, as a CPU after INIT: real mode at f000:fff0. */
static void svm_init_vmcb(struct vmmu_vcpu *vcpu, struct vmcb *vmcb)
{
	struct vmcb_control_area *c = &vmcb->control;
	struct vmcb_save_area *s = &vmcb->save;
	const u16 data = SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
			 SVM_SELECTOR_WRITE_MASK | 1;

	vmmu_svm_set_intercepts(vmcb);
	c->int_ctl = V_INTR_MASKING_MASK;
	c->vmmu_vmcb_np_ctl = VMMU_VMCB_NP_ENABLE;
	c->nested_cr3 = page_to_phys(vcpu->vm->root->page);

	svm_seg(&s->cs, 0xf000, SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK |
		SVM_SELECTOR_CODE_MASK | SVM_SELECTOR_READ_MASK | 1,
		0xffff, 0xffff0000);
	svm_seg(&s->ds, 0, data, 0xffff, 0);
	s->es = s->ds;
	s->ss = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	svm_seg(&s->gdtr, 0, 0, 0xffff, 0);
	svm_seg(&s->idtr, 0, 0, 0xffff, 0);
	svm_seg(&s->ldtr, 0, SVM_SELECTOR_P_MASK | 2, 0xffff, 0);
	svm_seg(&s->tr, 0, SVM_SELECTOR_P_MASK | 3, 0xffff, 0);
	s->cr0 = X86_CR0_ET | X86_CR0_NW | X86_CR0_CD;
	s->efer = EFER_SVME;
	s->rip = 0xfff0;
	s->rflags = X86_EFLAGS_FIXED;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->g_pat = SVM_PAT_DEFAULT;
}

static int svm_vcpu_create(struct vmmu_vcpu *vcpu)
{
	struct vmmu_svm *svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);

	if (!svm)
		return -ENOMEM;
	svm->vmcb = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!svm->vmcb) {
		kfree(svm);
		return -ENOMEM;
	}
	vcpu->arch = svm;
	svm_init_vmcb(vcpu, svm->vmcb);
	return 0;
}

static void svm_vcpu_destroy(struct vmmu_vcpu *vcpu)
{
	struct vmmu_svm *svm = vcpu->arch;

	free_page((unsigned long)svm->vmcb);
	kfree(svm);
}

static void svm_get_regs(struct vmmu_vcpu *vcpu, struct vmmu_regs *regs)
{
	struct vmcb *vmcb = to_vmcb(vcpu);

	regs->rip = vmcb->save.rip;
	regs->rflags = vmcb->save.rflags;
}

static void svm_set_regs(struct vmmu_vcpu *vcpu, const struct vmmu_regs *regs)
{
	struct vmcb *vmcb = to_vmcb(vcpu);

	vmcb->save.rip = regs->rip;
	/* Bit 1 is always set; the reserved bits are never. */
	vmcb->save.rflags = (regs->rflags & 0x3f7fd5) | X86_EFLAGS_FIXED;
}

static void svm_seg_to_user(const struct vmcb_seg *seg,
			    struct vmmu_segment *us)
{
	u16 a = seg->attrib;

	us->base = seg->base;
	us->limit = seg->limit;
	us->selector = seg->selector;
	us->type = a & SVM_SELECTOR_TYPE_MASK;
	us->s = !!(a & SVM_SELECTOR_S_MASK);
	us->dpl = (a & SVM_SELECTOR_DPL_MASK) >> SVM_SELECTOR_DPL_SHIFT;
	us->present = !!(a & SVM_SELECTOR_P_MASK);
	us->avl = !!(a & SVM_SELECTOR_AVL_MASK);
	us->l = !!(a & SVM_SELECTOR_L_MASK);
	us->db = !!(a & SVM_SELECTOR_DB_MASK);
	us->g = !!(a & SVM_SELECTOR_G_MASK);
	us->unusable = !us->present;
}

static int svm_seg_from_user(const struct vmmu_segment *us,
			     struct vmcb_seg *seg)
{
	if (us->type > 15 || us->dpl > 3 || us->present > 1 || us->s > 1 ||
	    us->l > 1 || us->db > 1 || us->g > 1 || us->avl > 1 ||
	    us->unusable > 1 || us->padding || (us->l && us->db))
		return -EINVAL;
	seg->base = us->base;
	seg->limit = us->limit;
	seg->selector = us->selector;
	seg->attrib = us->unusable ? 0 :
		      us->type | us->s << SVM_SELECTOR_S_SHIFT |
		      us->dpl << SVM_SELECTOR_DPL_SHIFT |
		      us->present << SVM_SELECTOR_P_SHIFT |
		      us->avl << SVM_SELECTOR_AVL_SHIFT |
		      us->l << SVM_SELECTOR_L_SHIFT |
		      us->db << SVM_SELECTOR_DB_SHIFT |
		      us->g << SVM_SELECTOR_G_SHIFT;
	return 0;
}

static void svm_get_sregs(struct vmmu_vcpu *vcpu, struct vmmu_sregs *sregs)
{
	struct vmcb_save_area *s = &to_vmcb(vcpu)->save;

	svm_seg_to_user(&s->cs, &sregs->cs);
	svm_seg_to_user(&s->ds, &sregs->ds);
	svm_seg_to_user(&s->es, &sregs->es);
	svm_seg_to_user(&s->fs, &sregs->fs);
	svm_seg_to_user(&s->gs, &sregs->gs);
	svm_seg_to_user(&s->ss, &sregs->ss);
	svm_seg_to_user(&s->tr, &sregs->tr);
	svm_seg_to_user(&s->ldtr, &sregs->ldt);
	sregs->gdt.base = s->gdtr.base;
	sregs->gdt.limit = s->gdtr.limit;
	sregs->idt.base = s->idtr.base;
	sregs->idt.limit = s->idtr.limit;
	sregs->cr0 = s->cr0;
	sregs->cr2 = s->cr2;
	sregs->cr3 = s->cr3;
	sregs->cr4 = s->cr4;
	sregs->efer = s->efer & ~EFER_SVME;
}

/*
 * Refuse what VMRUN would refuse, or what would give the guest the host's
 * view of something: EFER bits beyond SCE/LME/LMA/NX, CR0 PG without PE,
 * long mode without PAE, CR0.NW without CD, bits 63:32 of CR0, a 64-bit
 * code segment that is also 32-bit.
 */
static int svm_set_sregs(struct vmmu_vcpu *vcpu, const struct vmmu_sregs *sregs)
{
	struct vmcb_save_area *s = &to_vmcb(vcpu)->save, n = *s;
	bool lma = (sregs->efer & EFER_LME) && (sregs->cr0 & X86_CR0_PG);

	if ((sregs->efer & ~SVM_GUEST_EFER) || (sregs->cr0 >> 32) ||
	    ((sregs->cr0 & X86_CR0_PG) && !(sregs->cr0 & X86_CR0_PE)) ||
	    ((sregs->cr0 & X86_CR0_NW) && !(sregs->cr0 & X86_CR0_CD)) ||
	    (lma && !(sregs->cr4 & X86_CR4_PAE)) ||
	    (sregs->cr3 >> 52) || (sregs->cr4 >> 32) ||
	    sregs->gdt.padding[0] || sregs->gdt.padding[1] ||
	    sregs->gdt.padding[2] || sregs->idt.padding[0] ||
	    sregs->idt.padding[1] || sregs->idt.padding[2])
		return -EINVAL;
	if (svm_seg_from_user(&sregs->cs, &n.cs) ||
	    svm_seg_from_user(&sregs->ds, &n.ds) ||
	    svm_seg_from_user(&sregs->es, &n.es) ||
	    svm_seg_from_user(&sregs->fs, &n.fs) ||
	    svm_seg_from_user(&sregs->gs, &n.gs) ||
	    svm_seg_from_user(&sregs->ss, &n.ss) ||
	    svm_seg_from_user(&sregs->tr, &n.tr) ||
	    svm_seg_from_user(&sregs->ldt, &n.ldtr))
		return -EINVAL;
	n.gdtr.base = sregs->gdt.base;
	n.gdtr.limit = sregs->gdt.limit;
	n.idtr.base = sregs->idt.base;
	n.idtr.limit = sregs->idt.limit;
	n.cr0 = sregs->cr0;
	n.cr2 = sregs->cr2;
	n.cr3 = sregs->cr3;
	n.cr4 = sregs->cr4;
	/* The guest never sees SVME, but VMRUN requires it. */
	n.efer = (sregs->efer & ~EFER_LMA) | (lma ? EFER_LMA : 0) | EFER_SVME;
	n.cpl = sregs->ss.dpl;
	*s = n;
	return 0;
}

static void svm_skip(struct vmmu_vcpu *vcpu, unsigned int len)
{
	to_vmcb(vcpu)->save.rip += len;
}

/* Past the intercepted instruction: NRIP where the CPU saves it. */
static void svm_skip_to_next(struct vmmu_vcpu *vcpu, unsigned int len)
{
	struct vmcb *vmcb = to_vmcb(vcpu);

	if (vmmu_svm_nrips && vmcb->control.next_rip)
		vmcb->save.rip = vmcb->control.next_rip;
	else
		vmcb->save.rip += len;
}

static int svm_exit_to_user(struct vmmu_vcpu *vcpu, u32 reason)
{
	vcpu->run->exit_reason = reason;
	return 1;
}

static int svm_handle_exit(struct vmmu_vcpu *vcpu)
{
	struct vmcb *vmcb = to_vmcb(vcpu);
	struct vmcb_control_area *c = &vmcb->control;
	struct vmmu_run *run = vcpu->run;
	u64 info1 = c->exit_info_1;
	u32 access;

	/*
	 * An exception whose delivery the exit cut short (a nested page
	 * fault on the IDT or the stack, say) is delivered again on the next
	 * entry; a software interrupt, INT3 or INTO is not: its instruction,
	 * where RIP still is, runs again.
	 */
	c->event_inj = 0;
	if ((c->exit_int_info & SVM_EXITINTINFO_VALID) &&
	    (c->exit_int_info & SVM_EXITINTINFO_TYPE_MASK) ==
	    SVM_EXITINTINFO_TYPE_EXEPT &&
	    (c->exit_int_info & SVM_EXITINTINFO_VEC_MASK) != BP_VECTOR &&
	    (c->exit_int_info & SVM_EXITINTINFO_VEC_MASK) != OF_VECTOR) {
		c->event_inj = c->exit_int_info;
		c->event_inj_err = c->exit_int_info_err;
	}

	run->guest_rip = vmcb->save.rip;
	trace_kvm_exit(vcpu->id, VMMU_TRACE_ISA_SVM, c->exit_code, vmcb->save.rip, info1,
		       c->exit_info_2, c->exit_int_info, c->exit_int_info_err,
		       READ_ONCE(vcpu->requests));

	/*
	 * Exit codes fit in 32 bits but VMEXIT_INVALID, -1 in all 64 (7.x
	 * declares the field u64; QEMU writes only the low half of -1).
	 */
	switch ((u32)c->exit_code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
		/* Handled by the host once interrupts were on again. */
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_intr);
		return 0;
	case SVM_EXIT_NPF:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_npf);
		access = (info1 & NPF_WRITE ? VMMU_ACCESS_WRITE : 0) |
			 (info1 & NPF_FETCH ? VMMU_ACCESS_FETCH : 0);
		/* The guest's table walk or an event's delivery: not RIP's. */
		if ((info1 & NPF_GUEST_WALK) ||
		    (c->exit_int_info & SVM_EXITINTINFO_VALID))
			access |= VMMU_NPF_NOT_INSN;
		trace_kvm_page_fault(vcpu->id, vmcb->save.rip, c->exit_info_2,
				     info1);
		return vmmu_vcpu_handle_npf(vcpu, c->exit_info_2, access);
	case SVM_EXIT_HLT:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_hlt);
		svm_skip_to_next(vcpu, 1);
		return svm_exit_to_user(vcpu, VMMU_EXIT_HLT);
	case SVM_EXIT_IOIO:
		if (info1 & (SVM_IOIO_STR_MASK | SVM_IOIO_REP_MASK))
			break;
		/* exit_info_2 holds the next RIP, with or without NRIP save. */
		vmcb->save.rip = c->exit_info_2;
		return vmmu_emulate_io(vcpu, info1 >> 16,
				       (info1 & SVM_IOIO_SIZE_MASK) >>
				       SVM_IOIO_SIZE_SHIFT,
				       info1 & SVM_IOIO_TYPE_MASK);
	case SVM_EXIT_WBINVD:
		/* The host's caches are not the guest's to flush: a no-op. */
		svm_skip_to_next(vcpu, 2);
		return 0;
	case SVM_EXIT_EXCP_BASE + MC_VECTOR:
		/* The host handled it right after the exit. */
		return 0;
	case SVM_EXIT_SHUTDOWN:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
		/* The VMCB is undefined now: back to the reset state. */
		memset(vmcb, 0, sizeof(*vmcb));
		svm_init_vmcb(vcpu, vmcb);
		return svm_exit_to_user(vcpu, VMMU_EXIT_SHUTDOWN);
	case (u32)SVM_EXIT_ERR:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
		/* VMEXIT_INVALID, -1 in the 64-bit exit code. */
		run->fail_entry.hardware_entry_failure_reason = (u64)SVM_EXIT_ERR;
		run->fail_entry.cpu = vcpu->cpu;
		return svm_exit_to_user(vcpu, VMMU_EXIT_FAIL_ENTRY);
	default:
		break;
	}
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	run->hw.hardware_exit_reason = c->exit_code;
	run->hw.info1 = info1;
	run->hw.info2 = c->exit_info_2;
	return svm_exit_to_user(vcpu, VMMU_EXIT_UNKNOWN);
}

/* Enter the guest once (vmmu_vcpu_enter_begin() says how). */
static int svm_vcpu_run(struct vmmu_vcpu *vcpu)
{
	struct vmcb *vmcb = to_vmcb(vcpu);
	struct vmmu_svm_borrow borrow;
	struct vmmu_svm_cpu *sc;
	u32 host_pkru;

	if (!vmmu_vcpu_enter_begin(vcpu))
		return 0;
	/* Every entry flushes the TLB (svm_cpu.c): the request is met. */
	clear_bit(VMMU_REQ_TLB_FLUSH, &vcpu->requests);

	sc = vmmu_svm_this_cpu();
	vmmu_svm_borrow(sc, &borrow);
	vmcb->save.rax = vcpu->gprs.r[VMMU_RAX];
	vmcb->save.rsp = vcpu->gprs.r[VMMU_RSP];
	vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	this_cpu_inc(vcpu->vm->pcpu_stats->vcpu_flushes);

	trace_kvm_entry(vcpu->id, vmcb->save.rip, vmcb->control.event_inj,
			vmcb->control.event_inj_err);
	asm volatile("clgi" : : : "memory");
	host_pkru = vmmu_fpu_enter_guest(vcpu->xsave);
	__vmmu_svm_vmrun(__pa(vmcb), page_to_phys(sc->host_save),
			 vcpu->gprs.r);
	vmmu_guest_ran();
	vmmu_fpu_leave_guest(vcpu->xsave, host_pkru);
	asm volatile("stgi" : : : "memory");

	vmmu_svm_give_back(sc, &borrow);
	vmmu_vcpu_enter_end(vcpu, true, vmcb->control.exit_code ==
			    SVM_EXIT_EXCP_BASE + MC_VECTOR);

	vcpu->gprs.r[VMMU_RAX] = vmcb->save.rax;
	vcpu->gprs.r[VMMU_RSP] = vmcb->save.rsp;
	this_cpu_inc(vcpu->vm->pcpu_stats->entries);
	return svm_handle_exit(vcpu);
}

static const struct vmmu_vcpu_ops vmmu_svm_ops = {
	.name		= "svm",
	.create		= svm_vcpu_create,
	.destroy	= svm_vcpu_destroy,
	.run		= svm_vcpu_run,
	.get_regs	= svm_get_regs,
	.set_regs	= svm_set_regs,
	.get_sregs	= svm_get_sregs,
	.set_sregs	= svm_set_sregs,
	.skip		= svm_skip,
};

/* SVM with nested paging, not disabled by the firmware. */
static bool svm_usable(void)
{
	u64 vm_cr;

	if (!boot_cpu_has(X86_FEATURE_SVM) || !boot_cpu_has(X86_FEATURE_NPT))
		return false;
	rdmsrq(MSR_VM_CR, vm_cr);
	return !(vm_cr & SVM_VM_CR_SVM_DIS_MASK);
}

int vmmu_svm_init(void)
{
	int r;

	if (!svm_usable())
		return 0;
	r = vmmu_fpu_init();
	if (r) {
		pr_info("no vCPUs: the FPU state does not fit the ABI\n");
		return 0;
	}
	/* The highest ASID: kvm_amd hands out the lowest first. */
	vmmu_svm_asid = cpuid_ebx(SVM_CPUID_FUNC) - 1;
	vmmu_svm_nrips = boot_cpu_has(X86_FEATURE_NRIPS);

	/* Every port and MSR is intercepted: all bits set. */
	vmmu_svm_iopm = alloc_pages_exact(SVM_IOPM_SIZE, GFP_KERNEL);
	vmmu_svm_msrpm = alloc_pages_exact(SVM_MSRPM_SIZE, GFP_KERNEL);
	if (!vmmu_svm_iopm || !vmmu_svm_msrpm) {
		r = -ENOMEM;
		goto err;
	}
	memset(vmmu_svm_iopm, 0xff, SVM_IOPM_SIZE);
	memset(vmmu_svm_msrpm, 0xff, SVM_MSRPM_SIZE);
	vmmu_svm_iopm_pa = __pa(vmmu_svm_iopm);
	vmmu_svm_msrpm_pa = __pa(vmmu_svm_msrpm);

	r = vmmu_svm_cpus_init();
	if (r)
		goto err;
	vmmu_vcpu_ops = &vmmu_svm_ops;
	return 0;

err:
	vmmu_svm_exit();
	return r;
}

void vmmu_svm_exit(void)
{
	vmmu_vcpu_ops = NULL;
	vmmu_svm_cpus_free();
	if (vmmu_svm_iopm)
		free_pages_exact(vmmu_svm_iopm, SVM_IOPM_SIZE);
	if (vmmu_svm_msrpm)
		free_pages_exact(vmmu_svm_msrpm, SVM_MSRPM_SIZE);
	vmmu_svm_iopm = NULL;
	vmmu_svm_msrpm = NULL;
}
