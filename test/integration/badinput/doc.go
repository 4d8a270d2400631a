// Package badinput is the bad-input catalogue's test: pods with invalid
// or conflicting scheduling annotations, PodGroups with a zero, negative
// or unreachable minimum, and configurations with every kind of mistake,
// each given to a real berth on a real API server.
//
// It exists because a scheduler that serves a whole cluster meets every
// mistake its users can write, and each must come back to them as a
// specific message (an event on the pod, an error from the API server or
// from berth at startup) while everything else keeps being scheduled:
// the test creates a healthy workload beside the bad one and requires
// all of it bound. docs/bad-input.md lists the messages the test
// asserts.
package badinput
