// Package loadsim evaluates load-aware scoring by simulation: a cluster
// of identical nodes runs a synthetic diurnal workload whose pods use
// more or less CPU than they request, and the same arrivals are
// scheduled under several scoring policies through berth's own plugins
// and scheduling core, in process and without an API server.
//
// The workload (Generate, DefaultApps) is a set of apps whose pods'
// CPU use is request × ratio × a daily curve × smooth noise, with
// ratios from 0.3 (over-requested) to 1.5 (bursting past the request
// within the limit) and peaks at different hours. Pods arrive as a
// seeded Poisson process and live for exponentially distributed
// lifetimes, so placements happen at every hour of the day. Use is a
// pure function of the pod and the minute: every policy faces the same
// demand, and only where it lands differs.
//
// Each policy's run (Run) steps a simulated clock minute by minute. At
// each minute the simulated source publishes every node's utilisation
// over the past minute (what a Prometheus rate over one minute gives)
// through a metricsource.Static, refitting the history's statistics and
// forecasts with load.FitForecast every history interval as the real
// source does; pods then arrive and leave in time order, each arrival
// placed by core.Evaluate with a profile built by profile.New (berth's
// default filters and the policy's scorers) on a cache snapshot that
// holds the running pods, and LoadAware is told of each placement
// (Observe) and departure (Forget), so pods placed since the last sample
// count as its estimates. Finally every node's CPU demand for the minute
// is summed and, after the warm-up, measured (Meter): hot node-minutes
// (above 80 %), percentiles, saturation.
//
// The package only computes; the `berth simulate load` command
// (cmd/berth/app) prints the table and writes CSV and JSON.
package loadsim
