/* SPDX-License-Identifier: GPL-2.0-only */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vmmu

#if !defined(_VMMU_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VMMU_TRACE_H

#include <linux/tracepoint.h>

TRACE_DEFINE_ENUM(VMMU_MEMSLOT_CREATE);
TRACE_DEFINE_ENUM(VMMU_MEMSLOT_DELETE);
TRACE_DEFINE_ENUM(VMMU_MEMSLOT_MOVE);
TRACE_DEFINE_ENUM(VMMU_MEMSLOT_FLAGS);

DECLARE_EVENT_CLASS(vmmu_invalidate_class,
		    TP_PROTO(u32 vm, unsigned long start, unsigned long end,
			     bool locked, bool blockable),
		    TP_ARGS(vm, start, end, locked, blockable),
		    TP_STRUCT__entry(__field(u32, vm)
				     __field(unsigned long, start)
				     __field(unsigned long, end)
				     __field(bool, locked)
				     __field(bool, blockable)),
		    TP_fast_assign(__entry->vm = vm;
				   __entry->start = start;
				   __entry->end = end;
				   __entry->locked = locked;
				   __entry->blockable = blockable;),
		    TP_printk("vm %u hva 0x%lx-0x%lx %s%s", __entry->vm,
			      __entry->start, __entry->end,
			      __entry->locked ? "locked" : "elided",
			      __entry->blockable ? "" : " nonblock"));

DEFINE_EVENT(vmmu_invalidate_class, vmmu_invalidate_range_start,
	     TP_PROTO(u32 vm, unsigned long start, unsigned long end,
		      bool locked, bool blockable),
	     TP_ARGS(vm, start, end, locked, blockable));

DEFINE_EVENT(vmmu_invalidate_class, vmmu_invalidate_range_end,
	     TP_PROTO(u32 vm, unsigned long start, unsigned long end,
		      bool locked, bool blockable),
	     TP_ARGS(vm, start, end, locked, blockable));

TRACE_EVENT(vmmu_memslot_update,
	    TP_PROTO(u32 vm, u32 slot, int op, u64 gfn, u64 npages,
		     u64 wait_ns, bool bounded),
	    TP_ARGS(vm, slot, op, gfn, npages, wait_ns, bounded),
	    TP_STRUCT__entry(__field(u32, vm)
			     __field(u32, slot)
			     __field(int, op)
			     __field(u64, gfn)
			     __field(u64, npages)
			     __field(u64, wait_ns)
			     __field(bool, bounded)),
	    TP_fast_assign(__entry->vm = vm;
			   __entry->slot = slot;
			   __entry->op = op;
			   __entry->gfn = gfn;
			   __entry->npages = npages;
			   __entry->wait_ns = wait_ns;
			   __entry->bounded = bounded;),
	    TP_printk("vm %u slot %u %s gfn 0x%llx npages %llu wait %llu ns policy %s",
		      __entry->vm, __entry->slot,
		      __print_symbolic(__entry->op,
				       { VMMU_MEMSLOT_CREATE, "create" },
				       { VMMU_MEMSLOT_DELETE, "delete" },
				       { VMMU_MEMSLOT_MOVE, "move" },
				       { VMMU_MEMSLOT_FLAGS, "flags" }),
		      __entry->gfn, __entry->npages, __entry->wait_ns,
		      __entry->bounded ? "bounded" : "seed"));

TRACE_EVENT(vmmu_page_fault,
	    TP_PROTO(u32 vm, u64 gpa, bool write, int level, int result),
	    TP_ARGS(vm, gpa, write, level, result),
	    TP_STRUCT__entry(__field(u32, vm)
			     __field(u64, gpa)
			     __field(bool, write)
			     __field(int, level)
			     __field(int, result)),
	    TP_fast_assign(__entry->vm = vm;
			   __entry->gpa = gpa;
			   __entry->write = write;
			   __entry->level = level;
			   __entry->result = result;),
	    TP_printk("vm %u gpa 0x%llx %s level %d result %d", __entry->vm,
		      __entry->gpa, __entry->write ? "write" : "read",
		      __entry->level, __entry->result));

