#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# boot.sh --kernel LABEL [--shell|--bench] [--timeout S] [--out DIR] [ARG...]
# Boot kernel LABEL under QEMU (TCG, an EPYC CPU with SVM and NPT), load kvm,
# kvm_amd and vmmu, and run the given selftests (binary or binary:test), or
# with --bench the benchmark (selftests/bench_vmmu) with ARGs as its options.
# Without --shell, DIR receives console.log (the kernel's console) and
# output.log (test output, then the kernel log); QEMU is killed after S
# seconds.  With --shell, the console is this terminal.
# The module and selftests must be built: scripts/check.sh does both.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

label=6.1 shell=0 mode=check timeout=900 out=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) label=$2; shift 2 ;;
	--shell) shell=1 mode=shell; shift ;;
	--bench) mode=bench; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
rel=$(kernel_release "$label")
out=${out:-$RESULTS/$label}
mkdir -p "$out"

# The debug kernel (KASAN's shadow, kmemleak's and lockdep's tables) needs
# more memory.
mem=4096 extra=
if [ "$(kernel_kind "$label")" = debug ]; then
	# no_hash_pointers: /proc/lockdep shows the lock classes' keys, so
	# that reliability_test can tell vmmu's classes (keys in vmmu).
	mem=6144 extra=" no_hash_pointers"
fi

initrd=$out/initrd.gz
"$TOP/scripts/mkinitramfs.sh" "$label" "$mode" "$initrd" "$@"

# Single-threaded TCG: with one host thread per vCPU, a vCPU can run kernel
# text while another patches it (text_poke_bp, e.g. the static key KVM flips
# when a VM is created), and hits the int3 after it is gone.  Round-robin
# vCPUs still interleave, and cost no more on two host cores.
qemu=(qemu-system-x86_64 -accel tcg,thread=single -machine q35
	-cpu EPYC,+svm,+npt -smp 2 -m $mem -no-reboot -display none
	-kernel "$(kernel_image "$label")" -initrd "$initrd"
	-append "console=ttyS0,115200 panic=-1 panic_on_warn=1 oops=panic hugepagesz=2M hugepages=16 hugepagesz=1G hugepages=1$extra")

if [ $shell = 1 ]; then
	exec "${qemu[@]}" -serial mon:stdio -serial "file:$out/output.log"
fi

rm -f "$out/console.log" "$out/output.log"
# QEMU's own complaints (CPUID bits TCG lacks) go to qemu.log.
timeout --kill-after=10 "$timeout" "${qemu[@]}" -monitor none \
	-serial "file:$out/console.log" -serial "file:$out/output.log" \
	> "$out/qemu.log" 2>&1 || echo "qemu exit status $?" >> "$out/qemu.log"
