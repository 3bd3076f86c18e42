// SPDX-License-Identifier: GPL-2.0-only
/*
 * vCPUs: the vCPU fd, its run page and ioctls, and the run loop.  Entering
 * the guest is the hardware backend's (svm.c); what happens around it
 * (signals, rescheduling, requests from the MMU, completing port and MMIO
 * reads) is here.
 *
 * Locking (docs/locking.md): vcpu->mutex serialises a vCPU's ioctls.
 * vcpu->mode and vcpu->requests pair with vmmu_kick_vcpus(): the vCPU
 * sets mode, then reads requests; a requester sets a request, then reads
 * mode, with full barriers between, so either the vCPU sees the request
 * before it enters or the requester sees it in guest mode and kicks it out.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/mce.h>
#include <asm/segment.h>

#include "vcpu.h"
#include "emulate.h"
#include "fpu.h"

const struct vmmu_vcpu_ops *vmmu_vcpu_ops;

/* VERW's operand before an entry (the *_vmrun.S): a writable data segment. */
const u16 vmmu_verw_sel = __KERNEL_DS;

/* vCPUs a VM may have: 0 if its format is not the one the CPU walks. */
long vmmu_vcpu_max(struct vmmu_vm *vm)
{
	if (!vmmu_vcpu_ops || vm->pt_format != vmmu_host_pt_format())
		return 0;
	return VMMU_MAX_VCPUS;
}

/*
 * Start an entry: preemption off from kernel_fpu_begin() (the VMM's FPU
 * state saved) to vmmu_vcpu_enter_end(), interrupts off, the vCPU in guest
 * mode.  False if there is other work first (rescheduling, a signal): then
 * all of it is undone.
 */
bool vmmu_vcpu_enter_begin(struct vmmu_vcpu *vcpu)
{
	kernel_fpu_begin();
	local_irq_disable();
	vcpu->cpu = smp_processor_id();
	WRITE_ONCE(vcpu->mode, VMMU_IN_GUEST_MODE);
	/* Pairs with vmmu_kick_vcpus(): mode before requests. */
	smp_mb();
	if (!need_resched() && !signal_pending(current))
		return true;
	vmmu_vcpu_enter_end(vcpu, false, false);
	return false;
}

/*
 * End an entry, interrupts still off: out of guest mode; if the guest ran
 * (@ran), the host's breakpoints back (an exit disables DR7, and the guest
 * cannot touch the debug registers: every access exits); a machine check
 * in the guest or during the entry (@mce) handed to the host, as in KVM.
 * Then interrupts on: the one that made the guest exit, if any, runs.
 */
void vmmu_vcpu_enter_end(struct vmmu_vcpu *vcpu, bool ran, bool mce)
{
	lockdep_assert_irqs_disabled();
	WRITE_ONCE(vcpu->mode, VMMU_OUTSIDE_GUEST_MODE);
	if (ran && hw_breakpoint_active())
		set_debugreg(__this_cpu_read(cpu_dr7), 7);
	if (IS_ENABLED(CONFIG_X86_MCE) && mce) {
		struct pt_regs regs = { .cs = 3, .flags = X86_EFLAGS_IF };

		do_machine_check(&regs);
	}
	local_irq_enable();
	kernel_fpu_end();
}

static void vmmu_kick_ack(void *unused)
{
}

/*
 * Ask every vCPU to flush its TLB before it enters the guest again, and
 * wait until those in guest mode have left it: once this returns, no vCPU
 * uses a translation that was zapped before the call.
 */
void vmmu_kick_vcpus(struct vmmu_vm *vm)
{
	struct vmmu_vcpu *vcpu;
	unsigned long i;

	xa_for_each(&vm->vcpus, i, vcpu) {
		set_bit(VMMU_REQ_TLB_FLUSH, &vcpu->requests);
		/* Pairs with the barrier after the vCPU sets its mode. */
		smp_mb__after_atomic();
		if (READ_ONCE(vcpu->mode) != VMMU_IN_GUEST_MODE)
			continue;
		/* The IPI makes it exit; waiting for the ack, that it has. */
		smp_call_function_single(READ_ONCE(vcpu->cpu), vmmu_kick_ack,
					 NULL, 1);
		this_cpu_inc(vm->pcpu_stats->kicks);
	}
}

