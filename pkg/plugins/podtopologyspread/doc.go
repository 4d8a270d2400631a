// Package podtopologyspread provides PodTopologySpread: it spreads the pods
// that match a selector across topology domains (zones, hosts, ...) as the
// pod's topologySpreadConstraints, or the cluster's default constraints,
// ask.
//
// DoNotSchedule constraints are enforced by PreFilter and Filter: a node is
// rejected when placing the pod there would leave its domain more than
// maxSkew matching pods above the emptiest eligible domain. ScheduleAnyway
// constraints are preferences scored by PreScore, Score and NormalizeScore:
// fewer matching pods in a node's domains is better. The verdicts, reasons
// and normalised scores are kube-scheduler v1.37's.
//
// # Counting incrementally
//
// kube-scheduler counts matching pods by visiting every pod of every node
// for every pod it schedules. berth keeps those counts in a tally (see
// tally.go) keyed by everything that decides them: the namespace, each
// constraint's topology key, selector and node inclusion policies, and the
// pod's node affinity and tolerations when a policy honours them. Pods of
// one workload share a tally; each scheduling cycle revisits only the nodes
// whose NodeInfo.Generation moved since the tally last saw them. The cycle
// state gets an immutable view (the node-to-domain layout, shared, and a
// copy of the per-domain totals), so Filter and Score read without locks
// and preemption can clone the state cheaply.
package podtopologyspread
