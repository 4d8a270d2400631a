package metricsource

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The load-aware metrics. They are package-level because sources are
// shared per process (Shared) and plugins count through them too; berth
// run registers them with Register.
var (
	// Refreshes counts refresh attempts by source and result, so an
	// operator sees a source that stopped answering.
	Refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_load_source_refreshes_total",
		Help: "Refresh attempts of load metric sources, by source type and result (success, error).",
	}, []string{"source", "result"})
	// Errors counts problems by kind: timeout, unreachable, query (a
	// PromQL or API error), missing_label, invalid_value (NaN, infinite
	// or negative), decode (a bad file), no_series (a query returned
	// nothing), missing_node (NodeMetrics of a node berth does not
	// know).
	Errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_load_source_errors_total",
		Help: "Problems met by load metric sources, by source type, resource and kind.",
	}, []string{"source", "resource", "kind"})
	// LastSuccess is when each source last refreshed successfully.
	LastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "berth_load_source_last_success_timestamp_seconds",
		Help: "Unix time of the last successful refresh of each load metric source.",
	}, []string{"source"})
	// Nodes is how many nodes have a sample per resource.
	Nodes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "berth_load_source_nodes",
		Help: "Nodes with a load sample in the latest snapshot, by source type and resource.",
	}, []string{"source", "resource"})
	// ScoredNodes counts node evaluations of the LoadAware plugin by the
	// basis of the score: measured, or requests because the data was
	// stale or missing (the fallback the freshness contract promises).
	ScoredNodes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_load_scored_nodes_total",
		Help: "Nodes scored by the LoadAware plugin, by basis (measured, stale, missing).",
	}, []string{"basis"})
	// Rejections counts nodes the LoadAware Filter refused because a
	// measured utilisation was above its threshold.
	Rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_load_threshold_rejections_total",
		Help: "Nodes refused by the LoadAware filter for measured utilisation above a threshold, by resource.",
	}, []string{"resource"})
)

// Collectors returns the load-aware metrics, for registries.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{Refreshes, Errors, LastSuccess, Nodes, ScoredNodes, Rejections}
}
