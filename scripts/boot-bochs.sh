#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# boot-bochs.sh --kernel LABEL [--timeout S] [--out DIR] [TEST...]
# The Intel lane's machine: boot kernel LABEL under Bochs (CPU model
# corei7_skylake_x: VMX with EPT, EPT A/D bits, 1 GiB EPT pages, VPID,
# unrestricted guest), load kvm, kvm_intel and vmmu, and run the given
# selftests (binary or binary:test).  The same initramfs and /init as the
# QEMU lane (scripts/boot.sh), so DIR gets the same files: console.log (the
# kernel console, COM1) and output.log (test output, then the kernel log,
# COM2), plus bochs.log (Bochs's own) and timing.txt.  Bochs is killed
# after S seconds.
#
# Bochs has no direct kernel boot for a bzImage: the kernel and initramfs
# go on an El Torito CD image with ISOLINUX.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

label=6.1 timeout=900 out=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) label=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
out=${out:-$RESULTS/$label-intel}
mkdir -p "$out"
out=$(cd "$out" && pwd)

iso=$out/iso
rm -rf "$iso" "$out/console.log" "$out/output.log" "$out/bochs.log" "$out/timing.txt"
mkdir -p "$iso/isolinux"
# The guest's clock crawls under Bochs: the coherence oracle runs 40 of
# its 600 rounds (10 of each kind of host change).  The CPU model has
# L1TF but no IA32_FLUSH_CMD, and the software L1D flush crawls under
# Bochs (docs/testing.md): vmmu and kvm_intel load without it, and
# module_test's reloads (no parameters) run vmmu's guests with it.
VMMU_ORACLE_ROUNDS=${VMMU_ORACLE_ROUNDS:-40} \
MODULE_PARAMS="vmmu:l1d_flush=0 kvm-intel:vmentry_l1d_flush=never" \
	"$TOP/scripts/mkinitramfs.sh" --vendor kvm-intel "$label" check "$iso/initrd.gz" "$@"
cp "$(kernel_image "$label")" "$iso/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso/isolinux/"
# loglevel=5: warnings reach the console (as in the QEMU lane) without
# the chatter, which Bochs's UART would spend time on.  The 1 GiB page
# comes from above 4 GiB: Bochs's BIOS gives at most 3 GiB below the PCI
# hole, and ISOLINUX puts the initramfs just below 2 GiB, so the machine
# has 6 GiB, whose last 2 GiB lie above 4 GiB with an aligned GiB free.
# clearcpuid: the CPU model's XSAVE size for AVX-512 is wrong; and Bochs
# 2.7's XSAVEC and XSAVES write the AVX state of the compacted format at
# offset 416 where its XRSTORS reads it at 576 (cpu/xsave.cc), so a task
# saved with live YMM upper halves gets register data in the XSAVE
# header's reserved bytes and its restore faults ("Bad FPU state
# detected"): without both, the kernel saves tasks with XSAVEOPT, in the
# standard format, which Bochs gets right.
cat > "$iso/isolinux/isolinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz console=ttyS0,115200 loglevel=5 clearcpuid=avx512f,xsavec,xsaves panic=-1 panic_on_warn=1 oops=panic hugepagesz=2M hugepages=16 hugepagesz=1G hugepages=1
CFG
xorriso -as mkisofs -quiet -o "$out/boot.iso" -b isolinux/isolinux.bin \
	-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
	-R -J "$iso"
rm -rf "$iso"

# Debian builds Bochs with GUI plugins only: rfb with timeout=0 runs
# without waiting for a client (it listens on a free port from 5900 while
# Bochs runs).  The sound plugins are off: with no sound device the ALSA
# one aborts Bochs.  panic: fatal ends Bochs at the guest's poweroff (ACPI
# soft power off is a "panic" to Bochs), so its exit status says nothing:
# the results are read from output.log, as in the QEMU lane.
# host=2048 is Bochs's limit for memory it allocates up front: the rest
# of the guest's 6 GiB is allocated as the guest touches it.
cat > "$out/bochsrc" <<RC
config_interface: textconfig
display_library: rfb, options="timeout=0"
memory: guest=6144, host=2048
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=corei7_skylake_x, count=1, ips=100000000, reset_on_triple_fault=0
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$out/boot.iso, status=inserted
boot: cdrom
clock: sync=none, time0=local
com1: enabled=1, mode=file, dev=$out/console.log
com2: enabled=1, mode=file, dev=$out/output.log
log: $out/bochs.log
debugger_log: -
panic: action=fatal
error: action=ignore
info: action=ignore
debug: action=ignore
magic_break: enabled=0
mouse: enabled=0
keyboard: type=mf
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
RC
# Debian's Bochs has the internal debugger, which stops before the first
# instruction: these commands start the machine (BOCHS_DBGCMDS: a file of
# commands of your own instead, e.g. time breakpoints and register dumps).
if [ -n "${BOCHS_DBGCMDS:-}" ]; then
	cp "$BOCHS_DBGCMDS" "$out/dbgcmds"
else
	printf 'continue\nquit\n' > "$out/dbgcmds"
fi

start=$SECONDS
rc=0
(cd "$out" && timeout --kill-after=10 "$timeout" bochs-bin -q -f bochsrc -rc dbgcmds \
	< /dev/null > bochs.out 2>&1) || rc=$?
[ "$rc" = 124 ] && echo "Bochs killed after $timeout s" >> "$out/bochs.out"
{
	echo "bochs exit status $rc, $((SECONDS - start)) s"
	# When each marker reached COM2, in the guest's uptime.
	[ -f "$out/output.log" ] && tr -d '\r' < "$out/output.log" | grep -a -E '^### (BOOT|LOADED|DONE)'
	true
} > "$out/timing.txt"
rm -f "$out/boot.iso"
