// Package spread is the end-to-end test of PodTopologySpread: berth runs
// in-process against a real kube-apiserver (devcluster, via
// internal/testenv) over a three-zone fleet, and the spread of every
// workload is checked on the pods read back from the API server.
package spread
