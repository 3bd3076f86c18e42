// SPDX-License-Identifier: GPL-2.0-only
/*
 * Module lifetime beside in-tree KVM: unloading is refused while any vmmu
 * file is open and works after; vmmu loads and unloads repeatedly with
 * kvm_amd loaded, with it unloaded, and kvm_amd loaded after vmmu; guests
 * run on both, at the same time from two processes, while the other
 * module is unloaded and loaded again, (6.12) with KVM enabling
 * virtualization only while it has VMs, and with vmmu's VPIDs turned off.
 *
 * Needs the module files: VMMU_KO (vmmu.ko) and KVM_VENDOR_KO (kvm-amd.ko or
 * kvm-intel.ko, whose dependencies must already be loaded), and KVM_MODULES
 * (kvm's modules in load order, the vendor module last).  The emulated
 * machine's init sets them.  Leaves both modules loaded.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "timeout_scale.h"
#include "guest.h"
#include "kvm_guest.h"
#include "vmmu_util.h"

#define CYCLES		10
#define GUEST_DATA_GPA	(1ULL << 30)
#define GUEST_DATA	(4UL << 20)

/*
 * A guest on @backend fills and verifies GUEST_DATA bytes, @rounds times
 * or, with @ctl, until ctl[0] is set, counting rounds in ctl[1].  Returns 0,
 * or the step that failed.
 */
static int guest_rounds(enum guest_backend backend, int rounds,
			volatile __u64 *ctl)
{
	struct guest_vcpu vcpu;
	struct guest_vm vm;
	void *data;
	int i, r = 1;

	data = guest_alloc(GUEST_DATA, 2 << 20);
	if (!data || guest_vm_create(&vm, backend))
		return 1;
	if (guest_set_memslot(&vm, 1, 0, GUEST_DATA_GPA, GUEST_DATA, data) ||
	    guest_vcpu_create(&vm, &vcpu, 0))
		goto out_vm;
	for (i = 0; ctl ? !ctl[0] : i < rounds; i++) {
		const __u64 seed = 0x1234ULL * (i + 1) + backend;

		r = 2;
		if (guest_vcpu_call(&vcpu, guest_fill, GUEST_DATA_GPA,
				    GUEST_DATA, seed, 0) || guest_run(&vcpu) ||
		    vcpu.exit.kind != GUEST_EXIT_IO ||
		    vcpu.exit.io.port != GUEST_PORT_DONE)
			goto out_vcpu;
		r = 3;
		if (guest_vcpu_call(&vcpu, guest_verify, GUEST_DATA_GPA,
				    GUEST_DATA, seed, 0) || guest_run(&vcpu) ||
		    vcpu.exit.kind != GUEST_EXIT_IO ||
		    vcpu.exit.io.port != GUEST_PORT_DONE || vcpu.exit.io.data)
			goto out_vcpu;
		/* And the host sees what the guest wrote. */
		r = 4;
		if (*(__u64 *)(data + GUEST_DATA - 8) !=
		    guest_pattern(seed, GUEST_DATA_GPA + GUEST_DATA - 8))
			goto out_vcpu;
		if (ctl)
			ctl[1]++;
	}
	r = 0;
out_vcpu:
	guest_vcpu_destroy(&vcpu);
out_vm:
	guest_vm_destroy(&vm);
	guest_free(data, GUEST_DATA);
	return r;
}

/* A child running guest_rounds() until the parent sets ctl[0]. */
static pid_t guest_child(enum guest_backend backend, volatile __u64 *ctl)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(guest_rounds(backend, 0, ctl));
	return pid;
}

/* Wait until the child has done @rounds more rounds: 0, or -ETIMEDOUT. */
static int wait_rounds(volatile __u64 *ctl, __u64 rounds)
{
	__u64 want = ctl[1] + rounds;
	double deadline = now_ms() + 60000;

	while (ctl[1] < want)
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		else
			usleep(1000);
	return 0;
}

/* Stop the child: its exit status, or -1 if it died otherwise. */
static int stop_child(pid_t pid, volatile __u64 *ctl)
{
	int status;

	ctl[0] = 1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static volatile __u64 *shared_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

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
		/* And it runs guests. */
		ASSERT_EQ(0, guest_rounds(GUEST_VMMU, 1, NULL)) TH_LOG("cycle %d", i);
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

/* One guest on each, at the same time, from two processes. */
static void guests_at_once(struct __test_metadata *_metadata)
{
	volatile __u64 *kctl = shared_page(), *vctl = shared_page();
	pid_t kvm, vmmu;

	ASSERT_TRUE(kctl && vctl);
	kvm = guest_child(GUEST_KVM, kctl);
	vmmu = guest_child(GUEST_VMMU, vctl);
	ASSERT_LT(0, kvm);
	ASSERT_LT(0, vmmu);
	EXPECT_EQ(0, wait_rounds(kctl, 5));
	EXPECT_EQ(0, wait_rounds(vctl, 5));
	EXPECT_EQ(0, stop_child(kvm, kctl)) TH_LOG("the kvm guest");
	EXPECT_EQ(0, stop_child(vmmu, vctl)) TH_LOG("the vmmu guest");
	TH_LOG("rounds: kvm %llu, vmmu %llu", (unsigned long long)kctl[1],
	       (unsigned long long)vctl[1]);
	munmap((void *)kctl, 4096);
	munmap((void *)vctl, 4096);
}

TEST_F_TIMEOUT(modules, kvm_and_vmmu_guests_at_once, 300)
{
	guests_at_once(_metadata);
}

/* kvm_amd goes and comes back while a vmmu guest runs. */
TEST_F_TIMEOUT(modules, rmmod_kvm_while_vmmu_guest_runs, 300)
{
	volatile __u64 *ctl = shared_page();
	pid_t pid;

	ASSERT_NE(NULL, ctl);
	pid = guest_child(GUEST_VMMU, ctl);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, unload_module(self->kvm_name));
	EXPECT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, load_module(self->kvm_ko));
	EXPECT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, kvm_run_store_and_halt());
	EXPECT_EQ(0, stop_child(pid, ctl));
	munmap((void *)ctl, 4096);
}

