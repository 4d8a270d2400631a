// Command berth-chaos runs berth's chaos scenarios (package test/chaos)
// on a control plane of its own and prints a table: scenario, pods,
// violations, recovery time. It exits 1 if any invariant broke (or the
// harness failed), keeping the berth logs.
//
//	berth-chaos [--scenarios a,b] [--pods 60] [--volumes=true] [--recovery-timeout 3m] [--log-dir DIR]
//
// It needs the binaries of `make build` (bin/, or $BERTH_BIN_DIR).
package main
