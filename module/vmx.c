// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Intel VMX backend: a VMCS per vCPU, with EPT on the VM's EPT root,
 * and the same exits as the SVM backend (svm.c).  What VMX state an entry
 * borrows from the CPU, and why that is safe beside kvm_intel, is in
 * vmx_cpu.c and docs/coexistence.md.
 *
 * The VMCS is current only inside an entry's interrupts-off window, and
 * cleared before the window closes (vmx_cpu.c).  So the guest's state is
 * kept here, in struct vmmu_vmx, and written to the VMCS on every entry
 * and read back after the exit; the register ioctls never touch the VMCS.
 * Every entry is a VMLAUNCH of a clear VMCS.
 *
 * Required of the CPU: EPT with a 4-level walk, write-back paging
 * structures, accessed and dirty flags and INVEPT, unrestricted guest
 * (real mode and unpaged guests), the "true" control MSRs (no CR3 exiting
 * under EPT).  VPIDs are used when the CPU has them and INVVPID: an entry
 * then keeps what the guest's TLB held at the last exit, and flushes only
 * when something changed it (vmx_flush_tlb()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/gfp.h>
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <asm/cpu_entry_area.h>
#include <asm/cpufeature.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/fpu/api.h>
#include <asm/mce.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>
#include <asm/segment.h>
#include <asm/special_insns.h>
#include <asm/trapnr.h>
#include <asm/vmx.h>

#include "compat.h"
#include "vcpu.h"
#include "emulate.h"
#include "fpu.h"
#include "vmx.h"
#include "trace.h"

/* Bits of the VMX capability MSRs (SDM Vol. 3D, appendix A). */
#define VMX_BASIC_SIZE(b)	(((b) >> 32) & 0x1fff)
#define VMX_BASIC_MEMTYPE(b)	(((b) >> 50) & 0xf)
#define VMX_BASIC_TRUE		BIT_ULL(55)
#define VMX_MEMTYPE_WB		6
#define EPT_CAP_WALK_4		BIT_ULL(6)
#define EPT_CAP_WB		BIT_ULL(14)
#define EPT_CAP_INVEPT		BIT_ULL(20)
#define EPT_CAP_AD		BIT_ULL(21)
#define EPT_CAP_INVEPT_SINGLE	BIT_ULL(25)
#define EPT_CAP_INVEPT_ALL	BIT_ULL(26)
#define VPID_CAP_INVVPID	BIT_ULL(32)
#define VPID_CAP_INVVPID_SINGLE	BIT_ULL(41)
#define VPID_CAP_INVVPID_ALL	BIT_ULL(42)
/* EPTP: write-back paging structures, 4 levels, A/D flags. */
#define EPTP_WB			6ULL
#define EPTP_WALK_4		(3ULL << 3)
#define EPTP_AD			BIT_ULL(6)

/* EPT violation exit qualification. */
#define EPT_QUAL_READ		BIT_ULL(0)
#define EPT_QUAL_WRITE		BIT_ULL(1)
#define EPT_QUAL_FETCH		BIT_ULL(2)
#define EPT_QUAL_GLA_VALID	BIT_ULL(7)
#define EPT_QUAL_GLA_FINAL	BIT_ULL(8)	/* not a paging-structure access */

/* Control-register access exit qualification. */
#define CR_QUAL_CR(q)		((q) & 0xf)
#define CR_QUAL_TYPE(q)		(((q) >> 4) & 3)
#define CR_QUAL_MOV_TO_CR	0
#define CR_QUAL_GPR(q)		(((q) >> 8) & 0xf)

/* I/O instruction exit qualification. */
#define IO_QUAL_SIZE(q)		(((q) & 7) + 1)
#define IO_QUAL_IN		BIT_ULL(3)
#define IO_QUAL_STRING		BIT_ULL(4)
#define IO_QUAL_REP		BIT_ULL(5)
#define IO_QUAL_PORT(q)		(((q) >> 16) & 0xffff)

/* Segment access rights, VMCS format: descriptor bits 8-15 and 20-23. */
#define VMX_AR_TYPE(t)		((t) & 0xf)
#define VMX_AR_S			BIT(4)
#define VMX_AR_DPL_SHIFT		5
#define VMX_AR_P			BIT(7)
#define VMX_AR_AVL			BIT(12)
#define VMX_AR_L			BIT(13)
#define VMX_AR_DB			BIT(14)
#define VMX_AR_G			BIT(15)
#define VMX_AR_UNUSABLE		BIT(16)

#define VMX_PAT_DEFAULT		0x0007040600070406ULL
/* EFER bits a guest may have: SCE, LME, LMA, NXE. */
#define VMX_GUEST_EFER		(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX)
/* STI and MOV SS blocking: what skipping an instruction ends. */
#define VMX_INTR_SHADOW		(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)
#define VMX_NO_VMCS		(-1ULL)

/*
 * The guest segment registers, in the order of their VMCS encodings:
 * field = GUEST_ES_<x> + 2 * index.
 */
enum {
	SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR,
	SEG_COUNT
};

struct vmmu_vmx_seg {
	u64 base;
	u32 limit;
	u32 ar;			/* access rights, VMCS format */
	u16 selector;
};

struct vmmu_vmx {
	void *vmcs;		/* one page, its revision identifier set */
	u64 eptp;
	u16 vpid;		/* 0: none, entries and exits flush VPID 0 */
	int tlb_cpu;		/* the CPU it last entered on, or -1 */
	bool flush_vpid;	/* user space changed how the guest translates */

	/* The guest's state, as its ioctls and the last exit left it. */
	u64 rip, rflags;
	u64 cr0, cr2, cr3, cr4, efer, pat;
	u64 pdpte[4];		/* PAE paging outside long mode */
	struct vmmu_vmx_seg seg[SEG_COUNT];
	u64 gdt_base, idt_base;
	u32 gdt_limit, idt_limit;
	u32 interruptibility;
	u32 inject, inject_err;	/* an event to deliver at the next entry */
	u64 kernel_gs_base;	/* what the guest's SWAPGS exchanges with */

	/* What the last exit reported. */
	u32 exit_reason, exit_intr_info, idt_vectoring, idt_vectoring_err;
	u32 insn_len, insn_error;
	u64 exit_qual, exit_gpa;
};

/* The host state an exit does not restore, saved before the entry. */
struct vmmu_vmx_host {
	u64 kernel_gs_base, fs_base, debugctl;
	u64 star, lstar, cstar, sfmask;
	u16 ds, es, fs, gs, ldt;
};

/* Forced bits of CR0 and CR4 (fixed0), kept as the guest set them. */
static u64 vmx_cr0_mask, vmx_cr4_mask;
/* The physical-address width CPUID reports: where PDPTE bits are reserved. */
static unsigned int vmx_maxphyaddr;

/*
 * VPIDs are a per-CPU name space shared with kvm_intel, which hands them
 * out from 1 up: vmmu takes the top half.  Sharing one would still be
 * safe: with EPT on, a guest's linear translations are cached as combined
 * mappings, tagged with the EPTP as well (SDM 29.4), and each side drops
 * those of a VPID's earlier owner before it runs on a CPU.
 */
#define VMX_VPID_FIRST		0x8000
#define VMX_VPID_LAST		0xffff
static DEFINE_IDA(vmx_vpids);

/*
 * vpid=N: none, as kvm_intel's vpid=0, for comparing the two.  Reads N
 * after loading where the CPU has none.
 */
static bool vmx_vpid_param = true;
module_param_named(vpid, vmx_vpid_param, bool, 0444);

/*
 * L1TF: a guest can read what the L1D holds through a non-present PTE of
 * its own, so the L1D is flushed before each entry (IA32_FLUSH_CMD, else
 * by reading a buffer twice its size), unless the CPU says it need not be.
 */
#define VMX_L1D_BUF_ORDER	4	/* 64 KiB */
static bool vmx_l1d_flush;
static void *vmx_l1d_buf;

/*
 * l1d_flush=N: none, as KVM's vmentry_l1d_flush=never (so does
 * mitigations=off): for guests the host trusts, and for emulators where
 * the software flush crawls (Bochs).
 */
static bool vmx_l1d_flush_param = true;
module_param_named(l1d_flush, vmx_l1d_flush_param, bool, 0444);

static __always_inline u64 vmcs_read(unsigned long field)
{
	u64 value;

	asm volatile("vmread %1, %0" : "=rm" (value) : "r" (field) : "cc");
	return value;
}

static __always_inline void vmcs_write(unsigned long field, u64 value)
{
	asm volatile("vmwrite %1, %0" : : "r" (field), "rm" (value) : "cc");
}

static struct vmmu_vmx *to_vmx(struct vmmu_vcpu *vcpu)
{
	return vcpu->arch;
}

static void vmx_seg_set(struct vmmu_vmx_seg *seg, u16 selector, u32 ar,
			u32 limit, u64 base)
{
	seg->selector = selector;
	seg->ar = ar;
	seg->limit = limit;
	seg->base = base;
}

/* Reset state, as a CPU after INIT: real mode at f000:fff0. */
static void vmx_reset(struct vmmu_vmx *vmx)
{
	const u32 data = VMX_AR_P | VMX_AR_S | VMX_AR_TYPE(3);
	int i;

	vmx_seg_set(&vmx->seg[SEG_CS], 0xf000, VMX_AR_P | VMX_AR_S | VMX_AR_TYPE(0xb),
		    0xffff, 0xffff0000);
	for (i = 0; i < SEG_COUNT; i++)
		if (i != SEG_CS)
			vmx_seg_set(&vmx->seg[i], 0, data, 0xffff, 0);
	vmx_seg_set(&vmx->seg[SEG_LDTR], 0, VMX_AR_P | VMX_AR_TYPE(2), 0xffff, 0);
	vmx_seg_set(&vmx->seg[SEG_TR], 0, VMX_AR_P | VMX_AR_TYPE(3), 0xffff, 0);
	vmx->gdt_base = 0;
	vmx->gdt_limit = 0xffff;
	vmx->idt_base = 0;
	vmx->idt_limit = 0xffff;
	vmx->cr0 = X86_CR0_ET | X86_CR0_NW | X86_CR0_CD;
	vmx->cr2 = 0;
	vmx->cr3 = 0;
	vmx->cr4 = 0;
	vmx->efer = 0;
	vmx->pat = VMX_PAT_DEFAULT;
	vmx->rip = 0xfff0;
	vmx->rflags = X86_EFLAGS_FIXED;
	vmx->interruptibility = 0;
	vmx->inject = 0;
	vmx->kernel_gs_base = 0;
	/* INIT and reset drop the TLBs, the guest's VPID included. */
	vmx->flush_vpid = true;
}

static int vmx_vcpu_create(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = kzalloc(sizeof(*vmx), GFP_KERNEL_ACCOUNT);
	u32 *vmcs;

	if (!vmx)
		return -ENOMEM;
	vmcs = (u32 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vmcs) {
		kfree(vmx);
		return -ENOMEM;
	}
	/* Bit 31 clear: an ordinary VMCS, not a shadow one. */
	vmcs[0] = vmmu_vmx_caps.revision;
	vmx->vmcs = vmcs;
	vmx->eptp = page_to_phys(vcpu->vm->root->page) |
		    vmmu_vmx_caps.eptp_flags;
	vmx->tlb_cpu = -1;
	if (vmmu_vmx_caps.vpid) {
		int vpid = ida_alloc_range(&vmx_vpids, VMX_VPID_FIRST,
					   VMX_VPID_LAST, GFP_KERNEL_ACCOUNT);

		/* All taken: this vCPU runs without (VPID 0). */
		if (vpid == -ENOMEM) {
			free_page((unsigned long)vmcs);
			kfree(vmx);
			return -ENOMEM;
		}
		vmx->vpid = vpid > 0 ? vpid : 0;
	}
	vmx_reset(vmx);
	vcpu->arch = vmx;
	return 0;
}

static void vmx_vcpu_destroy(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);

	if (vmx->vpid)
		ida_free(&vmx_vpids, vmx->vpid);
	free_page((unsigned long)vmx->vmcs);
	kfree(vmx);
}

