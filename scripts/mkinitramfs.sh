#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mkinitramfs.sh [--vendor kvm-amd|kvm-intel] LABEL MODE OUTPUT [TEST...]
# Pack a busybox initramfs for kernel LABEL with that kernel's kvm, its
# vendor module (kvm-amd unless --vendor says otherwise: QEMU emulates SVM,
# Bochs VMX) and their dependencies (from modules.dep), vmmu.ko as built
# for it, and the static selftests.  MODE is "check", "shell" or "bench"
# (then the TEST arguments are the benchmark's options).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

vendor=kvm-amd
if [ "${1:-}" = --vendor ]; then
	vendor=$2
	shift 2
fi
case $vendor in
kvm-amd|kvm-intel) ;;
*) die "unknown vendor module '$vendor'" ;;
esac
label=$1 mode=$2 output=$3
shift 3
rel=$(kernel_release "$label")
kroot=$(kernel_root "$label")/lib/modules/$rel
vmmu_ko=$(module_build "$label")/module/vmmu.ko

[ -f "$kroot/modules.dep" ] || die "kernel $rel not fetched: run scripts/deps.sh"
[ -f "$vmmu_ko" ] || die "vmmu.ko not built for $rel"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,selftests,lib/modules/"$rel"/extra}
cp /bin/busybox "$root/bin/busybox"
cp "$TOP/scripts/guest-init.sh" "$root/init"
cp "$TOP"/selftests/build/*_test* "$TOP"/selftests/build/bench_vmmu "$root/selftests/"
cp "$vmmu_ko" "$root/lib/modules/$rel/extra/vmmu.ko"

# A module and its dependencies, from modules.dep, in load order: the
# file lists them so that each may depend on those after it.  Copied into
# the initramfs, decompressed; prints their paths there.
pack_module() {
	local name=$1 line m dst mods=()

	line=$(grep -E "/$name\.ko(\.[a-z]+)?:" "$kroot/modules.dep") ||
		die "$name not found in $rel's modules.dep"
	mods=("${line%%:*}")
	for m in ${line#*:}; do mods=("$m" "${mods[@]}"); done
	for m in "${mods[@]}"; do
		dst=lib/modules/$rel/${m%.xz}
		if [ ! -f "$root/$dst" ]; then
			mkdir -p "$root/$(dirname "$dst")"
			case $m in
			*.xz) xz -dc "$kroot/$m" > "$root/$dst" ;;
			*) cp "$kroot/$m" "$root/$dst" ;;
			esac
		fi
		echo "/$dst"
	done
}

mapfile -t load < <(pack_module "$vendor")
# zram gives the test machine swap, for the reclaim tests.
mapfile -t extra < <(pack_module zram)

# The ABI fuzzer (selftests/fuzz_test.c): 15 seconds on every kernel,
# a million ioctls on the debug kernel (30 to 50 minutes there, by how
# busy the machine is; the test fails if they take over 70); FUZZ_* from
# the environment override it (FUZZ_SEED to replay a
# run).  The same for the lock-order stress of reliability_test
# (LOCK_SECONDS).
if [ "$(kernel_kind "$label")" = debug ]; then
	fuzz_seconds=${FUZZ_SECONDS:-4200} fuzz_ioctls=${FUZZ_IOCTLS:-1000000}
	lock_seconds=${LOCK_SECONDS:-60}
	# Lockdep, KASAN and kmemleak make the tests about 5 times slower
	# (selftests/lib/timeout_scale.h).  The multi-gen LRU is built in,
	# as in Debian's 6.1, but off as there (mmu_test's aging test).
	timeout_scale=5 mglru=off
else
	timeout_scale=1 mglru=
	fuzz_seconds=${FUZZ_SECONDS:-15} fuzz_ioctls=${FUZZ_IOCTLS:-0}
	lock_seconds=${LOCK_SECONDS:-6}
fi

cat > "$root/harness.conf" <<CONF
MODE=$mode
TESTS="$*"
KVM_MODULES="${load[*]}"
EXTRA_MODULES="${extra[*]}"
KVM_VENDOR_KO=${load[-1]}
VMMU_KO=/lib/modules/$rel/extra/vmmu.ko
FUZZ_SECONDS=$fuzz_seconds
FUZZ_IOCTLS=$fuzz_ioctls
FUZZ_SEED=${FUZZ_SEED:-}
FUZZ_THREADS=${FUZZ_THREADS:-4}
LOCK_SECONDS=$lock_seconds
VMMU_TIMEOUT_SCALE=$timeout_scale
VMMU_ORACLE_ROUNDS=${VMMU_ORACLE_ROUNDS:-}
MODULE_PARAMS="${MODULE_PARAMS:-}"
MGLRU=$mglru
CONF

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$output"
