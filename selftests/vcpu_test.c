// SPDX-License-Identifier: GPL-2.0-only
/*
 * Real guests on both backends through the guest library: memory written
 * by the guest and read by the host and the reverse, port I/O and MMIO
 * exits with their data, HLT, real mode, SSE state, exceptions and triple
 * faults, several vCPUs on threads, immediate_exit and signals, and bad
 * input on the vCPU ABI.
 *
 * The kvm variants run the payloads on in-tree KVM, which checks the
 * library and the payloads against the reference.  The vmmu variants skip
 * where VMMU_CAP_VCPUS is 0 (vmmu without its vCPU backend).  Where vmmu's
 * rule differs from KVM's, the test says so.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "guest.h"
#include "vmmu_util.h"

#define PAGE		4096UL
#define MB		(1UL << 20)
#define DATA_SLOT	1
#define DATA_GPA	(1ULL << 30)
#define DATA_SIZE	(64 * MB)
#define EXTRA_SLOT	2
#define EXTRA_GPA	(DATA_GPA + DATA_SIZE)
#define EXTRA_SIZE	(2 * MB)
#define MMIO_GPA	(3ULL << 30)	/* no memslot: MMIO */
#define SEED		0x5eed0000cafef00dULL
#define NR_THREADS	4

FIXTURE(vcpu) {
	struct guest_vm vm;
	struct guest_vcpu vcpu;		/* id 0, in long mode */
	char *data;			/* DATA_SIZE at DATA_GPA */
};

FIXTURE_VARIANT(vcpu) {
	enum guest_backend backend;
	__u32 vmmu_flags;
};

FIXTURE_VARIANT_ADD(vcpu, kvm) {
	.backend = GUEST_KVM,
};

FIXTURE_VARIANT_ADD(vcpu, vmmu) {
	.backend = GUEST_VMMU,
};

/* The second memslot-publication policy: the same guests must run. */
FIXTURE_VARIANT_ADD(vcpu, vmmu_bounded) {
	.backend = GUEST_VMMU,
	.vmmu_flags = VMMU_VM_MEMSLOT_BOUNDED_WAIT,
};

/*
 * A VM of @backend (with VMMU_CREATE_VM @vmmu_flags) with the data slot and
 * vCPU 0, in long mode.
 */
static void vm_setup(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vcpu) *self, enum guest_backend backend,
		     __u32 vmmu_flags)
{
	long n = guest_backend_vcpus(backend);

	if (n == 0)
		SKIP(return, "%s cannot run vCPUs here (VMMU_CAP_VCPUS is 0)",
		     guest_backend_name(backend));
	ASSERT_LT(0, n) TH_LOG("%s: %s", guest_backend_name(backend),
			       strerror(-n));
	ASSERT_EQ(0, guest_vm_create_flags(&self->vm, backend, vmmu_flags));
	self->data = guest_alloc(DATA_SIZE, 2 * MB);
	ASSERT_NE(NULL, self->data);
	ASSERT_EQ(0, guest_set_memslot(&self->vm, DATA_SLOT, 0, DATA_GPA,
				       DATA_SIZE, self->data));
	ASSERT_EQ(0, guest_vcpu_create(&self->vm, &self->vcpu, 0));
}

static void vm_teardown(FIXTURE_DATA(vcpu) *self)
{
	guest_vcpu_destroy(&self->vcpu);
	guest_vm_destroy(&self->vm);
	guest_free(self->data, DATA_SIZE);
}

FIXTURE_SETUP(vcpu)
{
	vm_setup(_metadata, self, variant->backend, variant->vmmu_flags);
}

FIXTURE_TEARDOWN(vcpu)
{
	vm_teardown(self);
	/* coherence_oracle's knob, should it have stopped half way. */
	if (variant->vmmu_flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT)
		vmmu_set_param("mn_inject_delay_ms", "0");
}

/* The same, for tests of vmmu's own rules and guarantees. */
FIXTURE(vmmu) {
	FIXTURE_DATA(vcpu) vm;
};

FIXTURE_SETUP(vmmu)
{
	vm_setup(_metadata, &self->vm, GUEST_VMMU, 0);
}

FIXTURE_TEARDOWN(vmmu)
{
	vm_teardown(&self->vm);
}

static bool is_kvm(const FIXTURE_VARIANT(vcpu) *variant)
{
	return variant->backend == GUEST_KVM;
}

/* The last exit, with the registers of an exception the guest reported. */
static const char *exit_desc(struct guest_vcpu *vcpu, char *buf, size_t len)
{
	struct guest_exit *e = &vcpu->exit;
	struct guest_regs regs;
	size_t n;

	guest_exit_str(e, buf, len);
	if (e->kind == GUEST_EXIT_IO && e->io.port == GUEST_PORT_EXCEPTION &&
	    !guest_get_regs(vcpu, &regs)) {
		n = strlen(buf);
		snprintf(buf + n, len - n,
			 ": exception %llu at rip 0x%llx, error 0x%llx, cr2 0x%llx",
			 (unsigned long long)regs.rax,
			 (unsigned long long)regs.rbx,
			 (unsigned long long)regs.rcx,
			 (unsigned long long)regs.rdx);
	}
	return buf;
}

/* Run; the exit must be port I/O on @port in direction @out, of @size. */
static void run_expect_io(struct __test_metadata *_metadata,
			  struct guest_vcpu *vcpu, __u16 port, bool out,
			  __u8 size)
{
	char buf[256];

	ASSERT_EQ(0, guest_run(vcpu));
	ASSERT_EQ(GUEST_EXIT_IO, vcpu->exit.kind)
		TH_LOG("%s", exit_desc(vcpu, buf, sizeof(buf)));
	ASSERT_EQ(port, vcpu->exit.io.port)
		TH_LOG("%s", exit_desc(vcpu, buf, sizeof(buf)));
	ASSERT_EQ(out, vcpu->exit.io.out);
	ASSERT_EQ(size, vcpu->exit.io.size);
	ASSERT_EQ(1, vcpu->exit.io.count);
}

/* Run to the payload's end: its result. */
static __u32 run_to_done(struct __test_metadata *_metadata,
			 struct guest_vcpu *vcpu)
{
	run_expect_io(_metadata, vcpu, GUEST_PORT_DONE, true, 4);
	return vcpu->exit.io.data;
}

/* Run; the exit must be MMIO at @gpa of @len bytes, a write if @write. */
static void run_expect_mmio(struct __test_metadata *_metadata,
			    struct guest_vcpu *vcpu, __u64 gpa, __u32 len,
			    bool write)
{
	char buf[256];

	ASSERT_EQ(0, guest_run(vcpu));
	ASSERT_EQ(GUEST_EXIT_MMIO, vcpu->exit.kind)
		TH_LOG("%s", exit_desc(vcpu, buf, sizeof(buf)));
	ASSERT_EQ(gpa, vcpu->exit.mmio.gpa);
	ASSERT_EQ(len, vcpu->exit.mmio.len);
	ASSERT_EQ(write, vcpu->exit.mmio.write);
}

/* A short payload that proves the vCPU still runs. */
static void expect_vcpu_works(struct __test_metadata *_metadata,
			      struct guest_vcpu *vcpu)
{
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_io_loop, 1, 0, 0, 0));
	run_expect_io(_metadata, vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0, vcpu->exit.io.data);
	EXPECT_EQ(0, run_to_done(_metadata, vcpu));
}

/* Index of the first word of @mem (at @gpa) not in the pattern, or @len / 8. */
static size_t first_mismatch(const void *mem, __u64 gpa, size_t len, __u64 seed)
{
	const __u64 *w = mem;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != guest_pattern(seed, gpa + 8 * i))
			break;
	return i;
}

static void host_fill(void *mem, __u64 gpa, size_t len, __u64 seed)
{
	__u64 *w = mem;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = guest_pattern(seed, gpa + 8 * i);
}

TEST_F_TIMEOUT(vcpu, guest_fills_memory, 300)
{
	size_t bad;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_fill, DATA_GPA,
				     DATA_SIZE, SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	bad = first_mismatch(self->data, DATA_GPA, DATA_SIZE, SEED);
	EXPECT_EQ(DATA_SIZE / 8, bad)
		TH_LOG("gpa 0x%llx holds 0x%llx",
		       (unsigned long long)(DATA_GPA + 8 * bad),
		       (unsigned long long)((__u64 *)self->data)[bad]);
}

TEST_F_TIMEOUT(vcpu, guest_verifies_host_writes, 300)
{
	const size_t bad = DATA_SIZE / 8 - 12345;
	__u64 *words = (__u64 *)self->data;
	struct guest_regs regs;

	host_fill(self->data, DATA_GPA, DATA_SIZE, SEED);
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_verify, DATA_GPA,
				     DATA_SIZE, SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));

	/* One word changed: the guest reports it and where. */
	words[bad] ^= 0x100000001ULL;
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_verify, DATA_GPA,
				     DATA_SIZE, SEED, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_MISMATCH, true, 4);
	EXPECT_EQ((__u32)words[bad], self->vcpu.exit.io.data);
	ASSERT_EQ(0, guest_get_regs(&self->vcpu, &regs));
	EXPECT_EQ(DATA_GPA + 8 * bad, regs.rdi);
	EXPECT_EQ(words[bad], regs.rax);
	EXPECT_EQ(1, run_to_done(_metadata, &self->vcpu));
}

TEST_F(vcpu, port_io_out)
{
	const __u32 n = 200;
	__u32 i;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_io_loop, n, 0, 0, 0));
	for (i = 0; i < n; i++) {
		run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
		ASSERT_EQ(i, self->vcpu.exit.io.data);
	}
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
}

