// SPDX-License-Identifier: GPL-2.0-only
/*
 * Module lifetime beside in-tree KVM: unloading is refused while any vmmu
 * file is open and works after; vmmu loads and unloads repeatedly with
 * kvm_amd loaded, with it unloaded, and kvm_amd loaded after vmmu; KVM keeps
 * running real guests throughout.
 *
 * Needs the module files: VMMU_KO (vmmu.ko) and KVM_VENDOR_KO (kvm-amd.ko or
 * kvm-intel.ko, whose dependencies must already be loaded).  The emulated
 * machine's init sets both.  Leaves both modules loaded.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kvm_guest.h"
#include "vmmu_util.h"

#define CYCLES		10

FIXTURE(modules) {
	const char *vmmu_ko;
	const char *kvm_ko;
	char kvm_name[64];
};

FIXTURE_SETUP(modules)
{
	char *base, *p;

	self->vmmu_ko = getenv("VMMU_KO");
	self->kvm_ko = getenv("KVM_VENDOR_KO");
	if (!self->vmmu_ko || !self->kvm_ko)
		SKIP(return, "VMMU_KO and KVM_VENDOR_KO must name the .ko files");

	/* kvm-amd.ko is the module kvm_amd. */
	base = strdup(self->kvm_ko);
	ASSERT_NE(NULL, base);
	snprintf(self->kvm_name, sizeof(self->kvm_name), "%s", basename(base));
	free(base);
	p = strstr(self->kvm_name, ".ko");
	if (p)
		*p = '\0';
	for (p = self->kvm_name; *p; p++)
		if (*p == '-')
			*p = '_';

	ASSERT_TRUE(module_loaded("vmmu"));
	ASSERT_TRUE(module_loaded(self->kvm_name));
}

FIXTURE_TEARDOWN(modules)
{
	/* Whatever happened, leave both loaded for the tests that follow. */
	if (self->vmmu_ko && !module_loaded("vmmu"))
		EXPECT_EQ(0, load_module(self->vmmu_ko));
	if (self->kvm_ko && !module_loaded(self->kvm_name))
		EXPECT_EQ(0, load_module(self->kvm_ko));
}

static bool dev_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Unload and reload vmmu, checking it is really gone and really back. */
static void cycle_vmmu(struct __test_metadata *_metadata,
		       FIXTURE_DATA(modules) *self, int cycles)
{
	int i, dev, vm;

	for (i = 0; i < cycles; i++) {
		ASSERT_EQ(0, unload_module("vmmu")) TH_LOG("cycle %d", i);
		ASSERT_FALSE(module_loaded("vmmu"));
		ASSERT_FALSE(dev_exists(VMMU_DEV));
		ASSERT_EQ(-ENOENT, vmmu_open_dev());

		ASSERT_EQ(0, load_module(self->vmmu_ko)) TH_LOG("cycle %d", i);
		ASSERT_EQ(0, vmmu_live_vms());
		dev = vmmu_open_dev();
		ASSERT_LE(0, dev);
		vm = vmmu_create_vm(dev, VMMU_VM_TYPE_NPT);
		ASSERT_LE(0, vm);
		EXPECT_EQ(VMMU_VM_TYPE_NPT,
			  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION,
				     VMMU_CAP_PT_FORMAT));
		close(vm);
		close(dev);
		ASSERT_EQ(0, vmmu_wait_live_vms(0, 1000));
	}
}

TEST_F_TIMEOUT(modules, rmmod_refused_while_dev_open, 120)
{
	int dev = vmmu_open_dev();

	ASSERT_LE(0, dev);
	EXPECT_EQ(-EWOULDBLOCK, unload_module("vmmu"));
	EXPECT_TRUE(module_loaded("vmmu"));
	/* The refused unload left the device fully working. */
	EXPECT_EQ(VMMU_API_VERSION, vmmu_ioctl(dev, VMMU_GET_API_VERSION, 0));
	close(dev);

	EXPECT_EQ(0, unload_module("vmmu"));
	EXPECT_EQ(0, load_module(self->vmmu_ko));
}

TEST_F_TIMEOUT(modules, rmmod_refused_while_vm_open, 120)
{
	int dev = vmmu_open_dev(), vm;

	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_EPT);
	ASSERT_LE(0, vm);
	/* Only the VM file is left to pin the module. */
	close(dev);

	EXPECT_EQ(-EWOULDBLOCK, unload_module("vmmu"));
	EXPECT_TRUE(module_loaded("vmmu"));
	EXPECT_EQ(VMMU_VM_TYPE_EPT,
		  vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	EXPECT_EQ(1, vmmu_live_vms());
	close(vm);

	EXPECT_EQ(0, vmmu_wait_live_vms(0, 1000));
	EXPECT_EQ(0, unload_module("vmmu"));
	EXPECT_FALSE(module_loaded("vmmu"));
	EXPECT_EQ(0, load_module(self->vmmu_ko));
}

TEST_F_TIMEOUT(modules, kvm_guest_runs_beside_vmmu_vm, 120)
{
	int dev = vmmu_open_dev(), vm;

	ASSERT_LE(0, dev);
	vm = vmmu_create_vm(dev, VMMU_VM_TYPE_HOST);
	ASSERT_LE(0, vm);
	EXPECT_EQ(0, kvm_run_store_and_halt());
	EXPECT_LT(0, vmmu_ioctl(vm, VMMU_CHECK_EXTENSION, VMMU_CAP_PT_FORMAT));
	close(vm);
	close(dev);
}

TEST_F_TIMEOUT(modules, reload_with_kvm_loaded, 300)
{
	cycle_vmmu(_metadata, self, CYCLES);
	EXPECT_EQ(0, kvm_run_store_and_halt());
}

TEST_F_TIMEOUT(modules, reload_with_kvm_unloaded, 300)
{
	ASSERT_EQ(0, unload_module(self->kvm_name));
	ASSERT_FALSE(module_loaded(self->kvm_name));
	ASSERT_FALSE(dev_exists("/dev/kvm"));

	cycle_vmmu(_metadata, self, CYCLES);

	/* kvm's vendor module loads after vmmu and runs guests. */
	ASSERT_EQ(0, load_module(self->kvm_ko));
	EXPECT_EQ(0, kvm_run_store_and_halt());
	cycle_vmmu(_metadata, self, 2);
	EXPECT_EQ(0, kvm_run_store_and_halt());
}

TEST_HARNESS_MAIN
