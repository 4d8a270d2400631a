// Package explain tests `berth explain` end to end: a real kube-apiserver
// (devcluster, via internal/testenv), berth running in-process so the pod
// really is pending with berth's own FailedScheduling condition, and the
// explain command reading the cluster through its informers. The
// counterfactual it prints is then carried out on the cluster and must
// come true.
package explain
