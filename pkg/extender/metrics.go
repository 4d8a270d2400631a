package extender

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Verbs, as they label the metrics and name the HTTP paths.
const (
	VerbFilter     = "filter"
	VerbPrioritize = "prioritize"
	VerbPreempt    = "preempt"
	VerbBind       = "bind"
)

// Results label berth_extender_requests_total.
const (
	// ResultSuccess: the verb answered without an error.
	ResultSuccess = "success"
	// ResultError: the answer carries an error (a failed bind, a pod no
	// profile serves, a malformed request).
	ResultError = "error"
)

// Metrics are the extender's Prometheus metrics.
type Metrics struct {
	// Requests counts the verbs answered, by verb and result.
	Requests *prometheus.CounterVec
	// Duration is how long each verb took to answer, by verb.
	Duration *prometheus.HistogramVec
}

// NewMetrics registers the extender's metrics on reg (nil registers
// nothing, for tests). assumed reports the pods bound through the bind
// verb that the informer has not confirmed yet
// (berth_extender_assumed_pods); nil leaves that gauge out.
func NewMetrics(reg prometheus.Registerer, assumed func() int) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_extender_requests_total",
			Help: "Extender verbs answered, by verb (filter, prioritize, preempt, bind) and result (success, error).",
		}, []string{"verb", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_extender_request_duration_seconds",
			Help:    "Time to answer an extender verb, by verb.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"verb"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Duration)
		if assumed != nil {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "berth_extender_assumed_pods",
				Help: "Pods bound through the bind verb that the informer has not yet confirmed (assumed in the extender's cache).",
			}, func() float64 { return float64(assumed()) }))
		}
	}
	return m
}
