package scheduler

import (
	"github.com/berthsched/berth/pkg/metrics"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
)

// initErrorSeries exports every bind error reason and cache drift kind at
// 0 from the start. A series that first appears at 1 hides its first
// increment from rate() and increase(), so the first bind error or drift
// would never fire the alerts in deploy/monitoring; with the series
// present they do, and dashboards show a flat 0 instead of "no data".
func initErrorSeries(m *metrics.Metrics) {
	for _, r := range []bindOutcome{bindConflict, bindNotFound, bindTransient, bindError} {
		m.BindErrors.WithLabelValues(string(r))
	}
	for _, k := range []string{
		schedcache.DriftNodeMissing, schedcache.DriftNodeExtra, schedcache.DriftNodeStale,
		schedcache.DriftPodMissing, schedcache.DriftPodExtra, schedcache.DriftPodWrongNode,
		schedcache.DriftPodStale, schedcache.DriftAssumedPodExpired, schedcache.DriftAssumedPodConfirmedLate,
	} {
		m.CacheDrift.WithLabelValues(k)
	}
}

// cacheMetrics exports the cache's measurements to Prometheus.
type cacheMetrics struct{ m *metrics.Metrics }

func (c cacheMetrics) DriftDetected(kind string) { c.m.CacheDrift.WithLabelValues(kind).Inc() }

func (c cacheMetrics) CacheSize(nodes, pods, assumed int) {
	c.m.CacheSize.WithLabelValues("nodes").Set(float64(nodes))
	c.m.CacheSize.WithLabelValues("pods").Set(float64(pods))
	c.m.CacheSize.WithLabelValues("assumed_pods").Set(float64(assumed))
}

// preemptionMetrics exports the preemption plugin's measurements.
type preemptionMetrics struct{ m *metrics.Metrics }

func (p preemptionMetrics) PreemptionAttempt() { p.m.PreemptionAttempts.Inc() }
func (p preemptionMetrics) Victims(n int)      { p.m.PreemptionVictims.Observe(float64(n)) }

// queueMetrics exports the queue's measurements to Prometheus.
type queueMetrics struct{ m *metrics.Metrics }

func (q queueMetrics) PendingPods(queue string, n int) {
	q.m.PendingPods.WithLabelValues(queue).Set(float64(n))
}

func (q queueMetrics) QueueIncoming(queue, event string) {
	q.m.QueueIncomingPods.WithLabelValues(queue, event).Inc()
}