TEST_F(vcpu, port_io_in)
{
	static const struct { __u8 size; __u32 value; } steps[] = {
		{ 1, 0xa5 }, { 2, 0xbeef }, { 4, 0x12345678 },
	};
	unsigned int i;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_io_echo, 0, 0, 0, 0));
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run_expect_io(_metadata, &self->vcpu, GUEST_PORT_IN, false,
			      steps[i].size);
		ASSERT_EQ(0, guest_complete_in(&self->vcpu, steps[i].value));
		run_expect_io(_metadata, &self->vcpu, GUEST_PORT_ECHO, true,
			      steps[i].size);
		EXPECT_EQ(steps[i].value, self->vcpu.exit.io.data);
		/* Only an IN can be answered. */
		EXPECT_EQ(-EINVAL, guest_complete_in(&self->vcpu, 0));
	}
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
}

/*
 * The guest reports one word per page, twice; between the passes the host
 * changes them, and the second pass must see every new value.
 */
TEST_F(vcpu, read_loop_sees_host_writes)
{
	const __u32 n = 16;
	struct guest_regs regs;
	__u32 pass, i;

	for (i = 0; i < n; i++)
		*(__u32 *)(self->data + i * PAGE) = 0x1000 + i;
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_read_loop, DATA_GPA,
				     n, PAGE, 2));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE,
				      true, 4);
			ASSERT_EQ((pass + 1) * 0x1000 + i,
				  self->vcpu.exit.io.data)
				TH_LOG("pass %u word %u", pass, i);
			ASSERT_EQ(0, guest_get_regs(&self->vcpu, &regs));
			ASSERT_EQ(DATA_GPA + i * PAGE, regs.rdi);
		}
		for (i = 0; i < n; i++)
			*(__u32 *)(self->data + i * PAGE) = 0x2000 + i;
	}
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));

	/* 0 passes: round and round, until the host stops running it. */
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_read_loop, DATA_GPA,
				     n, PAGE, 0));
	for (i = 0; i < 3 * n; i++) {
		run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
		ASSERT_EQ(0x2000 + i % n, self->vcpu.exit.io.data);
	}
}

/*
 * User space points CR3 at other page tables between runs, which map the
 * same linear address elsewhere: each run reads through the tables it was
 * given.  With VPIDs the CPU keeps the guest's translations across exits,
 * and the guest never flushed them itself: the VMM must (vmx.c).
 */
TEST_F(vcpu, guest_sees_cr3_set_by_vmm)
{
	const __u64 tables = DATA_GPA, va = DATA_GPA + 4 * MB;
	__u64 *pml4 = (__u64 *)self->data, *pdpt = pml4 + 512, *pd = pdpt + 512;
	const __u64 *sys_pdpt = guest_hva(&self->vm, GUEST_PDPT_GPA);
	const __u64 *sys_pd = guest_hva(&self->vm, GUEST_PD_GPA + PAGE);
	struct guest_sregs sregs;
	__u64 cr3;
	int round;

	/* A copy of the library's tables, but va maps va + 2 MiB. */
	memcpy(pdpt, sys_pdpt, PAGE);
	memcpy(pd, sys_pd, PAGE);
	pml4[0] = (tables + PAGE) | (sys_pdpt[0] & 0xfff);
	pdpt[1] = (tables + 2 * PAGE) | (sys_pdpt[1] & 0xfff);
	pd[2] = sys_pd[3];
	*(__u32 *)(self->data + 4 * MB) = 0xaaaa;
	*(__u32 *)(self->data + 6 * MB) = 0xbbbb;

	ASSERT_EQ(0, guest_get_sregs(&self->vcpu, &sregs));
	cr3 = sregs.cr3;
	for (round = 0; round < 6; round++) {
		bool other = round & 1;

		sregs.cr3 = other ? tables : cr3;
		ASSERT_EQ(0, guest_set_sregs(&self->vcpu, &sregs));
		ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_read_loop, va,
					     1, 0, 1));
		run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
		EXPECT_EQ(other ? 0xbbbb : 0xaaaa, self->vcpu.exit.io.data)
			TH_LOG("round %d, CR3 0x%llx", round,
			       (unsigned long long)sregs.cr3);
		EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	}
}

TEST_F(vcpu, mmio_read_write)
{
	static const struct { __u32 read, write, len; __u64 value; } steps[] = {
		{ 0, 8, 8, 0x1122334455667788ULL },
		{ 16, 20, 4, 0xa1b2c3d4 },
		{ 24, 26, 2, 0x5678 },
		{ 28, 29, 1, 0x9a },
	};
	unsigned int i;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_mmio, MMIO_GPA,
				     0, 0, 0));
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run_expect_mmio(_metadata, &self->vcpu,
				MMIO_GPA + steps[i].read, steps[i].len, false);
		ASSERT_EQ(0, guest_complete_mmio_read(&self->vcpu,
						      steps[i].value));
		run_expect_mmio(_metadata, &self->vcpu,
				MMIO_GPA + steps[i].write, steps[i].len, true);
		EXPECT_EQ(steps[i].value, self->vcpu.exit.mmio.data);
		EXPECT_EQ(-EINVAL, guest_complete_mmio_read(&self->vcpu, 0));
	}
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
}

TEST_F(vcpu, hlt)
{
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_hlt, 0, 0, 0, 0));
	ASSERT_EQ(0, guest_run(&self->vcpu));
	EXPECT_EQ(GUEST_EXIT_HLT, self->vcpu.exit.kind);
	/* Running again goes on after the HLT. */
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	ASSERT_EQ(0, guest_run(&self->vcpu));
	EXPECT_EQ(GUEST_EXIT_HLT, self->vcpu.exit.kind);
}

/*
 * The VMM's own GS base and GS selector survive guest entries: the entry
 * switches the GS-related MSRs (on VMX by hand, SWAPGS's KERNEL_GS_BASE
 * included) and must give the VMM's back.
 */
TEST_F(vcpu, vmm_gs_survives_runs)
{
	unsigned long base = 0x7e5700000000UL, got = 0;
	unsigned short sel;

	ASSERT_EQ(0, syscall(SYS_arch_prctl, ARCH_SET_GS, base));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_fill, DATA_GPA, PAGE,
				     SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	EXPECT_EQ(0, syscall(SYS_arch_prctl, ARCH_GET_GS, &got));
	EXPECT_EQ(base, got);
	asm volatile("mov %%gs, %0" : "=r" (sel));
	EXPECT_EQ(0, sel);
	ASSERT_EQ(0, syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL));

	/* A GS selector of the VMM's own (the user data segment, 0x2b). */
	sel = 0x2b;
	asm volatile("mov %0, %%gs" : : "r" (sel));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_fill, DATA_GPA, PAGE,
				     SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	sel = 0;
	asm volatile("mov %%gs, %0" : "=r" (sel));
	EXPECT_EQ(0x2b, sel);
	EXPECT_EQ(0, syscall(SYS_arch_prctl, ARCH_GET_GS, &got));
	EXPECT_EQ(0, got);
	ASSERT_EQ(0, syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL));
}

TEST_F(vcpu, real_mode)
{
	__u16 *word = guest_hva(&self->vm, GUEST_REAL_MODE_DATA);

	ASSERT_NE(NULL, word);
	ASSERT_EQ(0, guest_vcpu_real_mode(&self->vcpu));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_real_mode, 0, 0, 0, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_DONE, true, 2);
	EXPECT_EQ(GUEST_REAL_MODE_MAGIC, self->vcpu.exit.io.data);
	EXPECT_EQ(GUEST_REAL_MODE_MAGIC, *word);
}

#define PAE_PD_FLAGS	0xe3	/* P, RW, A, D, PS: a 2 MiB page */
#define PAE_CR0		0x80000031ULL	/* PG, NE, ET, PE */
#define PAE_CR4		0x20ULL		/* PAE */

/*
 * 32-bit PAE paging at the start of the data slot: a PDPT mapping the
 * first two GiB with 2 MiB pages, the data GiB (PDPT entry 1) at
 * @data_gib instead of itself.  Returns CR3.
 */
static __u64 pae_tables(FIXTURE_DATA(vcpu) *self, __u64 data_gib)
{
	__u64 *pdpt = (__u64 *)self->data, *pd = pdpt + 512;
	int i;

	memset(pdpt, 0, 3 * PAGE);
	pdpt[0] = (DATA_GPA + PAGE) | 1;
	pdpt[1] = (DATA_GPA + 2 * PAGE) | 1;
	for (i = 0; i < 512; i++) {
		pd[i] = (i * 2 * MB) | PAE_PD_FLAGS;
		pd[512 + i] = (data_gib + i * 2 * MB) | PAE_PD_FLAGS;
	}
	return DATA_GPA;
}

