package webhook

import "github.com/prometheus/client_golang/prometheus"

// Results of an admission request, for berth_webhook_requests_total.
const (
	ResultAllowed = "allowed" // no finding reported
	ResultWarned  = "warned"  // admitted with warnings
	ResultDenied  = "denied"  // rejected (deny mode, error findings)
	ResultFailed  = "failed"  // an internal error; admitted (fail open)
)

// Metrics are the webhook's collectors, on a registry the caller injects.
type Metrics struct {
	// Requests counts admission requests by operation, kind and result.
	Requests *prometheus.CounterVec
	// FailOpen counts requests admitted because berth failed, by reason
	// (decode, panic, rule_error).
	FailOpen *prometheus.CounterVec
	// Duration is the time to answer a request, by mode (warn, deny).
	Duration *prometheus.HistogramVec
	// Findings counts reported findings by rule ID and severity.
	Findings *prometheus.CounterVec
}

// NewMetrics registers the webhook's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_webhook_requests_total",
			Help: "Admission requests the lint webhook answered, by operation, kind and result (allowed, warned, denied, failed).",
		}, []string{"operation", "kind", "result"}),
		FailOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_webhook_fail_open_total",
			Help: "Admission requests the lint webhook admitted because it failed internally, by reason.",
		}, []string{"reason"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_webhook_request_duration_seconds",
			Help:    "Time the lint webhook took to answer an admission request, by mode.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}, []string{"mode"}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_webhook_findings_total",
			Help: "Findings the lint webhook reported, by rule ID and severity.",
		}, []string{"rule", "severity"}),
	}
	reg.MustRegister(m.Requests, m.FailOpen, m.Duration, m.Findings)
	for _, r := range []string{reasonDecode, reasonPanic, reasonRuleError} {
		m.FailOpen.WithLabelValues(r) // exported at 0, so the first failure is an increase
	}
	return m
}
