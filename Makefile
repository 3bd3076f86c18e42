# SPDX-License-Identifier: GPL-2.0-only
#
# Developer entry points.  The module itself is built by kbuild (Kbuild,
# module/Kbuild); everything else lives in scripts/.  See README.md.

KVER ?= $(or $(KERNELRELEASE),$(shell uname -r))
KDIR ?= /lib/modules/$(KVER)/build
W ?= 1

.PHONY: all modules kdir-check clean check check-debug debug-kernel lint \
	test test-intel shell bench dkms-install dkms-remove help

all: modules

modules: kdir-check
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=$(W) modules

kdir-check:
	@test -f $(KDIR)/Makefile || { \
	  echo 'error: no kernel build tree at $(KDIR).' >&2; \
	  echo '  Install the headers of the kernel to build for' >&2; \
	  echo '  (Debian, Ubuntu: apt install linux-headers-$(KVER);' >&2; \
	  echo '   Fedora: dnf install kernel-devel-$(KVER)),' >&2; \
	  echo '  or name a configured kernel tree: make KDIR=/path/to/build' >&2; \
	  exit 1; }

# Build output only.  Not kbuild's clean of the whole tree: that would also
# delete the kernel modules of the harness's cached kernels under .cache/.
clean:
	find module \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.d' \
		-o -name '*.a' -o -name '*.symvers' -o -name '*.order' \) \
		-type f -delete
	rm -f Module.symvers modules.order .*.cmd module/compat_gen.h \
		module/probes/*.h
	rm -rf selftests/build .tmp_versions

# The whole suite: installs dependencies, builds for every kernel, lints,
# runs DKMS for real, boots each kernel under QEMU and runs the selftests.
check:
	scripts/check.sh

lint:
	scripts/check.sh --only lint

# The debug lane: the kernel with lockdep, KASAN, kmemleak... (built once,
# cached in /var/cache/vmmu), the whole suite on it and a long fuzzer run.
# A pass is recorded (scripts/debug-lane.sh) for the module source it
# tested: .ci/run runs the lane only when module/ has no recorded pass.
check-debug:
	VMMU_RESULTS=$(CURDIR)/results/debug scripts/check.sh --kernel 6.1-debug --only build,boot
	scripts/debug-lane.sh record "$$(tail -n 1 results/debug/total.txt);$$(grep -ho 'fuzz: ioctls=[0-9]*' results/debug/6.1-debug/output.log | sed 's/^fuzz:/ fuzz/')"

debug-kernel:
	scripts/debug-kernel.sh build

# Build, then boot one kernel (default 6.1) and run some tests:
#   make test KERNEL=6.12 T='api_test module_test:reload_with_kvm_loaded'
test:
	scripts/check.sh --only build,boot --kernel '$(or $(KERNEL),6.1)' --test '$(T)'

# The same under Bochs, on Intel VMX with EPT and kvm_intel (default: the
# Intel lane's own set of tests):
#   make test-intel T='vcpu_test@kvm api_test'
test-intel:
	scripts/check.sh --only build,intel --kernel '$(or $(KERNEL),6.1)' --test '$(T)'

# The A/B benchmark against in-tree KVM, in the emulated machine (default
# kernel 6.1): make bench [KERNEL=6.12] [QUICK=1].  On real hardware:
# scripts/bench --host.  See docs/benchmarking.md.
bench:
	scripts/bench --kernel '$(or $(KERNEL),6.1)' $(if $(filter 1,$(QUICK)),--quick)

# Interactive shell in the emulated machine with kvm_amd and vmmu loaded.
shell:
	VMMU_RESULTS=$(CURDIR)/results/shell scripts/check.sh --only build \
		--kernel '$(or $(KERNEL),6.1)'
	scripts/boot.sh --shell --kernel '$(or $(KERNEL),6.1)' --out results/shell

dkms-install:
	scripts/dkms.sh install $(KVER)

dkms-remove:
	scripts/dkms.sh remove

help:
	@echo 'make [KDIR=...]       build module/vmmu.ko (W=1 by default)'
	@echo 'make check            install deps, build, lint, DKMS, boot every kernel, run every test'
	@echo 'make check-debug      the suite on the debug kernel (lockdep, KASAN, kmemleak; built once, cached)'
	@echo 'make lint             checkpatch --strict and sparse'
	@echo "make test KERNEL=6.12 T='api_test module_test:rmmod_refused_while_vm_open'"
	@echo "make test-intel T='vcpu_test@kvm' [KERNEL=6.12]  the same on Intel VMX with EPT (Bochs)"
	@echo 'make shell KERNEL=6.1 interactive shell in the emulated machine'
	@echo 'make bench [QUICK=1]  A/B benchmark, KVM against vmmu, emulated (KERNEL=6.1 default)'
	@echo 'make dkms-install     register with DKMS and install for KVER (default: running kernel)'
	@echo 'make dkms-remove      uninstall from every kernel and unregister'