/* Flat 32-bit protected mode, CR4.PAE set, with @cr0 and @cr3. */
static int pae_mode_cr0(struct guest_vcpu *vcpu, __u64 cr0, __u64 cr3)
{
	struct guest_segment code = {
		.limit = 0xffffffff, .selector = 0x08, .type = 0xb,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct guest_segment data = {
		.limit = 0xffffffff, .selector = 0x10, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct guest_sregs sregs;
	int r = guest_get_sregs(vcpu, &sregs);

	if (r)
		return r;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = cr0;
	sregs.cr4 = PAE_CR4;
	sregs.efer = 0;
	sregs.cr3 = cr3;
	return guest_set_sregs(vcpu, &sregs);
}

/* The same, paging on: PAE paging at @cr3. */
static int pae_mode(struct guest_vcpu *vcpu, __u64 cr3)
{
	return pae_mode_cr0(vcpu, PAE_CR0, cr3);
}

/*
 * A 32-bit guest turns PAE paging on itself, and clears CR0.NE in the same
 * MOV: on VMX that MOV exits (VMX keeps NE set) and vmmu emulates it,
 * loading the PDPTEs as the CPU would.  The guest then reads through its
 * tables and sees CR0 as it wrote it.
 */
TEST_F(vcpu, pae_paging_turned_on_by_guest)
{
	const __u64 va = DATA_GPA + 4 * MB;
	struct guest_sregs sregs;
	__u64 cr3;

	*(__u32 *)(self->data + 36 * MB) = 0xc0de;
	cr3 = pae_tables(self, DATA_GPA + 32 * MB);
	ASSERT_EQ(0, pae_mode_cr0(&self->vcpu, PAE_CR0 & ~0x80000000ULL, 0));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_pae_enable, va, cr3,
				     0, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0xc0de, self->vcpu.exit.io.data);
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	ASSERT_EQ(0, guest_get_sregs(&self->vcpu, &sregs));
	EXPECT_EQ(PAE_CR0 & ~0x20ULL, sregs.cr0 & 0xffffffffULL);
	EXPECT_EQ(cr3, sregs.cr3);
}

/*
 * A 32-bit guest with PAE paging reads and writes through its own tables
 * (on VMX the PDPTEs come from the VMCS, which vmmu fills from them).
 */
TEST_F(vcpu, pae_paging)
{
	const __u64 va = DATA_GPA + 4 * MB;

	*(__u32 *)(self->data + 4 * MB) = 0xfeed;
	ASSERT_EQ(0, pae_mode(&self->vcpu, pae_tables(self, DATA_GPA)));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_pae_copy, va,
				     0x5a5a1234, 0, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0xfeed, self->vcpu.exit.io.data);
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	EXPECT_EQ(0x5a5a1234, *(__u32 *)(self->data + 4 * MB + 4));

	/* New tables and CR3 from user space: va now maps 32 MiB on. */
	*(__u32 *)(self->data + 36 * MB) = 0xbeef;
	ASSERT_EQ(0, pae_mode(&self->vcpu, pae_tables(self, DATA_GPA + 32 * MB)));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_pae_copy, va, 7, 0, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0xbeef, self->vcpu.exit.io.data);
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	EXPECT_EQ(7, *(__u32 *)(self->data + 36 * MB + 4));
}

/* The host sets xmm0 and reads xmm1 through the XSAVE state. */
TEST_F(vcpu, sse_state)
{
	static const __u8 xmm0[16] = "xmm0 from host!";
	static const __u8 xmm1[16] = "xmm1 from guest";
	struct guest_xsave xsave;
	__u8 got[16];

	memcpy(self->data, xmm1, sizeof(xmm1));
	ASSERT_EQ(0, guest_get_xsave(&self->vcpu, &xsave));
	guest_xsave_set_xmm(&xsave, 0, xmm0);
	ASSERT_EQ(0, guest_set_xsave(&self->vcpu, &xsave));

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_sse, DATA_GPA + 64,
				     DATA_GPA, 0, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	EXPECT_EQ(0, memcmp(self->data + 64, xmm0, sizeof(xmm0)));
	ASSERT_EQ(0, guest_get_xsave(&self->vcpu, &xsave));
	guest_xsave_get_xmm(&xsave, 1, got);
	EXPECT_EQ(0, memcmp(got, xmm1, sizeof(xmm1)));
}

TEST_F(vcpu, exception_reported)
{
	struct guest_regs regs;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_ud2, 0, 0, 0, 0));
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_EXCEPTION, true, 4);
	EXPECT_EQ(6, self->vcpu.exit.io.data);		/* #UD */
	ASSERT_EQ(0, guest_get_regs(&self->vcpu, &regs));
	EXPECT_EQ(guest_payload_gpa(guest_ud2), regs.rbx);
}

/* Without an IDT, #UD becomes #GP, #DF, then a triple fault. */
TEST_F(vcpu, triple_fault_shutdown)
{
	struct guest_sregs sregs;

	ASSERT_EQ(0, guest_get_sregs(&self->vcpu, &sregs));
	sregs.idt.limit = 0;
	ASSERT_EQ(0, guest_set_sregs(&self->vcpu, &sregs));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_ud2, 0, 0, 0, 0));
	ASSERT_EQ(0, guest_run(&self->vcpu));
	EXPECT_EQ(GUEST_EXIT_SHUTDOWN, self->vcpu.exit.kind);
}

/* The special registers read back as the library set them. */
TEST_F(vcpu, sregs_round_trip)
{
	struct guest_sregs sregs;

	ASSERT_EQ(0, guest_get_sregs(&self->vcpu, &sregs));
	EXPECT_EQ(GUEST_PML4_GPA, sregs.cr3);
	EXPECT_EQ(0x500, sregs.efer & 0x500);		/* LME, LMA */
	EXPECT_EQ(0x80000001, sregs.cr0 & 0x80000001);	/* PG, PE */
	EXPECT_EQ(GUEST_SEL_CODE, sregs.cs.selector);
	EXPECT_EQ(1, sregs.cs.l);
	EXPECT_EQ(GUEST_GDT_GPA, sregs.gdt.base);
	EXPECT_EQ(GUEST_IDT_GPA, sregs.idt.base);
}

struct vcpu_job {
	struct guest_vcpu *vcpu;
	__u64 gpa, len, seed;
	int err;
	struct guest_exit fill, verify;
};

/* Fill, then verify, this vCPU's part of the data slot; no ASSERTs here. */
static void *fill_and_verify(void *arg)
{
	struct vcpu_job *job = arg;
	struct guest_vcpu *vcpu = job->vcpu;

	job->err = guest_vcpu_call(vcpu, guest_fill, job->gpa, job->len,
				   job->seed, 0);
	if (!job->err)
		job->err = guest_run(vcpu);
	job->fill = vcpu->exit;
	if (!job->err)
		job->err = guest_vcpu_call(vcpu, guest_verify, job->gpa,
					   job->len, job->seed, 0);
	if (!job->err)
		job->err = guest_run(vcpu);
	job->verify = vcpu->exit;
	return NULL;
}

static bool is_done(const struct guest_exit *e, __u32 result)
{
	return e->kind == GUEST_EXIT_IO && e->io.port == GUEST_PORT_DONE &&
	       e->io.out && e->io.data == result;
}

TEST_F_TIMEOUT(vcpu, vcpus_on_threads, 300)
{
	struct guest_vcpu vcpus[NR_THREADS];
	struct vcpu_job jobs[NR_THREADS];
	pthread_t threads[NR_THREADS];
	const __u64 part = DATA_SIZE / NR_THREADS;
	char buf[256];
	int i;

	vcpus[0] = self->vcpu;
	for (i = 1; i < NR_THREADS; i++)
		ASSERT_EQ(0, guest_vcpu_create(&self->vm, &vcpus[i], i));
	for (i = 0; i < NR_THREADS; i++) {
		jobs[i] = (struct vcpu_job) {
			.vcpu = &vcpus[i], .gpa = DATA_GPA + i * part,
			.len = part, .seed = SEED + i,
		};
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, fill_and_verify,
					    &jobs[i]));
	}
	for (i = 0; i < NR_THREADS; i++)
		ASSERT_EQ(0, pthread_join(threads[i], NULL));

	for (i = 0; i < NR_THREADS; i++) {
		EXPECT_EQ(0, jobs[i].err) TH_LOG("vCPU %d", i);
		EXPECT_TRUE(is_done(&jobs[i].fill, 0))
			TH_LOG("vCPU %d fill: %s", i,
			       guest_exit_str(&jobs[i].fill, buf, sizeof(buf)));
		EXPECT_TRUE(is_done(&jobs[i].verify, 0))
			TH_LOG("vCPU %d verify: %s", i,
			       guest_exit_str(&jobs[i].verify, buf, sizeof(buf)));
		EXPECT_EQ(part / 8, first_mismatch(self->data + i * part,
						   jobs[i].gpa, part,
						   jobs[i].seed))
			TH_LOG("vCPU %d's part", i);
	}
	for (i = 1; i < NR_THREADS; i++)
		guest_vcpu_destroy(&vcpus[i]);
}

TEST_F(vcpu, immediate_exit)
{
	struct guest_regs regs;

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_io_loop, 1, 0, 0, 0));
	guest_set_immediate_exit(&self->vcpu, true);
	ASSERT_EQ(0, guest_run(&self->vcpu));
	EXPECT_EQ(GUEST_EXIT_INTR, self->vcpu.exit.kind);
	/* The flag stays set, and the guest did not run. */
	ASSERT_EQ(0, guest_run(&self->vcpu));
	EXPECT_EQ(GUEST_EXIT_INTR, self->vcpu.exit.kind);
	ASSERT_EQ(0, guest_get_regs(&self->vcpu, &regs));
	EXPECT_EQ(guest_payload_gpa(guest_io_loop), regs.rip);

	guest_set_immediate_exit(&self->vcpu, false);
	run_expect_io(_metadata, &self->vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0, self->vcpu.exit.io.data);
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
}

static atomic_int signals_seen;

static void count_signal(int sig)
{
	atomic_fetch_add(&signals_seen, 1);
}

struct spin_job {
	struct guest_vcpu *vcpu;
	int err;
	atomic_bool returned;
};

static void *run_once(void *arg)
{
	struct spin_job *job = arg;

	job->err = guest_run(job->vcpu);
	atomic_store(&job->returned, true);
	return NULL;
}