/* Complete the IN or MMIO read the last exit left to user space. */
static void vmmu_vcpu_complete_pending(struct vmmu_vcpu *vcpu)
{
	struct vmmu_run *run = vcpu->run;
	u64 value = 0;

	switch (vcpu->pending) {
	case VMMU_PENDING_IO_IN:
		memcpy(&value, (u8 *)run + VMMU_RUN_IO_DATA, vcpu->pending_size);
		vmmu_emulate_complete_in(vcpu, value);
		break;
	case VMMU_PENDING_MMIO_READ:
		memcpy(&value, run->mmio.data, vcpu->pending_insn.size);
		vmmu_emulate_complete_read(vcpu, value);
		break;
	case VMMU_PENDING_NONE:
		break;
	}
	vcpu->pending = VMMU_PENDING_NONE;
}

static int vmmu_vcpu_run(struct vmmu_vcpu *vcpu)
{
	struct vmmu_run *run = vcpu->run;
	int r;

	if (vcpu->bugged)
		return -EIO;
	vmmu_vcpu_complete_pending(vcpu);
	if (READ_ONCE(run->immediate_exit)) {
		run->exit_reason = VMMU_EXIT_INTR;
		return -EINTR;
	}
	for (;;) {
		if (signal_pending(current)) {
			run->exit_reason = VMMU_EXIT_INTR;
			this_cpu_inc(vcpu->vm->pcpu_stats->exits_intr);
			return -EINTR;
		}
		cond_resched();
		r = vmmu_vcpu_ops->run(vcpu);
		if (r == -EINTR)
			run->exit_reason = VMMU_EXIT_INTR;
		if (r)
			return r < 0 ? r : 0;
	}
}

/*
 * A nested page fault at @gpa: map it, or fill the run page with what user
 * space must handle.  Returns 0 to enter the guest again, 1 to exit to user
 * space, or -errno.
 */
int vmmu_vcpu_handle_npf(struct vmmu_vcpu *vcpu, u64 gpa, u32 access)
{
	struct vmmu_page_fault fault = {
		.gpa = gpa,
		.write = access & VMMU_ACCESS_WRITE,
		/* The guest faults again on the next run. */
		.interruptible = true,
	};
	struct vmmu_run *run = vcpu->run;
	int r;

	r = vmmu_page_fault(vcpu->vm, &fault);
	if (r <= 0)
		return r;
	/* Only a load or store is MMIO: not a fetch, not a table walk. */
	if (r == VMMU_ACCESS_EXIT_MMIO &&
	    !(access & (VMMU_ACCESS_FETCH | VMMU_NPF_NOT_INSN)))
		return vmmu_emulate_mmio(vcpu, gpa, access & VMMU_ACCESS_WRITE);
	run->exit_reason = VMMU_EXIT_MEMORY_FAULT;
	run->memory_fault.gpa = gpa;
	run->memory_fault.reason = r;
	run->memory_fault.flags = access & (VMMU_ACCESS_WRITE | VMMU_ACCESS_FETCH);
	return 1;
}

/* The ABI's registers: the GPRs are kept here, RIP and RFLAGS by the backend. */
void vmmu_vcpu_get_regs(struct vmmu_vcpu *vcpu, struct vmmu_regs *regs)
{
	const u64 *r = vcpu->gprs.r;

	regs->rax = r[VMMU_RAX];
	regs->rbx = r[VMMU_RBX];
	regs->rcx = r[VMMU_RCX];
	regs->rdx = r[VMMU_RDX];
	regs->rsi = r[VMMU_RSI];
	regs->rdi = r[VMMU_RDI];
	regs->rsp = r[VMMU_RSP];
	regs->rbp = r[VMMU_RBP];
	regs->r8 = r[VMMU_R8];
	regs->r9 = r[VMMU_R9];
	regs->r10 = r[VMMU_R10];
	regs->r11 = r[VMMU_R11];
	regs->r12 = r[VMMU_R12];
	regs->r13 = r[VMMU_R13];
	regs->r14 = r[VMMU_R14];
	regs->r15 = r[VMMU_R15];
	vmmu_vcpu_ops->get_regs(vcpu, regs);
}

