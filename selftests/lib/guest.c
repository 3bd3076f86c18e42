// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest library (guest.h): the backend-independent setup of a 64-bit
 * guest, and the KVM and vmmu flavours of each ioctl side by side.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/vmmu.h>

#include "guest.h"
#include "vmmu_util.h"

#define PAGE_SIZE	4096UL

#define X86_CR0_PE	(1UL << 0)
#define X86_CR0_MP	(1UL << 1)
#define X86_CR0_ET	(1UL << 4)
#define X86_CR0_NE	(1UL << 5)
#define X86_CR0_WP	(1UL << 16)
#define X86_CR0_PG	(1UL << 31)
#define X86_CR4_PAE	(1UL << 5)
#define X86_CR4_OSFXSR	(1UL << 9)
#define X86_CR4_OSXMMEXCPT (1UL << 10)
#define EFER_LME	(1UL << 8)
#define EFER_LMA	(1UL << 10)

/* Page-table entry bits; A and D preset so the walker never writes them. */
#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)
#define PTE_PS		(1ULL << 7)
#define PTE_TABLE	(PTE_P | PTE_RW | PTE_A)

#define GIB		(1ULL << 30)
#define LARGE_PAGE	(2ULL << 20)

/* struct kvm_regs and struct vmmu_regs are copied as struct guest_regs. */
_Static_assert(sizeof(struct guest_regs) == sizeof(struct kvm_regs), "kvm_regs");
_Static_assert(sizeof(struct guest_regs) == sizeof(struct vmmu_regs), "vmmu_regs");
_Static_assert(sizeof(struct guest_xsave) == sizeof(struct vmmu_xsave), "vmmu_xsave");
_Static_assert(sizeof(struct guest_xsave) <= sizeof(struct kvm_xsave), "kvm_xsave");
_Static_assert(GUEST_PD_GPA + GUEST_MAP_SIZE / GIB * PAGE_SIZE <=
	       GUEST_STACK_TOP - GUEST_MAX_VCPUS * GUEST_STACK_SIZE, "layout");

static bool is_kvm(const struct guest_vm *vm)
{
	return vm->backend == GUEST_KVM;
}

static long xioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

const char *guest_backend_name(enum guest_backend backend)
{
	return backend == GUEST_KVM ? "kvm" : "vmmu";
}

