# SPDX-License-Identifier: GPL-2.0-only
# Shared by the scripts in this folder; sourced, not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VMMU_CACHE:-$TOP/.cache}
RESULTS=${VMMU_RESULTS:-$TOP/results}
KSRC_PKG=linux-source-6.12

say()  { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Labels of the kernels in kernels.list, or only $1 when given.  The debug
# kernel (a line "LABEL debug", scripts/debug-kernel.sh) is only listed
# when asked for by name: it runs in make check-debug, not make check.
kernel_labels() {
	local want=${1:-}
	awk -v want="$want" '!/^#/ && (want == "" ? (NF == 2 || NF == 4) && $2 != "debug" : $1 == want) { print $1 }' \
		"$TOP/scripts/kernels.list"
}

# "debug" for the debug kernel, built here from source; empty otherwise.
kernel_kind() {
	awk -v l="$1" '!/^#/ && $1 == l && $2 == "debug" { print "debug" }' "$TOP/scripts/kernels.list"
}

kernel_meta() {
	awk -v l="$1" '!/^#/ && $1 == l { print $2 }' "$TOP/scripts/kernels.list"
}

# The Debian suite a kernel comes from when it is not this machine's (sid),
# and the version of its headers package that is pinned; empty for the
# machine's own suite.
kernel_suite() {
	awk -v l="$1" '!/^#/ && $1 == l && NF == 4 { print $3 }' "$TOP/scripts/kernels.list"
}
kernel_pin() {
	awk -v l="$1" '!/^#/ && $1 == l && NF == 4 { print $4 }' "$TOP/scripts/kernels.list"
}

# A kernel from another suite is never installed on this machine: its
# headers live in a build chroot of that suite (scripts/chroot.sh), and
# what scripts/chroot.sh resolved for it is kept here, one line:
# "suite headers-package version release".
kernel_resolved_file() { echo "$CACHE/kernels/$1.resolved"; }
kernel_resolved() {
	local f
	f=$(kernel_resolved_file "$1")
	[ -s "$f" ] || die "kernel $1 ($(kernel_suite "$1")) is not set up: run scripts/deps.sh"
	cat "$f"
}

# The kernel release (uname -r) behind a label, from its installed headers
# (or, for a kernel from another suite, from what was resolved).
kernel_release() {
	local meta dep r
	if [ "$(kernel_kind "$1")" = debug ]; then
		"$TOP/scripts/debug-kernel.sh" release
		return
	fi
	if [ -n "$(kernel_suite "$1")" ]; then
		r=$(kernel_resolved "$1") || exit 1
		echo "${r##* }"
		return
	fi
	meta=$(kernel_meta "$1")
	[ -n "$meta" ] || die "unknown kernel '$1' (see scripts/kernels.list)"
	dep=$(dpkg-query -W -f='${Depends}' "$meta" 2>/dev/null) ||
		die "$meta is not installed: run scripts/deps.sh"
	dep=${dep%%[ ,]*}
	echo "${dep#linux-headers-}"
}

# The headers (a path in the build chroot for a kernel from another suite).
kernel_headers() {
	if [ "$(kernel_kind "$1")" = debug ]; then
		echo "$("$TOP/scripts/debug-kernel.sh" path)/build"
	else
		echo "/usr/src/linux-headers-$(kernel_release "$1")"
	fi
}
kernel_root() {
	if [ "$(kernel_kind "$1")" = debug ]; then
		echo "$("$TOP/scripts/debug-kernel.sh" path)/root"
	else
		echo "$CACHE/kernels/$(kernel_release "$1")/root"
	fi
}
module_build()   { echo "$CACHE/build/$(kernel_release "$1")"; }

# The kernel image: in /boot up to Debian 13, in /usr/lib/modules/<release>
# in newer packages (kernel_root has lib -> usr/lib for those).
kernel_image() {
	local rel root
	rel=$(kernel_release "$1") root=$(kernel_root "$1")
	if [ -f "$root/boot/vmlinuz-$rel" ]; then
		echo "$root/boot/vmlinuz-$rel"
	else
		echo "$root/lib/modules/$rel/vmlinuz"
	fi
}

# kmake LABEL DIR ARGS...: make ARGS for the external module in DIR against
# LABEL's headers, in LABEL's build chroot when it has one (DIR must then
# be under $CACHE, which the chroot sees at /vmmu-cache).
kmake() {
	local label=$1 dir=$2
	shift 2
	if [ -z "$(kernel_suite "$label")" ]; then
		make -C "$(kernel_headers "$label")" M="$dir" "$@"
		return
	fi
	case $dir in
	"$CACHE"/*) ;;
	*) die "kmake: $dir is not under $CACHE" ;;
	esac
	"$TOP/scripts/chroot.sh" run "$label" \
		make -C "$(kernel_headers "$label")" M="/vmmu-cache/${dir#"$CACHE"/}" "$@"
}

# suite_apt SUITE apt-get|apt-cache ARGS...: apt with a sources list and
# package lists of the harness's own (in $CACHE/apt-SUITE), for SUITE of
# the archive this machine uses.  The machine's apt configuration is read,
# never changed.
suite_apt() {
	local dir=$CACHE/apt-$1 tool=$2
	shift 2
	"$tool" -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache::pkgcache= \
		-o Dir::Cache::srcpkgcache= "$@"
}

# The URI of the Debian archive this machine's apt uses (VMMU_DEBIAN_MIRROR
# overrides it).
debian_mirror() {
	local uri
	uri=${VMMU_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(LABEL)' \
		'Identifier: Packages' 'Origin: Debian' 2>/dev/null | awk '$2 == "Debian" { print $1; exit }')}
	echo "${uri:-http://deb.debian.org/debian/}"
}

# The kselftest harness and checkpatch, extracted from Debian's source package.
ksrc_dir() {
	local ver
	ver=$(dpkg-query -W -f='${Version}' "$KSRC_PKG" 2>/dev/null) ||
		die "$KSRC_PKG is not installed: run scripts/deps.sh"
	echo "$CACHE/ksrc/$ver"
}

# The module's sources, without build output: what DKMS and the per-kernel
# builds get.  Prints paths relative to $TOP.
source_files() {
	(cd "$TOP" && {
		echo Kbuild; echo Makefile; echo dkms.conf
		find module uapi -type f \( -name '*.[chS]' -o -name Kbuild \) \
			! -name '*.mod.c' ! -name compat_gen.h ! -path 'module/probes/*.h'
	} | sort)
}

# Copy the module's sources to $1 (emptied first).
stage_sources() {
	local dest=$1
	rm -rf "$dest" && mkdir -p "$dest"
	(cd "$TOP" && source_files | cpio -pdm --quiet "$dest")
}