static void vmx_get_regs(struct vmmu_vcpu *vcpu, struct vmmu_regs *regs)
{
	regs->rip = to_vmx(vcpu)->rip;
	regs->rflags = to_vmx(vcpu)->rflags;
}

static void vmx_set_regs(struct vmmu_vcpu *vcpu, const struct vmmu_regs *regs)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);

	vmx->rip = regs->rip;
	/* Bit 1 is always set; the reserved bits are never. */
	vmx->rflags = (regs->rflags & 0x3f7fd5) | X86_EFLAGS_FIXED;
	/* A new RIP: no shadow of an instruction the guest did not run. */
	vmx->interruptibility &= ~VMX_INTR_SHADOW;
	vmx->inject = 0;
}

static void vmx_seg_to_user(const struct vmmu_vmx_seg *seg,
			    struct vmmu_segment *us)
{
	u32 ar = seg->ar;

	us->base = seg->base;
	us->limit = seg->limit;
	us->selector = seg->selector;
	us->type = ar & 0xf;
	us->s = !!(ar & VMX_AR_S);
	us->dpl = (ar >> VMX_AR_DPL_SHIFT) & 3;
	us->avl = !!(ar & VMX_AR_AVL);
	us->l = !!(ar & VMX_AR_L);
	us->db = !!(ar & VMX_AR_DB);
	us->g = !!(ar & VMX_AR_G);
	us->unusable = !!(ar & VMX_AR_UNUSABLE);
	us->present = !us->unusable && (ar & VMX_AR_P);
	/* As the SVM backend reports it: a segment not present is unusable. */
	us->unusable = !us->present;
}

static int vmx_seg_from_user(const struct vmmu_segment *us,
			     struct vmmu_vmx_seg *seg)
{
	if (us->type > 15 || us->dpl > 3 || us->present > 1 || us->s > 1 ||
	    us->l > 1 || us->db > 1 || us->g > 1 || us->avl > 1 ||
	    us->unusable > 1 || us->padding || (us->l && us->db))
		return -EINVAL;
	seg->base = us->base;
	seg->limit = us->limit;
	seg->selector = us->selector;
	/* VMX has no segment that is usable but not present. */
	if (us->unusable || !us->present) {
		seg->ar = VMX_AR_UNUSABLE;
		return 0;
	}
	seg->ar = VMX_AR_TYPE(us->type) | us->s << 4 | us->dpl << VMX_AR_DPL_SHIFT |
		  VMX_AR_P | us->avl << 12 | us->l << 13 | us->db << 14 |
		  us->g << 15;
	return 0;
}

