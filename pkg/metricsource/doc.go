// Package metricsource feeds berth's load-aware scoring with measured
// node utilisation. A Source is a small runnable: started once per
// process (Shared), it refreshes on its own period and publishes an
// immutable load.Snapshot that scheduling cycles read without locks and
// without I/O. Three sources exist: the Prometheus HTTP API (PromQL per
// resource, through the official Go client), metrics.k8s.io NodeMetrics
// (metrics-server), and a file (or a mounted ConfigMap) for tests and
// air-gapped clusters.
//
// A source never blocks scheduling and never fails it: a refresh that
// times out, a PromQL error, a metric missing for some nodes or NaN and
// negative values are counted (berth_load_source_errors_total), logged
// once per period and recorded in the snapshot, whose samples then age
// until the plugin falls back to requests for the nodes concerned.
package metricsource
