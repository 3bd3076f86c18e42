#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The whole test suite (make check).  Lanes, in order:
#   deps   install packages, fetch kernels (scripts/deps.sh)
#   build  selftests (64- and 32-bit), the ABI layout check, and vmmu.ko for
#          every kernel with W=1: any compiler warning fails
#   lint   checkpatch.pl --strict on module/ and uapi/, sparse (C=2) per kernel
#   dkms   dkms add/build/install/remove per kernel, for real
#   boot   boot every kernel under QEMU with kvm_amd and vmmu loaded, run the
#          selftests, scan the kernel log for warnings
#   intel  boot 6.1 once under Bochs (VMX with EPT) with kvm_intel and vmmu
#          loaded, run the Intel set of selftests (INTEL_TESTS below), scan
#          the kernel log the same way
# A kernel from another Debian suite (kernels.list) is built, linted and
# DKMS-installed in its build chroot (scripts/chroot.sh).
# Options:
#   --kernel LABEL   only this kernel (see scripts/kernels.list)
#   --test T         only these tests in the boot and intel lanes, space
#                    separated: binary, binary@variant, binary:NAME,...
#                    (NAME: test, fixture.variant.test, or -test to leave
#                    it out; scripts/guest-init.sh) (default: every
#                    selftest binary; the Intel set)
#   --only LANES     only these lanes, comma separated (deps always runs)
# Results go to results/; the last line printed is "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

only_kernel= tests= lanes=build,lint,dkms,boot,intel
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) only_kernel=$2; shift 2 ;;
	--test) tests=$2; shift 2 ;;
	--only) lanes=$2; shift 2 ;;
	*) die "unknown argument '$1' (see the top of $0)" ;;
	esac
done
want() { [[ ,$lanes, == *,$1,* ]]; }

# Everything but the benchmark's reports (make bench), which are kept.
mkdir -p "$RESULTS" && find "$RESULTS" -mindepth 1 -maxdepth 1 ! -name bench -exec rm -rf {} +
SUMMARY=$RESULTS/summary.txt
: > "$SUMMARY"
# Until the run gets to its own summary, a failure is all there is to say.
echo "0 passed, 1 failed" > "$RESULTS/total.txt"

"$TOP/scripts/deps.sh" || die "installing dependencies failed"
labels=$(kernel_labels "$only_kernel")
[ -n "$labels" ] || die "no kernel '$only_kernel' in scripts/kernels.list"
# The debug kernel is built here once, then taken from its cache.
for l in $labels; do
	if [ "$(kernel_kind "$l")" = debug ]; then
		"$TOP/scripts/debug-kernel.sh" build || die "building the debug kernel failed"
	fi
done
npass=0 nfail=0
failures=()

# pass NAME / fail NAME [LOG]: record one result; on failure show the log.
pass() { npass=$((npass + 1)); echo "PASS $1" >> "$SUMMARY"; echo "  ok   $1"; }
fail() {
	nfail=$((nfail + 1)) failures+=("$1")
	echo "FAIL $1" >> "$SUMMARY"
	echo "  FAIL $1"
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		echo "  ---- $2 (last 40 lines)"
		tail -n 40 "$2" | sed 's/^/  | /'
		echo "  ----"
	fi
}
# run NAME LOG CMD...: run CMD with output to LOG, record the result.
run() {
	local name=$1 log=$2
	shift 2
	if "$@" > "$log" 2>&1; then pass "$name"; else fail "$name" "$log"; fi
}

# --- build ---------------------------------------------------------------
build_module() {
	local label=$1 dir log=$2
	dir=$(module_build "$label")
	stage_sources "$dir"
	kmake "$label" "$dir" W=1 modules > "$log" 2>&1 || return 1
	# W=1 builds must be warning-free (modpost's too, in capitals);
	# sparse output is checked by lint.
	! grep -i -E 'warning:|error:' "$log"
}

if want build || want boot || want intel; then
	say "build: selftests and ABI layout"
	mkdir -p "$RESULTS/build"
	ksft=$(ksrc_dir)/tools/testing/selftests
	# From clean: a failed build must not leave older binaries to boot.
	rm -rf "$TOP/selftests/build"
	run "build/selftests" "$RESULTS/build/selftests.log" \
		make -C "$TOP/selftests" KSFT_DIR="$ksft" M32=1
	for l in $labels; do
		say "build: vmmu.ko for $l ($(kernel_release "$l")), W=1"
		run "build/module-$l" "$RESULTS/build/module-$l.log" build_module "$l" \
			"$RESULTS/build/module-$l.log.tmp"
		cat "$RESULTS/build/module-$l.log.tmp" >> "$RESULTS/build/module-$l.log"
		rm -f "$RESULTS/build/module-$l.log.tmp"
	done