static int open_dev(enum guest_backend backend)
{
	int fd = open(backend == GUEST_KVM ? "/dev/kvm" : VMMU_DEV,
		      O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Creating a VM may fail with EINTR (both backends): try again. */
static int create_vm(enum guest_backend backend, int dev, __u32 vmmu_flags)
{
	int i, fd = -EINTR;

	for (i = 0; i < 10 && fd == -EINTR; i++) {
		if (backend == GUEST_KVM)
			fd = xioctl(dev, KVM_CREATE_VM, 0);
		else
			fd = vmmu_create_vm_flags(dev, VMMU_VM_TYPE_HOST,
						  vmmu_flags);
	}
	return fd;
}

long guest_backend_vcpus(enum guest_backend backend)
{
	int dev = open_dev(backend), vm;
	long r;

	if (dev < 0)
		return dev;
	if (backend == GUEST_KVM) {
		r = xioctl(dev, KVM_CHECK_EXTENSION, (void *)KVM_CAP_MAX_VCPUS);
	} else {
		vm = create_vm(backend, dev, 0);
		r = vm;
		if (vm >= 0) {
			r = xioctl(vm, VMMU_CHECK_EXTENSION,
				   (void *)VMMU_CAP_VCPUS);
			close(vm);
		}
	}
	close(dev);
	return r;
}

void *guest_alloc(size_t size, size_t align)
{
	size_t len;
	uintptr_t p, start;

	if (align < PAGE_SIZE)
		align = PAGE_SIZE;
	len = size + align;
	p = (uintptr_t)mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((void *)p == MAP_FAILED)
		return NULL;
	start = (p + align - 1) & ~(uintptr_t)(align - 1);
	if (start > p)
		munmap((void *)p, start - p);
	munmap((void *)(start + size), p + len - (start + size));
	return (void *)start;
}

void guest_free(void *mem, size_t size)
{
	if (mem)
		munmap(mem, size);
}

static int set_memslot(struct guest_vm *vm, __u32 slot, __u32 flags,
		       __u64 gpa, __u64 size, void *hva)
{
	__u32 f = 0;
	int r;

	if (slot >= GUEST_MAX_SLOTS ||
	    (flags & ~(GUEST_MEM_READONLY | GUEST_MEM_LOG_DIRTY)))
		return -EINVAL;
	if (is_kvm(vm)) {
		struct kvm_userspace_memory_region region = {
			.slot = slot, .guest_phys_addr = gpa,
			.memory_size = size, .userspace_addr = (uintptr_t)hva,
		};

		if (flags & GUEST_MEM_READONLY)
			f |= KVM_MEM_READONLY;
		if (flags & GUEST_MEM_LOG_DIRTY)
			f |= KVM_MEM_LOG_DIRTY_PAGES;
		region.flags = f;
		r = xioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	} else {
		if (flags & GUEST_MEM_READONLY)
			f |= VMMU_MEM_READONLY;
		if (flags & GUEST_MEM_LOG_DIRTY)
			f |= VMMU_MEM_LOG_DIRTY_PAGES;
		r = vmmu_set_memslot(vm->fd, slot, f, gpa, size, hva);
	}
	if (r)
		return r;
	vm->slots[slot] = (struct guest_slot) {
		.gpa = gpa, .size = size, .hva = size ? hva : NULL,
		.flags = flags,
	};
	return 0;
}

int guest_set_memslot(struct guest_vm *vm, __u32 slot, __u32 flags,
		      __u64 gpa, __u64 size, void *hva)
{
	if (slot == GUEST_SYS_SLOT)
		return -EINVAL;
	return set_memslot(vm, slot, flags, gpa, size, hva);
}

void *guest_hva(struct guest_vm *vm, __u64 gpa)
{
	struct guest_slot *s;

	for (s = vm->slots; s < vm->slots + GUEST_MAX_SLOTS; s++)
		if (s->size && gpa >= s->gpa && gpa - s->gpa < s->size)
			return (char *)s->hva + (gpa - s->gpa);
	return NULL;
}

__u64 guest_payload_gpa(const char *payload)
{
	return GUEST_CODE_GPA + (payload - guest_payloads_start);
}

static void *sys_ptr(struct guest_vm *vm, __u64 gpa)
{
	return (char *)vm->sys + gpa;
}

/* Identity map [0, GUEST_MAP_SIZE) with 2 MiB pages. */
static void build_page_tables(struct guest_vm *vm)
{
	__u64 *pml4 = sys_ptr(vm, GUEST_PML4_GPA);
	__u64 *pdpt = sys_ptr(vm, GUEST_PDPT_GPA);
	__u64 gib, i;

	pml4[0] = GUEST_PDPT_GPA | PTE_TABLE;
	for (gib = 0; gib < GUEST_MAP_SIZE / GIB; gib++) {
		__u64 pd_gpa = GUEST_PD_GPA + gib * PAGE_SIZE;
		__u64 *pd = sys_ptr(vm, pd_gpa);

		pdpt[gib] = pd_gpa | PTE_TABLE;
		for (i = 0; i < 512; i++)
			pd[i] = (gib * GIB + i * LARGE_PAGE) |
				PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS;
	}
}

/*
 * The GDT: null, 64-bit code (GUEST_SEL_CODE), data (GUEST_SEL_DATA) and
 * a 64-bit TSS (GUEST_SEL_TSS, 16 bytes), matching guest_vcpu_long_mode().
 */
static void build_gdt(struct guest_vm *vm)
{
	__u64 *gdt = sys_ptr(vm, GUEST_GDT_GPA);
	__u64 tss = GUEST_TSS_GPA, limit = 0x67;

	gdt[GUEST_SEL_CODE / 8] = 0x00af9b000000ffffULL;
	gdt[GUEST_SEL_DATA / 8] = 0x00cf93000000ffffULL;
	gdt[GUEST_SEL_TSS / 8] = (limit & 0xffff) | (tss & 0xffffff) << 16 |
				 0x8bULL << 40 |	/* present, busy TSS */
				 ((tss >> 24) & 0xff) << 56;
	gdt[GUEST_SEL_TSS / 8 + 1] = tss >> 32;
}

/* 64-bit interrupt gates to the payloads' exception stubs. */
static void build_idt(struct guest_vm *vm)
{
	__u64 *idt = sys_ptr(vm, GUEST_IDT_GPA);
	__u64 stubs = guest_payload_gpa(guest_exception_stubs), rip;
	int v;

	for (v = 0; v < GUEST_EXCEPTION_VECTORS; v++) {
		rip = stubs + v * GUEST_EXCEPTION_STUB;
		idt[2 * v] = (rip & 0xffff) | (__u64)GUEST_SEL_CODE << 16 |
			     0x8eULL << 40 |	/* present, interrupt gate */
			     ((rip >> 16) & 0xffff) << 48;
		idt[2 * v + 1] = rip >> 32;
	}
}

static int kvm_vm_init(struct guest_vm *vm)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int nent = 64, r;

	r = xioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)0xfffbd000UL);
	if (r)
		return r;
	/* Long mode needs LM in the guest's CPUID: give it all KVM has. */
	do {
		free(cpuid);
		nent *= 2;
		cpuid = calloc(1, sizeof(*cpuid) +
				  nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = nent;
		r = xioctl(vm->dev, KVM_GET_SUPPORTED_CPUID, cpuid);
	} while (r == -E2BIG && nent < 4096);
	if (r) {
		free(cpuid);
		return r;
	}
	vm->cpuid = cpuid;
	return 0;
}

