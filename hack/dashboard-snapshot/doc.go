// Command dashboard-snapshot draws docs/img/dashboard.svg, the picture of
// berth's Grafana dashboard in docs/operations.md, from a real run: it
// starts the local control plane (internal/testenv), a real Prometheus
// (bin/prometheus) scraping berth and a fake node exporter, runs
// bin/berth with a default and a load-aware profile, drives a burst of
// plain, GPU, gang and load-aware pods, and then plots the dashboard's main
// panels with the dashboard's own PromQL (deploy/monitoring, Grafana
// variables replaced) from Prometheus's query_range API. Grafana itself is
// not needed.
//
//	go run ./hack/dashboard-snapshot [-out docs/img/dashboard.svg] [-duration 90s]
package main
