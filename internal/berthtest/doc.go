// Package berthtest runs a real berth in-process for integration tests:
// the same app.Run as `berth run`, against the test package's control
// plane, stopped (and its error checked) when the test ends.
package berthtest
