// Command helmcheck lints and renders a Helm chart with Helm's own library
// packages (the v2 chart loader, the template engine and the linter), for
// berth's chart tests (test/integration/deploy). It replaces running the
// whole Helm CLI through `go run helm.sh/helm/v4/cmd/helm`, whose first
// build on a fresh machine took most of the first `make test`: the CLI
// links OCI registries, storage drivers, kubectl and a Wasm runtime that
// linting and rendering never use.
//
// It is a module of its own so that Helm's requirements (newer golang.org/x
// modules among them) never move the main module's, nor the kube module's
// that builds on it; its k8s.io requirements are the main module's
// versions, so their compiled packages are shared in the build cache.
//
//	helmcheck lint [--strict] [--namespace NS] [--set K=V]... CHART
//	helmcheck template NAME CHART [--namespace NS] [--set K=V]...
//
// lint --strict fails on warnings as `helm lint --strict` does; template
// prints the rendered manifests as `helm template` does (without CRDs,
// hooks included), for a first install of release NAME.
package main
