// SPDX-License-Identifier: GPL-2.0-only
/*
 * Port I/O and MMIO exits, which user space completes.  Port I/O comes
 * decoded from the hardware.  MMIO does not (the emulated test CPU has no
 * decode assists), so the faulting instruction is read from guest memory
 * through the guest's own page tables and decoded here (insn.c): only
 * loads and stores through one memory operand are supported, anything
 * else exits as VMMU_EXIT_UNKNOWN.
 */
#include <linux/mm.h>
#include <linux/uaccess.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "emulate.h"

/* Port I/O: the backend has already moved RIP past the instruction. */
int vmmu_emulate_io(struct vmmu_vcpu *vcpu, u16 port, unsigned int size,
		    bool in)
{
	struct vmmu_run *run = vcpu->run;
	u64 rax = vcpu->gprs.r[VMMU_RAX];

	run->exit_reason = VMMU_EXIT_IO;
	run->io.direction = in ? VMMU_EXIT_IO_IN : VMMU_EXIT_IO_OUT;
	run->io.size = size;
	run->io.port = port;
	run->io.count = 1;
	run->io.data_offset = VMMU_RUN_IO_DATA;
	if (in) {
		vcpu->pending = VMMU_PENDING_IO_IN;
		vcpu->pending_size = size;
	} else {
		memcpy((u8 *)run + VMMU_RUN_IO_DATA, &rax, size);
	}
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_io);
	return 1;
}

/* IN writes AL or AX in place; EAX is zero-extended, as any 32-bit write. */
void vmmu_emulate_complete_in(struct vmmu_vcpu *vcpu, u64 value)
{
	u64 *rax = &vcpu->gprs.r[VMMU_RAX];

	switch (vcpu->pending_size) {
	case 1:
		*rax = (*rax & ~0xffULL) | (value & 0xff);
		break;
	case 2:
		*rax = (*rax & ~0xffffULL) | (value & 0xffff);
		break;
	default:
		*rax = value & 0xffffffff;
		break;
	}
}

/*
 * Copy @len bytes of guest memory at @gpa, through the memslots: 0, -EFAULT
 * where no memslot maps it or its memory faults, -EINTR if killed while it
 * waited for a memslot update.  Not under vm->srcu.
 */
