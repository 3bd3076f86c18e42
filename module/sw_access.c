// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest memory from user space, through the VM's page tables: the
 * software walker (VMMU_ACCESS), VMMU_PREFAULT and VMMU_TRANSLATE.  Until
 * vCPUs walk the tables, this is how the tests and tools see what a guest
 * would see.
 */
#include <linux/highmem.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mmu_internal.h"

/* May the entry @e, at any level, be used for @access? */
static bool vmmu_entry_allows(const struct vmmu_pte_format *fmt, u64 e,
			      u32 access)
{
	/* EPT fetches need only X; NPT needs P and US for anything. */
	if (access & VMMU_ACCESS_FETCH) {
		if (!tdp_exec(fmt, e) || (fmt->nx && !tdp_readable(fmt, e)))
			return false;
	} else if (!tdp_readable(fmt, e)) {
		return false;
	}
	return !(access & VMMU_ACCESS_WRITE) || (e & fmt->writable);
}

/*
 * Walk to @gpa as the CPU would: every level must allow @access; set the
 * accessed bits on the way and the dirty bit of the leaf on a write.
 * Returns the host physical address, -ENOENT (not present) or -EACCES.
 */
static s64 vmmu_walk(struct vmmu_vm *vm, u64 gpa, u32 access)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	u64 gfn = gpa >> PAGE_SHIFT;
	struct vmmu_pt_iter it;

	lockdep_assert_held_read(&vm->mmu_lock);

	for (pt_iter_start(&it, vm, gfn, gfn + 1, 1); it.valid;
	     pt_iter_next(&it)) {
		bool leaf = tdp_leaf(fmt, it.old, it.level);
		u64 want;

		if (!tdp_present(fmt, it.old))
			return -ENOENT;
		if (!vmmu_entry_allows(fmt, it.old, access))
			return -EACCES;
		want = fmt->accessed |
		       (leaf && (access & VMMU_ACCESS_WRITE) ? fmt->dirty : 0);
		/* Only A/D bits change under the read lock, always atomically. */
		while ((it.old & want) != want &&
		       !try_cmpxchg64(it.ep, &it.old, it.old | want))
			;
		if (leaf)
			return tdp_leaf_hpa(it.old, it.level, gpa);
	}
	return -ENOENT;
}