static void vmmu_vcpu_set_regs(struct vmmu_vcpu *vcpu,
			       const struct vmmu_regs *regs)
{
	u64 *r = vcpu->gprs.r;

	r[VMMU_RAX] = regs->rax;
	r[VMMU_RBX] = regs->rbx;
	r[VMMU_RCX] = regs->rcx;
	r[VMMU_RDX] = regs->rdx;
	r[VMMU_RSI] = regs->rsi;
	r[VMMU_RDI] = regs->rdi;
	r[VMMU_RSP] = regs->rsp;
	r[VMMU_RBP] = regs->rbp;
	r[VMMU_R8] = regs->r8;
	r[VMMU_R9] = regs->r9;
	r[VMMU_R10] = regs->r10;
	r[VMMU_R11] = regs->r11;
	r[VMMU_R12] = regs->r12;
	r[VMMU_R13] = regs->r13;
	r[VMMU_R14] = regs->r14;
	r[VMMU_R15] = regs->r15;
	vmmu_vcpu_ops->set_regs(vcpu, regs);
}

static long vmmu_vcpu_ioctl_get_regs(struct vmmu_vcpu *vcpu, void __user *argp)
{
	struct vmmu_regs regs = {};

	vmmu_vcpu_get_regs(vcpu, &regs);
	return copy_to_user(argp, &regs, sizeof(regs)) ? -EFAULT : 0;
}

static long vmmu_vcpu_ioctl_set_regs(struct vmmu_vcpu *vcpu, void __user *argp)
{
	struct vmmu_regs regs;

	if (copy_from_user(&regs, argp, sizeof(regs)))
		return -EFAULT;
	vmmu_vcpu_set_regs(vcpu, &regs);
	return 0;
}

static long vmmu_vcpu_get_sregs(struct vmmu_vcpu *vcpu, void __user *argp)
{
	struct vmmu_sregs sregs = {};

	vmmu_vcpu_ops->get_sregs(vcpu, &sregs);
	return copy_to_user(argp, &sregs, sizeof(sregs)) ? -EFAULT : 0;
}

static long vmmu_vcpu_set_sregs(struct vmmu_vcpu *vcpu, void __user *argp)
{
	struct vmmu_sregs sregs;

	if (copy_from_user(&sregs, argp, sizeof(sregs)))
		return -EFAULT;
	if (memchr_inv(sregs.reserved, 0, sizeof(sregs.reserved)))
		return -EINVAL;
	return vmmu_vcpu_ops->set_sregs(vcpu, &sregs);
}

static long vmmu_vcpu_get_xsave(struct vmmu_vcpu *vcpu, void __user *argp)
{
	return copy_to_user(argp, vcpu->xsave, sizeof(struct vmmu_xsave)) ?
	       -EFAULT : 0;
}

static long vmmu_vcpu_set_xsave(struct vmmu_vcpu *vcpu, void __user *argp)
{
	struct vmmu_xsave *xs;
	long r;

	xs = memdup_user(argp, sizeof(*xs));
	if (IS_ERR(xs))
		return PTR_ERR(xs);
	r = vmmu_fpu_check_xsave(xs);
	if (!r)
		memcpy(vcpu->xsave, xs, sizeof(*xs));
	kfree(xs);
	return r;
}

static long vmmu_vcpu_ioctl(struct file *filp, unsigned int ioctl,
			    unsigned long arg)
{
	struct vmmu_vcpu *vcpu = filp->private_data;
	void __user *argp = (void __user *)arg;
	long r;

	/* As the VM fd: only the VM's own address space. */
	if (vcpu->vm->mm != current->mm || READ_ONCE(vcpu->vm->mm_released))
		return -EIO;
	if (mutex_lock_killable(&vcpu->mutex))
		return -EINTR;

	switch (ioctl) {
	case VMMU_RUN:
		r = arg ? -EINVAL : vmmu_vcpu_run(vcpu);
		break;
	case VMMU_GET_REGS:
		r = vmmu_vcpu_ioctl_get_regs(vcpu, argp);
		break;
	case VMMU_SET_REGS:
		r = vmmu_vcpu_ioctl_set_regs(vcpu, argp);
		break;
	case VMMU_GET_SREGS:
		r = vmmu_vcpu_get_sregs(vcpu, argp);
		break;
	case VMMU_SET_SREGS:
		r = vmmu_vcpu_set_sregs(vcpu, argp);
		break;
	case VMMU_GET_XSAVE:
		r = vmmu_vcpu_get_xsave(vcpu, argp);
		break;
	case VMMU_SET_XSAVE:
		r = vmmu_vcpu_set_xsave(vcpu, argp);
		break;
	default:
		r = -ENOTTY;
		break;
	}
	mutex_unlock(&vcpu->mutex);
	return r;
}

