// Package soak runs berth for a long time under steady churn and reports
// whether its memory, goroutines, queues and latency stay flat: `make
// soak DURATION=1h`.
//
// It exists because the faults a scheduler meets in its first hour are
// not the ones it meets in its first week: a cache entry never removed,
// a goroutine per watch restart, an unschedulable pool that only grows.
// Tests that run for seconds cannot see a leak of a few kilobytes per
// pod; an hour of churn at a steady rate can. Everything is real: the
// devcluster control plane, bin/berth run, and the Prometheus server
// (Debian package, fetched by make build) that scrapes berth's /metrics,
// whose range queries give the samples and the plot.
package soak
