// Package upstream reads kube-scheduler's own benchmark definitions, the
// scheduler_perf performance-config.yaml files shipped in the
// k8s.io/kubernetes module (test/integration/scheduler_perf/**), as plain
// YAML, without importing k8s.io/kubernetes: test cases, their workloads
// (params, labels, the published threshold) and the operation list each
// workload runs. It resolves a chosen workload's parameters (optionally
// scaled down) into a list of Ops and renders the text/template files the
// ops refer to. Running the ops against a cluster is the harness's job
// (test/bench, --suite upstream).
package upstream