int guest_vm_create(struct guest_vm *vm, enum guest_backend backend)
{
	return guest_vm_create_flags(vm, backend, 0);
}

int guest_vm_create_flags(struct guest_vm *vm, enum guest_backend backend,
			  __u32 vmmu_flags)
{
	size_t code = guest_payloads_end - guest_payloads_start;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->backend = backend;
	vm->dev = vm->fd = -1;
	if (code > GUEST_CODE_SIZE)
		return -E2BIG;

	r = vm->dev = open_dev(backend);
	if (r < 0)
		goto fail;
	r = -EINVAL;
	if (backend == GUEST_KVM && vmmu_flags)
		goto fail;
	r = vm->fd = create_vm(backend, vm->dev, vmmu_flags);
	if (r < 0)
		goto fail;
	r = vm->run_size = xioctl(vm->dev, is_kvm(vm) ? KVM_GET_VCPU_MMAP_SIZE :
				  VMMU_GET_VCPU_MMAP_SIZE, 0);
	if (r < 0)
		goto fail;
	if (is_kvm(vm)) {
		r = kvm_vm_init(vm);
		if (r)
			goto fail;
	}

	r = -ENOMEM;
	vm->sys = guest_alloc(GUEST_SYS_SIZE, GUEST_SYS_SIZE);
	if (!vm->sys)
		goto fail;
	memcpy(sys_ptr(vm, GUEST_CODE_GPA), guest_payloads_start, code);
	build_page_tables(vm);
	build_gdt(vm);
	build_idt(vm);
	r = set_memslot(vm, GUEST_SYS_SLOT, 0, 0, GUEST_SYS_SIZE, vm->sys);
	if (r)
		goto fail;
	return 0;

fail:
	guest_vm_destroy(vm);
	return r;
}

void guest_vm_destroy(struct guest_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->dev >= 0)
		close(vm->dev);
	guest_free(vm->sys, GUEST_SYS_SIZE);
	free(vm->cpuid);
	vm->fd = vm->dev = -1;
	vm->sys = vm->cpuid = NULL;
}

long guest_vm_vcpu_ids(struct guest_vm *vm)
{
	long r;

	if (!is_kvm(vm))
		return xioctl(vm->fd, VMMU_CHECK_EXTENSION,
			      (void *)VMMU_CAP_VCPUS);
	r = xioctl(vm->fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_MAX_VCPU_ID);
	/* Before KVM_CAP_MAX_VCPU_ID, ids were limited by the vCPU count. */
	if (r <= 0)
		r = xioctl(vm->fd, KVM_CHECK_EXTENSION,
			   (void *)KVM_CAP_MAX_VCPUS);
	return r;
}

int guest_vcpu_create(struct guest_vm *vm, struct guest_vcpu *vcpu, int id)
{
	int r;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = MAP_FAILED;
	if (id < 0 || id >= GUEST_MAX_VCPUS)
		return -EINVAL;

	r = vcpu->fd = xioctl(vm->fd, is_kvm(vm) ? KVM_CREATE_VCPU :
			      VMMU_CREATE_VCPU, (void *)(long)id);
	if (r < 0)
		return r;
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	if (is_kvm(vm)) {
		r = xioctl(vcpu->fd, KVM_SET_CPUID2, vm->cpuid);
		if (r)
			goto fail;
	}
	r = guest_vcpu_long_mode(vcpu);
	if (r)
		goto fail;
	return 0;

fail:
	guest_vcpu_destroy(vcpu);
	return r;
}

