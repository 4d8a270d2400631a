#!/usr/bin/env bash
# verify-release.sh VERSION COMMIT OUT — checks what hack/release.sh wrote:
# each archive holds exactly an executable kubectl-berth for its platform
# (ELF machine read from the header), SHA256SUMS matches, the krew manifest
# names every archive with its sha256 and has no placeholder left, the
# amd64 binary prints the stamped version and commit (and acts as the
# kubectl plugin), and every image in the OCI layout holds that platform's
# binary (hack/ocibuild verify).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:?VERSION}
COMMIT=${2:?COMMIT}
OUT=$(cd "${3:?OUT}" && pwd)
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
fail() { echo "verify-release: $*" >&2; exit 1; }

(cd "$OUT" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the archives"
manifest=$OUT/krew/berth.yaml
grep -q '{{' "$manifest" && fail "$manifest still has placeholders: $(grep -n '{{' "$manifest")"
grep -q "version: \"$VERSION\"" "$manifest" || fail "$manifest does not carry version $VERSION"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
image_args=()
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	archive=kubectl-berth_${VERSION}_${os}_${arch}.tar.gz
	[ "$(tar -tzf "$OUT/$archive")" = kubectl-berth ] || fail "$archive holds $(tar -tzf "$OUT/$archive" | tr '\n' ' '), want only kubectl-berth"
	mkdir -p "$tmp/$arch"
	tar -xzf "$OUT/$archive" -C "$tmp/$arch"
	bin=$tmp/$arch/kubectl-berth
	[ -x "$bin" ] || fail "$archive: kubectl-berth is not executable"
	# ELF e_machine at offset 18: 0x3e x86-64, 0xb7 aarch64.
	machine=$(od -An -tx1 -j18 -N2 "$bin" | tr -d ' \n')
	case $arch in
	amd64) want=3e00 ;;
	arm64) want=b700 ;;
	*) want=$machine ;;
	esac
	[ "$machine" = "$want" ] || fail "$archive: ELF machine $machine, want $want for $arch"
	sum=$(sha256sum "$OUT/$archive" | cut -d' ' -f1)
	grep -q "uri: .*/releases/download/$VERSION/$archive\$" "$manifest" || fail "$manifest has no uri for $archive"
	grep -A1 "/$archive\$" "$manifest" | grep -q "sha256: \"$sum\"" || fail "$manifest: $archive's sha256 is not $sum"
	image_args+=("$p=$bin")
	echo "verify-release: $archive ok ($arch ELF, sha256 $sum)"
done

if [ "$(go env GOARCH)" = amd64 ] && [ -d "$tmp/amd64" ]; then
	out=$("$tmp/amd64/kubectl-berth" version)
	case $out in *"$VERSION"*"$COMMIT"* | *"$COMMIT"*"$VERSION"*) ;; *) fail "kubectl-berth version printed '$out', want $VERSION and $COMMIT" ;; esac
	"$tmp/amd64/kubectl-berth" --help 2>&1 | grep -q "kubectl berth" || fail "kubectl-berth --help does not name itself kubectl berth"
	echo "verify-release: kubectl-berth version: $out"
fi

(cd "$repo/hack/ocibuild" && go run . verify --out "$OUT/image" "${image_args[@]}")
echo "verify-release: all artefacts of $VERSION verified in $OUT"
