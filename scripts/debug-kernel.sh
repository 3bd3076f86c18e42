#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# debug-kernel.sh build|path|release|key
# The debug kernel of the 6.1-debug lane: Debian's linux-source-6.1 with
# `make defconfig kvm_guest.config` and scripts/debug.config (lockdep,
# KASAN, kmemleak, debug objects, KFENCE...).  Built once and kept outside
# the clone, in $VMMU_DEBUG_CACHE (default /var/cache/vmmu), under
# debug-kernel-<source version>-<hash of the fragment>:
#   build/   the configured and built tree (vmmu.ko builds against it:
#            make -C .../build M=...); object files are removed
#   root/    boot/vmlinuz-<release>, lib/modules/<release>/ (kvm, zram...)
#   release  the kernel release;  ok  the checksums of what a boot needs
# "build" reuses a complete cache entry, and rebuilds one that is missing,
# unfinished or damaged (a checksum in "ok" does not match).  "path" and
# "release" print the entry's directory and release (after "build"); "key"
# names the kernel by its inputs (the entry's name), built or not.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DSRC_PKG=linux-source-6.1
FRAGMENT=$TOP/scripts/debug.config
DCACHE=${VMMU_DEBUG_CACHE:-/var/cache/vmmu}

debug_dir() {
	local ver hash
	ver=$(dpkg-query -W -f='${Version}' "$DSRC_PKG" 2>/dev/null) ||
		die "$DSRC_PKG is not installed: run scripts/deps.sh"
	hash=$(sha256sum "$FRAGMENT" | cut -c1-12)
	echo "$DCACHE/debug-kernel-$ver-$hash"
}

# The files a boot and a module build need, and their checksums.
sums() {
	local dir=$1 rel
	rel=$(cat "$dir/release")
	(cd "$dir" && sha256sum "root/boot/vmlinuz-$rel" "root/lib/modules/$rel/modules.dep" \
		build/Module.symvers build/.config build/include/generated/autoconf.h \
		build/scripts/mod/modpost $(sed 's/:.*//' "root/lib/modules/$rel/modules.dep" |
			sed "s|^|root/lib/modules/$rel/|"))
}

valid() {
	local dir=$1
	[ -s "$dir/ok" ] && [ -s "$dir/release" ] || return 1
	(cd "$dir" && sha256sum --quiet --status -c ok) || return 1
}

build() {
	local dir src rel t0=$SECONDS jobs
	dir=$(debug_dir)
	if valid "$dir"; then
		say "debug kernel: cached in $dir"
		return 0
	fi
	[ -e "$dir" ] && say "debug kernel: $dir is incomplete or damaged: rebuilding"
	rm -rf "$dir" && mkdir -p "$dir"
	say "debug kernel: building $DSRC_PKG $(dpkg-query -W -f='${Version}' "$DSRC_PKG") in $dir (cold: about 20-30 min on 2 cores)"
	src=$dir/build
	mkdir -p "$src"
	top=linux-source-${DSRC_PKG#linux-source-}
	tar -xJf "/usr/src/$top.tar.xz" -C "$src" --strip-components=1
	jobs=$(nproc)
	km() { nice make -C "$src" -j"$jobs" LOCALVERSION=-vmmu-debug "$@"; }
	km -s defconfig kvm_guest.config >/dev/null
	cat "$FRAGMENT" >> "$src/.config"
	km -s olddefconfig 2> "$dir/config.log"
	# Every option the fragment sets must have stuck (a missing dependency
	# turns one off silently).
	local l o bad=0
	while IFS= read -r l; do
		case $l in
		CONFIG_*=*) grep -qxF "$l" "$src/.config" || { echo "not set: $l" >&2; bad=1; } ;;
		"# CONFIG_"*" is not set")
			o=${l#\# }; o=${o%% *}
			! grep -q "^$o=" "$src/.config" || { echo "still set: $o" >&2; bad=1; } ;;
		esac
	done < "$FRAGMENT"
	[ $bad = 0 ] || die "debug kernel: scripts/debug.config does not apply"
	km bzImage modules > "$dir/build.log" 2>&1 || {
		tail -n 30 "$dir/build.log" >&2
		die "debug kernel: build failed (log: $dir/build.log)"
	}
	rel=$(km -s kernelrelease)
	mkdir -p "$dir/root/boot"
	cp "$src/arch/x86/boot/bzImage" "$dir/root/boot/vmlinuz-$rel"
	km -s INSTALL_MOD_PATH="$dir/root" INSTALL_MOD_STRIP=1 modules_install >> "$dir/build.log" 2>&1
	rm -f "$dir/root/lib/modules/$rel/build" "$dir/root/lib/modules/$rel/source"
	# The tree stays for building vmmu.ko against it; its objects do not.
	find "$src" -name '*.o' -type f -delete
	rm -f "$src/vmlinux" "$src/vmlinux.a" "$src/arch/x86/boot/compressed/vmlinux"
	echo "$rel" > "$dir/release"
	sums "$dir" > "$dir/ok.tmp" && mv "$dir/ok.tmp" "$dir/ok"
	say "debug kernel: $rel built in $((SECONDS - t0)) s"
}

case ${1:-build} in
build) build ;;
path) debug_dir ;;
key) basename "$(debug_dir)" ;;
release) d=$(debug_dir); valid "$d" || die "debug kernel not built: run $0 build"; cat "$d/release" ;;
*) die "usage: $0 build|path|release|key" ;;
esac