static void vmx_get_sregs(struct vmmu_vcpu *vcpu, struct vmmu_sregs *sregs)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);

	vmx_seg_to_user(&vmx->seg[SEG_CS], &sregs->cs);
	vmx_seg_to_user(&vmx->seg[SEG_DS], &sregs->ds);
	vmx_seg_to_user(&vmx->seg[SEG_ES], &sregs->es);
	vmx_seg_to_user(&vmx->seg[SEG_FS], &sregs->fs);
	vmx_seg_to_user(&vmx->seg[SEG_GS], &sregs->gs);
	vmx_seg_to_user(&vmx->seg[SEG_SS], &sregs->ss);
	vmx_seg_to_user(&vmx->seg[SEG_TR], &sregs->tr);
	vmx_seg_to_user(&vmx->seg[SEG_LDTR], &sregs->ldt);
	sregs->gdt.base = vmx->gdt_base;
	sregs->gdt.limit = vmx->gdt_limit;
	sregs->idt.base = vmx->idt_base;
	sregs->idt.limit = vmx->idt_limit;
	sregs->cr0 = vmx->cr0;
	sregs->cr2 = vmx->cr2;
	sregs->cr3 = vmx->cr3;
	sregs->cr4 = vmx->cr4;
	sregs->efer = vmx->efer;
}

/*
 * PAE paging outside long mode: the CPU does not walk the 4 PDPTEs from
 * memory but keeps them in registers, loaded by a MOV to CR3 (which the
 * guest does itself) or to CR0 and CR4, and by a VM entry from the VMCS.
 */
static bool vmx_pae_paging(u64 cr0, u64 cr4, u64 efer)
{
	return (cr0 & X86_CR0_PG) && (cr4 & X86_CR4_PAE) && !(efer & EFER_LMA);
}

/*
 * The PDPTEs at @cr3, as a MOV to a control register loads them: -EINVAL
 * if they cannot be read, or a present one has reserved bits set (2:1,
 * 8:5, and from the CPU's physical-address width up: CPUID's, which the
 * guest sees, not the kernel's, which memory encryption may cut); -EINTR
 * if killed while waiting for a memslot update.
 */
static int vmx_read_pdptes(struct vmmu_vcpu *vcpu, u64 cr3, u64 *pdpte)
{
	u64 reserved = GENMASK_ULL(63, vmx_maxphyaddr) | GENMASK_ULL(8, 5) |
		       GENMASK_ULL(2, 1);
	int i, r;

	r = vmmu_read_guest(vcpu->vm, cr3 & GENMASK_ULL(31, 5), pdpte,
			    4 * sizeof(*pdpte));
	if (r)
		return r == -EINTR ? r : -EINVAL;
	for (i = 0; i < 4; i++)
		if ((pdpte[i] & _PAGE_PRESENT) && (pdpte[i] & reserved))
			return -EINVAL;
	return 0;
}

/*
 * Refuse what the SVM backend refuses (svm.c), so that both backends take
 * the same special registers: EFER bits beyond SCE/LME/LMA/NX, CR0 PG
 * without PE, long mode without PAE, CR0.NW without CD, bits 63:32 of CR0
 * and CR4, a 64-bit code segment that is also 32-bit.  What only VMX
 * checks at VM entry (its guest-state checks) fails the entry instead.
 * One thing only VMX refuses here: PAE paging outside long mode whose
 * PDPTEs a MOV to CR3 would fault on, as the VMCS must hold them (SVM
 * reads them from memory).  Setting that state reads them from memory
 * again, as the guest's MOV to CR3 would.
 */
static int vmx_set_sregs(struct vmmu_vcpu *vcpu, const struct vmmu_sregs *sregs)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);
	struct vmmu_vmx_seg seg[SEG_COUNT];
	bool lma = (sregs->efer & EFER_LME) && (sregs->cr0 & X86_CR0_PG);
	bool pae = vmx_pae_paging(sregs->cr0, sregs->cr4, lma ? EFER_LMA : 0);
	u64 pdpte[4];

	if ((sregs->efer & ~VMX_GUEST_EFER) || (sregs->cr0 >> 32) ||
	    ((sregs->cr0 & X86_CR0_PG) && !(sregs->cr0 & X86_CR0_PE)) ||
	    ((sregs->cr0 & X86_CR0_NW) && !(sregs->cr0 & X86_CR0_CD)) ||
	    (lma && !(sregs->cr4 & X86_CR4_PAE)) ||
	    (sregs->cr3 >> 52) || (sregs->cr4 >> 32) ||
	    sregs->gdt.padding[0] || sregs->gdt.padding[1] ||
	    sregs->gdt.padding[2] || sregs->idt.padding[0] ||
	    sregs->idt.padding[1] || sregs->idt.padding[2])
		return -EINVAL;
	if (vmx_seg_from_user(&sregs->cs, &seg[SEG_CS]) ||
	    vmx_seg_from_user(&sregs->ds, &seg[SEG_DS]) ||
	    vmx_seg_from_user(&sregs->es, &seg[SEG_ES]) ||
	    vmx_seg_from_user(&sregs->fs, &seg[SEG_FS]) ||
	    vmx_seg_from_user(&sregs->gs, &seg[SEG_GS]) ||
	    vmx_seg_from_user(&sregs->ss, &seg[SEG_SS]) ||
	    vmx_seg_from_user(&sregs->tr, &seg[SEG_TR]) ||
	    vmx_seg_from_user(&sregs->ldt, &seg[SEG_LDTR]))
		return -EINVAL;
	if (pae) {
		int r = vmx_read_pdptes(vcpu, sregs->cr3, pdpte);

		if (r)
			return r;
		memcpy(vmx->pdpte, pdpte, sizeof(pdpte));
	}
	memcpy(vmx->seg, seg, sizeof(seg));
	vmx->gdt_base = sregs->gdt.base;
	vmx->gdt_limit = sregs->gdt.limit;
	vmx->idt_base = sregs->idt.base;
	vmx->idt_limit = sregs->idt.limit;
	vmx->cr0 = sregs->cr0;
	vmx->cr2 = sregs->cr2;
	vmx->cr3 = sregs->cr3;
	vmx->cr4 = sregs->cr4;
	vmx->efer = (sregs->efer & ~EFER_LMA) | (lma ? EFER_LMA : 0);
	/* The guest's cached translations may not follow the new state. */
	vmx->flush_vpid = true;
	return 0;
}

static void vmx_skip(struct vmmu_vcpu *vcpu, unsigned int len)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);

	vmx->rip += len;
	vmx->interruptibility &= ~VMX_INTR_SHADOW;
}

