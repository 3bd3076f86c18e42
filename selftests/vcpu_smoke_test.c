// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vmmu_util.h"

TEST(realmode_out_hlt)
{
	static const unsigned char code[] = {
		0xb0, 0x42,		/* mov al, 0x42 */
		0xe6, 0x10,		/* out 0x10, al */
		0xa0, 0x00, 0x20,	/* mov al, [0x2000] (MMIO: no slot? ) */
		0xf4,			/* hlt */
	};
	int vm, vcpu, dev;
	struct vmmu_run *run;
	struct vmmu_sregs sregs;
	struct vmmu_regs regs;
	char *mem;
	long r;

	vm = vmmu_new_vm(VMMU_VM_TYPE_HOST, 0);
	ASSERT_LE(0, vm);
	TH_LOG("CAP_VCPUS %ld", vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_VCPUS));
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(mem != MAP_FAILED);
	memcpy(mem, code, sizeof(code));
	ASSERT_EQ(0, vmmu_set_memslot(vm, 0, 0, 0, 0x1000, mem));
	vcpu = vmmu_ioctl(vm, VMMU_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu);
	dev = vmmu_open_dev();
	r = vmmu_ioctl(dev, VMMU_GET_VCPU_MMAP_SIZE, 0);
	ASSERT_EQ(4096, r);
	run = mmap(NULL, r, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ASSERT_TRUE(run != MAP_FAILED);
	ASSERT_EQ(0, vmmu_ioctl(vcpu, VMMU_GET_SREGS, (unsigned long)&sregs));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ASSERT_EQ(0, vmmu_ioctl(vcpu, VMMU_SET_SREGS, (unsigned long)&sregs));
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0;
	regs.rflags = 2;
	ASSERT_EQ(0, vmmu_ioctl(vcpu, VMMU_SET_REGS, (unsigned long)&regs));
	r = vmmu_ioctl(vcpu, VMMU_RUN, 0);
	TH_LOG("run %ld exit %u rip %llx hw %llx %llx %llx", r, run->exit_reason,
	       run->guest_rip, run->hw.hardware_exit_reason, run->hw.info1, run->hw.info2);
	ASSERT_EQ(0, r);
	ASSERT_EQ(VMMU_EXIT_IO, run->exit_reason);
	ASSERT_EQ(0x10, run->io.port);
	ASSERT_EQ(0x42, *((unsigned char *)run + run->io.data_offset));
	r = vmmu_ioctl(vcpu, VMMU_RUN, 0);
	TH_LOG("run %ld exit %u rip %llx gpa %llx len %u w %u", r, run->exit_reason,
	       run->guest_rip, run->mmio.phys_addr, run->mmio.len, run->mmio.is_write);
	ASSERT_EQ(VMMU_EXIT_MMIO, run->exit_reason);
	ASSERT_EQ(0x2000, run->mmio.phys_addr);
	run->mmio.data[0] = 0x77;
	r = vmmu_ioctl(vcpu, VMMU_RUN, 0);
	TH_LOG("run %ld exit %u rip %llx", r, run->exit_reason, run->guest_rip);
	ASSERT_EQ(VMMU_EXIT_HLT, run->exit_reason);
	ASSERT_EQ(0, vmmu_ioctl(vcpu, VMMU_GET_REGS, (unsigned long)&regs));
	ASSERT_EQ(0x77, regs.rax & 0xff);
	ASSERT_EQ(8, regs.rip);
	close(vcpu);
	close(vm);
}

TEST_HARNESS_MAIN