static vm_fault_t vmmu_vcpu_fault(struct vm_fault *vmf)
{
	struct vmmu_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff)
		return VM_FAULT_SIGBUS;
	page = virt_to_page(vcpu->run);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct vmmu_vcpu_vm_ops = {
	.fault = vmmu_vcpu_fault,
};

static int vmmu_vcpu_mmap(struct file *filp, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	vma->vm_ops = &vmmu_vcpu_vm_ops;
	return 0;
}

/* The vCPU itself lives until its VM goes: the file holds the VM. */
static int vmmu_vcpu_release(struct inode *inode, struct file *filp)
{
	struct vmmu_vcpu *vcpu = filp->private_data;

	vmmu_vm_put(vcpu->vm);
	return 0;
}

static const struct file_operations vmmu_vcpu_fops = {
	.owner		= THIS_MODULE,
	.release	= vmmu_vcpu_release,
	.unlocked_ioctl	= vmmu_vcpu_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= vmmu_vcpu_mmap,
	.llseek		= noop_llseek,
};

static void vmmu_vcpu_free(struct vmmu_vcpu *vcpu)
{
	if (vcpu->arch)
		vmmu_vcpu_ops->destroy(vcpu);
	if (vcpu->xsave)
		free_page((unsigned long)vcpu->xsave);
	if (vcpu->run)
		free_page((unsigned long)vcpu->run);
	kfree(vcpu);
}

static struct vmmu_vcpu *vmmu_vcpu_alloc(struct vmmu_vm *vm, u32 id)
{
	struct vmmu_vcpu *vcpu;

	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		return NULL;
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->cpu = -1;
	mutex_init(&vcpu->mutex);
	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vcpu->xsave = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vcpu->run || !vcpu->xsave || vmmu_vcpu_ops->create(vcpu)) {
		vmmu_vcpu_free(vcpu);
		return NULL;
	}
	vmmu_fpu_init_xsave(vcpu->xsave);
	return vcpu;
}

int vmmu_create_vcpu(struct vmmu_vm *vm, unsigned long id)
{
	struct vmmu_vcpu *vcpu;
	struct file *file;
	int fd, r;

	if (!vmmu_vcpu_ops)
		return -ENODEV;
	if (!vmmu_vcpu_max(vm))
		return -EOPNOTSUPP;
	if (id >= VMMU_MAX_VCPUS)
		return -EINVAL;

	vcpu = vmmu_vcpu_alloc(vm, id);
	if (!vcpu)
		return -ENOMEM;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto err_free;
	}
	r = xa_insert(&vm->vcpus, id, vcpu, GFP_KERNEL_ACCOUNT);
	if (r) {
		r = r == -EBUSY ? -EEXIST : r;
		goto err_fd;
	}
	file = anon_inode_getfile("vmmu-vcpu", &vmmu_vcpu_fops, vcpu, O_RDWR);
	if (IS_ERR(file)) {
		r = PTR_ERR(file);
		/* Kicks look vCPUs up under mmu_lock: none sees it after. */
		vmmu_mmu_write_lock(vm);
		xa_erase(&vm->vcpus, id);
		vmmu_mmu_write_unlock(vm);
		goto err_fd;
	}
	refcount_inc(&vm->users);
	fd_install(fd, file);
	return fd;

err_fd:
	put_unused_fd(fd);
err_free:
	vmmu_vcpu_free(vcpu);
	return r;
}

/* The VM is being freed: its vCPU files are all closed. */
void vmmu_vcpus_destroy(struct vmmu_vm *vm)
{
	struct vmmu_vcpu *vcpu;
	unsigned long i;

	xa_for_each(&vm->vcpus, i, vcpu)
		vmmu_vcpu_free(vcpu);
	xa_destroy(&vm->vcpus);
}