/*
 * A guest spinning forever: a signal to its thread makes the run return
 * EINTR, and the next run continues the guest where it was.
 */
TEST_F_TIMEOUT(vcpu, signal_interrupts_spin, 120)
{
	volatile __u64 *ctl = (volatile __u64 *)self->data;
	struct sigaction sa = { .sa_handler = count_signal };
	struct spin_job job = { .vcpu = &self->vcpu };
	__u64 count;
	pthread_t thread;
	int i;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));	/* no SA_RESTART */
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_spin, DATA_GPA, 0, 0, 0));
	ASSERT_EQ(0, pthread_create(&thread, NULL, run_once, &job));

	/* Wait until the guest spins (the harness's timeout bounds this). */
	while (!ctl[GUEST_SPIN_COUNT / 8] && !atomic_load(&job.returned))
		usleep(1000);
	ASSERT_FALSE(atomic_load(&job.returned))
		TH_LOG("the run ended before any signal");
	/* A signal sent just before the thread entered the run is missed. */
	for (i = 0; i < 1000 && !atomic_load(&job.returned); i++) {
		pthread_kill(thread, SIGUSR1);
		usleep(10000);
	}
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_LT(0, atomic_load(&signals_seen));
	ASSERT_EQ(0, job.err);
	ASSERT_EQ(GUEST_EXIT_INTR, self->vcpu.exit.kind);

	/* Continue: the guest counts on from where it was and sees STOP. */
	count = ctl[GUEST_SPIN_COUNT / 8];
	ctl[GUEST_SPIN_STOP / 8] = 1;
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));
	EXPECT_LE(count, ctl[GUEST_SPIN_COUNT / 8]);
	EXPECT_GE(count + 1, ctl[GUEST_SPIN_COUNT / 8]);
}

/* The run structure, mapped wrongly. */
TEST_F(vcpu, run_mmap_bad)
{
	long size = self->vm.run_size;
	char *p;
	pid_t pid;
	int status;

	ASSERT_LT(0, size);
	ASSERT_EQ(0, size % PAGE);
	if (is_kvm(variant)) {
		/*
		 * KVM maps any length at any offset; only touching a page
		 * past the run structure's pages raises SIGBUS.
		 */
		p = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->vcpu.fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			*(volatile char *)(p + size) = 1;
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
			TH_LOG("status 0x%x", status);
		munmap(p, size + PAGE);
	} else {
		/*
		 * vmmu's rule: only offset 0 and exactly
		 * VMMU_GET_VCPU_MMAP_SIZE bytes map; anything else is EINVAL.
		 */
		errno = 0;
		EXPECT_EQ(MAP_FAILED, mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
					   MAP_SHARED, self->vcpu.fd, 0));
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
					   MAP_SHARED, self->vcpu.fd, size));
		EXPECT_EQ(EINVAL, errno);
		if (size > PAGE) {
			errno = 0;
			EXPECT_EQ(MAP_FAILED, mmap(NULL, size - PAGE,
						   PROT_READ | PROT_WRITE,
						   MAP_SHARED, self->vcpu.fd, 0));
			EXPECT_EQ(EINVAL, errno);
		}
	}
	/* A second, correct mapping sees the same run structure. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->vcpu.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	expect_vcpu_works(_metadata, &self->vcpu);
	EXPECT_EQ(0, memcmp(p, self->vcpu.run, size));
	munmap(p, size);
}

TEST_F(vcpu, unknown_ioctl)
{
	unsigned long cmd = is_kvm(variant) ? _IO(KVMIO, 0xff) :
					      _IO(VMMUIO, 0xff);

	/* KVM answers EINVAL; vmmu's rule is ENOTTY, for every ioctl it lacks. */
	EXPECT_EQ(is_kvm(variant) ? -EINVAL : -ENOTTY,
		  vmmu_ioctl(self->vcpu.fd, cmd, 0));
	if (!is_kvm(variant))
		EXPECT_EQ(-ENOTTY, vmmu_ioctl(self->vcpu.fd, KVM_RUN, 0));
	expect_vcpu_works(_metadata, &self->vcpu);
}

TEST_F(vcpu, vcpu_id_out_of_range)
{
	unsigned long create = is_kvm(variant) ? KVM_CREATE_VCPU :
						 VMMU_CREATE_VCPU;
	long ids = guest_vm_vcpu_ids(&self->vm), r;
	struct guest_vcpu other;

	ASSERT_LT(1, ids);
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm.fd, create, ids));
	EXPECT_EQ(-EINVAL, vmmu_ioctl(self->vm.fd, create, ~0UL));
	/*
	 * 1 << 32 truncated to 32 bits is id 0, which exists.  KVM on 6.1
	 * truncates (EEXIST), on 6.12 it does not (EINVAL).  vmmu's rule:
	 * the whole argument is the id, so EINVAL.
	 */
	r = vmmu_ioctl(self->vm.fd, create, 1UL << 32);
	if (is_kvm(variant)) {
		EXPECT_TRUE(r == -EEXIST || r == -EINVAL) TH_LOG("%ld", r);
	} else {
		EXPECT_EQ(-EINVAL, r);
	}
	ASSERT_EQ(0, guest_vcpu_create(&self->vm, &other, 1));
	expect_vcpu_works(_metadata, &other);
	guest_vcpu_destroy(&other);
}

TEST_F(vcpu, vcpu_id_twice)
{
	unsigned long create = is_kvm(variant) ? KVM_CREATE_VCPU :
						 VMMU_CREATE_VCPU;

	EXPECT_EQ(-EEXIST, vmmu_ioctl(self->vm.fd, create, 0));
	expect_vcpu_works(_metadata, &self->vcpu);
}

/* A vCPU fd belongs to the VM's mm: a forked child gets EIO. */
TEST_F(vcpu, forked_child_eio)
{
	struct guest_regs regs;
	int *res, status;
	pid_t pid;

	res = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_io_loop, 1, 0, 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		res[0] = guest_run(&self->vcpu);
		res[1] = guest_get_regs(&self->vcpu, &regs);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(-EIO, res[0]);
	EXPECT_EQ(-EIO, res[1]);
	munmap(res, PAGE);
	expect_vcpu_works(_metadata, &self->vcpu);
}

/*
 * A write to a read-only memslot: KVM exits with an MMIO write (and drops
 * the write); vmmu's rule is a MEMORY_FAULT exit, reason READONLY_SLOT.
 * Reads work on both.
 */
TEST_F(vcpu, readonly_slot_write)
{
	char *ro = guest_alloc(EXTRA_SIZE, 2 * MB);

	ASSERT_NE(NULL, ro);
	host_fill(ro, EXTRA_GPA, EXTRA_SIZE, SEED);
	ASSERT_EQ(0, guest_set_memslot(&self->vm, EXTRA_SLOT, GUEST_MEM_READONLY,
				       EXTRA_GPA, EXTRA_SIZE, ro));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_verify, EXTRA_GPA,
				     EXTRA_SIZE, SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vcpu));

	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_fill, EXTRA_GPA,
				     EXTRA_SIZE, SEED + 1, 0));
	if (is_kvm(variant)) {
		run_expect_mmio(_metadata, &self->vcpu, EXTRA_GPA, 8, true);
		EXPECT_EQ(guest_pattern(SEED + 1, EXTRA_GPA),
			  self->vcpu.exit.mmio.data);
	} else {
		ASSERT_EQ(0, guest_run(&self->vcpu));
		ASSERT_EQ(GUEST_EXIT_MEMORY_FAULT, self->vcpu.exit.kind);
		EXPECT_EQ(EXTRA_GPA, self->vcpu.exit.memory_fault.gpa);
		EXPECT_EQ(VMMU_ACCESS_EXIT_READONLY_SLOT,
			  self->vcpu.exit.memory_fault.reason);
		EXPECT_EQ(VMMU_ACCESS_WRITE, self->vcpu.exit.memory_fault.flags);
	}
	EXPECT_EQ(EXTRA_SIZE / 8, first_mismatch(ro, EXTRA_GPA, EXTRA_SIZE, SEED));
	guest_free(ro, EXTRA_SIZE);
}

/*
 * A memslot whose host memory is unmapped: KVM's run fails with EFAULT;
 * vmmu's rule is a MEMORY_FAULT exit, reason HOST_FAULT.
 */
TEST_F(vcpu, unbacked_memslot)
{
	char *mem = guest_alloc(EXTRA_SIZE, 2 * MB);

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, guest_set_memslot(&self->vm, EXTRA_SLOT, 0, EXTRA_GPA,
				       EXTRA_SIZE, mem));
	guest_free(mem, EXTRA_SIZE);
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_verify, EXTRA_GPA,
				     EXTRA_SIZE, SEED, 0));
	if (is_kvm(variant)) {
		EXPECT_EQ(-EFAULT, guest_run(&self->vcpu));
	} else {
		ASSERT_EQ(0, guest_run(&self->vcpu));
		ASSERT_EQ(GUEST_EXIT_MEMORY_FAULT, self->vcpu.exit.kind);
		EXPECT_EQ(EXTRA_GPA, self->vcpu.exit.memory_fault.gpa);
		EXPECT_EQ(VMMU_ACCESS_EXIT_HOST_FAULT,
			  self->vcpu.exit.memory_fault.reason);
		EXPECT_EQ(0, self->vcpu.exit.memory_fault.flags);
	}
}

/*
 * vmmu only: a VM whose page-table format the CPU does not walk (EPT on an
 * AMD host, NPT on an Intel one) has no vCPUs: VMMU_CAP_VCPUS is 0 on it
 * and VMMU_CREATE_VCPU fails.
 */