int vmmu_read_guest(struct vmmu_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	while (len) {
		unsigned int chunk = min_t(unsigned int, len,
					   PAGE_SIZE - offset_in_page(gpa));
		struct vmmu_memory_slot *slot;
		unsigned long hva = 0;
		u32 flags = 0;
		int idx;

		idx = srcu_read_lock(&vm->srcu);
		slot = vmmu_gfn_to_memslot(vmmu_memslots(vm), gpa >> PAGE_SHIFT);
		if (slot) {
			flags = READ_ONCE(slot->flags);
			hva = slot->userspace_addr +
			      (gpa - (slot->base_gfn << PAGE_SHIFT));
		}
		srcu_read_unlock(&vm->srcu, idx);
		/* Being deleted, moved or changed: what the update makes counts. */
		if (flags & VMMU_MEMSLOT_INVALID) {
			if (vmmu_wait_memslot_update(vm))
				return -EINTR;
			continue;
		}
		/* The VMM's own memory: a stale hva faults, at worst. */
		if (!hva || copy_from_user(buf, (void __user *)hva, chunk))
			return -EFAULT;
		gpa += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

/* The guest-physical address of @gva, by the guest's 4-level tables. */
static int vmmu_guest_gva_to_gpa(struct vmmu_vcpu *vcpu,
				 const struct vmmu_sregs *sregs, u64 gva,
				 u64 *gpa)
{
	u64 table = sregs->cr3 & GENMASK_ULL(51, 12), e = 0;
	int level;

	if (!(sregs->cr0 & X86_CR0_PG)) {
		*gpa = gva & 0xffffffff;
		return 0;
	}
	/* Guests with paging start in long mode (docs/abi.md). */
	if (!(sregs->efer & EFER_LMA))
		return -EOPNOTSUPP;
	for (level = 4; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		u64 ea = table + ((gva >> shift) & 511) * 8;

		if (vmmu_read_guest(vcpu->vm, ea, &e, sizeof(e)))
			return -EFAULT;
		if (!(e & _PAGE_PRESENT))
			return -EFAULT;
		if (level == 1 || (level <= 3 && (e & _PAGE_PSE))) {
			u64 mask = GENMASK_ULL(51, shift);

			*gpa = (e & mask) | (gva & (BIT_ULL(shift) - 1));
			return 0;
		}
		table = e & GENMASK_ULL(51, 12);
	}
	return -EFAULT;
}

/* Up to 15 bytes at the guest's RIP; how many could be read. */
static int vmmu_fetch_insn(struct vmmu_vcpu *vcpu,
			   const struct vmmu_sregs *sregs, u64 rip, u8 *buf)
{
	u64 gva = sregs->cs.base + rip, gpa;
	unsigned int n = 0;

	while (n < 15) {
		unsigned int chunk = min_t(unsigned int, 15 - n,
					   PAGE_SIZE - offset_in_page(gva + n));

		if (vmmu_guest_gva_to_gpa(vcpu, sregs, gva + n, &gpa) ||
		    vmmu_read_guest(vcpu->vm, gpa, buf + n, chunk))
			break;
		n += chunk;
	}
	return n;
}

static int vmmu_emulate_unsupported(struct vmmu_vcpu *vcpu, u64 gpa)
{
	struct vmmu_run *run = vcpu->run;

	run->exit_reason = VMMU_EXIT_UNKNOWN;
	run->hw.hardware_exit_reason = 0;
	run->hw.info1 = 0;
	run->hw.info2 = gpa;
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_other);
	return 1;
}

/*
 * A guest load or store (@write) at @gpa, where no memslot is: decode the
 * instruction,
 * move RIP past it and let user space do the access.  A load completes on
 * the next VMMU_RUN, with the data user space put in the run page.
 */
int vmmu_emulate_mmio(struct vmmu_vcpu *vcpu, u64 gpa, bool write)
{
	struct vmmu_run *run = vcpu->run;
	struct vmmu_sregs sregs = {};
	struct vmmu_regs regs = {};
	struct vmmu_insn insn;
	u8 bytes[15];
	int mode, n;

	vmmu_vcpu_ops->get_sregs(vcpu, &sregs);
	vmmu_vcpu_get_regs(vcpu, &regs);
	n = vmmu_fetch_insn(vcpu, &sregs, regs.rip, bytes);
	mode = (sregs.efer & EFER_LMA) && sregs.cs.l ? 64 : sregs.cs.db ? 32 : 16;
	/* The instruction may have changed since it faulted: check. */
	if (vmmu_insn_decode(bytes, n, mode, &insn) || insn.write != write)
		return vmmu_emulate_unsupported(vcpu, gpa);

	run->exit_reason = VMMU_EXIT_MMIO;
	run->mmio.phys_addr = gpa;
	run->mmio.len = insn.size;
	run->mmio.is_write = insn.write;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	if (insn.write) {
		u64 value = vmmu_insn_store_value(&insn, &vcpu->gprs);

		memcpy(run->mmio.data, &value, insn.size);
	} else {
		vcpu->pending = VMMU_PENDING_MMIO_READ;
		vcpu->pending_insn = insn;
	}
	vmmu_vcpu_ops->skip(vcpu, insn.len);
	this_cpu_inc(vcpu->vm->pcpu_stats->exits_mmio);
	return 1;
}

void vmmu_emulate_complete_read(struct vmmu_vcpu *vcpu, u64 value)
{
	vmmu_insn_complete_load(&vcpu->pending_insn, &vcpu->gprs, value);
}
