#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build chroots for the kernels of scripts/kernels.list that come from
# another Debian suite (sid).  Such a kernel is built with its own compiler
# and kbuild helpers, which need that suite's C library, so its headers, its
# compiler, dkms and sparse are installed in a minimal chroot of the suite
# (debootstrap), never on this machine.  The chroot is cached outside the
# clone, in $VMMU_CHROOT_CACHE (default /var/cache/vmmu), under a key made
# of the suite, the headers package and version, and the package list; it
# is made again when the key changes or when it fails its health check.
# The kernel's modules are installed there too (as on a machine that runs
# that kernel), so that DKMS's depmod and modinfo see a real module tree.
# A chroot no run has used for 30 days is deleted when another is made.
#
# chroot.sh resolve LABEL    resolve LABEL's kernel in its suite: the pinned
#                            version, else the newest of the same major
#                            (said loudly)
# chroot.sh setup LABEL      make or check the chroot of the resolved kernel
# chroot.sh run LABEL CMD... run CMD as root in LABEL's chroot, with the
#                            clone at /vmmu (read-only) and the cache at
#                            /vmmu-cache; /proc is mounted
# chroot.sh dkms LABEL       the dkms lane in LABEL's chroot
# chroot.sh dir LABEL        print the path of LABEL's chroot
#
# Mounts are made in a private mount namespace (unshare), so they vanish
# with the command, whatever happens to it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CHROOT_CACHE=${VMMU_CHROOT_CACHE:-/var/cache/vmmu}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What the chroot needs besides the headers (which bring the kernel's
# compiler and kbuild helpers).  Changing this list changes the key.
TOOLS=(make dkms sparse cpio kmod openssl)
# Bumped when the way a chroot is made changes.
RECIPE=2

# The resolved kernel of LABEL: sets suite, pkg, ver, rel.
load_resolved() {
	local r
	r=$(kernel_resolved "$1") || exit 1
	read -r suite pkg ver rel <<< "$r"
}

chroot_key() {
	echo "recipe=$RECIPE suite=$1 headers=$2=$3 tools=${TOOLS[*]}" |
		sha256sum | cut -c1-12
}

# chroot_exec ROOT CMD...: run CMD in the chroot at ROOT.
chroot_exec() {
	local root=$1
	shift
	mkdir -p "$CACHE"
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1 top=$2 cache=$3
		shift 3
		mount -t proc proc "$root/proc"
		mount -t devpts -o newinstance devpts "$root/dev/pts" 2>/dev/null || true
		mount --bind "$top" "$root/vmmu"
		mount -o remount,bind,ro "$root/vmmu"
		mount --bind "$cache" "$root/vmmu-cache"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
			VMMU_CACHE=/vmmu-cache "$@"' chroot-exec "$root" "$TOP" "$CACHE" "$@"
}

# Is the chroot at $1 complete and working, for key $2?
healthy() {
	local root=$1 key=$2 cc
	[ "$(cat "$root/.vmmu-key" 2>/dev/null)" = "$key" ] || return 1
	[ -c "$root/dev/null" ] && [ -d "$root/vmmu" ] && [ -d "$root/vmmu-cache" ] || return 1
	[ -f "$root/usr/src/linux-headers-$rel/Makefile" ] || return 1
	# The compiler the kernel was built with, as its headers name it.
	cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\{0,1\}\([^ ]*\).*/\1/p' \
		"$root/usr/src/linux-headers-$rel/include/config/auto.conf" 2>/dev/null)
	[ -n "$cc" ] || return 1
	chroot_exec "$root" /bin/sh -c '
		cc=$1 pkg=$2 ver=$3
		shift 3
		[ -z "$(dpkg --audit)" ] || exit 1
		for p in "$pkg" "$@"; do
			[ "$(dpkg-query -W -f="\${Status}" "$p")" = "install ok installed" ] || exit 1
		done
		[ "$(dpkg-query -W -f="\${Version}" "$pkg")" = "$ver" ] || exit 1
		"$cc" --version' sh "$cc" "$pkg" "$ver" "${TOOLS[@]}" > /dev/null 2>&1
}

