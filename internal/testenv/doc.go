// Package testenv owns the per-test-binary control plane used by the main
// module's integration tests: it starts "bin/devcluster serve" (built from
// the kube module) as a child process on free ports with a temporary data
// directory, waits until the API server is ready, and hands tests a
// client.
//
// It exists so the main module can run tests against a real API server
// without importing k8s.io/kubernetes or etcd: the control plane is a
// separate binary and this package only speaks client-go to it. Each test
// binary gets its own control plane, so packages may run in parallel.
// The child is started with Pdeathsig, so a killed test binary leaves no
// processes behind.
//
// The binaries are found in $BERTH_BIN_DIR, or else in the bin directory
// at the repository root; build them with "make build".
package testenv
