// Package loadaware is the LoadAware plugin: it scores (and optionally
// filters) nodes by their measured utilisation — CPU, memory, GPU and
// disk IO from Prometheus, metrics.k8s.io or a file — instead of by
// requests, which are guesses.
//
// It is a thin adapter over pkg/placement/load (the freshness contract,
// estimates, scores and forecasts) and pkg/metricsource (the runnables
// that refresh the measurements). Scheduling reads one immutable
// snapshot per cycle (PreFilter, PreScore), never the source itself.
// Nodes whose data is older than the TTL or missing are scored by their
// requests, with the reason in explain and a metric; pods placed since a
// node's last sample are added to it as estimates so a burst of pods does
// not herd onto the node that looked coolest.
package loadaware