/* Copy @len bytes at @gpa, all within one page, to or from @buf. */
static int vmmu_access_page(struct vmmu_vm *vm, u64 gpa, void *buf,
			    unsigned int len, u32 access)
{
	int r;

	for (;;) {
		struct vmmu_page_fault fault = {
			.gpa = gpa,
			.write = access & VMMU_ACCESS_WRITE,
		};
		s64 hpa;

		read_lock(&vm->mmu_lock);
		hpa = vmmu_walk(vm, gpa, access);
		if (hpa >= 0) {
			struct page *page = pfn_to_page(hpa >> PAGE_SHIFT);
			void *va = kmap_local_page(page) + offset_in_page(hpa);

			/* mmu_lock keeps the page from being unmapped meanwhile. */
			if (access & VMMU_ACCESS_WRITE)
				memcpy(va, buf, len);
			else
				memcpy(buf, va, len);
			kunmap_local(va);
			read_unlock(&vm->mmu_lock);
			return 0;
		}
		read_unlock(&vm->mmu_lock);

		r = vmmu_page_fault(vm, &fault);
		if (r)
			return r;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
}

long vmmu_ioctl_access(struct vmmu_vm *vm, void __user *argp)
{
	const u32 valid = VMMU_ACCESS_WRITE | VMMU_ACCESS_FETCH;
	void __user *ubuf;
	struct vmmu_access a;
	void *bounce;
	u64 gpa = 0;
	long r = 0;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if ((a.flags & ~valid) || a.flags == valid ||
	    memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (a.len && (a.guest_phys_addr + a.len < a.guest_phys_addr ||
		      a.guest_phys_addr + a.len > BIT_ULL(VMMU_MAX_GPA_BITS)))
		return -EINVAL;
	ubuf = u64_to_user_ptr(a.buf);
	bounce = kmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!bounce)
		return -ENOMEM;

	a.done = 0;
	a.exit = VMMU_ACCESS_EXIT_NONE;
	while (a.done < a.len) {
		unsigned int chunk;

		gpa = a.guest_phys_addr + a.done;
		chunk = min_t(u64, a.len - a.done, PAGE_SIZE - offset_in_page(gpa));
		if ((a.flags & VMMU_ACCESS_WRITE) &&
		    copy_from_user(bounce, ubuf + a.done, chunk)) {
			r = -EFAULT;
			break;
		}
		r = vmmu_access_page(vm, gpa, bounce, chunk, a.flags);
		if (r > 0) {
			a.exit = r;
			r = 0;
			break;
		}
		if (r)
			break;
		if (!(a.flags & VMMU_ACCESS_WRITE) &&
		    copy_to_user(ubuf + a.done, bounce, chunk)) {
			r = -EFAULT;
			break;
		}
		a.done += chunk;
		if (fatal_signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree(bounce);
	a.exit_gpa = a.exit ? gpa : 0;
	if (copy_to_user(argp, &a, sizeof(a)))
		return -EFAULT;
	return r;
}

long vmmu_ioctl_prefault(struct vmmu_vm *vm, void __user *argp)
{
	struct vmmu_prefault p;
	bool mapped = false;
	long r = 0;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if ((p.flags & ~VMMU_PREFAULT_WRITE) || p.reserved0 ||
	    memchr_inv(p.reserved, 0, sizeof(p.reserved)) ||
	    !PAGE_ALIGNED(p.guest_phys_addr) || !PAGE_ALIGNED(p.size) ||
	    p.guest_phys_addr + p.size < p.guest_phys_addr ||
	    p.guest_phys_addr + p.size > BIT_ULL(VMMU_MAX_GPA_BITS))
		return -EINVAL;

	while (p.size) {
		struct vmmu_page_fault fault = {
			.gpa = p.guest_phys_addr,
			.write = p.flags & VMMU_PREFAULT_WRITE,
			.prefault = true,
		};
		u64 size, len;

		r = vmmu_page_fault(vm, &fault);
		if (r)
			break;
		size = level_pages(fault.level) << PAGE_SHIFT;
		len = min(p.size, size - (p.guest_phys_addr & (size - 1)));
		p.guest_phys_addr += len;
		p.size -= len;
		mapped = true;
		if (fatal_signal_pending(current)) {
			r = -EINTR;
			break;
		}
		cond_resched();
	}
	if (copy_to_user(argp, &p, sizeof(p)))
		return -EFAULT;
	/* Progress is reported in the struct; an error only if none. */
	if (r > 0)
		r = r == VMMU_ACCESS_EXIT_MMIO ? -ENOENT : -EFAULT;
	return mapped ? 0 : r;
}

long vmmu_ioctl_translate(struct vmmu_vm *vm, void __user *argp)
{
	const struct vmmu_pte_format *fmt = vm->fmt;
	struct vmmu_translation t;
	struct vmmu_pt_iter it;
	u64 gfn;

	if (copy_from_user(&t, argp, sizeof(t)))
		return -EFAULT;
	if (memchr_inv(t.reserved, 0, sizeof(t.reserved)))
		return -EINVAL;
	t.host_phys_addr = 0;
	t.entry = 0;
	t.flags = 0;
	t.level = 0;
	gfn = t.guest_phys_addr >> PAGE_SHIFT;

	/* Lockless, as a CPU walks: tables are freed only after RCU. */
	rcu_read_lock();
	for (pt_iter_start(&it, vm, gfn, gfn + 1, 1); it.valid;
	     pt_iter_next(&it)) {
		u64 e = it.old;

		if (!tdp_present(fmt, e))
			break;
		if (!tdp_leaf(fmt, e, it.level))
			continue;
		t.level = it.level;
		t.entry = e & ~PT_PFN_MASK;
		t.flags = VMMU_TRANSLATE_MAPPED |
			  (tdp_readable(fmt, e) ? VMMU_TRANSLATE_READ : 0) |
			  (e & fmt->writable ? VMMU_TRANSLATE_WRITE : 0) |
			  (tdp_exec(fmt, e) ? VMMU_TRANSLATE_EXEC : 0) |
			  (e & fmt->accessed ? VMMU_TRANSLATE_ACCESSED : 0) |
			  (e & fmt->dirty ? VMMU_TRANSLATE_DIRTY : 0);
		if (vm->show_host_addrs)
			t.host_phys_addr = tdp_leaf_hpa(e, it.level,
							t.guest_phys_addr);
		break;
	}
	rcu_read_unlock();

	return copy_to_user(argp, &t, sizeof(t)) ? -EFAULT : 0;
}
