// Package chaos is berth's fault-injection harness (issue 20): it runs the
// real bin/berth against the real local control plane (devcluster), keeps
// a steady workload flowing (plain pods, inter-pod affinity and
// anti-affinity, volumes from devcluster's local provisioner, gangs of
// Kubernetes' scheduling.k8s.io PodGroups and shared GPUs) and injects one
// fault at a time: a kube-apiserver or etcd restart, watch streams cut or
// stalled by a TCP proxy, a competing scheduler binding the same pods,
// nodes deleted, cordoned, relabelled and tainted mid-burst, the leader
// SIGKILLed with binds in flight, berth SIGKILLed and restarted, watch
// events held back longer than the assumed-pod TTL, and 429, 500 and 409
// answers injected on binds by a TLS-terminating proxy. docs/chaos.md
// describes each.
//
// After each scenario the invariants of Check are judged from what the API
// showed (a watch records every pod's node transitions and every node's
// lifetime; the final state is read back) and from berth's /metrics: no
// pod bound twice or to a node that did not exist, every pod bound in the
// end, no node's allocatable exceeded, no assumed pod left in berth's
// cache, no gang partially bound, no GPU card oversubscribed. The time
// from the end of the fault to the last pod bound is the scenario's
// recovery time.
//
// The checker is plain code over plain data (Record), unit tested with
// forged histories; the harness (Harness, Scenario) needs the binaries of
// `make build`. cmd/berth-chaos runs every scenario and prints a table;
// TestChaosShort runs two of them under go test.
//
// The harness starts berth processes itself rather than through
// internal/berthtest, whose helpers take a *testing.T: the command has
// none.
package chaos