fi

# --- lint ----------------------------------------------------------------
checkpatch() {
	local files
	files=$(source_files | grep -E '^(module|uapi)/.*\.[ch]$')
	(cd "$TOP" && perl "$(ksrc_dir)/scripts/checkpatch.pl" --strict --no-tree \
		--quiet --show-types -f $files)
}

sparse() {
	local label=$1 dir out f strict=0
	dir=$CACHE/sparse/$(kernel_release "$label")
	stage_sources "$dir"
	out=$(kmake "$label" "$dir" C=2 CHECK=sparse modules 2>&1)
	# kbuild turns sparse off unless scripts/checker-valid.sh finds it new
	# enough for the kernel, and Debian's 7.x headers lack that script:
	# then run it anyway, and take any error it reports, also in the
	# kernel's headers (which is what a sparse too old gives), as a failure.
	if grep -q 'checker-valid.sh: No such file' <<< "$out"; then
		stage_sources "$dir"
		out=$(kmake "$label" "$dir" KBUILD_CHECKSRC=2 CHECK=sparse modules 2>&1)
		strict=1
	fi
	echo "$out" >&2
	# The module's files, as kbuild names them: relative to the module's
	# folder (newer kernels), or with its path here or in the chroot.
	out=${out//"$dir/"/}
	out=${out//"/vmmu-cache/${dir#"$CACHE"/}/"/}
	# Only what is said about the module's own files counts.
	grep -E '^(module|uapi)/[^:]*:[0-9:]* (warning|error):' <<< "$out" >&2 && return 1
	if [ $strict = 1 ]; then
		grep -E '^[^ ]*:[0-9:]* error:' <<< "$out" >&2 && return 1
	elif grep -E 'is not available or not up to date' <<< "$out" >&2; then
		return 1
	fi
	# And sparse must have looked at every file of the module.
	for f in $(source_files | grep -E '^module/.*\.c$' | grep -v '^module/probes/'); do
		grep -q -x -F "  CHECK   $f" <<< "$out" || { echo "sparse did not check $f" >&2; return 1; }
	done
	return 0
}

if want lint; then
	say "lint: checkpatch --strict, sparse"
	mkdir -p "$RESULTS/lint"
	run "lint/checkpatch" "$RESULTS/lint/checkpatch.log" checkpatch
	for l in $labels; do
		# The debug kernel is 6.1 with checkers: sparse on 6.1 covers it.
		[ "$(kernel_kind "$l")" = debug ] && continue
		run "lint/sparse-$l" "$RESULTS/lint/sparse-$l.log" sparse "$l"
	done
fi

# --- dkms ----------------------------------------------------------------
if want dkms; then
	mkdir -p "$RESULTS/dkms"
	for l in $labels; do
		# DKMS installs into this machine's /lib/modules: not for a
		# kernel that lives in a cache.
		[ "$(kernel_kind "$l")" = debug ] && continue
		say "dkms: add, build, install, remove for $l"
		if [ -n "$(kernel_suite "$l")" ]; then
			# In the kernel's build chroot, with its own dkms.
			run "dkms/$l" "$RESULTS/dkms/$l.log" "$TOP/scripts/chroot.sh" dkms "$l"
		else
			run "dkms/$l" "$RESULTS/dkms/$l.log" \
				"$TOP/scripts/dkms.sh" test "$(kernel_release "$l")"
		fi
	done
fi

# --- boot ----------------------------------------------------------------
# With the debug kernel's checkers: lockdep's reports are "WARNING:" or
# "BUG:" lines, DEBUG_ATOMIC_SLEEP's "BUG: sleeping function", KFENCE's
# "BUG: KFENCE", DEBUG_OBJECTS' "ODEBUG: ... object type", DEBUG_LIST's "list_add
# corruption", kmemleak's "suspected memory leaks".
BAD_KLOG='WARNING:|BUG:|Oops|general protection|possible circular locking|KASAN|KFENCE|ODEBUG:.*object type|ODEBUG: Out of memory|Kernel memory leak detector disabled|UBSAN|RCU stall|detected stall|hung task|blocked for more than|refcount_t|corruption\.|suspected memory leak'

# The kernel log of a boot: the console, then the dmesg the guest dumped.
klog_problems() {
	local dir=$1
	{ cat "$dir/console.log"; sed -n '/^### DMESG/,/^### DONE/p' "$dir/output.log"; } |
		tr -d '\r' | grep -E "$BAD_KLOG" | grep -v -E -f <(grep -v -e '^#' -e '^$' \
			"$TOP/scripts/klog-allow.txt") | sort -u
}

# Results of one boot, from the markers and TAP lines in output.log.
parse_boot() {
	local label=$1 dir=$2 bin= line name rc
	local -A ended=()

	if ! grep -q '^### LOADED' "$dir/output.log"; then
		fail "$label/modules-load" "$dir/output.log"
	else
		pass "$label/modules-load"
	fi
	while IFS= read -r line; do
		case $line in
		"### BEGIN "*) bin=${line#\#\#\# BEGIN } ; bad=0 results=0 ;;
		"### END "*)
			rc=${line##*rc=}
			ended[$bin]=1
			# A test name that matched nothing runs nothing: not a pass.
			[ "$results" = 0 ] && fail "$label/$bin (ran no test)"
			# A crash or exit(1) outside any test is a failure too.
			if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
				fail "$label/$bin (exit status $rc)"
			fi
			bin= ;;
		"ok "*"# SKIP"*)
			name=${line#ok * }
			bad=1 results=1
			fail "$label/$bin/${name%% # SKIP*} (skipped: ${line##*# SKIP})" ;;
		"ok "*)
			[ -n "$bin" ] || continue
			results=1
			name=${line#ok }
			pass "$label/$bin/${name#* }" ;;
		"not ok "*)
			[ -n "$bin" ] || continue
			results=1
			name=${line#not ok }
			name=${name#* }
			bad=1
			fail "$label/$bin/$name"
			echo "  ---- output of $name"
			awk -v t="$name" '$0 ~ "#  RUN +" t " " {p=1} p {print "  | " $0} /^not ok / && p {exit}' \
				"$dir/output.log"
			echo "  ----" ;;
		esac
	done < <(tr -d '\r' < "$dir/output.log")
	[ -n "$bin" ] && fail "$label/$bin (did not finish)"
	[ ${#ended[@]} -gt 0 ] || fail "$label/tests-ran (no selftest ran)" "$dir/output.log"

	if grep -q '^### DONE' "$dir/output.log"; then
		pass "$label/boot-completes"
	else
		fail "$label/boot-completes (no DONE marker: crash, panic or timeout)"
		echo "  ---- console (last 60 lines)"
		tail -n 60 "$dir/console.log" | sed 's/^/  | /'
		echo "  ----"
	fi

	# kmemleak (debug kernel): what two scans after the tests found.
	if grep -q '^### KMEMLEAK' "$dir/output.log"; then
		local leaks
		leaks=$(tr -d '\r' < "$dir/output.log" | sed -n '/^### KMEMLEAK/,/^### KMEMLEAK-END/p' |
			grep -c '^unreferenced object')
		if [ "$leaks" = 0 ]; then
			pass "$label/kmemleak-clean"
		else
			fail "$label/kmemleak-clean ($leaks unreferenced objects)"
			tr -d '\r' < "$dir/output.log" | sed -n '/^### KMEMLEAK/,/^### KMEMLEAK-END/p' |
				head -n 80 | sed 's/^/  | /'
		fi
	elif [ "$(kernel_kind "$label")" = debug ]; then
		fail "$label/kmemleak-clean (no kmemleak report in the log)"
	fi

	local problems
	problems=$(klog_problems "$dir")
	if [ -z "$problems" ]; then
		pass "$label/kernel-log-clean"
	else
		fail "$label/kernel-log-clean"
		echo "  ---- kernel log lines that fail the run (full log: $dir/console.log)"
		echo "$problems" | sed 's/^/  | /'
		echo "  ---- where the first one appears, and what followed"
		tr -d '\r' < "$dir/console.log" | grep -F -A 30 -- "$(echo "$problems" | head -n 1)" |
			sed 's/^/  | /'
		echo "  ----"
	fi
}

# The benchmark's report from the JSON a smoke run printed (bench_vmmu -t
# smoke, in the boot): table, meta.json, report.md and a plot per workload,
# and the traced phase's histograms (function_graph ran on both backends).
# No timing is asserted, only that every workload ran on every backend.
bench_report() {
	local dir=$1 f
	rm -rf "$dir/bench-smoke"
	sed -n '/^### BEGIN bench_vmmu/,/^### END bench_vmmu/p' "$dir/output.log" > "$dir/bench-smoke.jsonl"
	/usr/bin/python3 "$TOP/scripts/bench_report.py" "$dir/bench-smoke.jsonl" \
		"$dir/bench-smoke" --meta emulated=true --check || return 1
	for f in report.md meta.json samples.jsonl demand_4k.png exits.svg \
		memslot_move.png unrelated_inval_vcpu.png memslot_storm_wait.png \
		memslot_overlap_storm.png \
		trace_refault.png trace_memslot_storm_create.svg trace_memslot_storm_move.png; do
		[ -s "$dir/bench-smoke/$f" ] || { echo "no $f" >&2; return 1; }
	done
	grep -q '"emulated": true' "$dir/bench-smoke/meta.json" && grep -q EMULATED "$dir/bench-smoke/report.md"
}

# scripts/bench --host refuses without its prerequisites and names each
# missing one; with all of them (a fake /proc, /sys and /dev) it accepts.
bench_host_prereqs() {
	local root
	root=$(mktemp -d) || return 1
	mkdir -p "$root/proc" "$root/sys/module" "$root/dev"
	echo 'flags		: fpu sse2' > "$root/proc/cpuinfo"
	(export VMMU_BENCH_SYSROOT=$root VMMU_BENCH_UID=1000
	 out=$("$TOP/scripts/bench" --host --dry-run 2>&1); rc=$?
	 echo "$out"
	 [ $rc = 2 ] && grep -q 'refusing' <<< "$out" && grep -q 'root' <<< "$out" &&
		grep -q 'neither svm nor vmx' <<< "$out" && grep -q 'vmmu: the module is not loaded' <<< "$out" &&
		grep -q '/dev/vmmu: missing' <<< "$out") || { rm -rf "$root"; return 1; }
	echo 'flags		: fpu sse2 svm npt' > "$root/proc/cpuinfo"
	mkdir -p "$root/sys/module/"{kvm,kvm_amd,vmmu}
	mknod "$root/dev/kvm" c 1 3 && mknod "$root/dev/vmmu" c 1 3 || { rm -rf "$root"; return 1; }
	(export VMMU_BENCH_SYSROOT=$root VMMU_BENCH_UID=0
	 out=$("$TOP/scripts/bench" --host --dry-run 2>&1); rc=$?
	 echo "$out"
	 [ $rc = 0 ] && grep -q 'prerequisites met (kvm_amd' <<< "$out") || { rm -rf "$root"; return 1; }
	rmdir "$root/sys/module/vmmu"
	(export VMMU_BENCH_SYSROOT=$root VMMU_BENCH_UID=0
	 out=$("$TOP/scripts/bench" --host --dry-run 2>&1); rc=$?
	 echo "$out"
	 [ $rc = 2 ] && ! grep -q 'root' <<< "$out" && grep -q 'vmmu: the module' <<< "$out")
	rc=$?
	rm -rf "$root"
	return $rc
}

if want boot; then
	mkdir -p "$RESULTS/bench-check"
	run "bench/host-prerequisites" "$RESULTS/bench-check/host-prerequisites.log" bench_host_prereqs
fi

if { want boot || want intel; } && grep -q '^FAIL build/' "$SUMMARY"; then
	fail "boot (skipped: the build failed)"
elif want boot; then
	run_order=$(make -s -C "$TOP/selftests" list)
	# The benchmark's code path, tiny and with no timing asserted.
	run_order+=" bench_vmmu:smoke"
	for l in $labels; do
		say "boot: $l ($(kernel_release "$l")) under QEMU: ${tests:-$run_order}"
		start=$SECONDS
		# The debug kernel is several times slower under TCG.
		tmo=900
		[ "$(kernel_kind "$l")" = debug ] && tmo=7200
		"$TOP/scripts/boot.sh" --kernel "$l" --out "$RESULTS/$l" --timeout $tmo \
			${tests:-$run_order} || fail "$l/boot-script"
		say "boot: $l finished in $((SECONDS - start)) s"
		parse_boot "$l" "$RESULTS/$l"
		if grep -q '^### BEGIN bench_vmmu' "$RESULTS/$l/output.log"; then
			run "$l/bench-report" "$RESULTS/$l/bench-report.log" bench_report "$RESULTS/$l"
		fi
	done
	# make bench's own path once, end to end (scripts/bench with boot.sh
	# --bench, progress, report), on the first kernel, at smoke size.
	if [ -z "$tests" ]; then
		l=$(head -n 1 <<< "$labels")
		say "boot: $l for make bench's path (scripts/bench -- -t smoke)"
		start=$SECONDS
		run "bench/make-bench-$l" "$RESULTS/bench-check/make-bench.log" \
			"$TOP/scripts/bench" --no-build --kernel "$l" \
			--out "$RESULTS/bench-check/run" -- -t smoke
		say "boot: make bench's path took $((SECONDS - start)) s"
	fi
fi

# --- intel ---------------------------------------------------------------
# Bochs runs about as fast as QEMU's TCG but takes a minute and a half to
# boot (most of it the kernel decompressing itself), so one boot per
# kernel (6.1: kvm_intel turns VMX on only while it has a VM; 6.12: from
# its load; 7.2: the core kernel does), with what tests Intel-specific
# paths: the guest library and vmmu's VMX vCPUs (vcpu_test, both
# backends), vmmu beside kvm_intel (module_test), the EPT format in
# software, and a smoke set of the rest.  What waits on the guest's clock,
# which runs many times slower than the host's there, is cut down (the
# coherence oracle: boot-bochs.sh) or left out (a 25 s spin).
INTEL_KERNELS="6.1 6.12 7.2"
INTEL_TESTS="vcpu_test:-long_spin_stalls_nothing
	module_test
	mmu_test:mmu.ept.host_writes_guest_reads,mmu.ept.guest_writes_host_reads,mmu.ept.entry_format,mmu.ept.prefault_and_translate,mmu.ept.munmap_removes_the_mapping,mmu.ept.thp_maps_2m_leaves,mmu.ept.hugetlbfs_maps_2m_leaves,mmu.ept.dirty_log_is_exact,mmu.ept.page_tables_are_freed
	api_test
	memslot_test:create_lookup_delete,move,batch_is_all_or_nothing
	notifier_test:munmap_whole_slot,cow_break_after_fork"

intel_boot() {
	local l=$1 name=$2
	shift 2
	say "intel: $l ($(kernel_release "$l")) under Bochs: $*"
	start=$SECONDS
	"$TOP/scripts/boot-bochs.sh" --kernel "$l" --out "$RESULTS/$name" \
		--timeout 1200 "$@" || fail "$name/boot-script"
	say "intel: $l finished in $((SECONDS - start)) s"
	sed 's/^/  /' "$RESULTS/$name/timing.txt"
	parse_boot "$name" "$RESULTS/$name"
}

if want intel && ! grep -q '^FAIL build/' "$SUMMARY"; then
	for l in $labels; do
		[[ " $INTEL_KERNELS " == *" $l "* ]] || continue
		# shellcheck disable=SC2086
		intel_boot "$l" "$l-intel" ${tests:-$INTEL_TESTS}
	done
fi

# --- summary -------------------------------------------------------------
echo
echo "Summary (results in $RESULTS):"
for l in $labels; do
	p=$(grep -c "^PASS $l/" "$SUMMARY") f=$(grep -c "^FAIL $l/" "$SUMMARY")
	echo "  kernel $l ($(kernel_release "$l")): $p passed, $f failed"
done
for l in $labels; do
	grep -q "^[A-Z]* $l-intel/" "$SUMMARY" || continue
	p=$(grep -c "^PASS $l-intel/" "$SUMMARY") f=$(grep -c "^FAIL $l-intel/" "$SUMMARY")
	echo "  kernel $l under Bochs (Intel VMX, EPT): $p passed, $f failed"
done
p=$(grep -c -E '^PASS (build|lint|dkms)/' "$SUMMARY") f=$(grep -c -E '^FAIL (build|lint|dkms)/' "$SUMMARY")
echo "  host (build, lint, dkms): $p passed, $f failed"
for f in "${failures[@]}"; do echo "  failed: $f"; done
# A kernel tested in place of a pinned one that left its suite, and such.
for l in $labels; do
	[ -s "$CACHE/kernels/$l.note" ] && sed 's/^/  NOTE: /' "$CACHE/kernels/$l.note"
done
echo "$npass passed, $nfail failed" | tee "$RESULTS/total.txt"
[ "$nfail" = 0 ]
