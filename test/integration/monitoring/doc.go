// Package monitoring holds berth's shipped dashboard and alerting rules
// (deploy/monitoring) to what a real berth exports: berth runs against the
// local control plane with its GPU, gang and load-aware capabilities
// exercised, a real Prometheus scrapes it, and every panel query and alert
// expression must name metrics found in berth's live /metrics and be
// accepted by Prometheus's query engine.
package monitoring
