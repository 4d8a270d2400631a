#!/usr/bin/env bash
# ensure-prometheus.sh [BIN] — make sure BIN/prometheus (default <repo>/bin)
# is a working Prometheus server binary, for the load-aware scheduling tests
# (internal/promtest runs a real Prometheus), and BIN/promtool its rule
# checker, for the alerting rules test (test/integration/deploy).
#
# Nothing is installed system-wide and no service is started: the Debian
# package's binaries are unpacked into BIN. In order of preference:
#   1. BIN/prometheus and BIN/promtool already run: nothing to do (silent).
#   2. a prometheus and a promtool on PATH run: copy them.
#   3. apt-get download prometheus (running apt-get update once first if the
#      package lists are missing and we are root), dpkg-deb -x, copy
#      usr/bin/prometheus and usr/bin/promtool.
# Any Prometheus 2.x or newer works; to provide it by hand, put the binaries
# at BIN/prometheus and BIN/promtool.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$repo/bin}
dest=$BIN/prometheus
tool=$BIN/promtool

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if works "$dest" && works "$tool"; then
	exit 0
fi

fail() {
	echo "ensure-prometheus: $*" >&2
	cat >&2 <<EOF
ensure-prometheus: to provide it by hand, install a Prometheus 2.x (or newer)
  server binary at $dest, e.g.
    sudo apt-get install prometheus && cp /usr/bin/prometheus $dest
  or unpack a release from https://github.com/prometheus/prometheus/releases
  and copy its prometheus binary there.
EOF
	exit 1
}

mkdir -p "$BIN"
# Install atomically: a concurrent run never sees a half-written binary.
# install_bin SRC FROM [DEST]
install_bin() {
	local to=${3:-$dest}
	cp "$1" "$to.tmp.$$"
	chmod 0755 "$to.tmp.$$"
	mv -f "$to.tmp.$$" "$to"
	works "$to" || fail "$to was installed from $2 but does not run ($to --version failed)"
	echo "ensure-prometheus: $to from $2 ($("$to" --version 2>&1 | head -n1))"
}

if onpath=$(command -v prometheus 2>/dev/null) && works "$onpath" &&
	toolpath=$(command -v promtool 2>/dev/null) && works "$toolpath"; then
	install_bin "$onpath" "$onpath"
	install_bin "$toolpath" "$toolpath" "$tool"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
	fail "no $dest, no prometheus on PATH, and no apt-get/dpkg-deb to fetch Debian's prometheus package"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download as root warns that the _apt user cannot write the
# directory and downloads unsandboxed: harmless, so let _apt write it.
chmod 0777 "$tmp"

download() { (cd "$tmp" && apt-get download prometheus) >"$tmp/apt.log" 2>&1; }

echo "ensure-prometheus: fetching Debian's prometheus package (about 19 MB) for $dest"
if ! download; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "ensure-prometheus: apt-get download failed; running apt-get update once and retrying"
		apt-get update >"$tmp/update.log" 2>&1 || {
			cat "$tmp/update.log" >&2
			fail "apt-get update failed"
		}
		download || { cat "$tmp/apt.log" >&2; fail "apt-get download prometheus failed after apt-get update"; }
	else
		cat "$tmp/apt.log" >&2
		fail "apt-get download prometheus failed (if the package lists are missing, run sudo apt-get update and retry)"
	fi
fi

deb=$(ls "$tmp"/prometheus_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "apt-get download prometheus left no prometheus_*.deb"
dpkg-deb -x "$deb" "$tmp/root" || fail "dpkg-deb -x $(basename "$deb") failed"
[ -f "$tmp/root/usr/bin/prometheus" ] || fail "$(basename "$deb") has no usr/bin/prometheus"
[ -f "$tmp/root/usr/bin/promtool" ] || fail "$(basename "$deb") has no usr/bin/promtool"
install_bin "$tmp/root/usr/bin/prometheus" "$(basename "$deb")"
install_bin "$tmp/root/usr/bin/promtool" "$(basename "$deb")" "$tool"
