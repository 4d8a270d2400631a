// Package nodegen owns the synthetic-node generator used to populate a test
// control plane with realistic Node objects: capacity and allocatable,
// well-known topology labels, a Ready condition, and no not-ready taint.
//
// It exists so that the devcluster CLI, the integration tests and the
// benchmark harness all create identical fleets from one implementation. It
// depends only on client-go, so the main module can use it without pulling
// in k8s.io/kubernetes.
package nodegen
