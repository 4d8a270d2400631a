// Package shells holds the "one decision, three shells" integration test:
// the same workload (a small slice of the openb GPU trace and the
// node-preference cases) placed by standalone berth (berth run), by
// kube-scheduler-berth (berth's plugins inside kube-scheduler) and by the
// stock kube-scheduler calling berth extender, one shell at a time on one
// real control plane, and the node and card choices compared pod by pod.
//
// It exists because the three shells are one placement logic behind
// three front ends: a difference between them is a bug in an adapter,
// which no single-shell test can see. Gangs are left out: plugin mode and
// the extender do not run GangScheduling (docs/modes.md says so).
package shells