/* Interrupts off, before the entry: what the VM exit will not restore. */
static void vmx_save_host(struct vmmu_vmx_host *h)
{
	savesegment(ds, h->ds);
	savesegment(es, h->es);
	savesegment(fs, h->fs);
	savesegment(gs, h->gs);
	/* The VMM's own LDT (modify_ldt()), which the exit drops. */
	store_ldt(h->ldt);
	rdmsrq(MSR_FS_BASE, h->fs_base);
	rdmsrq(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	rdmsrq(MSR_STAR, h->star);
	rdmsrq(MSR_LSTAR, h->lstar);
	rdmsrq(MSR_CSTAR, h->cstar);
	rdmsrq(MSR_SYSCALL_MASK, h->sfmask);
	rdmsrq(MSR_IA32_DEBUGCTLMSR, h->debugctl);
}

/*
 * VMX switches none of the MSRs SYSCALL and SWAPGS use: the guest would
 * see the host's entry points (its KASLR offset) and the VMM's GS base.
 * The guest has its own (WRMSR exits, so the SYSCALL MSRs stay zero, as
 * on SVM), loaded last before the entry, with interrupts off.
 */
static void vmx_load_guest_msrs(const struct vmmu_vmx *vmx)
{
	wrmsrq(MSR_STAR, 0);
	wrmsrq(MSR_LSTAR, 0);
	wrmsrq(MSR_CSTAR, 0);
	wrmsrq(MSR_SYSCALL_MASK, 0);
	wrmsrq(MSR_KERNEL_GS_BASE, vmx->kernel_gs_base);
}

/*
 * Interrupts off, right after the exit.  The exit loaded null DS and ES,
 * zero FS and GS selectors (with the bases of HOST_FS_BASE, HOST_GS_BASE),
 * cleared DEBUGCTL, and left GDTR and TR with the wrong limits (0xffff, and
 * 0x67, which cuts off the I/O bitmap).
 */
static void vmx_restore_host(struct vmmu_vmx *vmx,
			     const struct vmmu_vmx_host *h)
{
	int cpu = smp_processor_id();

	rdmsrq(MSR_KERNEL_GS_BASE, vmx->kernel_gs_base);
	wrmsrq(MSR_STAR, h->star);
	wrmsrq(MSR_LSTAR, h->lstar);
	wrmsrq(MSR_CSTAR, h->cstar);
	wrmsrq(MSR_SYSCALL_MASK, h->sfmask);

	/* The LDT before the selectors, which may point into it. */
	if (h->ldt)
		asm volatile("lldt %0" : : "rm" (h->ldt));
	load_fixmap_gdt(cpu);
	invalidate_tss_limit();
	if (h->ds)
		loadsegment(ds, h->ds);
	if (h->es)
		loadsegment(es, h->es);
	if (h->fs) {
		loadsegment(fs, h->fs);
		wrmsrq(MSR_FS_BASE, h->fs_base);
	}
	/*
	 * The VMM's GS base last: loading its GS selector (SWAPGS around a
	 * MOV to GS) overwrites the base with the descriptor's.
	 */
	if (h->gs)
		load_gs_index(h->gs);
	wrmsrq(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	if (h->debugctl)
		wrmsrq(MSR_IA32_DEBUGCTLMSR, h->debugctl);
}

/* The host's state, as it is on this CPU now. */
static void vmx_write_host(const struct vmmu_vmx_host *h)
{
	int cpu = smp_processor_id();
	struct desc_ptr idt;
	u64 v;

	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CR3, __read_cr3());
	vmcs_write(HOST_CR4, __read_cr4());
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_FS_BASE, h->fs_base);
	rdmsrq(MSR_GS_BASE, v);
	vmcs_write(HOST_GS_BASE, v);
	vmcs_write(HOST_TR_BASE,
		   (unsigned long)&get_cpu_entry_area(cpu)->tss.x86_tss);
	vmcs_write(HOST_GDTR_BASE, (unsigned long)get_cpu_gdt_ro(cpu));
	store_idt(&idt);
	vmcs_write(HOST_IDTR_BASE, idt.address);
	rdmsrq(MSR_IA32_SYSENTER_CS, v);
	vmcs_write(HOST_IA32_SYSENTER_CS, v);
	rdmsrq(MSR_IA32_SYSENTER_ESP, v);
	vmcs_write(HOST_IA32_SYSENTER_ESP, v);
	rdmsrq(MSR_IA32_SYSENTER_EIP, v);
	vmcs_write(HOST_IA32_SYSENTER_EIP, v);
	rdmsrq(MSR_EFER, v);
	vmcs_write(HOST_IA32_EFER, v);
	rdmsrq(MSR_IA32_CR_PAT, v);
	vmcs_write(HOST_IA32_PAT, v);
	/*
	 * The host's performance counters stop in the guest (they would
	 * count its events as the VMM's, and PEBS would write through the
	 * guest's page tables) and run again after the exit.
	 */
	if (vmmu_vmx_caps.exit & VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL) {
		rdmsrq(MSR_CORE_PERF_GLOBAL_CTRL, v);
		vmcs_write(HOST_IA32_PERF_GLOBAL_CTRL, v);
		vmcs_write(GUEST_IA32_PERF_GLOBAL_CTRL, 0);
	}
	vmcs_write(HOST_RIP, (unsigned long)vmmu_vmx_vmexit);
}

static void vmx_write_guest(struct vmmu_vcpu *vcpu, struct vmmu_vmx *vmx)
{
	const struct vmmu_vmx_caps *caps = &vmmu_vmx_caps;
	bool lma = vmx->efer & EFER_LMA;
	int i;

	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, caps->pin);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, caps->proc);
	vmcs_write(SECONDARY_VM_EXEC_CONTROL, vmx->vpid ? caps->proc2 :
		   caps->proc2 & ~SECONDARY_EXEC_ENABLE_VPID);
	/* The field exists only where the CPU has VPIDs. */
	if (caps->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vmx->vpid);
	vmcs_write(VM_EXIT_CONTROLS, caps->exit);
	vmcs_write(VM_ENTRY_CONTROLS,
		   caps->entry | (lma ? VM_ENTRY_IA32E_MODE : 0));
	vmcs_write(EXCEPTION_BITMAP,
		   BIT(X86_TRAP_DB) | BIT(X86_TRAP_AC) | BIT(X86_TRAP_MC));
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, vmx->inject);
	vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vmx->inject_err);
	vmcs_write(VM_ENTRY_INSTRUCTION_LEN, 0);
	vmcs_write(EPT_POINTER, vmx->eptp);
	vmcs_write(VMCS_LINK_POINTER, VMX_NO_VMCS);

	/*
	 * The bits VMX forces (CR0.NE, CR4.VMXE) are owned by the host: the
	 * guest reads its own value from the shadow, and changing one exits.
	 */
	vmcs_write(CR0_GUEST_HOST_MASK, vmx_cr0_mask);
	vmcs_write(CR0_READ_SHADOW, vmx->cr0);
	vmcs_write(GUEST_CR0, vmx->cr0 | vmx_cr0_mask);
	vmcs_write(CR4_GUEST_HOST_MASK, vmx_cr4_mask);
	vmcs_write(CR4_READ_SHADOW, vmx->cr4);
	vmcs_write(GUEST_CR4, vmx->cr4 | vmx_cr4_mask);
	vmcs_write(GUEST_CR3, vmx->cr3);
	if (vmx_pae_paging(vmx->cr0, vmx->cr4, vmx->efer))
		for (i = 0; i < 4; i++)
			vmcs_write(GUEST_PDPTR0 + 2 * i, vmx->pdpte[i]);
	vmcs_write(GUEST_IA32_EFER, vmx->efer);
	vmcs_write(GUEST_IA32_PAT, vmx->pat);
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);

	for (i = 0; i < SEG_COUNT; i++) {
		vmcs_write(GUEST_ES_SELECTOR + 2 * i, vmx->seg[i].selector);
		vmcs_write(GUEST_ES_LIMIT + 2 * i, vmx->seg[i].limit);
		vmcs_write(GUEST_ES_AR_BYTES + 2 * i, vmx->seg[i].ar);
		vmcs_write(GUEST_ES_BASE + 2 * i, vmx->seg[i].base);
	}
	vmcs_write(GUEST_GDTR_BASE, vmx->gdt_base);
	vmcs_write(GUEST_GDTR_LIMIT, vmx->gdt_limit);
	vmcs_write(GUEST_IDTR_BASE, vmx->idt_base);
	vmcs_write(GUEST_IDTR_LIMIT, vmx->idt_limit);

	vmcs_write(GUEST_RSP, vcpu->gprs.r[VMMU_RSP]);
	vmcs_write(GUEST_RIP, vmx->rip);
	vmcs_write(GUEST_RFLAGS, vmx->rflags);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, vmx->interruptibility);
	vmcs_write(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

static void vmx_read_guest(struct vmmu_vcpu *vcpu, struct vmmu_vmx *vmx)
{
	int i;

	vmx->exit_reason = vmcs_read(VM_EXIT_REASON);
	vmx->exit_qual = vmcs_read(EXIT_QUALIFICATION);
	vmx->exit_gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
	vmx->exit_intr_info = vmcs_read(VM_EXIT_INTR_INFO);
	vmx->idt_vectoring = vmcs_read(IDT_VECTORING_INFO_FIELD);
	vmx->idt_vectoring_err = vmcs_read(IDT_VECTORING_ERROR_CODE);
	vmx->insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	/* A failed entry (invalid guest state) loaded none of the guest. */
	if (vmx->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY)
		return;

	vcpu->gprs.r[VMMU_RSP] = vmcs_read(GUEST_RSP);
	vmx->rip = vmcs_read(GUEST_RIP);
	vmx->rflags = vmcs_read(GUEST_RFLAGS);
	vmx->interruptibility = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	vmx->cr0 = (vmcs_read(GUEST_CR0) & ~vmx_cr0_mask) |
		   (vmx->cr0 & vmx_cr0_mask);
	vmx->cr4 = (vmcs_read(GUEST_CR4) & ~vmx_cr4_mask) |
		   (vmx->cr4 & vmx_cr4_mask);
	vmx->cr3 = vmcs_read(GUEST_CR3);
	vmx->efer = vmcs_read(GUEST_IA32_EFER);
	vmx->pat = vmcs_read(GUEST_IA32_PAT);
	/* Under EPT the exit saves the PDPTEs the guest's MOV to CR3 loaded. */
	if (vmx_pae_paging(vmx->cr0, vmx->cr4, vmx->efer))
		for (i = 0; i < 4; i++)
			vmx->pdpte[i] = vmcs_read(GUEST_PDPTR0 + 2 * i);
	for (i = 0; i < SEG_COUNT; i++) {
		vmx->seg[i].selector = vmcs_read(GUEST_ES_SELECTOR + 2 * i);
		vmx->seg[i].limit = vmcs_read(GUEST_ES_LIMIT + 2 * i);
		vmx->seg[i].ar = vmcs_read(GUEST_ES_AR_BYTES + 2 * i);
		vmx->seg[i].base = vmcs_read(GUEST_ES_BASE + 2 * i);
	}
	vmx->gdt_base = vmcs_read(GUEST_GDTR_BASE);
	vmx->gdt_limit = vmcs_read(GUEST_GDTR_LIMIT);
	vmx->idt_base = vmcs_read(GUEST_IDTR_BASE);
	vmx->idt_limit = vmcs_read(GUEST_IDTR_LIMIT);
}

static int vmx_exit_to_user(struct vmmu_vcpu *vcpu, u32 reason)
{
	vcpu->run->exit_reason = reason;
	return 1;
}

static int vmx_exit_unknown(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);
	struct vmmu_run *run = vcpu->run;

	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	run->hw.hardware_exit_reason = vmx->exit_reason;
	run->hw.info1 = vmx->exit_qual;
	run->hw.info2 = vmx->exit_gpa;
	return vmx_exit_to_user(vcpu, VMMU_EXIT_UNKNOWN);
}