void guest_vcpu_destroy(struct guest_vcpu *vcpu)
{
	if (vcpu->run != MAP_FAILED && vcpu->run)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = MAP_FAILED;
	vcpu->fd = -1;
}

/* --- registers ---------------------------------------------------------- */

int guest_get_regs(struct guest_vcpu *vcpu, struct guest_regs *regs)
{
	return xioctl(vcpu->fd, is_kvm(vcpu->vm) ? KVM_GET_REGS : VMMU_GET_REGS,
		      regs);
}

int guest_set_regs(struct guest_vcpu *vcpu, const struct guest_regs *regs)
{
	return xioctl(vcpu->fd, is_kvm(vcpu->vm) ? KVM_SET_REGS : VMMU_SET_REGS,
		      (void *)regs);
}

/*
 * The segment and descriptor-table structs of KVM, vmmu and the library
 * have the same field names: copy them by name.
 */
#define COPY_SEGMENT(to, from) do {					\
	(to).base = (from).base; (to).limit = (from).limit;		\
	(to).selector = (from).selector; (to).type = (from).type;	\
	(to).present = (from).present; (to).dpl = (from).dpl;		\
	(to).db = (from).db; (to).s = (from).s; (to).l = (from).l;	\
	(to).g = (from).g; (to).avl = (from).avl;			\
	(to).unusable = (from).unusable;				\
} while (0)

#define COPY_SREGS(to, from) do {					\
	COPY_SEGMENT((to).cs, (from).cs); COPY_SEGMENT((to).ds, (from).ds); \
	COPY_SEGMENT((to).es, (from).es); COPY_SEGMENT((to).fs, (from).fs); \
	COPY_SEGMENT((to).gs, (from).gs); COPY_SEGMENT((to).ss, (from).ss); \
	COPY_SEGMENT((to).tr, (from).tr);				\
	COPY_SEGMENT((to).ldt, (from).ldt);				\
	(to).gdt.base = (from).gdt.base; (to).gdt.limit = (from).gdt.limit; \
	(to).idt.base = (from).idt.base; (to).idt.limit = (from).idt.limit; \
	(to).cr0 = (from).cr0; (to).cr2 = (from).cr2;			\
	(to).cr3 = (from).cr3; (to).cr4 = (from).cr4;			\
	(to).efer = (from).efer;					\
} while (0)

int guest_get_sregs(struct guest_vcpu *vcpu, struct guest_sregs *sregs)
{
	struct kvm_sregs k;
	struct vmmu_sregs v;
	int r;

	memset(sregs, 0, sizeof(*sregs));
	if (is_kvm(vcpu->vm)) {
		r = xioctl(vcpu->fd, KVM_GET_SREGS, &k);
		if (!r)
			COPY_SREGS(*sregs, k);
	} else {
		r = xioctl(vcpu->fd, VMMU_GET_SREGS, &v);
		if (!r)
			COPY_SREGS(*sregs, v);
	}
	return r;
}

int guest_set_sregs(struct guest_vcpu *vcpu, const struct guest_sregs *sregs)
{
	struct kvm_sregs k;
	struct vmmu_sregs v;
	int r;

	if (is_kvm(vcpu->vm)) {
		r = xioctl(vcpu->fd, KVM_GET_SREGS, &k);
		if (r)
			return r;
		COPY_SREGS(k, *sregs);
		return xioctl(vcpu->fd, KVM_SET_SREGS, &k);
	}
	memset(&v, 0, sizeof(v));
	COPY_SREGS(v, *sregs);
	return xioctl(vcpu->fd, VMMU_SET_SREGS, &v);
}

int guest_get_xsave(struct guest_vcpu *vcpu, struct guest_xsave *xsave)
{
	struct kvm_xsave k;
	int r;

	if (!is_kvm(vcpu->vm))
		return xioctl(vcpu->fd, VMMU_GET_XSAVE, xsave);
	r = xioctl(vcpu->fd, KVM_GET_XSAVE, &k);
	if (!r)
		memcpy(xsave->region, k.region, sizeof(xsave->region));
	return r;
}

