#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# debug-lane.sh needed|record
# Whether the debug lane (make check-debug) has passed for what it tests:
# the module's source, as the git tree id of module/ at HEAD, on the
# debug kernel, as the name of its cache entry (source package version
# and configuration: scripts/debug-kernel.sh key).
#   needed  exit 0 and say why if no pass is recorded for that pair, exit 1
#           and print the record if one is
#   record  after a pass of the whole lane: add the pair to .ci/debug-lane
#           (committed with the change, so that a fresh clone knows it) and
#           to $VMMU_DEBUG_CACHE/debug-lane-passed (this machine's runs)
# A working tree whose module/ differs from HEAD is never recorded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RECORD=$TOP/.ci/debug-lane
LOCAL=${VMMU_DEBUG_CACHE:-/var/cache/vmmu}/debug-lane-passed

key() {
	local tree kernel
	tree=$(git -C "$TOP" rev-parse HEAD:module) || die "not a git checkout"
	kernel=$("$TOP/scripts/debug-kernel.sh" key)
	echo "$tree $kernel"
}

found() {
	local k=$1 f
	for f in "$RECORD" "$LOCAL"; do
		[ -f "$f" ] && grep -m1 "^$k " "$f" && return 0
	done
	return 1
}

case ${1:-} in
needed)
	# Unable to tell is a reason to run it.
	k=$(key) || { echo "debug lane: no record to compare with"; exit 0; }
	if rec=$(found "$k"); then
		echo "debug lane: passed for module/ $k: $(cut -d' ' -f3- <<< "$rec")"
		exit 1
	fi
	echo "debug lane: no pass recorded for module/ ${k% *} on ${k#* }"
	;;
record)
	git -C "$TOP" diff --quiet HEAD -- module &&
		[ -z "$(git -C "$TOP" ls-files --others --exclude-standard module)" ] ||
		die "module/ differs from HEAD: commit it, then run the lane again"
	k=$(key)
	summary=${2:-}
	line="$k $(date -u +%Y-%m-%dT%H:%MZ) commit $(git -C "$TOP" rev-parse --short HEAD)${summary:+ $summary}"
	mkdir -p "$(dirname "$LOCAL")"
	echo "$line" >> "$LOCAL"
	grep -q "^$k " "$RECORD" 2>/dev/null || echo "$line" >> "$RECORD"
	echo "debug lane: recorded in .ci/debug-lane (commit it) and $LOCAL:"
	echo "  $line"
	;;
*) die "usage: $0 needed|record [summary]" ;;
esac