/* CPUID: what the CPU says, as a guest of the SVM backend reads it. */
static int vmx_exit_cpuid(struct vmmu_vcpu *vcpu)
{
	u64 *r = vcpu->gprs.r;
	u32 eax, ebx, ecx, edx;

	cpuid_count(r[VMMU_RAX], r[VMMU_RCX], &eax, &ebx, &ecx, &edx);
	/* What follows the guest's CR4, not the host's; no nested VMX. */
	if ((u32)r[VMMU_RAX] == 1) {
		ecx &= ~(BIT(X86_FEATURE_VMX & 31) |
			 BIT(X86_FEATURE_OSXSAVE & 31));
		if (to_vmx(vcpu)->cr4 & X86_CR4_OSXSAVE)
			ecx |= BIT(X86_FEATURE_OSXSAVE & 31);
	} else if ((u32)r[VMMU_RAX] == 7 && (u32)r[VMMU_RCX] == 0) {
		ecx &= ~BIT(X86_FEATURE_OSPKE & 31);
		if (to_vmx(vcpu)->cr4 & X86_CR4_PKE)
			ecx |= BIT(X86_FEATURE_OSPKE & 31);
	}
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	r[VMMU_RAX] = eax;
	r[VMMU_RBX] = ebx;
	r[VMMU_RCX] = ecx;
	r[VMMU_RDX] = edx;
	vmx_skip(vcpu, to_vmx(vcpu)->insn_len);
	return 0;
}

/* Deliver #GP(0) at the next entry, for an instruction the CPU refuses. */
static int vmx_inject_gp(struct vmmu_vmx *vmx)
{
	vmx->inject = INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION |
		      INTR_INFO_DELIVER_CODE_MASK | X86_TRAP_GP;
	vmx->inject_err = 0;
	return 0;
}

/*
 * MOV to CR0 or CR4 that changes a bit VMX forces on (CR0.NE, CR4.VMXE):
 * only those exit (the guest/host masks).  The guest's value goes to the
 * read shadow, the forced bit stays set; what the CPU would refuse with
 * #GP gets #GP.  Anything else is unexpected.
 */
static int vmx_exit_cr(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);
	u64 qual = vmx->exit_qual, val;
	bool lma = vmx->efer & EFER_LMA;
	u64 pdpte[4], old;
	int r;

	if (CR_QUAL_TYPE(qual) != CR_QUAL_MOV_TO_CR)
		return vmx_exit_unknown(vcpu);
	val = vcpu->gprs.r[CR_QUAL_GPR(qual)];
	/* Outside 64-bit code the source is a 32-bit register. */
	if (!lma || !(vmx->seg[SEG_CS].ar & VMX_AR_L))
		val = (u32)val;
	switch (CR_QUAL_CR(qual)) {
	case 0:
		if ((val >> 32) ||
		    ((val & X86_CR0_PG) && !(val & X86_CR0_PE)) ||
		    ((val & X86_CR0_NW) && !(val & X86_CR0_CD)) ||
		    ((val & X86_CR0_PG) && (vmx->efer & EFER_LME) &&
		     !(vmx->cr4 & X86_CR4_PAE)))
			return vmx_inject_gp(vmx);
		/* Changing PG, CD or NW into PAE paging loads the PDPTEs. */
		old = vmx->cr0;
		if (vmx_pae_paging(val, vmx->cr4, vmx->efer & EFER_LME ?
				   EFER_LMA : 0) &&
		    ((val ^ old) & (X86_CR0_PG | X86_CR0_CD | X86_CR0_NW))) {
			r = vmx_read_pdptes(vcpu, vmx->cr3, pdpte);
			/* Killed: the MOV is not done, and runs again. */
			if (r == -EINTR)
				return r;
			if (r)
				return vmx_inject_gp(vmx);
			memcpy(vmx->pdpte, pdpte, sizeof(pdpte));
		}
		vmx->cr0 = val;
		/* What the CPU does for a guest's own MOV to CR0.PG. */
		if (!(val & X86_CR0_PG))
			vmx->efer &= ~EFER_LMA;
		else if (vmx->efer & EFER_LME)
			vmx->efer |= EFER_LMA;
		break;
	case 4:
		if ((val & ~vmmu_vmx_caps.cr4_fixed1) ||
		    (lma && !(val & X86_CR4_PAE)))
			return vmx_inject_gp(vmx);
		/* So does changing PAE, PGE, PSE or SMEP in PAE paging. */
		old = vmx->cr4;
		if (vmx_pae_paging(vmx->cr0, val, vmx->efer) &&
		    ((val ^ old) & (X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE |
				    X86_CR4_SMEP))) {
			r = vmx_read_pdptes(vcpu, vmx->cr3, pdpte);
			/* Killed: the MOV is not done, and runs again. */
			if (r == -EINTR)
				return r;
			if (r)
				return vmx_inject_gp(vmx);
			memcpy(vmx->pdpte, pdpte, sizeof(pdpte));
		}
		vmx->cr4 = val;
		break;
	default:
		return vmx_exit_unknown(vcpu);
	}
	/* The MOV exited: the flush it makes when paging changes is ours. */
	vmx->flush_vpid = true;
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	vmx_skip(vcpu, vmx->insn_len);
	return 0;
}

