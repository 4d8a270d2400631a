// Package bench is berth's benchmark harness: for each workload it starts a
// fresh local control plane (devcluster), creates the nodes, and runs the
// stock kube-scheduler, berth, and a raw bind ceiling in turn against the
// same cluster (plus, where a workload asks, berth's kube-scheduler shells:
// berth-extender and plugin-mode), measuring from the API server's watch
// stream.
package bench