/* vmmu goes and comes back while a KVM guest runs. */
TEST_F_TIMEOUT(modules, rmmod_vmmu_while_kvm_guest_runs, 300)
{
	volatile __u64 *ctl = shared_page();
	pid_t pid;

	ASSERT_NE(NULL, ctl);
	pid = guest_child(GUEST_KVM, ctl);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, unload_module("vmmu"));
	EXPECT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, load_module(self->vmmu_ko));
	EXPECT_EQ(0, guest_rounds(GUEST_VMMU, 2, NULL));
	EXPECT_EQ(0, wait_rounds(ctl, 2));
	EXPECT_EQ(0, stop_child(pid, ctl));
	munmap((void *)ctl, 4096);
}

/* A module parameter's value, first character ('Y', 'N'), or 0. */
static char param(const char *path)
{
	FILE *f = fopen(path, "r");
	int c;

	if (!f)
		return 0;
	c = fgetc(f);
	fclose(f);
	return c == EOF ? 0 : c;
}

/* Does /proc/cpuinfo list VPID among the VMX features? */
static bool cpu_has_vpid(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool vpid = false;

	if (!f)
		return false;
	while (!vpid && fgets(line, sizeof(line), f))
		vpid = !strncmp(line, "vmx flags", 9) && strstr(line, " vpid");
	fclose(f);
	return vpid;
}

#define VMMU_VPID_PARAM	"/sys/module/vmmu/parameters/vpid"

/*
 * vmmu.vpid=0 (as kvm_intel's vpid=0): its vCPUs run without VPIDs, beside
 * kvm's guests, and the parameter says so; loaded again without it, vmmu
 * uses VPIDs exactly where the CPU has them (and it runs VMX vCPUs).
 */
TEST_F_TIMEOUT(modules, vmmu_without_vpid, 300)
{
	bool vmx = getenv("KVM_VENDOR_KO") &&
		   strstr(getenv("KVM_VENDOR_KO"), "kvm-intel");

	ASSERT_EQ(0, unload_module("vmmu"));
	ASSERT_EQ(0, load_module_params(self->vmmu_ko, "vpid=0"));
	EXPECT_EQ('N', param(VMMU_VPID_PARAM));
	guests_at_once(_metadata);
	ASSERT_EQ(0, unload_module("vmmu"));
	ASSERT_EQ(0, load_module(self->vmmu_ko));
	EXPECT_EQ(vmx && cpu_has_vpid() ? 'Y' : 'N', param(VMMU_VPID_PARAM))
		TH_LOG("VMX host: %d, CPU has VPID: %d", vmx, cpu_has_vpid());
	guests_at_once(_metadata);
}

/*
 * kvm reloaded with its parameters: unload the vendor module and kvm,
 * load kvm's modules again (KVM_MODULES, in order), kvm with @params.
 */
static int reload_kvm(FIXTURE_DATA(modules) *self, const char *params)
{
	char *mods = strdup(getenv("KVM_MODULES") ?: ""), *m, *save;
	int r;

	if (!mods)
		return -ENOMEM;
	r = unload_module(self->kvm_name);
	if (!r)
		r = unload_module("kvm");
	for (m = strtok_r(mods, " ", &save); !r && m;
	     m = strtok_r(NULL, " ", &save)) {
		const char *base = strrchr(m, '/') ? strrchr(m, '/') + 1 : m;
		bool kvm = !strcmp(base, "kvm.ko");

		/* The others (irqbypass, ccp) stay loaded. */
		if (!kvm && strcmp(m, self->kvm_ko))
			continue;
		r = load_module_params(m, kvm ? params : "");
	}
	free(mods);
	return r;
}

/*
 * With kvm.enable_virt_at_load=0 (6.12), kvm_amd turns SVM on only while
 * it has a VM, as 6.1's always does: vmmu then finds SVM off or on from
 * one entry to the next.  On kernels without the parameter the test runs
 * with kvm as it is, which is that regime already.
 */
TEST_F_TIMEOUT(modules, kvm_virt_at_load_off, 300)
{
	struct stat st;

	if (stat("/sys/module/kvm/parameters/enable_virt_at_load", &st)) {
		TH_LOG("no kvm.enable_virt_at_load: kvm enables SVM per VM");
		guests_at_once(_metadata);
		return;
	}
	ASSERT_EQ(0, reload_kvm(self, "enable_virt_at_load=0"));
	guests_at_once(_metadata);
	EXPECT_EQ(0, kvm_run_store_and_halt());
	ASSERT_EQ(0, reload_kvm(self, ""));
	guests_at_once(_metadata);
}

TEST_HARNESS_MAIN
