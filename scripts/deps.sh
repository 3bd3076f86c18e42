#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install what building and testing vmmu needs, from Debian's archive, and
# fetch the test kernels into .cache/kernels (dpkg -x, not installed).
# Idempotent: a second run with everything present touches nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(
	make gcc gcc-multilib perl cpio xz-utils kmod
	qemu-system-x86 busybox-static dkms openssl sparse "$KSRC_PKG"
	debootstrap python3-matplotlib
	# The Intel lane (scripts/boot-bochs.sh): Bochs emulates VMX with EPT;
	# ISOLINUX on a CD image boots the kernel there.
	bochs bochsbios vgabios isolinux syslinux-common xorriso
	# The debug kernel (scripts/debug-kernel.sh): its source and build tools.
	linux-source-6.1 flex bison libelf-dev libssl-dev bc
)
# Only this machine's own kernels' headers are installed here.
for label in $(kernel_labels); do
	[ -n "$(kernel_suite "$label")" ] || PKGS+=("$(kernel_meta "$label")")
done

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $*"; fi
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing: ${missing[*]}"
	as_root apt-get update -qq
	# The 6.12 headers depend on the 6.12 image package; INITRD=No spares
	# generating an initramfs for a kernel this machine never boots.
	as_root env DEBIAN_FRONTEND=noninteractive INITRD=No \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kselftest harness header and checkpatch.pl (+ its data files).
ksrc=$(ksrc_dir)
if [ ! -f "$ksrc/scripts/checkpatch.pl" ]; then
	say "extracting kselftest harness and checkpatch from $KSRC_PKG"
	tmp=$ksrc.tmp
	rm -rf "$tmp" && mkdir -p "$tmp"
	top=linux-source-${KSRC_PKG#linux-source-}
	tar -xJf "/usr/src/$top.tar.xz" -C "$tmp" --strip-components=1 \
		"$top/tools/testing/selftests/kselftest_harness.h" \
		"$top/tools/testing/selftests/kselftest.h" \
		"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
		"$top/scripts/const_structs.checkpatch"
	mv "$tmp" "$ksrc"
fi

# Kernels from another suite: the pinned version, or the newest.
for label in $(kernel_labels); do
	[ -z "$(kernel_suite "$label")" ] || "$TOP/scripts/chroot.sh" resolve "$label"
done

# What an unpacked kernel holds: every file's path and size.  depmod's
# output is left out, it is made after the manifest.
kernel_manifest() {
	(cd "$1/root" && find . -type f ! -name 'modules.*' -printf '%P %s\n' |
		LC_ALL=C sort | sha256sum | cut -d' ' -f1)
}

# Kernel images and modules for the emulated machines.  A cached kernel
# whose files changed since it was unpacked (a stray clean deleted its
# modules, say) is fetched again.
for label in $(kernel_labels); do
	rel=$(kernel_release "$label")
	dir=$CACHE/kernels/$rel
	if [ -f "$dir/root/lib/modules/$rel/modules.dep" ] &&
	   [ -f "$(kernel_image "$label")" ] && [ -f "$dir/manifest" ]; then
		[ "$(kernel_manifest "$dir")" = "$(cat "$dir/manifest")" ] && continue
		say "kernel $rel ($label) in $dir is damaged: fetching it again"
	fi
	say "fetching kernel $rel ($label)"
	rm -rf "$dir" && mkdir -p "$dir/root"
	suite=$(kernel_suite "$label")
	if [ -z "$suite" ]; then
		apt=(apt-get)
		pkgs=("linux-image-$rel")
	else
		apt=(suite_apt "$suite" apt-get)
		# Newer image packages are split: the image is in one of the
		# packages it depends on, the modules in another.
		ver=$(kernel_resolved "$label" | cut -d' ' -f3)
		pkgs=("linux-image-$rel=$ver")
		for p in $(suite_apt "$suite" apt-cache show "linux-image-$rel=$ver" |
			sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/^ *\([^ ]*\).*/\1/' | grep -- "-$rel\$"); do
			pkgs+=("$p=$ver")
		done
	fi
	(cd "$dir" && "${apt[@]}" download -qq -o APT::Sandbox::User="$(id -un)" "${pkgs[@]}" >/dev/null)
	for deb in "$dir"/*.deb; do dpkg -x "$deb" "$dir/root"; done
	# Packages that put the modules in /usr/lib/modules only.
	[ -e "$dir/root/lib" ] || ln -s usr/lib "$dir/root/lib"
	[ -f "$(kernel_image "$label")" ] || die "no kernel image in ${pkgs[*]}"
	kernel_manifest "$dir" > "$dir/manifest"
	# The package's modules.dep is made at install time: make it here.
	depmod -b "$dir/root" "$rel"
done

# Their build chroots, with their headers, compiler and dkms.
for label in $(kernel_labels); do
	[ -z "$(kernel_suite "$label")" ] || "$TOP/scripts/chroot.sh" setup "$label"
done
