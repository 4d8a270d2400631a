// Package core evaluates one pod against one snapshot with one profile:
// PreFilter, Filter over a (sampled) set of nodes, PreScore, Score and the
// choice of a node. It is the deterministic heart every berth mode shares:
// `berth run` wraps it with the queue, the cache and the binding cycle;
// `berth explain` runs it on a snapshot of the live cluster; simulation and
// the extender call it on their own snapshots.
//
// Everything that would make an evaluation depend on who calls it is passed
// in: the random source that breaks score ties, the node index the sample
// starts from (and the one the next evaluation should start from, returned),
// the nominated pods, and the equivalence memo. The core starts no
// goroutines beyond its bounded parallel loops over nodes, does no I/O and
// keeps no state between calls; with Parallelism 1, or with
// EvaluateAllNodes, the same Request always gives the same Result.
//
// There is one way to run the filters on a node (FilterNode): the
// scheduling loop, nominated pods, the memo, preemption's what-if
// (FilterRunner) and the test helpers all go through it.
//
// The result carries a framework.Diagnosis: every rejected node's status
// with the plugin that gave it, and the best feasible nodes' scores broken
// down by plugin. The FailedScheduling message is rendered from it.
package core