# The package with the kernel's modules: split out of the image package in
# newer Debian kernels.
modules_pkg() {
	if suite_apt "$suite" apt-cache show "linux-modules-$rel=$ver" > /dev/null 2>&1; then
		echo "linux-modules-$rel"
	else
		echo "linux-image-$rel"
	fi
}

# Delete chroots that no run has used for 30 days (and that nobody holds).
prune() {
	local old lock
	for old in "$CHROOT_CACHE"/chroot-*/.vmmu-used; do
		[ -f "$old" ] && [ -n "$(find "$old" -mtime +30)" ] || continue
		old=${old%/.vmmu-used} lock=${old}.lock
		(
			flock -n 9 || exit 0
			say "deleting $old, unused for 30 days"
			rm -rf --one-file-system "$old"
			rm -f "$lock"
		) 9> "$lock"
	done
}

# Make the chroot for the resolved kernel at $1 (from scratch).
make_chroot() {
	local root=$1 key=$2 tmp=$1.new mirror start=$SECONDS
	mirror=$(debian_mirror)
	say "making the $suite build chroot for $pkg $ver in $root (from $mirror)"
	rm -rf --one-file-system "$tmp"
	mkdir -p "$tmp"
	debootstrap --variant=minbase --keyring="$KEYRING" "$suite" "$tmp" "$mirror" \
		> "$tmp.log" 2>&1 || die "debootstrap of $suite failed: see $tmp.log"
	# The chroot's apt follows this machine's policy on expired Release
	# files and proxies, so that it reaches what this machine reaches.
	apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|(http|https|ftp)::Proxy) ' \
		> "$tmp/etc/apt/apt.conf.d/99vmmu-host" || true
	mkdir -p "$tmp/vmmu" "$tmp/vmmu-cache"
	# The kernel's packages fetched for the emulated machine spare
	# downloading them again (apt checks them against the index).
	cp "$CACHE/kernels/$rel"/*.deb "$tmp/var/cache/apt/archives/" 2>/dev/null || true
	chroot_exec "$tmp" /bin/sh -c 'apt-get update -qq &&
		INITRD=No apt-get install -y -qq --no-install-recommends "$@" &&
		apt-get clean' sh "$pkg=$ver" "$(modules_pkg)=$ver" "${TOOLS[@]}" >> "$tmp.log" 2>&1 ||
		die "installing $pkg=$ver $(modules_pkg)=$ver ${TOOLS[*]} in the $suite chroot failed: see $tmp.log"
	chroot_exec "$tmp" dpkg-query -W > "$tmp/.vmmu-packages"
	echo "$key" > "$tmp/.vmmu-key"
	mv "$tmp.log" "$tmp/.vmmu-setup.log"
	mv "$tmp" "$root"
	say "chroot ready in $((SECONDS - start)) s: $(grep -E '^(gcc-[0-9]+|dkms|sparse|libc6(:amd64)?)\s' \
		"$root/.vmmu-packages" | tr '\t\n' '  ')"
}

# Run "$@" with the chroot of the resolved kernel locked against other
# runs (from other clones) that would make it or use its DKMS state.
with_lock() {
	local lock=$CHROOT_CACHE/chroot-$(chroot_key "$suite" "$pkg" "$ver").lock
	mkdir -p "$CHROOT_CACHE"
	exec 9> "$lock"
	flock -w 3600 9 || die "waited an hour for $lock"
	"$@"
}

ensure_chroot() {
	local key root
	key=$(chroot_key "$suite" "$pkg" "$ver")
	root=$CHROOT_CACHE/chroot-$key
	if ! healthy "$root" "$key"; then
		[ -e "$root" ] && say "chroot $root is incomplete or damaged: making it again" &&
			rm -rf --one-file-system "$root"
		prune
		make_chroot "$root" "$key"
		healthy "$root" "$key" || die "the new chroot $root fails its health check"
	fi
	touch "$root/.vmmu-used"
}

# The newest headers package of flavour $3 and major version $2 in suite
# $1: prints "package version", or nothing.
newest_headers() {
	local suite=$1 major=$2 flavour=$3 p v best= bestv=
	for p in $(suite_apt "$suite" apt-cache pkgnames "linux-headers-$major." |
		grep -E "^linux-headers-$major\.[0-9]+(\.[0-9]+)?\+[a-z0-9]+-$flavour\$"); do
		v=$(suite_apt "$suite" apt-cache show --no-all-versions "$p" |
			sed -n 's/^Version: //p' | head -n 1)
		[ -n "$v" ] || continue
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bestv"; then
			best=$p bestv=$v
		fi
	done
	[ -n "$best" ] && echo "$best $bestv"
	return 0
}

loud() {
	printf '\n!!! %s\n\n' "$*" >&2
	echo "$*" >> "$note"
}

# Resolve LABEL: the pinned headers when the suite still has them (or when
# they are cached here), else the newest of the same major version.
resolve() {
	local label=$1 want wantv dir newest key
	suite=$(kernel_suite "$label") want=$(kernel_meta "$label") wantv=$(kernel_pin "$label")
	[ -n "$suite" ] || die "kernel $label is not from another suite"
	note=$CACHE/kernels/$label.note
	mkdir -p "$CACHE/kernels"
	: > "$note"
	dir=$CACHE/apt-$suite
	mkdir -p "$dir/lists/partial"
	echo "deb [signed-by=$KEYRING] $(debian_mirror) $suite main" > "$dir/sources.list"
	pkg=$want ver=$wantv rel=${want#linux-headers-}
	key=$(chroot_key "$suite" "$pkg" "$ver")
	if ! suite_apt "$suite" apt-get update -qq --error-on=any > "$dir/update.log" 2>&1; then
		healthy "$CHROOT_CACHE/chroot-$key" "$key" ||
			die "cannot read the $suite package index (see $dir/update.log) and $pkg $ver is not cached"
		loud "kernel $label: could not refresh the $suite index (see $dir/update.log); testing the cached $pkg $ver"
	elif ! suite_apt "$suite" apt-cache show "$pkg=$ver" > /dev/null 2>&1; then
		if healthy "$CHROOT_CACHE/chroot-$key" "$key" &&
			[ -f "$CACHE/kernels/$rel/root/lib/modules/$rel/modules.dep" ]; then
			loud "kernel $label: the pinned $pkg $ver has left $suite; testing the copy cached here. Roll forward: docs/testing.md"
		else
			newest=$(newest_headers "$suite" "${label%%.*}" "${want##*-}")
			[ -n "$newest" ] ||
				die "kernel $label: the pinned $pkg $ver has left $suite, and $suite has no other ${label%%.*}.x kernel"
			read -r pkg ver <<< "$newest"
			rel=${pkg#linux-headers-}
			loud "kernel $label: the pinned $want $wantv has left $suite; testing the newest one there, $pkg $ver, instead. Roll forward: docs/testing.md"
		fi
	fi
	echo "$suite $pkg $ver $rel" > "$(kernel_resolved_file "$label")"
	[ -s "$note" ] || rm -f "$note"
}

cmd=${1:-}
[ $# -ge 2 ] || { sed -n 's/^# \{0,1\}//p' "$0" | sed -n '/^chroot.sh setup/,/print the path/p'; exit 2; }
label=$2
shift 2
case $cmd in
resolve)
	resolve "$label"
	;;
setup)
	[ "$(id -u)" = 0 ] || die "making a build chroot needs root"
	load_resolved "$label"
	with_lock ensure_chroot
	;;
run)
	load_resolved "$label"
	chroot_exec "$CHROOT_CACHE/chroot-$(chroot_key "$suite" "$pkg" "$ver")" "$@"
	;;
dkms)
	load_resolved "$label"
	# The chroot is the harness's own: a registration left there by an
	# interrupted run is removed first.
	dkms_lane() {
		local root=$CHROOT_CACHE/chroot-$(chroot_key "$suite" "$pkg" "$ver")
		chroot_exec "$root" /vmmu/scripts/dkms.sh remove
		chroot_exec "$root" /vmmu/scripts/dkms.sh test "$rel"
	}
	with_lock dkms_lane
	;;
dir)
	load_resolved "$label"
	echo "$CHROOT_CACHE/chroot-$(chroot_key "$suite" "$pkg" "$ver")"
	;;
*)
	die "unknown command '$cmd' (see the top of $0)"
	;;
esac
