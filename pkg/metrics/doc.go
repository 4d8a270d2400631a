// Package metrics defines berth's Prometheus metrics. All of them live on a
// registry that main injects (never the global default registry), carry the
// berth_ prefix, and follow kube-scheduler's metric names where the meaning
// is the same, so existing dashboards translate by changing the prefix.
package metrics