TEST(vmmu_foreign_format_has_no_vcpus)
{
	int dev = vmmu_open_dev(), vm;
	long host, foreign, r;

	ASSERT_LE(0, dev);
	host = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT);
	ASSERT_TRUE(host == VMMU_VM_TYPE_EPT || host == VMMU_VM_TYPE_NPT);
	foreign = host == VMMU_VM_TYPE_EPT ? VMMU_VM_TYPE_NPT : VMMU_VM_TYPE_EPT;
	vm = vmmu_create_vm(dev, foreign);
	ASSERT_LE(0, vm);
	EXPECT_EQ(0, vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_VCPUS));
	r = vmmu_ioctl(vm, VMMU_CREATE_VCPU, 0);
	EXPECT_EQ(-EOPNOTSUPP, r);
	close(vm);
	close(dev);
}

/*
 * Bad special registers are refused with EINVAL and change nothing: the
 * vCPU runs as before.  (vmmu's rules; KVM accepts some of these and
 * fails the entry instead.)
 */
TEST_F(vmmu, sregs_bad_input)
{
	struct vmmu_sregs good, bad;
	int fd = self->vm.vcpu.fd;

	ASSERT_EQ(0, ioctl(fd, VMMU_GET_SREGS, &good));

	bad = good;
	bad.efer |= 1ULL << 12;				/* SVME is not the guest's */
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.cs.db = 1;					/* 64-bit code with D */
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.cr4 &= ~0x20ULL;				/* long mode without PAE */
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.cr0 &= ~1ULL;				/* PG without PE */
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.ss.dpl = 4;					/* out of range */
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);
	bad = good;
	bad.gdt.padding[1] = 1;
	EXPECT_EQ(-1, ioctl(fd, VMMU_SET_SREGS, &bad));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, ioctl(fd, VMMU_GET_SREGS, &bad));
	EXPECT_EQ(0, memcmp(&good, &bad, sizeof(good)));
	expect_vcpu_works(_metadata, &self->vm.vcpu);
}

/* The host's page-table format: VMMU_VM_TYPE_EPT on Intel, _NPT on AMD. */
static long host_format(void)
{
	int dev = vmmu_open_dev();
	long r;

	if (dev < 0)
		return dev;
	r = vmmu_ioctl(dev, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT);
	close(dev);
	return r;
}

/*
 * State that vmmu accepts but the CPU's consistency checks refuse (a
 * reserved CR4 bit) fails the entry, with the hardware's reason: SVM's
 * VMEXIT_INVALID (-1), or VMX's exit reason for invalid guest state (33)
 * with bit 31, "VM-entry failure", set; with the state repaired the vCPU
 * runs again.
 */
TEST_F(vmmu, failed_entry)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	struct vmmu_sregs good, bad;
	char buf[256];

	ASSERT_EQ(0, ioctl(vcpu->fd, VMMU_GET_SREGS, &good));
	bad = good;
	bad.cr4 |= 1ULL << 31;
	ASSERT_EQ(0, ioctl(vcpu->fd, VMMU_SET_SREGS, &bad));
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_hlt, 0, 0, 0, 0));
	ASSERT_EQ(0, guest_run(vcpu));
	ASSERT_EQ(GUEST_EXIT_FAIL_ENTRY, vcpu->exit.kind)
		TH_LOG("%s", guest_exit_str(&vcpu->exit, buf, sizeof(buf)));
	if (host_format() == VMMU_VM_TYPE_EPT) {
		EXPECT_EQ(0x80000021ULL, vcpu->exit.fail_entry.reason);
	} else {
		EXPECT_EQ((__u64)-1, vcpu->exit.fail_entry.reason);
	}
	ASSERT_EQ(0, ioctl(vcpu->fd, VMMU_SET_SREGS, &good));
	expect_vcpu_works(_metadata, vcpu);
}

/* The vCPU statistics count what the guest did. */
TEST_F(vmmu, stats_count_exits)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	struct vmmu_vm_stats a, b;

	ASSERT_EQ(0, vmmu_get_stats(self->vm.vm.fd, &a));
	/* Fresh memory: nested page faults, then the done port, then HLT. */
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_fill, DATA_GPA, 16 * PAGE,
				     SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, vcpu));
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_hlt, 0, 0, 0, 0));
	ASSERT_EQ(0, guest_run(vcpu));
	ASSERT_EQ(0, vmmu_get_stats(self->vm.vm.fd, &b));

	EXPECT_LE(1, b.exits_npf - a.exits_npf);
	EXPECT_LE(1, b.exits_io - a.exits_io);
	EXPECT_EQ(1, b.exits_hlt - a.exits_hlt);
	EXPECT_LE(b.exits_npf - a.exits_npf + 2, b.vcpu_entries - a.vcpu_entries);
	EXPECT_LE(b.exits_npf - a.exits_npf,
		  b.faults_4k + b.faults_2m - a.faults_4k - a.faults_2m);
}

#define AD_SLOT		3
#define AD_GPA		(2ULL << 30)
#define AD_SIZE		(2 * MB)

/* The memory of a test slot: 4 KiB pages, or NULL. */
static char *map_4k(size_t size)
{
	char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		return NULL;
	madvise(mem, size, MADV_NOHUGEPAGE);
	return mem;
}

static __u32 translated(int vm, __u64 gpa, __u32 *level)
{
	struct vmmu_translation t = { .guest_phys_addr = gpa };

	if (ioctl(vm, VMMU_TRANSLATE, &t))
		return ~0U;
	if (level)
		*level = t.level;
	return t.flags;
}

/* Run @payload(@a0, @a1, @a2) to its DONE: its result. */
static __u32 call_to_done(struct __test_metadata *_metadata,
			  struct guest_vcpu *vcpu, const char *payload,
			  __u64 a0, __u64 a1, __u64 a2)
{
	if (guest_vcpu_call(vcpu, payload, a0, a1, a2, 0))
		return ~0U;
	return run_to_done(_metadata, vcpu);
}

/* vmmu's vpid parameter: "Y" when vCPUs get VPIDs. */
static const char *vpid_param(void)
{
	static char value[8];
	FILE *f = fopen("/sys/module/vmmu/parameters/vpid", "r");

	strcpy(value, "?");
	if (f) {
		if (!fgets(value, sizeof(value), f))
			strcpy(value, "?");
		fclose(f);
	}
	value[strcspn(value, "\n")] = 0;
	return value;
}

/*
 * VMX takes a PAE guest's PDPTEs from the VMCS, so VMMU_SET_SREGS reads
 * them at CR3 and refuses what a MOV to CR3 would fault on: a present
 * PDPTE with reserved bits, PDPTEs no memslot backs.  The vCPU is left as
 * it was.  (SVM walks them from memory at each miss: nothing to refuse.)
 */
TEST_F(vmmu, pae_pdptes_checked)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	struct guest_sregs before, after;
	__u64 cr3;

	cr3 = pae_tables(&self->vm, DATA_GPA);
	((__u64 *)self->vm.data)[3] = 1ULL << 62;	/* absent: not checked */
	if (host_format() == VMMU_VM_TYPE_EPT) {
		ASSERT_EQ(0, guest_get_sregs(vcpu, &before));
		((__u64 *)self->vm.data)[1] |= 2;	/* reserved bit 1 */
		EXPECT_EQ(-EINVAL, pae_mode(vcpu, cr3));
		((__u64 *)self->vm.data)[1] &= ~2ULL;
		EXPECT_EQ(-EINVAL, pae_mode(vcpu, MMIO_GPA));
		ASSERT_EQ(0, guest_get_sregs(vcpu, &after));
		EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
		expect_vcpu_works(_metadata, vcpu);
	} else {
		TH_LOG("SVM reads a PAE guest's PDPTEs from memory: nothing to refuse");
	}

	EXPECT_EQ(0, pae_mode(vcpu, cr3));
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_pae_copy, DATA_GPA + 4 * MB,
				     1, 0, 0));
	run_expect_io(_metadata, vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0, run_to_done(_metadata, vcpu));
}

struct memslot_race {
	atomic_int go;			/* 1: zap, 2: update */
	char *zap;			/* a page of no memslot */
	struct guest_vm *vm;
	void *data;
	double update_begin, update_end;
	int update_r;
};

static void *race_zapper(void *arg)
{
	struct memslot_race *race = arg;

	while (atomic_load(&race->go) < 1)
		usleep(1000);
	madvise(race->zap, PAGE, MADV_DONTNEED);
	return NULL;
}

static void *race_updater(void *arg)
{
	struct memslot_race *race = arg;

	while (atomic_load(&race->go) < 2)
		usleep(1000);
	race->update_begin = now_ms();
	race->update_r = guest_set_memslot(race->vm, DATA_SLOT,
					   GUEST_MEM_LOG_DIRTY, DATA_GPA,
					   DATA_SIZE, race->data);
	race->update_end = now_ms();
	return NULL;
}

/*
 * VMMU_SET_SREGS of PAE paging reads the PDPTEs (VMX) while their memslot
 * is being changed (dirty logging turned on): it waits for the update and
 * succeeds, as the fault path would, rather than failing.  The update is
 * held open by an invalidation that mn_inject_delay_ms keeps in flight.
 */
