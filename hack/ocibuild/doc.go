// Command ocibuild assembles berth's container image for several platforms
// without a container daemon: an OCI image layout (an index with one image
// per platform) holding the static binary as /berth, run as the numeric
// nonroot user 65532 with `run` as the default command, like the
// Dockerfile's distroless image. `make release` runs it on the binaries it
// built; push the layout with any OCI tool (crane push --index, skopeo copy
// oci:dist/image …).
//
// The image is FROM scratch: the build machine may reach no registry, and
// berth needs nothing from a base image (a static binary; the cluster's CA
// comes with the service account token).
//
//	ocibuild build --out DIR --tag REF --created RFC3339 linux/amd64=BIN linux/arm64=BIN
//	ocibuild verify --out DIR linux/amd64=BIN linux/arm64=BIN
//
// verify reads the layout back and checks that each platform's image
// holds exactly that binary, with the expected entrypoint and user.
//
// It is a module of its own so that go-containerregistry never enters the
// main module's dependencies.
package main
