#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the emulated machine.  The kernel log goes to ttyS0 (console);
# test output, markers and the final dmesg go to ttyS1, which the host reads.
# /harness.conf (written by mkinitramfs.sh) sets MODE, TESTS, KVM_MODULES,
# VMMU_KO and KVM_VENDOR_KO (KVM_MODULES: kvm's modules in load order).

/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t tmpfs tmpfs /tmp
. /harness.conf
export VMMU_KO KVM_VENDOR_KO KVM_MODULES PATH=/bin:/selftests
export FUZZ_SECONDS FUZZ_IOCTLS FUZZ_SEED FUZZ_THREADS LOCK_SECONDS VMMU_TIMEOUT_SCALE
export VMMU_ORACLE_ROUNDS

OUT=/dev/ttyS1
mark() { echo "### $*" > $OUT; }
finish() {
	mark DMESG
	dmesg > $OUT
	mark "DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
	sleep 1		# let the UART drain before the machine goes away
	poweroff -f
}

# MGLRU=off: the debug kernel's config has the multi-gen LRU enabled by
# default; Debian's 6.1, which it stands for, has it built but off.
[ "$MGLRU" = off ] && [ -w /sys/kernel/mm/lru_gen/enabled ] &&
	echo n > /sys/kernel/mm/lru_gen/enabled

# Report hung tasks well inside the host's boot timeout.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 60 > /proc/sys/kernel/hung_task_timeout_secs

mark "BOOT $(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
# MODULE_PARAMS: "module:param=value ..." (module as its file is named).
params_of() {
	for p in $MODULE_PARAMS; do
		[ "${p%%:*}" = "$1" ] && echo "${p#*:}"
	done
}
for m in $EXTRA_MODULES $KVM_MODULES $VMMU_KO; do
	# shellcheck disable=SC2046
	if ! out=$(insmod "$m" $(params_of "$(basename "$m" .ko)") 2>&1); then
		mark "LOADFAIL $m: $out"
		finish
	fi
done
mark "LOADED $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"

# Swap on compressed RAM, so that reclaim can swap guest memory out.
if echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null &&
	swapon /dev/zram0; then
	mark "SWAP $(grep zram0 /proc/swaps)"
else
	mark "SWAP none"
fi

if [ "$MODE" = shell ]; then
	echo "vmmu test machine: kvm and vmmu are loaded; tests are in /selftests."
	echo "Exit the shell to power off."
	setsid cttyhack sh -l
	poweroff -f
fi

# The benchmark: TESTS holds its options; its JSON Lines go to ttyS1.
if [ "$MODE" = bench ]; then
	mark "BEGIN bench_vmmu"
	/selftests/bench_vmmu $TESTS > $OUT 2>&1
	mark "END bench_vmmu rc=$?"
	finish
fi

# The debug kernel's kmemleak: what exists before the tests is not theirs.
KMEMLEAK=/sys/kernel/debug/kmemleak
if [ -w $KMEMLEAK ]; then
	echo scan > $KMEMLEAK
	echo clear > $KMEMLEAK
	mark "KMEMLEAK-BASELINE cleared"
fi

# A test is "binary", "binary@variant" (-v: every test of that variant)
# or "binary:NAME[,NAME...]", where a NAME is a test's own name (-t: that
# test in every fixture and variant), its full name, fixture.variant.test
# (-r: that one alone), or -name (-T: every test but those so named).
for t in $TESTS; do
	set --
	case $t in
	*:*)
		bin=${t%%:*}
		for n in $(echo "${t#*:}" | tr ',' ' '); do
			case $n in
			-*) set -- "$@" -T "${n#-}" ;;
			*.*) set -- "$@" -r "$n" ;;
			*) set -- "$@" -t "$n" ;;
			esac
		done ;;
	*@*) bin=${t%%@*}; set -- -v "${t#*@}" ;;
	*) bin=$t ;;
	esac
	mark "BEGIN $bin"
	/selftests/"$bin" "$@" > $OUT 2>&1
	mark "END $bin rc=$?"
done

# After the tests, with every VM gone: two scans (an object is reported
# only once it has stayed unreferenced across a scan), then the report.
if [ -w $KMEMLEAK ]; then
	echo scan > $KMEMLEAK
	sleep 6
	echo scan > $KMEMLEAK
	mark KMEMLEAK
	cat $KMEMLEAK > $OUT
	mark KMEMLEAK-END
fi
[ -r /proc/lockdep_stats ] && { mark LOCKDEP-STATS; cat /proc/lockdep_stats > $OUT; }
finish