TEST_F_TIMEOUT(vmmu, pae_sregs_wait_for_memslot_update, 120)
{
	const int delay = 1000 * vmmu_timeout_scale();
	struct memslot_race race = {
		.vm = &self->vm.vm, .data = self->vm.data,
	};
	pthread_t zapper, updater;
	double begin, end;
	char ms[16];
	__u64 cr3;
	int r;

	if (host_format() != VMMU_VM_TYPE_EPT) {
		TH_LOG("SVM reads a PAE guest's PDPTEs from memory: nothing to wait for");
		return;
	}
	race.zap = map_4k(PAGE);
	ASSERT_NE(NULL, race.zap);
	race.zap[0] = 1;
	cr3 = pae_tables(&self->vm, DATA_GPA);
	/* The threads first: creating one invalidates its stack's guard. */
	ASSERT_EQ(0, pthread_create(&zapper, NULL, race_zapper, &race));
	ASSERT_EQ(0, pthread_create(&updater, NULL, race_updater, &race));
	snprintf(ms, sizeof(ms), "%d", delay);
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", ms));
	atomic_store(&race.go, 1);
	usleep(delay * 1000 / 5);
	atomic_store(&race.go, 2);
	usleep(delay * 1000 / 5);
	begin = now_ms();
	r = pae_mode(&self->vm.vcpu, cr3);
	end = now_ms();
	ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", "0"));
	pthread_join(zapper, NULL);
	pthread_join(updater, NULL);
	munmap(race.zap, PAGE);

	EXPECT_EQ(0, race.update_r);
	EXPECT_EQ(0, r) TH_LOG("VMMU_SET_SREGS failed while the update ran");
	TH_LOG("ms: update %.0f-%.0f, VMMU_SET_SREGS %.0f-%.0f",
	       race.update_begin - begin, race.update_end - begin, 0.0,
	       end - begin);
	/* It ran inside the update, and returned only after it. */
	ASSERT_LT(race.update_begin, begin) TH_LOG("no overlap: a slow start?");
	ASSERT_LT(begin, race.update_end) TH_LOG("no overlap: a slow start?");
	EXPECT_LE(race.update_end, end + 1);
}

/*
 * An entry flushes what the CPU may cache for the guest when something
 * changed it, not at every entry: VMX with VPIDs keeps the guest's
 * translations across exits, so a loop of exits on one CPU flushes only if
 * the MMU asked; after the host drops a page the guest used, the next entry
 * flushes.  SVM flushes at every entry (svm_cpu.c).
 */
TEST_F(vmmu, tlb_flushed_when_needed)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	int fd = self->vm.vm.fd;
	struct vmmu_vm_stats a, b;
	__u64 entries, flushes, asked;
	const __u32 n = 100;
	cpu_set_t one;
	__u32 i;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	/* On this CPU from now on, and the data page mapped. */
	ASSERT_EQ(0, call_to_done(_metadata, vcpu, guest_fill, DATA_GPA, PAGE,
				  SEED));

	ASSERT_EQ(0, vmmu_get_stats(fd, &a));
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_io_loop, n, 0, 0, 0));
	for (i = 0; i < n; i++)
		run_expect_io(_metadata, vcpu, GUEST_PORT_VALUE, true, 4);
	EXPECT_EQ(0, run_to_done(_metadata, vcpu));
	ASSERT_EQ(0, vmmu_get_stats(fd, &b));
	entries = b.vcpu_entries - a.vcpu_entries;
	flushes = b.vcpu_tlb_flushes - a.vcpu_tlb_flushes;
	asked = b.tlb_flushes - a.tlb_flushes;
	EXPECT_LE(n + 1, entries);
	ksft_print_msg("%llu entries, %llu flushed; VPIDs: %s\n",
		       (unsigned long long)entries, (unsigned long long)flushes,
		       vpid_param());
	if (host_format() == VMMU_VM_TYPE_EPT) {
		EXPECT_LE(flushes, asked)
			TH_LOG("%llu entries, %llu flushed, the MMU asked %llu (VPIDs: %s)",
			       (unsigned long long)entries,
			       (unsigned long long)flushes,
			       (unsigned long long)asked, vpid_param());
	} else {
		EXPECT_EQ(entries, flushes);
	}

	/* The host drops the page: zapped, and the next entry flushes. */
	ASSERT_EQ(0, madvise(self->vm.data, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, vmmu_get_stats(fd, &a));
	EXPECT_LT(b.tlb_flushes, a.tlb_flushes);
	ASSERT_EQ(0, call_to_done(_metadata, vcpu, guest_fill, DATA_GPA, PAGE,
				  SEED));
	ASSERT_EQ(0, vmmu_get_stats(fd, &b));
	EXPECT_LE(1, b.vcpu_tlb_flushes - a.vcpu_tlb_flushes);
	EXPECT_EQ(guest_pattern(SEED, DATA_GPA + 8),
		  *(__u64 *)(self->vm.data + 8));
}

/*
 * The CPU's own accessed and dirty bits: pages mapped ahead of any access
 * (VMMU_PREFAULT maps them with neither bit) and then read or written by
 * the guest, without a nested page fault, read back with VMMU_TRANSLATE;
 * the host sees what the guest wrote.
 */
TEST_F(vmmu, cpu_sets_accessed_and_dirty)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	int vm = self->vm.vm.fd;
	struct vmmu_prefault pf = {
		.guest_phys_addr = AD_GPA, .size = AD_SIZE,
		.flags = VMMU_PREFAULT_WRITE,
	};
	struct vmmu_vm_stats a, b;
	__u64 *page, off;
	char *mem;

	mem = map_4k(AD_SIZE);
	ASSERT_NE(NULL, mem);
	/* What guest_verify expects at page 9: the address ^ SEED. */
	page = (__u64 *)(mem + 9 * PAGE);
	for (off = 0; off < PAGE / 8; off++)
		page[off] = (AD_GPA + 9 * PAGE + off * 8) ^ SEED;
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, 0, AD_GPA, AD_SIZE, mem));
	ASSERT_EQ(0, ioctl(vm, VMMU_PREFAULT, &pf));
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_READ |
		  VMMU_TRANSLATE_WRITE | VMMU_TRANSLATE_EXEC,
		  translated(vm, AD_GPA + 4 * PAGE, NULL));

	/* The read maps what the guest's walk needs (its page tables). */
	EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_verify,
				  AD_GPA + 9 * PAGE, PAGE, SEED));
	ASSERT_EQ(0, vmmu_get_stats(vm, &a));
	EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
				  AD_GPA + 4 * PAGE, PAGE, SEED));
	ASSERT_EQ(0, vmmu_get_stats(vm, &b));
	/* The write did not fault: its bits are the CPU's. */
	EXPECT_EQ(a.faults, b.faults);

	EXPECT_EQ(VMMU_TRANSLATE_ACCESSED | VMMU_TRANSLATE_DIRTY,
		  translated(vm, AD_GPA + 4 * PAGE, NULL) &
		  (VMMU_TRANSLATE_ACCESSED | VMMU_TRANSLATE_DIRTY));
	EXPECT_EQ(VMMU_TRANSLATE_ACCESSED,
		  translated(vm, AD_GPA + 9 * PAGE, NULL) &
		  (VMMU_TRANSLATE_ACCESSED | VMMU_TRANSLATE_DIRTY));
	EXPECT_EQ(0, translated(vm, AD_GPA + 5 * PAGE, NULL) &
		  (VMMU_TRANSLATE_ACCESSED | VMMU_TRANSLATE_DIRTY));

	page = (__u64 *)(mem + 4 * PAGE);
	for (off = 0; off < PAGE / 8; off++)
		ASSERT_EQ((AD_GPA + 4 * PAGE + off * 8) ^ SEED, page[off]);
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, 0, AD_GPA, 0, NULL));
	munmap(mem, AD_SIZE);
}

static int get_dirty_log(int vm, __u32 slot, __u64 *bitmap)
{
	struct vmmu_dirty_log log = {
		.slot = slot, .bitmap = (uintptr_t)bitmap,
	};

	return ioctl(vm, VMMU_GET_DIRTY_LOG, &log) ? -errno : 0;
}

/*
 * Dirty logging with a real guest: exactly the pages the guest wrote, not
 * those it only read; once got, only the pages written since, although
 * they were writable before (logging write-protects them again).
 */
TEST_F(vmmu, dirty_log_of_guest_writes)
{
	static const unsigned int pages[] = { 0, 3, 63, 64, 200, 511 };
	__u64 bitmap[AD_SIZE / PAGE / 64], want[AD_SIZE / PAGE / 64] = { 0 };
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	int vm = self->vm.vm.fd;
	unsigned int i;
	char *mem;

	mem = map_4k(AD_SIZE);
	ASSERT_NE(NULL, mem);
	memset(mem, 0, AD_SIZE);
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, VMMU_MEM_LOG_DIRTY_PAGES,
				      AD_GPA, AD_SIZE, mem));
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
					  AD_GPA + pages[i] * PAGE + 64, 64,
					  SEED));
		want[pages[i] / 64] |= 1ULL << (pages[i] % 64);
	}
	/* A read, by the guest (of zeros: it reports the mismatch). */
	ASSERT_EQ(0, guest_vcpu_call(vcpu, guest_verify, AD_GPA + 7 * PAGE, 8,
				     SEED, 0));
	ASSERT_EQ(0, guest_run(vcpu));
	ASSERT_EQ(GUEST_EXIT_IO, vcpu->exit.kind);
	EXPECT_EQ(GUEST_PORT_MISMATCH, vcpu->exit.io.port);

	ASSERT_EQ(0, get_dirty_log(vm, AD_SLOT, bitmap));
	EXPECT_EQ(0, memcmp(want, bitmap, sizeof(bitmap)));
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		EXPECT_EQ((AD_GPA + pages[i] * PAGE + 64) ^ SEED,
			  *(__u64 *)(mem + pages[i] * PAGE + 64));

	/* Got and reset; page 3 again, page 4 for the first time. */
	EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
				  AD_GPA + 3 * PAGE, 8, SEED));
	EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
				  AD_GPA + 4 * PAGE, 8, SEED));
	ASSERT_EQ(0, get_dirty_log(vm, AD_SLOT, bitmap));
	EXPECT_EQ((1ULL << 3) | (1ULL << 4), bitmap[0]);
	for (i = 1; i < sizeof(bitmap) / 8; i++)
		EXPECT_EQ(0, bitmap[i]);
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, 0, AD_GPA, 0, NULL));
	munmap(mem, AD_SIZE);
}

