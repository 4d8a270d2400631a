// Package monitoringtest reads berth's shipped monitoring artefacts — the
// Grafana dashboard and the Prometheus alerting rules under
// deploy/monitoring — for the tests that hold them to what berth really
// exports: the queries of both, and the metric names each query reads.
//
// The metric names come from a small PromQL scanner rather than
// Prometheus's own parser, which would make github.com/prometheus/prometheus
// (a very large module) a dependency of the main module; the tests that
// use it also run every expression through a real Prometheus (promtool
// check rules, and the server's query API), so a query the scanner reads
// wrongly still fails there.
package monitoringtest
