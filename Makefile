# SPDX-License-Identifier: GPL-2.0-only
#
# Developer entry points.  The module itself is built by kbuild (Kbuild,
# module/Kbuild); everything else lives in scripts/.  See README.md.

KVER ?= $(or $(KERNELRELEASE),$(shell uname -r))
KDIR ?= /lib/modules/$(KVER)/build
W ?= 1

.PHONY: all modules clean check lint test shell dkms-install \
	dkms-remove help

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=$(W) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf selftests/build

# The whole suite: installs dependencies, builds for every kernel, lints,
# runs DKMS for real, boots each kernel under QEMU and runs the selftests.
check:
	scripts/check.sh

lint:
	scripts/check.sh --only lint

# Build, then boot one kernel (default 6.1) and run some tests:
#   make test KERNEL=6.12 T='api_test module_test:reload_with_kvm_loaded'
test:
	scripts/check.sh --only build,boot --kernel '$(or $(KERNEL),6.1)' --test '$(T)'

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
	@echo 'make lint             checkpatch --strict and sparse'
	@echo "make test KERNEL=6.12 T='api_test module_test:rmmod_refused_while_vm_open'"
	@echo 'make shell KERNEL=6.1 interactive shell in the emulated machine'
	@echo 'make dkms-install     register with DKMS and install for KVER (default: running kernel)'
	@echo 'make dkms-remove      uninstall from every kernel and unregister'
