// Package foundation holds the integration tests that prove the test
// foundation itself works against a real API server: the devcluster
// control plane started by internal/testenv, the synthetic nodes made by
// internal/nodegen, and binding a pod through the Binding subresource the
// way the scheduler does.
package foundation
