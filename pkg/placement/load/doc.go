// Package load is berth's load-aware placement logic over plain data: the
// per-node utilisation samples a metric source publishes (Snapshot), the
// freshness contract that decides when a node is scored by its measured
// load and when by its requests (View), the estimates that count pods
// placed since a node's last sample (so a burst does not herd onto the
// node that looked coolest), the scores (least utilised, target load
// packing, risk balancing) and short-term forecasts (EWMA, Holt-Winters
// with a daily season).
//
// It imports neither berth's framework nor its scheduler, so the berth
// plugin (pkg/plugins/loadaware), the simulations and plugin mode share
// one implementation.
package load
