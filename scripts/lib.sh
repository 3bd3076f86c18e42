# SPDX-License-Identifier: GPL-2.0-only
# Shared by the scripts in this folder; sourced, not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VMMU_CACHE:-$TOP/.cache}
RESULTS=${VMMU_RESULTS:-$TOP/results}
KSRC_PKG=linux-source-6.12

say()  { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Labels of the kernels in kernels.list, or only $1 when given.
kernel_labels() {
	local want=${1:-}
	awk -v want="$want" '!/^#/ && NF == 2 && (want == "" || $1 == want) { print $1 }' \
		"$TOP/scripts/kernels.list"
}

kernel_meta() {
	awk -v l="$1" '!/^#/ && $1 == l { print $2 }' "$TOP/scripts/kernels.list"
}

# The kernel release (uname -r) behind a label, from its installed headers.
kernel_release() {
	local meta dep
	meta=$(kernel_meta "$1")
	[ -n "$meta" ] || die "unknown kernel '$1' (see scripts/kernels.list)"
	dep=$(dpkg-query -W -f='${Depends}' "$meta" 2>/dev/null) ||
		die "$meta is not installed: run scripts/deps.sh"
	dep=${dep%%[ ,]*}
	echo "${dep#linux-headers-}"
}

kernel_headers() { echo "/usr/src/linux-headers-$(kernel_release "$1")"; }
kernel_root()    { echo "$CACHE/kernels/$(kernel_release "$1")/root"; }
module_build()   { echo "$CACHE/build/$(kernel_release "$1")"; }

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
