# syntax=docker/dockerfile:1
#
# berth's image: a static binary on distroless/static, running as nonroot.
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t ghcr.io/berthsched/berth:dev .
# The binary is built with CGO_ENABLED=0; test/integration/deploy's
# TestStaticBinary checks that such a build has no dynamic loader and no
# shared-library dependencies.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that source changes reuse the module layer.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG VERSION=v0.0.0-dev
ARG GIT_COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/berthsched/berth/pkg/version.Version=${VERSION} -X github.com/berthsched/berth/pkg/version.GitCommit=${GIT_COMMIT}" \
      -o /out/berth ./cmd/berth

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/berth /berth
# 65532 is distroless' "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/berth"]
CMD ["run"]