#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB	(30 << 26)
#endif

/*
 * Huge host pages become huge leaves the guest runs on: the guest writes
 * across a 2 MiB (hugetlbfs) and a 1 GiB page (one is reserved at boot),
 * VMMU_TRANSLATE reports the leaf's level, and the host reads the data.
 */
static void guest_on_huge_page(struct __test_metadata *_metadata,
			       FIXTURE_DATA(vmmu) *self, size_t size,
			       int flags, __u32 level)
{
	struct guest_vcpu *vcpu = &self->vm.vcpu;
	int vm = self->vm.vm.fd;
	__u64 off, gpa = AD_GPA;
	__u32 got = 0;
	char *huge;

	huge = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | flags, -1, 0);
	ASSERT_TRUE(huge != MAP_FAILED)
		TH_LOG("no %zu MiB huge page reserved at boot?", size / MB);
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, 0, gpa, size, huge));
	/* The first and the last page of the huge page, and one between. */
	for (off = 0; off < size; off += size / 2 - PAGE)
		EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
					  gpa + off, PAGE, SEED));
	EXPECT_EQ(0, call_to_done(_metadata, vcpu, guest_fill,
				  gpa + size - PAGE, PAGE, SEED));
	EXPECT_EQ(VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_ACCESSED |
		  VMMU_TRANSLATE_DIRTY,
		  translated(vm, gpa + size / 3, &got) &
		  (VMMU_TRANSLATE_MAPPED | VMMU_TRANSLATE_ACCESSED |
		   VMMU_TRANSLATE_DIRTY));
	EXPECT_EQ(level, got);
	for (off = 0; off < size; off += size / 2 - PAGE)
		EXPECT_EQ((gpa + off + 8) ^ SEED, *(__u64 *)(huge + off + 8));
	EXPECT_EQ((gpa + size - 8) ^ SEED, *(__u64 *)(huge + size - 8));
	ASSERT_EQ(0, vmmu_set_memslot(vm, AD_SLOT, 0, gpa, 0, NULL));
	munmap(huge, size);
}

TEST_F(vmmu, guest_on_2m_leaf)
{
	guest_on_huge_page(_metadata, self, 2 * MB, 0, 2);
}

#define HUGE_1G_NR "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"

/* Reserve 1 GiB pages at run time, if the boot did not: 0 or -1. */
static int reserve_1g_pages(long want)
{
	long have = 0;
	FILE *f;

	f = fopen(HUGE_1G_NR, "r+");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &have) != 1)
		have = 0;
	if (have < want) {
		rewind(f);
		fprintf(f, "%ld\n", want);
	}
	if (fclose(f))
		return -1;
	return 0;
}

TEST_F(vmmu, guest_on_1g_leaf)
{
	/*
	 * The boot reserves one (boot.sh, boot-bochs.sh); elsewhere try now,
	 * while there may still be a free, aligned GiB.
	 */
	reserve_1g_pages(1);
	guest_on_huge_page(_metadata, self, 1UL << 30, MAP_HUGE_1GB, 3);
}

/*
 * The VMM is killed while its vCPU spins in the guest: the VM and its
 * vCPU go, and the kernel log stays clean (the harness checks it).
 */
TEST_F_TIMEOUT(vcpu, vcpu_killed_mid_run, 120)
{
	volatile __u64 *ctl = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long vms = vmmu_live_vms();
	double deadline;
	int status;
	pid_t pid;

	ASSERT_TRUE(ctl != MAP_FAILED);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct guest_vcpu vcpu;
		struct guest_vm vm;

		if (guest_vm_create(&vm, variant->backend) ||
		    guest_set_memslot(&vm, 1, 0, DATA_GPA, PAGE, (void *)ctl) ||
		    guest_vcpu_create(&vm, &vcpu, 0) ||
		    guest_vcpu_call(&vcpu, guest_spin, DATA_GPA, 0, 0, 0))
			_exit(1);
		for (;;)
			guest_run(&vcpu);
	}
	deadline = now_ms() + 30000;
	while (!ctl[GUEST_SPIN_COUNT / 8] && now_ms() < deadline)
		usleep(1000);
	ASSERT_NE(0, ctl[GUEST_SPIN_COUNT / 8]) TH_LOG("the guest never ran");
	usleep(100000);		/* well inside the guest by now */
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (!is_kvm(variant))
		EXPECT_EQ(vms, vmmu_wait_live_vms(vms, 5000));
	munmap((void *)ctl, PAGE);
}

/*
 * A guest that spins for longer than the RCU stall timeout (21 s) makes
 * the host stall nothing: host interrupts take it out of the guest and
 * the run loop reschedules.  A stall, a lost tick or a soft lockup would
 * show in the kernel log, which the harness checks.
 */
TEST_F_TIMEOUT(vmmu, long_spin_stalls_nothing, 120)
{
	volatile __u64 *ctl = (volatile __u64 *)self->vm.data;
	struct spin_job job = { .vcpu = &self->vm.vcpu };
	pthread_t thread;
	__u64 before;

	ASSERT_EQ(0, guest_vcpu_call(&self->vm.vcpu, guest_spin, DATA_GPA, 0, 0,
				     0));
	ASSERT_EQ(0, pthread_create(&thread, NULL, run_once, &job));
	sleep(25);
	before = ctl[GUEST_SPIN_COUNT / 8];
	usleep(200000);
	EXPECT_LT(before, ctl[GUEST_SPIN_COUNT / 8]) TH_LOG("the guest stopped");
	ctl[GUEST_SPIN_STOP / 8] = 1;
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(0, job.err);
	EXPECT_TRUE(is_done(&self->vm.vcpu.exit, 0));
}

#define TRACING		"/sys/kernel/tracing"

/* The non-common field names of an event's format, space separated. */
static int event_fields(const char *sys, const char *event, char *out,
			size_t len)
{
	char path[256], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), TRACING "/events/%s/%s/format", sys, event);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char *field = strstr(line, "field:"), *end, *name;

		if (!field || strstr(field, "common_"))
			continue;
		end = strchr(field, ';');
		if (!end)
			continue;
		*end = '\0';
		name = strrchr(field, ' ');
		n += snprintf(out + n, len - n, "%s ", name ? name + 1 : field);
	}
	fclose(f);
	return 0;
}

/*
 * vmmu's vCPU events carry KVM's names and every field KVM's have on this
 * kernel (KVM is loaded beside it; vmmu's have the fields of all kernels
 * it supports, in the order of the newest), and fire: entry, an exit for
 * HLT (SVM exit code 0x78, VMX exit reason 12) and the nested page faults
 * of a guest touching fresh memory.
 */
TEST_F(vmmu, trace_events_like_kvm)
{
	static const char *const events[] = {
		"kvm_entry", "kvm_exit", "kvm_page_fault",
	};
	bool entry = false, hlt = false, npf = false;
	char ours[512], kvms[512], line[512], hlt_exit[64];
	unsigned int i;
	FILE *f;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, event_fields("vmmu", events[i], ours, sizeof(ours)));
		ASSERT_EQ(0, event_fields("kvm", events[i], kvms, sizeof(kvms)));
		char *f, *save;

		for (f = strtok_r(kvms, " ", &save); f;
		     f = strtok_r(NULL, " ", &save)) {
			char word[80];

			snprintf(word, sizeof(word), "%s ", f);
			EXPECT_NE(NULL, strstr(ours, word))
				TH_LOG("%s has no field %s: %s", events[i], f,
				       ours);
		}
	}

	ASSERT_EQ(0, write_file(TRACING "/events/vmmu/enable", "1"));
	ASSERT_EQ(0, write_file(TRACING "/trace", ""));
	ASSERT_EQ(0, guest_vcpu_call(&self->vm.vcpu, guest_fill, DATA_GPA,
				     16 * PAGE, SEED, 0));
	EXPECT_EQ(0, run_to_done(_metadata, &self->vm.vcpu));
	ASSERT_EQ(0, guest_vcpu_call(&self->vm.vcpu, guest_hlt, 0, 0, 0, 0));
	ASSERT_EQ(0, guest_run(&self->vm.vcpu));
	EXPECT_EQ(GUEST_EXIT_HLT, self->vm.vcpu.exit.kind);
	ASSERT_EQ(0, write_file(TRACING "/events/vmmu/enable", "0"));

	snprintf(hlt_exit, sizeof(hlt_exit), " kvm_exit: vcpu 0 reason %s ",
		 host_format() == VMMU_VM_TYPE_EPT ? "0xc" : "0x78");
	f = fopen(TRACING "/trace", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		entry |= strstr(line, " kvm_entry: vcpu 0") != NULL;
		hlt |= strstr(line, hlt_exit) != NULL;
		npf |= strstr(line, " kvm_page_fault: vcpu 0") &&
		       strstr(line, "address 0x0000000040");
	}
	fclose(f);
	EXPECT_TRUE(entry);
	EXPECT_TRUE(hlt);
	EXPECT_TRUE(npf);
}

