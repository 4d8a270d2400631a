#!/usr/bin/env bash
# release.sh VERSION COMMIT OUT — berth's release artefacts, for `make release`:
#   OUT/kubectl-berth_VERSION_linux_{amd64,arm64}.tar.gz  static binaries
#       (CGO_ENABLED=0, -trimpath, stripped, version stamped) named
#       kubectl-berth, so that kubectl runs them as `kubectl berth`; the
#       same binary is berth's scheduler (`berth run`)
#   OUT/SHA256SUMS                                        sha256 of the archives
#   OUT/krew/berth.yaml                                   plugins/krew/berth.yaml
#       with the version and the archives' sha256s filled in
#   OUT/image/                                            OCI image layout: one
#       index, an image per platform, /berth as entrypoint (hack/ocibuild;
#       no container daemon needed)
#   OUT/berth-image-VERSION.oci.tar                       the layout as one tarball
# then checks them all (hack/verify-release.sh).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:?VERSION}
COMMIT=${2:?COMMIT}
OUT=${3:?OUT}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
IMAGE=${IMAGE:-ghcr.io/berthsched/berth}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/build" "$OUT/krew" "$OUT/image" "$OUT"/kubectl-berth_*.tar.gz "$OUT/SHA256SUMS"

ldflags="-s -w -X github.com/berthsched/berth/pkg/version.Version=$VERSION -X github.com/berthsched/berth/pkg/version.GitCommit=$COMMIT"
# The commit's time, so that rebuilding a release gives the same bytes.
created=$(git -C "$repo" log -1 --format=%cI "$COMMIT" 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
image_args=()
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	dir=$OUT/build/${os}_${arch}
	mkdir -p "$dir"
	echo "release: building kubectl-berth $VERSION for $p"
	(cd "$repo" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$dir/kubectl-berth" ./cmd/berth)
	# Reproducible archive: fixed owner, mode and time.
	tar --sort=name --owner=0 --group=0 --numeric-owner --mode=0755 --mtime="$created" \
		-C "$dir" -czf "$OUT/kubectl-berth_${VERSION}_${os}_${arch}.tar.gz" kubectl-berth
	image_args+=("$p=$dir/kubectl-berth")
done

(cd "$OUT" && sha256sum kubectl-berth_*.tar.gz >SHA256SUMS)

mkdir -p "$OUT/krew"
sed_args=(-e "s/{{VERSION}}/$VERSION/g")
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	sum=$(sha256sum "$OUT/kubectl-berth_${VERSION}_${os}_${arch}.tar.gz" | cut -d' ' -f1)
	key=$(echo "SHA256_${os}_${arch}" | tr '[:lower:]' '[:upper:]')
	sed_args+=(-e "s/{{$key}}/$sum/g")
done
sed "${sed_args[@]}" "$repo/plugins/krew/berth.yaml" >"$OUT/krew/berth.yaml"

echo "release: image $IMAGE:$VERSION for $PLATFORMS (OCI layout, no daemon)"
(cd "$repo/hack/ocibuild" && go run . build --out "$OUT/image" --tag "$IMAGE:$VERSION" --created "$created" "${image_args[@]}")
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$created" -C "$OUT/image" -cf "$OUT/berth-image-$VERSION.oci.tar" .

bash "$repo/hack/verify-release.sh" "$VERSION" "$COMMIT" "$OUT"