static int vmx_handle_exit(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);
	struct vmmu_run *run = vcpu->run;
	u64 qual = vmx->exit_qual;
	u32 vec = vmx->idt_vectoring;
	u32 access;

	run->guest_rip = vmx->rip;
	trace_kvm_exit(vcpu->id, VMMU_TRACE_ISA_VMX, vmx->exit_reason,
		       vmx->rip, qual, vmx->exit_gpa, vmx->idt_vectoring,
		       vmx->idt_vectoring_err, READ_ONCE(vcpu->requests));

	if (vmx->exit_reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		/* The host's machine check, handled after the exit: retry. */
		if ((vmx->exit_reason & 0xffff) == EXIT_REASON_MCE_DURING_VMENTRY)
			return 0;
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
		/* The exit reason, with bit 31 set: which check failed. */
		run->fail_entry.hardware_entry_failure_reason = vmx->exit_reason;
		run->fail_entry.cpu = vcpu->cpu;
		return vmx_exit_to_user(vcpu, VMMU_EXIT_FAIL_ENTRY);
	}

	/*
	 * An exception whose delivery the exit cut short (an EPT violation
	 * on the IDT or the stack, say) is delivered again on the next
	 * entry; a software interrupt, INT3 or INTO is not: its instruction,
	 * where RIP still is, runs again.
	 */
	vmx->inject = 0;
	if ((vec & VECTORING_INFO_VALID_MASK) &&
	    (vec & VECTORING_INFO_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION) {
		vmx->inject = vec & (VECTORING_INFO_VALID_MASK |
				     VECTORING_INFO_TYPE_MASK |
				     VECTORING_INFO_DELIVER_CODE_MASK |
				     VECTORING_INFO_VECTOR_MASK);
		vmx->inject_err = vmx->idt_vectoring_err;
	}

	switch (vmx->exit_reason & 0xffff) {
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		/* Handled by the host once interrupts were on again. */
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_intr);
		return 0;
	case EXIT_REASON_EXCEPTION_NMI:
		if ((vmx->exit_intr_info & INTR_INFO_INTR_TYPE_MASK) ==
		    INTR_TYPE_NMI_INTR) {
			/* The host's NMI: handled right after the exit. */
			this_cpu_inc(vcpu->vm->pcpu_stats->exits_intr);
			return 0;
		}
		/* A machine check was the host's, handled after the exit. */
		if ((vmx->exit_intr_info & INTR_INFO_VECTOR_MASK) == X86_TRAP_MC)
			return 0;
		break;
	case EXIT_REASON_EPT_VIOLATION:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_npf);
		access = (qual & EPT_QUAL_WRITE ? VMMU_ACCESS_WRITE : 0) |
			 (qual & EPT_QUAL_FETCH ? VMMU_ACCESS_FETCH : 0);
		/* The guest's table walk or an event's delivery: not RIP's. */
		if (!(qual & EPT_QUAL_GLA_VALID) ||
		    !(qual & EPT_QUAL_GLA_FINAL) ||
		    (vec & VECTORING_INFO_VALID_MASK))
			access |= VMMU_NPF_NOT_INSN;
		trace_kvm_page_fault(vcpu->id, vmx->rip, vmx->exit_gpa, qual);
		return vmmu_vcpu_handle_npf(vcpu, vmx->exit_gpa, access);
	case EXIT_REASON_EPT_MISCONFIG:
		/*
		 * vmmu wrote an entry the CPU refuses: a bug in vmmu, not the
		 * guest's doing.  This run and every later one fail.
		 */
		WARN_ONCE(1, "vmmu: EPT misconfiguration at gpa 0x%llx\n",
			  vmx->exit_gpa);
		vcpu->bugged = true;
		return -EIO;
	case EXIT_REASON_CPUID:
		return vmx_exit_cpuid(vcpu);
	case EXIT_REASON_CR_ACCESS:
		return vmx_exit_cr(vcpu);
	case EXIT_REASON_HLT:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_hlt);
		vmx_skip(vcpu, vmx->insn_len);
		return vmx_exit_to_user(vcpu, VMMU_EXIT_HLT);
	case EXIT_REASON_IO_INSTRUCTION:
		if (qual & (IO_QUAL_STRING | IO_QUAL_REP))
			break;
		vmx_skip(vcpu, vmx->insn_len);
		return vmmu_emulate_io(vcpu, IO_QUAL_PORT(qual),
				       IO_QUAL_SIZE(qual), qual & IO_QUAL_IN);
	case EXIT_REASON_WBINVD:
		/* The host's caches are not the guest's to flush: a no-op. */
		vmx_skip(vcpu, vmx->insn_len);
		return 0;
	case EXIT_REASON_TRIPLE_FAULT:
		this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
		vmx_reset(vmx);
		return vmx_exit_to_user(vcpu, VMMU_EXIT_SHUTDOWN);
	default:
		break;
	}
	return vmx_exit_unknown(vcpu);
}

/* VMLAUNCH refused the VMCS itself: the VM-instruction error says why. */
static int vmx_launch_failed(struct vmmu_vcpu *vcpu)
{
	struct vmmu_run *run = vcpu->run;

	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	run->fail_entry.hardware_entry_failure_reason =
		to_vmx(vcpu)->insn_error;
	run->fail_entry.cpu = vcpu->cpu;
	return vmx_exit_to_user(vcpu, VMMU_EXIT_FAIL_ENTRY);
}

/* Interrupts off, last thing before the entry but the guest's registers. */
static void vmx_flush_l1d(void)
{
	const u8 *p = vmx_l1d_buf;
	int i;

	if (!p) {
		wrmsrq(MSR_IA32_FLUSH_CMD, L1D_FLUSH);
		return;
	}
	/*
	 * Each page's translation first, then (after CPUID: no load of the
	 * second loop goes ahead of the first) every line.
	 */
	for (i = 0; i < PAGE_SIZE << VMX_L1D_BUF_ORDER; i += PAGE_SIZE)
		READ_ONCE(p[i]);
	native_cpuid_eax(0);
	for (i = 0; i < PAGE_SIZE << VMX_L1D_BUF_ORDER; i += L1_CACHE_BYTES)
		READ_ONCE(p[i]);
	/* All of them done before the entry (LFENCE). */
	rmb();
}

static int vmx_setup_l1tf(void)
{
	struct page *page;
	u64 cap = 0;

	if (!boot_cpu_has_bug(X86_BUG_L1TF) || !vmx_l1d_flush_param ||
	    cpu_mitigations_off())
		return 0;
	if (boot_cpu_has(X86_FEATURE_ARCH_CAPABILITIES))
		rdmsrq(MSR_IA32_ARCH_CAPABILITIES, cap);
	if (cap & ARCH_CAP_SKIP_VMENTRY_L1DFLUSH)
		return 0;
	vmx_l1d_flush = true;
	if (boot_cpu_has(X86_FEATURE_FLUSH_L1D))
		return 0;
	page = alloc_pages(GFP_KERNEL | __GFP_ZERO, VMX_L1D_BUF_ORDER);
	if (!page)
		return -ENOMEM;
	vmx_l1d_buf = page_address(page);
	return 0;
}