TRACE_EVENT(vmmu_zap_gfn_range,
	    TP_PROTO(u32 vm, u64 start, u64 end),
	    TP_ARGS(vm, start, end),
	    TP_STRUCT__entry(__field(u32, vm)
			     __field(u64, start)
			     __field(u64, end)),
	    TP_fast_assign(__entry->vm = vm;
			   __entry->start = start;
			   __entry->end = end;),
	    TP_printk("vm %u gfn 0x%llx-0x%llx", __entry->vm, __entry->start,
		      __entry->end));

/*
 * vCPU events, named and shaped as KVM's x86 events of the same names
 * (system kvm), with every field those have on any kernel vmmu supports
 * (7.2's are the most), so that a script reading KVM's reads these by
 * changing only the system.  isa is VMMU_TRACE_ISA_VMX or _SVM, as KVM's
 * KVM_ISA_VMX and KVM_ISA_SVM; exit_reason is the hardware's exit code;
 * intr_info and error_code at entry are the event being injected.
 */
TRACE_EVENT(kvm_entry,
	    TP_PROTO(unsigned int vcpu_id, unsigned long rip, u32 intr_info,
		     u32 error_code),
	    TP_ARGS(vcpu_id, rip, intr_info, error_code),
	    TP_STRUCT__entry(__field(unsigned int, vcpu_id)
			     __field(unsigned long, rip)
			     __field(bool, immediate_exit)
			     __field(u32, intr_info)
			     __field(u32, error_code)),
	    TP_fast_assign(__entry->vcpu_id = vcpu_id;
			   __entry->rip = rip;
			   /* vmmu never enters only to exit at once */
			   __entry->immediate_exit = false;
			   __entry->intr_info = intr_info;
			   __entry->error_code = error_code;),
	    TP_printk("vcpu %u, rip 0x%lx%s intr_info 0x%08x error_code 0x%08x",
		      __entry->vcpu_id, __entry->rip,
		      __entry->immediate_exit ? "[immediate exit]" : "",
		      __entry->intr_info, __entry->error_code));

TRACE_EVENT(kvm_exit,
	    TP_PROTO(unsigned int vcpu_id, u32 isa, unsigned int exit_reason,
		     unsigned long guest_rip, u64 info1, u64 info2,
		     u32 intr_info, u32 error_code, u64 requests),
	    TP_ARGS(vcpu_id, isa, exit_reason, guest_rip, info1, info2,
		    intr_info, error_code, requests),
	    TP_STRUCT__entry(__field(unsigned int, exit_reason)
			     __field(unsigned long, guest_rip)
			     __field(u32, isa)
			     __field(u64, info1)
			     __field(u64, info2)
			     __field(u32, intr_info)
			     __field(u32, error_code)
			     __field(unsigned int, vcpu_id)
			     __field(u64, requests)),
	    TP_fast_assign(__entry->exit_reason = exit_reason;
			   __entry->guest_rip = guest_rip;
			   __entry->isa = isa;
			   __entry->info1 = info1;
			   __entry->info2 = info2;
			   __entry->intr_info = intr_info;
			   __entry->error_code = error_code;
			   __entry->vcpu_id = vcpu_id;
			   __entry->requests = requests;),
	    TP_printk("vcpu %u reason 0x%x rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x error_code 0x%08x requests 0x%016llx",
		      __entry->vcpu_id, __entry->exit_reason,
		      __entry->guest_rip, __entry->info1, __entry->info2,
		      __entry->intr_info, __entry->error_code,
		      __entry->requests));

TRACE_EVENT(kvm_page_fault,
	    TP_PROTO(unsigned int vcpu_id, unsigned long guest_rip,
		     u64 fault_address, u64 error_code),
	    TP_ARGS(vcpu_id, guest_rip, fault_address, error_code),
	    TP_STRUCT__entry(__field(unsigned int, vcpu_id)
			     __field(unsigned long, guest_rip)
			     __field(u64, fault_address)
			     __field(u64, error_code)),
	    TP_fast_assign(__entry->vcpu_id = vcpu_id;
			   __entry->guest_rip = guest_rip;
			   __entry->fault_address = fault_address;
			   __entry->error_code = error_code;),
	    TP_printk("vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx",
		      __entry->vcpu_id, __entry->guest_rip,
		      __entry->fault_address, __entry->error_code));

#endif /* _VMMU_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