int guest_set_xsave(struct guest_vcpu *vcpu, const struct guest_xsave *xsave)
{
	struct kvm_xsave k;

	if (!is_kvm(vcpu->vm))
		return xioctl(vcpu->fd, VMMU_SET_XSAVE, (void *)xsave);
	memcpy(k.region, xsave->region, sizeof(k.region));
	return xioctl(vcpu->fd, KVM_SET_XSAVE, &k);
}

/* In the standard XSAVE format: the legacy area, then the header. */
#define XSAVE_XMM(n)		(160 + 16 * (n))
#define XSAVE_XSTATE_BV		512
#define XFEATURE_MASK_SSE	(1ULL << 1)

void guest_xsave_set_xmm(struct guest_xsave *xsave, int n, const void *value)
{
	char *area = (char *)xsave->region;
	__u64 bv;

	memcpy(area + XSAVE_XMM(n), value, 16);
	memcpy(&bv, area + XSAVE_XSTATE_BV, sizeof(bv));
	bv |= XFEATURE_MASK_SSE;
	memcpy(area + XSAVE_XSTATE_BV, &bv, sizeof(bv));
}

void guest_xsave_get_xmm(const struct guest_xsave *xsave, int n, void *value)
{
	const char *area = (const char *)xsave->region;
	__u64 bv;

	memcpy(&bv, area + XSAVE_XSTATE_BV, sizeof(bv));
	if (bv & XFEATURE_MASK_SSE)
		memcpy(value, area + XSAVE_XMM(n), 16);
	else
		memset(value, 0, 16);
}

/* --- modes and payloads --------------------------------------------------- */

