#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# dkms.sh install [KVER]  register vmmu with DKMS, build and install it for
#                         KVER (default: the running kernel)
# dkms.sh remove          uninstall from every kernel and unregister
# dkms.sh test KVER       the check suite's lane: add, build, install, verify
#                         the installed module, remove, verify it is gone
set -euo pipefail
. "$(dirname "$0")/lib.sh"

name=vmmu
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
src=/usr/src/$name-$ver

registered() { [ -n "$(dkms status -m "$name" -v "$ver" 2>/dev/null)" ]; }

add() {
	registered && die "$name/$ver is already registered with DKMS (dkms.sh remove)"
	stage_sources "$src"
	dkms add -m "$name" -v "$ver"
}

remove() {
	if registered; then
		dkms remove -m "$name" -v "$ver" --all
	fi
	rm -rf "$src"
}

verify_installed() {
	local k=$1 path magic
	path=$(modinfo -k "$k" -n "$name") || die "modinfo finds no $name for $k"
	case $path in
	/lib/modules/"$k"/updates/dkms/"$name".ko*) ;;
	*) die "$name for $k resolves to $path, not updates/dkms" ;;
	esac
	magic=$(modinfo -k "$k" -F vermagic "$name")
	[ "${magic%% *}" = "$k" ] || die "vermagic '$magic' is not for $k"
	[ "$(modinfo -k "$k" -F version "$name")" = "$ver" ] || die "wrong version"
	say "installed: $path ($magic)"
}

verify_removed() {
	local k=$1
	if modinfo -k "$k" -n "$name" >/dev/null 2>&1; then
		die "$name still resolvable for $k after removal"
	fi
	ls /lib/modules/"$k"/updates/dkms/"$name".ko* >/dev/null 2>&1 &&
		die "$name.ko left in /lib/modules/$k/updates/dkms"
	registered && die "$name/$ver still registered"
	[ ! -e "$src" ] || die "$src left behind"
	say "removed cleanly from $k"
}

case ${1:-} in
install)
	k=${2:-$(uname -r)}
	registered || add
	dkms build -m "$name" -v "$ver" -k "$k"
	dkms install -m "$name" -v "$ver" -k "$k"
	verify_installed "$k"
	;;
remove)
	remove
	;;
test)
	k=${2:?kernel release}
	[ "$(id -u)" = 0 ] || die "the DKMS lane installs into /lib/modules: run as root"
	add
	trap remove EXIT
	dkms build -m "$name" -v "$ver" -k "$k"
	dkms install -m "$name" -v "$ver" -k "$k"
	verify_installed "$k"
	trap - EXIT
	remove
	verify_removed "$k"
	;;
*)
	sed -n 's/^# \{0,1\}//p' "$0" | sed -n '3,8p'
	exit 2
	;;
esac