/*
 * Interrupts off, the vCPU in guest mode, its VMCS current: drop what this
 * CPU may cache for the vCPU that is no longer right.  INVEPT of the VM's
 * EPTP drops its guest-physical and combined mappings, of every VPID: after
 * the MMU zapped (the request, which vmmu_kick_vcpus() sets before it reads
 * the mode), and on a CPU the vCPU did not last enter on: what it cached
 * there may predate zaps flushed on another CPU, or come from a freed root
 * at the same address, or from the VPID's earlier owner.  INVVPID drops the
 * guest's own translations after user space changed its control registers
 * (the guest flushes after its own changes).  Without a VPID, every entry
 * and exit drops those anyway.
 */
static int vmx_flush_tlb(struct vmmu_vcpu *vcpu, struct vmmu_vmx *vmx)
{
	int cpu = smp_processor_id(), r;

	lockdep_assert_irqs_disabled();
	if (test_and_clear_bit(VMMU_REQ_TLB_FLUSH, &vcpu->requests) ||
	    vmx->tlb_cpu != cpu) {
		r = vmmu_invept(vmx->eptp);
		vmx->tlb_cpu = cpu;
	} else if (vmx->flush_vpid && vmx->vpid) {
		r = vmmu_invvpid(vmx->vpid);
	} else {
		vmx->flush_vpid = false;
		return 0;
	}
	vmx->flush_vpid = false;
	/* The CPU refused what its capabilities offered: a vmmu bug. */
	if (WARN_ONCE(r, "vmmu: INVEPT/INVVPID failed\n")) {
		vcpu->bugged = true;
		return r;
	}
	this_cpu_inc(vcpu->vm->pcpu_stats->vcpu_flushes);
	return 0;
}

