# SPDX-License-Identifier: GPL-2.0-only
#
# Developer entry points.  The module itself is built by kbuild (Kbuild,
# module/Kbuild); everything else lives in scripts/.  See README.md.

KVER ?= $(or $(KERNELRELEASE),$(shell uname -r))
KDIR ?= /lib/modules/$(KVER)/build
W ?= 1

.PHONY: all modules clean check lint test shell selftests bench-none \
	dkms-install dkms-remove help

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

# One kernel, optionally one test: make test KERNEL=6.12 T=api_test[:name]
test:
	scripts/check.sh --kernel '$(KERNEL)' --test '$(T)'

# Interactive shell in the emulated machine with kvm_amd and vmmu loaded.
shell:
	scripts/boot.sh --shell --kernel '$(or $(KERNEL),6.1)'

selftests:
	$(MAKE) -C selftests

dkms-install:
	scripts/dkms.sh install $(KVER)

dkms-remove:
	scripts/dkms.sh remove

help:
	@sed -n 's/^# //p' README.md | head -0; \
	echo 'make [KDIR=...]   build module/vmmu.ko (W=1 by default)'; \
	echo 'make check        install deps, lint, DKMS, boot every kernel, run every test'; \
	echo 'make lint         checkpatch --strict and sparse only'; \
	echo 'make test KERNEL=6.1 T=api_test   one kernel, one test binary (or binary:test)'; \
	echo 'make shell KERNEL=6.12            interactive shell in the emulated machine'; \
	echo 'make dkms-install / dkms-remove   register with DKMS for KVER (default: running)'