/*
 * The coherence oracle.  A vCPU keeps the translation of a data page hot
 * in its TLB (guest_poll_report) while the host changes what backs the
 * page, then publishes a generation in a control page; the value the guest
 * reads once it sees the generation must be that generation's.  A vCPU
 * using a translation that a zap removed would read an older one.  The
 * changes: two memslots, on two buffers, swap places by moves (no host
 * TLB flush is involved there: only the MMU's own kick makes the guest let
 * go), MADV_DONTNEED, a new mapping over the page, mprotect read-only and
 * back.  Meanwhile another thread keeps invalidating both buffers (their
 * protection changes between RW and RWX: the data stays), so that memslot
 * updates publish with invalidations of the same pages in flight: under
 * VMMU_VM_MEMSLOT_BOUNDED_WAIT, some begin while an update is pending.
 */
#define CTL_SLOT	EXTRA_SLOT
#define CTL_GPA		EXTRA_GPA
#define ORACLE_SLOT	3		/* and 4: the two buffers' slots */
#define ORACLE_GPA	(EXTRA_GPA + EXTRA_SIZE)
#define PARK_GPA	(ORACLE_GPA + 2 * MB)	/* the other slot */
#define PARK2_GPA	(ORACLE_GPA + 4 * MB)	/* on the way */
#define ORACLE_ROUNDS	600
#define ORACLE_MMIO	0xdeadbeef

/*
 * VMMU_ORACLE_ROUNDS=n (8 to 600) runs fewer rounds, for machines where
 * the guest's clock crawls (the Intel lane under Bochs).
 */
static int oracle_rounds(void)
{
	const char *v = getenv("VMMU_ORACLE_ROUNDS");
	int n = v ? atoi(v) : 0;

	return n >= 8 && n <= ORACLE_ROUNDS ? n : ORACLE_ROUNDS;
}

struct oracle {
	struct guest_vcpu *vcpu;
	char **bufs;
	atomic_bool stop_churn;
	atomic_long churned;
	atomic_int churn_err;
	atomic_uint reported;		/* the last generation the guest reported */
	atomic_int bad;			/* reports of a wrong value */
	atomic_int ended;		/* the run loop returned */
	__u32 bad_gen, bad_value;	/* the first of them */
	int err;
	struct guest_exit last;		/* the exit that ended the run */
};

static void *oracle_churn(void *arg)
{
	struct oracle *o = arg;
	int prot = PROT_READ | PROT_WRITE;

	while (!atomic_load(&o->stop_churn)) {
		prot ^= PROT_EXEC;
		if (mprotect(o->bufs[0], PAGE, prot) ||
		    mprotect(o->bufs[1], PAGE, prot))
			atomic_store(&o->churn_err, errno);
		atomic_fetch_add(&o->churned, 2);
		usleep(200);
	}
	return NULL;
}

static void *oracle_vcpu(void *arg)
{
	struct oracle *o = arg;
	struct guest_exit *e = &o->vcpu->exit;
	struct guest_regs regs;

	for (;;) {
		o->err = guest_run(o->vcpu);
		/*
		 * The spin may read the data page between a memslot's delete
		 * and create; a report never may, so the value answered here
		 * fails the oracle if it is reported.
		 */
		if (!o->err && e->kind == GUEST_EXIT_MMIO && !e->mmio.write &&
		    e->mmio.gpa == ORACLE_GPA) {
			o->err = guest_complete_mmio_read(o->vcpu, ORACLE_MMIO);
			if (!o->err)
				continue;
		}
		if (!o->err && e->kind == GUEST_EXIT_IO &&
		    e->io.port == GUEST_PORT_VALUE)
			o->err = guest_get_regs(o->vcpu, &regs);
		if (o->err || e->kind != GUEST_EXIT_IO ||
		    e->io.port != GUEST_PORT_VALUE) {
			o->last = *e;
			atomic_store(&o->ended, 1);
			return NULL;
		}
		if (e->io.data != (__u32)regs.rbx &&
		    atomic_fetch_add(&o->bad, 1) == 0) {
			o->bad_gen = regs.rbx;
			o->bad_value = e->io.data;
		}
		atomic_store(&o->reported, (__u32)regs.rbx);
	}
}

TEST_F_TIMEOUT(vcpu, coherence_oracle, 300)
{
	static const char *const ops[] = {
		"memslot moves", "MADV_DONTNEED", "new mapping", "mprotect",
	};
	char *bufs[2], buf[256];
	struct oracle o = { .vcpu = &self->vcpu, .bufs = bufs };
	struct vmmu_vm_stats st = {};
	pthread_t thread, churn;
	atomic_uint *ctl;
	int cur = 0, g, rounds = oracle_rounds();

	ctl = guest_alloc(PAGE, PAGE);
	bufs[0] = guest_alloc(PAGE, PAGE);
	bufs[1] = guest_alloc(PAGE, PAGE);
	ASSERT_TRUE(ctl && bufs[0] && bufs[1]);
	ASSERT_EQ(0, guest_set_memslot(&self->vm, CTL_SLOT, 0, CTL_GPA, PAGE,
				       ctl));
	ASSERT_EQ(0, guest_set_memslot(&self->vm, ORACLE_SLOT, 0, ORACLE_GPA,
				       PAGE, bufs[0]));
	ASSERT_EQ(0, guest_set_memslot(&self->vm, ORACLE_SLOT + 1, 0, PARK_GPA,
				       PAGE, bufs[1]));
	ASSERT_EQ(0, guest_vcpu_call(&self->vcpu, guest_poll_report, CTL_GPA,
				     ORACLE_GPA, 0, 0));
	ASSERT_EQ(0, pthread_create(&thread, NULL, oracle_vcpu, &o));
	/*
	 * Bounded policy: hold each invalidation in flight a little, so that
	 * updates often find the churn's in flight and publish while new
	 * ones begin (the seed policy would wait those out).
	 */
	if (variant->vmmu_flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT)
		ASSERT_EQ(0, vmmu_set_param("mn_inject_delay_ms", "2"));
	ASSERT_EQ(0, pthread_create(&churn, NULL, oracle_churn, &o));

	for (g = 1; g <= rounds && !atomic_load(&o.bad); g++) {
		double deadline = now_ms() + 10000;
		char *page = bufs[cur];

		switch (g % 4) {
		case 0:
			/* The parked slot's buffer takes the active one's place. */
			*(volatile __u32 *)bufs[cur ^ 1] = g;
			ASSERT_EQ(0, guest_set_memslot(&self->vm,
						       ORACLE_SLOT + cur, 0,
						       PARK2_GPA, PAGE,
						       bufs[cur]));
			ASSERT_EQ(0, guest_set_memslot(&self->vm,
						       ORACLE_SLOT + (cur ^ 1),
						       0, ORACLE_GPA, PAGE,
						       bufs[cur ^ 1]));
			ASSERT_EQ(0, guest_set_memslot(&self->vm,
						       ORACLE_SLOT + cur, 0,
						       PARK_GPA, PAGE,
						       bufs[cur]));
			cur ^= 1;
			page = bufs[cur];
			break;
		case 1:
			ASSERT_EQ(0, madvise(page, PAGE, MADV_DONTNEED));
			break;
		case 2:
			ASSERT_EQ(page, mmap(page, PAGE, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS |
					     MAP_FIXED, -1, 0));
			break;
		case 3:
			ASSERT_EQ(0, mprotect(page, PAGE, PROT_READ));
			ASSERT_EQ(0, mprotect(page, PAGE,
					      PROT_READ | PROT_WRITE));
			break;
		}
		*(volatile __u32 *)page = g;
		atomic_store(ctl, g);
		while (atomic_load(&o.reported) != (unsigned int)g &&
		       !atomic_load(&o.bad) && !atomic_load(&o.ended)) {
			ASSERT_GT(deadline, now_ms())
				TH_LOG("round %d (%s): the guest did not report",
				       g, ops[g % 4]);
			usleep(50);
		}
	}
	atomic_store(&o.stop_churn, true);
	ASSERT_EQ(0, pthread_join(churn, NULL));
	vmmu_set_param("mn_inject_delay_ms", "0");
	atomic_store(ctl, ~0U);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	if (variant->backend == GUEST_VMMU)
		ASSERT_EQ(0, vmmu_get_stats(self->vm.fd, &st));

	EXPECT_EQ(0, atomic_load(&o.bad))
		TH_LOG("generation %u (%s) read as %u: a stale translation",
		       o.bad_gen, ops[o.bad_gen % 4], o.bad_value);
	EXPECT_EQ(0, o.err);
	EXPECT_EQ(0, atomic_load(&o.churn_err));
	EXPECT_TRUE(is_done(&o.last, 0))
		TH_LOG("%s", guest_exit_str(&o.last, buf, sizeof(buf)));
	TH_LOG("%d generations checked, %ld churning mprotects, %llu invalidations begun while an update was pending",
	       g - 1, atomic_load(&o.churned), st.invalidations_conservative);
	if (variant->vmmu_flags & VMMU_VM_MEMSLOT_BOUNDED_WAIT) {
		EXPECT_EQ(0, st.invalidations_unrecorded);
		/*
		 * The path this variant is here for was taken (in a full run:
		 * a few dozen rounds may see none).
		 */
		if (rounds == ORACLE_ROUNDS)
			EXPECT_LT(0, st.invalidations_conservative);
	}
	guest_free(ctl, PAGE);
	guest_free(bufs[0], PAGE);
	guest_free(bufs[1], PAGE);
}

TEST_HARNESS_MAIN
