// Package loadaware holds the integration tests of load-aware scheduling:
// berth run with the LoadAware plugin reading a real Prometheus server
// (bin/prometheus, fetched by make build) that scrapes a synthetic
// node-exporter, on a real kube-apiserver.
package loadaware