/* Enter the guest once (vmmu_vcpu_enter_begin() says how). */
static int vmx_vcpu_run(struct vmmu_vcpu *vcpu)
{
	struct vmmu_vmx *vmx = to_vmx(vcpu);
	u64 vmcs_pa = __pa(vmx->vmcs);
	struct vmmu_vmx_borrow borrow;
	struct vmmu_vmx_host host;
	u32 host_pkru, exit_intr = 0;
	int r, failed = -1;
	bool mce = false;

	if (!vmmu_vcpu_enter_begin(vcpu))
		return 0;
	r = vmmu_vmx_borrow(&borrow);
	if (r)
		goto out;
	/* Cleared, then current: this VMCS is launched afresh. */
	r = vmmu_vmclear(vmcs_pa) ?: vmmu_vmptrld(vmcs_pa);
	if (r)
		goto give_back;
	vmx_save_host(&host);
	vmx_write_host(&host);
	vmx_write_guest(vcpu, vmx);
	/* Stale translations may not reach the guest: no entry then. */
	r = vmx_flush_tlb(vcpu, vmx);
	if (r)
		goto clear;
	trace_kvm_entry(vcpu->id, vmx->rip, vmx->inject, vmx->inject_err);
	host_pkru = vmmu_fpu_enter_guest(vcpu->xsave);
	vmx_load_guest_msrs(vmx);
	if (vmx_l1d_flush)
		vmx_flush_l1d();
	/*
	 * CR2 right around the entry: a fault anywhere before (tracing in
	 * the MSR accessors, say) would overwrite the guest's.
	 */
	if (read_cr2() != vmx->cr2)
		write_cr2(vmx->cr2);
	failed = __vmmu_vmx_vmlaunch(vcpu->gprs.r);
	vmx->cr2 = read_cr2();
	vmx_restore_host(vmx, &host);
	vmmu_guest_ran();
	vmmu_fpu_leave_guest(vcpu->xsave, host_pkru);

	if (failed) {
		vmx->insn_error = vmcs_read(VM_INSTRUCTION_ERROR);
	} else {
		vmx_read_guest(vcpu, vmx);
		if ((vmx->exit_reason & 0xffff) == EXIT_REASON_EXCEPTION_NMI)
			exit_intr = vmx->exit_intr_info;
		mce = (vmx->exit_reason & 0xffff) ==
		      EXIT_REASON_MCE_DURING_VMENTRY;
	}
clear:
	vmmu_vmclear(vmcs_pa);
give_back:
	vmmu_vmx_give_back(&borrow);
out:
	/*
	 * The exit took the host's NMI and left NMIs blocked: run the
	 * kernel's handler, whose IRET unblocks them.
	 */
	if ((exit_intr & INTR_INFO_VALID_MASK) &&
	    (exit_intr & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR)
		asm volatile("int $2");
	/* A machine check taken in the guest is the host's, as in KVM. */
	if ((exit_intr & INTR_INFO_VALID_MASK) &&
	    (exit_intr & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION &&
	    (exit_intr & INTR_INFO_VECTOR_MASK) == X86_TRAP_MC)
		mce = true;
	/* The exit set DR7 to 0x400 (failed >= 0: VMLAUNCH ran). */
	vmmu_vcpu_enter_end(vcpu, failed >= 0, mce);

	/* No entry: VMX could not be had (r), or there was other work. */
	if (failed < 0)
		return r;
	this_cpu_inc(vcpu->vm->pcpu_stats->entries);
	if (failed)
		return vmx_launch_failed(vcpu);
	return vmx_handle_exit(vcpu);
}

static const struct vmmu_vcpu_ops vmmu_vmx_ops = {
	.name		= "vmx",
	.create		= vmx_vcpu_create,
	.destroy	= vmx_vcpu_destroy,
	.run		= vmx_vcpu_run,
	.get_regs	= vmx_get_regs,
	.set_regs	= vmx_set_regs,
	.get_sregs	= vmx_get_sregs,
	.set_sregs	= vmx_set_sregs,
	.skip		= vmx_skip,
};

/*
 * The controls vmmu needs (@want) and would like (@opt), as the CPU allows
 * them in capability MSR @msr: bits 31:0 must be set, bits 63:32 may be.
 */
static int vmx_controls(u32 want, u32 opt, u32 msr, u32 *ctl)
{
	u64 cap;

	rdmsrq(msr, cap);
	*ctl = ((want | opt) & (u32)(cap >> 32)) | (u32)cap;
	return (*ctl & want) == want ? 0 : -EOPNOTSUPP;
}

static int vmx_setup_caps(void)
{
	struct vmmu_vmx_caps *c = &vmmu_vmx_caps;
	u64 basic, ept, feat;
	bool true_ctls, perf;

	rdmsrq(MSR_IA32_FEAT_CTL, feat);
	if (!(feat & FEAT_CTL_LOCKED) ||
	    !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX))
		return -EOPNOTSUPP;
	rdmsrq(MSR_IA32_VMX_BASIC, basic);
	if (VMX_BASIC_SIZE(basic) > PAGE_SIZE ||
	    VMX_BASIC_MEMTYPE(basic) != VMX_MEMTYPE_WB)
		return -EOPNOTSUPP;
	c->revision = basic & 0x7fffffff;
	true_ctls = basic & VMX_BASIC_TRUE;
	/* IA32_PERF_GLOBAL_CTRL exists from architectural perfmon v2. */
	perf = boot_cpu_has(X86_FEATURE_ARCH_PERFMON) &&
	       (cpuid_eax(0xa) & 0xff) >= 2;

	/*
	 * External interrupts and NMIs exit, and are left to the host.  The
	 * guest gets DR7 and DEBUGCTL of its own (the host's breakpoints and
	 * branch tracing are not for it), as well as EFER and PAT.
	 * Everything that reaches host state exits: all ports and MSRs (no
	 * bitmaps), debug registers, CR8 (the host's TPR), MONITOR/MWAIT,
	 * RDPMC, WBINVD.  CR3 is the guest's own under EPT.
	 */
	if (vmx_controls(PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING, 0,
			 true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS :
			 MSR_IA32_VMX_PINBASED_CTLS, &c->pin) ||
	    vmx_controls(CPU_BASED_HLT_EXITING | CPU_BASED_UNCOND_IO_EXITING |
			 CPU_BASED_MOV_DR_EXITING | CPU_BASED_MWAIT_EXITING |
			 CPU_BASED_MONITOR_EXITING | CPU_BASED_RDPMC_EXITING |
			 CPU_BASED_CR8_LOAD_EXITING |
			 CPU_BASED_CR8_STORE_EXITING |
			 CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, 0,
			 true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
			 MSR_IA32_VMX_PROCBASED_CTLS, &c->proc) ||
	    vmx_controls(SECONDARY_EXEC_ENABLE_EPT |
			 SECONDARY_EXEC_UNRESTRICTED_GUEST |
			 SECONDARY_EXEC_WBINVD_EXITING,
			 SECONDARY_EXEC_ENABLE_VPID,
			 MSR_IA32_VMX_PROCBASED_CTLS2, &c->proc2) ||
	    vmx_controls(VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_SAVE_IA32_PAT |
			 VM_EXIT_LOAD_IA32_PAT | VM_EXIT_SAVE_IA32_EFER |
			 VM_EXIT_LOAD_IA32_EFER | VM_EXIT_SAVE_DEBUG_CONTROLS,
			 perf ? VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL : 0,
			 true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS :
			 MSR_IA32_VMX_EXIT_CTLS, &c->exit) ||
	    vmx_controls(VM_ENTRY_LOAD_IA32_PAT | VM_ENTRY_LOAD_IA32_EFER |
			 VM_ENTRY_LOAD_DEBUG_CONTROLS,
			 perf ? VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL : 0,
			 true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS :
			 MSR_IA32_VMX_ENTRY_CTLS, &c->entry))
		return -EOPNOTSUPP;
	/* The counters stop in the guest only if both ends are switched. */
	if (!(c->exit & VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL) ||
	    !(c->entry & VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL)) {
		c->exit &= ~VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL;
		c->entry &= ~VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL;
	}
	/*
	 * What the CPU would force on that vmmu cannot have: CR3 exits
	 * (emulated nowhere), acknowledging interrupts on exit (they must
	 * stay pending for the host), long mode as a fixed entry control.
	 */
	if ((c->proc & (CPU_BASED_CR3_LOAD_EXITING |
			CPU_BASED_CR3_STORE_EXITING)) ||
	    (c->exit & VM_EXIT_ACK_INTR_ON_EXIT) ||
	    (c->entry & VM_ENTRY_IA32E_MODE))
		return -EOPNOTSUPP;

	rdmsrq(MSR_IA32_VMX_EPT_VPID_CAP, ept);
	if (!(ept & EPT_CAP_WALK_4) || !(ept & EPT_CAP_WB) ||
	    !(ept & EPT_CAP_INVEPT) ||
	    !(ept & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)))
		return -EOPNOTSUPP;
	/*
	 * Without EPT A/D bits a guest's write leaves no dirty flag for the
	 * MMU to see when it zaps the leaf (mmu.c), and the host would lose
	 * the page's new data: no vCPUs on such a CPU.
	 */
	if (!(ept & EPT_CAP_AD))
		return -EOPNOTSUPP;
	c->invept_single = ept & EPT_CAP_INVEPT_SINGLE;
	vmx_maxphyaddr = cpuid_eax(0x80000008) & 0xff;
	c->vpid = vmx_vpid_param && (c->proc2 & SECONDARY_EXEC_ENABLE_VPID) &&
		  (ept & VPID_CAP_INVVPID) &&
		  (ept & (VPID_CAP_INVVPID_SINGLE | VPID_CAP_INVVPID_ALL));
	c->invvpid_single = ept & VPID_CAP_INVVPID_SINGLE;
	/* Asked for per vCPU: one without a VPID runs with the control off. */
	c->proc2 &= ~SECONDARY_EXEC_ENABLE_VPID;
	if (c->vpid)
		c->proc2 |= SECONDARY_EXEC_ENABLE_VPID;
	c->eptp_flags = EPTP_WB | EPTP_WALK_4 | EPTP_AD;

	rdmsrq(MSR_IA32_VMX_CR0_FIXED0, c->cr0_fixed0);
	rdmsrq(MSR_IA32_VMX_CR0_FIXED1, c->cr0_fixed1);
	rdmsrq(MSR_IA32_VMX_CR4_FIXED0, c->cr4_fixed0);
	rdmsrq(MSR_IA32_VMX_CR4_FIXED1, c->cr4_fixed1);
	/* An unrestricted guest may clear PE and PG. */
	vmx_cr0_mask = c->cr0_fixed0 & ~(u64)(X86_CR0_PE | X86_CR0_PG);
	vmx_cr4_mask = c->cr4_fixed0;
	/* VMXON itself needs the host's CR0 to fit (CR4 gets VMXE). */
	if ((read_cr0() & c->cr0_fixed0) != c->cr0_fixed0 ||
	    (read_cr0() & ~c->cr0_fixed1))
		return -EOPNOTSUPP;
	return 0;
}

static int vmx_init(void)
{
	int r;

	if (!boot_cpu_has(X86_FEATURE_VMX) || !boot_cpu_has(X86_FEATURE_EPT))
		return 0;
#ifdef X86_FEATURE_FRED
	/* Under FRED, INT $2 is not the NMI handler: no vCPUs. */
	if (cpu_feature_enabled(X86_FEATURE_FRED)) {
		pr_info("no vCPUs: FRED is on\n");
		return 0;
	}
#endif
	if (vmx_setup_caps()) {
		pr_info("no vCPUs: VMX lacks a feature vmmu needs\n");
		return 0;
	}
	r = vmmu_fpu_init();
	if (r) {
		pr_info("no vCPUs: the FPU state does not fit the ABI\n");
		return 0;
	}
	r = vmx_setup_l1tf();
	if (r)
		return r;
	r = vmmu_vmx_cpus_init();
	if (r)
		goto free_l1d;
	vmmu_vcpu_ops = &vmmu_vmx_ops;
	return 0;

free_l1d:
	if (vmx_l1d_buf)
		free_pages((unsigned long)vmx_l1d_buf, VMX_L1D_BUF_ORDER);
	vmx_l1d_buf = NULL;
	return r;
}

int vmmu_vmx_init(void)
{
	int r = vmx_init();

	/* The parameter says what is used. */
	vmx_vpid_param = vmmu_vcpu_ops == &vmmu_vmx_ops && vmmu_vmx_caps.vpid;
	return r;
}

void vmmu_vmx_exit(void)
{
	if (vmmu_vcpu_ops == &vmmu_vmx_ops)
		vmmu_vcpu_ops = NULL;
	vmmu_vmx_cpus_free();
	if (vmx_l1d_buf)
		free_pages((unsigned long)vmx_l1d_buf, VMX_L1D_BUF_ORDER);
	vmx_l1d_buf = NULL;
	vmx_l1d_flush = false;
}
