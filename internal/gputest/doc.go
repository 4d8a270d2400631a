// Package gputest holds what the GPU-sharing integration tests share:
// a test's own GPU nodes (nodegen's gpu profile) and namespace, pods
// asking for shares or whole cards, and the check that every bound pod's
// berth.io/gpu-assignment matches its ask and that no card is
// oversubscribed. The standalone (test/integration/gpu) and extender
// (test/integration/extender) tests use it, so all shells are held to one
// contract.
package gputest