int guest_vcpu_long_mode(struct guest_vcpu *vcpu)
{
	struct guest_segment code = {
		.limit = 0xffffffff, .selector = GUEST_SEL_CODE,
		.type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct guest_segment data = {
		.limit = 0xffffffff, .selector = GUEST_SEL_DATA,
		.type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct guest_sregs sregs = {
		.cs = code, .ds = data, .es = data, .fs = data, .gs = data,
		.ss = data,
		.tr = {
			.base = GUEST_TSS_GPA, .limit = 0x67,
			.selector = GUEST_SEL_TSS, .type = 0xb, .present = 1,
		},
		.ldt = { .unusable = 1 },
		.gdt = { .base = GUEST_GDT_GPA, .limit = GUEST_SEL_TSS + 15 },
		.idt = {
			.base = GUEST_IDT_GPA,
			.limit = GUEST_EXCEPTION_VECTORS * 16 - 1,
		},
		.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
		       X86_CR0_WP | X86_CR0_PG,
		.cr3 = GUEST_PML4_GPA,
		.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT,
		.efer = EFER_LME | EFER_LMA,
	};

	return guest_set_sregs(vcpu, &sregs);
}

int guest_vcpu_real_mode(struct guest_vcpu *vcpu)
{
	struct guest_segment code = {
		.limit = 0xffff, .type = 0xb, .present = 1, .s = 1,
	};
	struct guest_segment data = {
		.limit = 0xffff, .type = 0x3, .present = 1, .s = 1,
	};
	struct guest_sregs sregs = {
		.cs = code, .ds = data, .es = data, .fs = data, .gs = data,
		.ss = data,
		.tr = { .limit = 0xffff, .type = 0xb, .present = 1 },
		.ldt = { .limit = 0xffff, .type = 0x2, .present = 1 },
		.gdt = { .limit = 0xffff },
		.idt = { .limit = 0xffff },
		.cr0 = X86_CR0_ET | X86_CR0_NE,
	};

	return guest_set_sregs(vcpu, &sregs);
}

int guest_vcpu_call(struct guest_vcpu *vcpu, const char *payload,
		    __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	struct guest_regs regs = {
		.rip = guest_payload_gpa(payload),
		.rdi = a0, .rsi = a1, .rdx = a2, .rcx = a3,
		.rsp = GUEST_STACK_TOP - vcpu->id * GUEST_STACK_SIZE,
		/*
		 * IF set, though nothing interrupts the guest: under Bochs
		 * 2.7's VMX, a guest spinning with IF clear never exits for
		 * the host's interrupts, even with external-interrupt exiting
		 * on, and the host stops.  Neither backend injects interrupts.
		 */
		.rflags = 0x202,
	};

	return guest_set_regs(vcpu, &regs);
}

/* --- running ------------------------------------------------------------- */

void guest_set_immediate_exit(struct guest_vcpu *vcpu, bool on)
{
	if (is_kvm(vcpu->vm))
		((struct kvm_run *)vcpu->run)->immediate_exit = on;
	else
		((struct vmmu_run *)vcpu->run)->immediate_exit = on;
}

static void kvm_decode(struct kvm_run *run, struct guest_exit *e)
{
	e->raw = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		e->kind = GUEST_EXIT_IO;
		e->io.port = run->io.port;
		e->io.size = run->io.size;
		e->io.out = run->io.direction == KVM_EXIT_IO_OUT;
		e->io.count = run->io.count;
		if (e->io.out && run->io.size <= sizeof(e->io.data))
			memcpy(&e->io.data, (char *)run + run->io.data_offset,
			       run->io.size);
		break;
	case KVM_EXIT_MMIO:
		e->kind = GUEST_EXIT_MMIO;
		e->mmio.gpa = run->mmio.phys_addr;
		e->mmio.len = run->mmio.len;
		e->mmio.write = run->mmio.is_write;
		if (e->mmio.write && run->mmio.len <= sizeof(e->mmio.data))
			memcpy(&e->mmio.data, run->mmio.data, run->mmio.len);
		break;
	case KVM_EXIT_HLT:
		e->kind = GUEST_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->kind = GUEST_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->kind = GUEST_EXIT_FAIL_ENTRY;
		e->fail_entry.reason =
			run->fail_entry.hardware_entry_failure_reason;
		e->fail_entry.cpu = run->fail_entry.cpu;
		break;
	case KVM_EXIT_INTR:
		e->kind = GUEST_EXIT_INTR;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->kind = GUEST_EXIT_UNKNOWN;
		e->unknown.code = run->internal.suberror;
		e->unknown.info1 = run->internal.ndata > 0 ?
				   run->internal.data[0] : 0;
		e->unknown.info2 = run->internal.ndata > 1 ?
				   run->internal.data[1] : 0;
		break;
	default:
		e->kind = GUEST_EXIT_UNKNOWN;
		e->unknown.code = run->hw.hardware_exit_reason;
		break;
	}
}

static void vmmu_decode(struct vmmu_run *run, struct guest_exit *e)
{
	e->raw = run->exit_reason;
	switch (run->exit_reason) {
	case VMMU_EXIT_IO:
		e->kind = GUEST_EXIT_IO;
		e->io.port = run->io.port;
		e->io.size = run->io.size;
		e->io.out = run->io.direction == VMMU_EXIT_IO_OUT;
		e->io.count = run->io.count;
		if (e->io.out && run->io.size <= sizeof(e->io.data))
			memcpy(&e->io.data, (char *)run + run->io.data_offset,
			       run->io.size);
		break;
	case VMMU_EXIT_MMIO:
		e->kind = GUEST_EXIT_MMIO;
		e->mmio.gpa = run->mmio.phys_addr;
		e->mmio.len = run->mmio.len;
		e->mmio.write = run->mmio.is_write;
		if (e->mmio.write && run->mmio.len <= sizeof(e->mmio.data))
			memcpy(&e->mmio.data, run->mmio.data, run->mmio.len);
		break;
	case VMMU_EXIT_HLT:
		e->kind = GUEST_EXIT_HLT;
		break;
	case VMMU_EXIT_SHUTDOWN:
		e->kind = GUEST_EXIT_SHUTDOWN;
		break;
	case VMMU_EXIT_FAIL_ENTRY:
		e->kind = GUEST_EXIT_FAIL_ENTRY;
		e->fail_entry.reason =
			run->fail_entry.hardware_entry_failure_reason;
		e->fail_entry.cpu = run->fail_entry.cpu;
		break;
	case VMMU_EXIT_INTR:
		e->kind = GUEST_EXIT_INTR;
		break;
	case VMMU_EXIT_MEMORY_FAULT:
		e->kind = GUEST_EXIT_MEMORY_FAULT;
		e->memory_fault.gpa = run->memory_fault.gpa;
		e->memory_fault.reason = run->memory_fault.reason;
		e->memory_fault.flags = run->memory_fault.flags;
		break;
	default:
		e->kind = GUEST_EXIT_UNKNOWN;
		e->unknown.code = run->hw.hardware_exit_reason;
		e->unknown.info1 = run->hw.info1;
		e->unknown.info2 = run->hw.info2;
		break;
	}
}

int guest_run(struct guest_vcpu *vcpu)
{
	bool kvm = is_kvm(vcpu->vm);
	struct guest_exit *e = &vcpu->exit;
	int r;

	r = xioctl(vcpu->fd, kvm ? KVM_RUN : VMMU_RUN, 0);
	memset(e, 0, sizeof(*e));
	if (r == -EINTR) {
		e->kind = GUEST_EXIT_INTR;
		e->raw = kvm ? ((struct kvm_run *)vcpu->run)->exit_reason :
			       ((struct vmmu_run *)vcpu->run)->exit_reason;
		return 0;
	}
	if (r)
		return r;
	if (kvm)
		kvm_decode(vcpu->run, e);
	else
		vmmu_decode(vcpu->run, e);
	return 0;
}

int guest_complete_in(struct guest_vcpu *vcpu, __u32 value)
{
	struct guest_exit *e = &vcpu->exit;
	__u64 offset;

	if (e->kind != GUEST_EXIT_IO || e->io.out ||
	    e->io.size > sizeof(value))
		return -EINVAL;
	if (is_kvm(vcpu->vm))
		offset = ((struct kvm_run *)vcpu->run)->io.data_offset;
	else
		offset = ((struct vmmu_run *)vcpu->run)->io.data_offset;
	if (offset + e->io.size > (__u64)vcpu->vm->run_size)
		return -EINVAL;
	memcpy((char *)vcpu->run + offset, &value, e->io.size);
	return 0;
}

int guest_complete_mmio_read(struct guest_vcpu *vcpu, __u64 value)
{
	struct guest_exit *e = &vcpu->exit;
	__u8 *data;

	if (e->kind != GUEST_EXIT_MMIO || e->mmio.write ||
	    e->mmio.len > sizeof(value))
		return -EINVAL;
	if (is_kvm(vcpu->vm))
		data = ((struct kvm_run *)vcpu->run)->mmio.data;
	else
		data = ((struct vmmu_run *)vcpu->run)->mmio.data;
	memcpy(data, &value, e->mmio.len);
	return 0;
}

const char *guest_exit_name(enum guest_exit_kind kind)
{
	static const char *const names[] = {
		[GUEST_EXIT_IO] = "IO",
		[GUEST_EXIT_MMIO] = "MMIO",
		[GUEST_EXIT_HLT] = "HLT",
		[GUEST_EXIT_SHUTDOWN] = "SHUTDOWN",
		[GUEST_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[GUEST_EXIT_INTR] = "INTR",
		[GUEST_EXIT_MEMORY_FAULT] = "MEMORY_FAULT",
		[GUEST_EXIT_UNKNOWN] = "UNKNOWN",
	};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

char *guest_exit_str(const struct guest_exit *e, char *buf, size_t len)
{
	const char *name = guest_exit_name(e->kind);

	switch (e->kind) {
	case GUEST_EXIT_IO:
		snprintf(buf, len, "IO %s port 0x%x size %u data 0x%x",
			 e->io.out ? "OUT" : "IN", e->io.port, e->io.size,
			 e->io.data);
		break;
	case GUEST_EXIT_MMIO:
		snprintf(buf, len, "MMIO %s gpa 0x%llx len %u data 0x%llx",
			 e->mmio.write ? "write" : "read",
			 (unsigned long long)e->mmio.gpa, e->mmio.len,
			 (unsigned long long)e->mmio.data);
		break;
	case GUEST_EXIT_FAIL_ENTRY:
		snprintf(buf, len, "FAIL_ENTRY reason 0x%llx cpu %u",
			 (unsigned long long)e->fail_entry.reason,
			 e->fail_entry.cpu);
		break;
	case GUEST_EXIT_MEMORY_FAULT:
		snprintf(buf, len, "MEMORY_FAULT gpa 0x%llx reason %u flags 0x%x",
			 (unsigned long long)e->memory_fault.gpa,
			 e->memory_fault.reason, e->memory_fault.flags);
		break;
	case GUEST_EXIT_UNKNOWN:
		snprintf(buf, len, "UNKNOWN raw %u code 0x%llx info 0x%llx 0x%llx",
			 e->raw, (unsigned long long)e->unknown.code,
			 (unsigned long long)e->unknown.info1,
			 (unsigned long long)e->unknown.info2);
		break;
	default:
		snprintf(buf, len, "%s (raw %u)", name, e->raw);
		break;
	}
	return buf;
}
