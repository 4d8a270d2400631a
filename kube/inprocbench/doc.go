// Package inprocbench runs kube-scheduler v1.37 and berth side by side, in
// one process, on the same generated cluster, so that their CPU cost per
// scheduled pod can be compared without an API server in the way.
//
// Generate builds a cluster (nodes in three zones, pods already bound, and
// the pods to schedule) for one of the Workloads, whose shapes follow
// kube-scheduler's scheduler_perf performance-config.yaml. StartKube and
// StartBerth each build one scheduler over its own fake clientset holding
// that cluster, fed through informers exactly as a real deployment is;
// binds are answered by the fake at once and recorded. Measure drives the
// scheduler's ScheduleOne loop over every pending pod, waits until each
// one is bound, and returns the wall and process CPU time (all goroutines
// and GC included). Check then verifies every pending pod was bound and
// the workload's constraint holds, so a number cannot come from pods that
// were skipped.
//
// The benchmark is BenchmarkSideBySide; TestSideBySideSmoke keeps it from
// rotting. Results and the command that produced them are in
// docs/inprocess-bench.md.
package inprocbench
